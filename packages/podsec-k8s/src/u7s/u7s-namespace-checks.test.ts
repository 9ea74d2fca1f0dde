// The namespace acceptance checks on the REAL namespace of a real u7s-admin (a first control plane), started once
// for most of them: readiness and the state dir, the id maps, tap0 and the routes, the forwards and their listeners,
// a second start, stale state, the host loopback and the node IP are unreachable from inside (--disable-host-loopback, EXTIP on tap0), the bind
// mounts and private runtime dirs of the child phase, isolation of iptables/hostname/pids//etc, and bring-up on
// this Debian host without /etc/sysconfig and /var/lib/crio and on cgroup v1 (no --evacuate-cgroup2); then the
// lifecycle: SIGTERM and SIGKILL of the supervisor, stop + start giving the same namespace, two starts at once.
//
// Network isolation of the test itself: the supervisor (and so RootlessKit and slirp4netns, which make the host-side
// connections) runs in a private network namespace of root made with `unshare --net`, whose "host" addresses are a
// loopback that also carries 192.0.2.10 (the node IP, EXTIP) and 192.0.2.20 (no dummy module here). The host-side servers of the checks listen
// there, so nothing of this test listens on or reaches a real interface of this machine (whose eth0 is in
// 192.0.2.0/24 too). Everything else is the real thing: the user, rootlesskit, slirp4netns, nsenter, iptables.
// Needs root, rootlesskit, slirp4netns, nsenter, setpriv, socat, unshare, iptables, findmnt, ps.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { allowTun, lockTestUser, removeTestUser, requireCommands } from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';
import { runU7s as u7s, U7S_MAIN, U7S_NODE } from '../test-helpers/u7s-runner.ts';

const isRoot = process.geteuid?.() === 0;
const main = U7S_MAIN;
const NODE = U7S_NODE;
const SELF = JSON.stringify(NODE);
const launcher = createDaemonLauncher({ uid: 0 });
const EXTIP = '192.0.2.10';
const OTHER_HOST_IP = '192.0.2.20';
const HOME = '/var/lib/u7s-admin';
const DATA = `${HOME}/.local/share/usernetes`;
const BIND_MOUNTS = [
  '/var/lib/kubelet',
  '/var/lib/cni',
  '/var/log',
  '/var/lib/containers',
  '/var/cache',
];
// the original's copy-up list, in its order
const COPY_UP = [
  '/etc',
  '/etc/sysconfig',
  '/run',
  '/var/lib',
  '/opt',
  '/var/lib/crio',
  '/usr/libexec',
];
const TOOLS = [
  'rootlesskit',
  'slirp4netns',
  'nsenter',
  'setpriv',
  'socat',
  'unshare',
  'iptables',
  'findmnt',
  'ps',
];
const env = { PATH: process.env['PATH'], LANG: 'C', PODSEC_U7S_SELF: SELF };

/** A shell command inside the namespace as its pseudo-root. */
const inside = (script: string) => u7s(['enter', '--', 'sh', '-c', script]);

describe(
  'the u7s namespace acceptance checks (one real namespace)',
  { skip: !isRoot && 'needs root' },
  () => {
    let release: (() => Promise<void>) | undefined;
    let libexec = '';
    let uid = 0;
    let gid = 0;
    let supervisorPid = 0;
    let baseline: Awaited<ReturnType<typeof snapshot>> | undefined;
    let startMs = 0;
    let runBefore: string[] = [];
    const servers: ResultPromise[] = [];
    const probe = `knode-probe-${process.pid}`;

    /** Root's command in the network namespace the supervisor runs in (the test's stand-in for the host network). */
    const inNetns = (args: readonly string[]) => [
      `--net=/proc/${supervisorPid}/ns/net`,
      '--',
      ...args,
    ];

    /** A TCP server of the "host" on ip:port that answers `answer` and closes; waits until it listens. */
    async function hostServer(ip: string, port: number, answer: string) {
      const s = execa(
        'nsenter',
        inNetns(['socat', `TCP-LISTEN:${port},bind=${ip},reuseaddr,fork`, `SYSTEM:echo ${answer}`]),
        { reject: false, stdin: 'ignore' },
      );
      servers.push(s);
      for (let i = 0; i < 100; i++) {
        const ss = await execa('nsenter', inNetns(['ss', '-Hltn', `sport = :${port}`]), {
          reject: false,
        });
        if (ss.stdout.includes(`${ip}:${port}`)) return;
        await sleep(50);
      }
      assert.fail(`host server ${ip}:${port} did not listen`);
    }

    /** Connects from inside the namespace; what the server said, or the connection error. */
    const connectInside = (ip: string, port: number) =>
      u7s(['enter', '--', 'socat', '-u', `TCP:${ip}:${port},connect-timeout=3`, 'STDOUT'], {
        timeout: 20_000,
      });

    /** `podsec-u7s start` of a first control plane, its forwards on the loopback. */
    const startArgs = () => [
      'start',
      '--role',
      'initMaster',
      '--libexec',
      libexec,
      '--parent-ip',
      '127.0.0.1',
      '--extip',
      EXTIP,
      '--timeout',
      '60',
    ];

    /**
     * `podsec-u7s start` of a first control plane (so with the extra forwards 2379, 2380 and 6443) in a new private
     * "host network": lo, with the node IP and another host address on it. The supervisor it leaves stays there.
     */
    async function startInNetns() {
      const t0 = Date.now();
      const r = await execa(
        'unshare',
        [
          '--net',
          '--',
          'sh',
          '-ec',
          `ip link set lo up
ip addr add ${EXTIP}/32 dev lo
ip addr add ${OTHER_HOST_IP}/32 dev lo
exec "$@"`,
          'sh',
          ...NODE,
          ...startArgs(),
        ],
        { reject: false, env, extendEnv: false, stdin: 'ignore', timeout: 90_000 },
      );
      return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
    }

    type Status = {
      running: boolean;
      childPid?: number;
      ports: string[];
      supervisor: { pid: number };
    };
    async function status(): Promise<Status> {
      const r = await u7s(['status', '--json']);
      assert.equal(r.exitCode, 0, r.stderr);
      return JSON.parse(r.stdout) as Status;
    }

    /** RootlessKit's state directory (u7s-admin's). */
    const stateDir = () => `/run/user/${uid}/usernetes/rootlesskit`;

    /** The processes of u7s-admin whose argv[0] is `name`. */
    async function userProcs(name: string): Promise<number[]> {
      const out: number[] = [];
      for (const pid of await launcher.userProcesses(uid)) {
        const argv0 = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split(
          '\0',
        )[0];
        if (path.basename(argv0 ?? '') === name) out.push(pid);
      }
      return out;
    }

    /** The running supervisors (`podsec-u7s run` of this test's binary). */
    async function supervisors(): Promise<number[]> {
      const out: number[] = [];
      for (const n of await readdir('/proc')) {
        if (!/^\d+$/.test(n)) continue;
        const argv = (await readFile(`/proc/${n}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv.includes(main) && argv[argv.indexOf(main) + 1] === 'run') out.push(Number(n));
      }
      return out;
    }

    /** A command as u7s-admin on the host (the state dir is its: root does not write there). */
    const asUser = (args: readonly string[]) =>
      execa('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...args], {
        reject: false,
      });

    /** The processes of u7s-admin, each with its parent, session and argv (for messages). */
    async function described(): Promise<string> {
      const out: string[] = [];
      for (const pid of await launcher.userProcesses(uid)) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        out.push(`${pid} ppid ${f[1]} sid ${f[3]}: ${argv.join(' ').trim()}`);
      }
      return out.join('\n');
    }

    /**
     * Whether `pid` runs: a zombie does not (the detached supervisor belongs to PID 1 once start exited, and the
     * PID 1 of a container need not reap it at once).
     */
    async function alive(pid: number): Promise<boolean> {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
      return stat !== undefined && stat[stat.lastIndexOf(')') + 2] !== 'Z';
    }

    /** Waits, bounded, until `probe` holds. */
    async function until(probe: () => Promise<boolean>, ms: number): Promise<boolean> {
      for (const end = Date.now() + ms; Date.now() < end; await sleep(50))
        if (await probe()) return true;
      return probe();
    }

    /** What must be the same after stop + start: maps, addresses and routes inside, the forwards. */
    async function snapshot() {
      const r = await inside(
        'cat /proc/self/uid_map /proc/self/gid_map; ip -4 -o addr show; ip route show',
      );
      assert.equal(r.exitCode, 0, r.stderr);
      return {
        inside: r.stdout.replace(/[ \t]+/g, ' ').trim(),
        ports: [...(await status()).ports].sort(),
      };
    }

    before(async () => {
      release = await lockTestUser('u7s-admin');
      await removeTestUser('u7s-admin');
      libexec = await mkdtemp(path.join(tmpdir(), 'u7s-checks-libexec-'));
      await chmod(libexec, 0o755);
    });
    after(async () => {
      for (const s of servers) s.kill('SIGKILL');
      await Promise.allSettled(servers);
      await u7s(['stop', '--timeout', '15']);
      await removeTestUser('u7s-admin');
      await rm(libexec, { recursive: true, force: true });
      await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
      await release?.();
    });

    it('check 26: brings the namespace up on this host without /etc/sysconfig, /var/lib/crio and cgroup v2 delegation', async (t) => {
      if (!requireCommands(t, TOOLS)) return;
      await allowTun(t);
      const prov = await u7s(['provision', '--libexec', libexec]);
      assert.equal(prov.exitCode, 0, prov.stderr);
      uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
      gid = Number((await execa('id', ['-g', 'u7s-admin'])).stdout);
      // the portability case this machine is (Debian: no /etc/sysconfig, no /var/lib/crio; cgroup v1 hybrid); on
      // another host the same rule: copy-up exactly of the directories that exist, no evacuation on cgroup v1
      const missing = COPY_UP.filter((d) => !existsSync(d));
      const cgroupV1 = / - cgroup /.test(await readFile('/proc/self/mountinfo', 'utf8'));
      t.diagnostic(
        `missing here: ${missing.join(' ') || 'none'}; cgroup v1 controllers: ${cgroupV1}`,
      );
      runBefore = (await readdir('/run')).sort();

      const start = await startInNetns();
      startMs = start.ms;
      assert.equal(start.exitCode, 0, start.stderr);
      t.diagnostic(`start to ready: ${startMs} ms`);
      const st = await status();
      assert.ok(st.running);
      supervisorPid = st.supervisor.pid;

      // the RootlessKit that runs: copy-up only of what exists here, no cgroup v2 evacuation on cgroup v1
      let rkArgs: string[] = [];
      for (const pid of await launcher.userProcesses(uid)) {
        const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (path.basename(argv[0] ?? '') === 'rootlesskit') rkArgs = argv;
      }
      assert.ok(rkArgs.length > 0, 'rootlesskit runs as u7s-admin');
      const copyUps = rkArgs.filter((a) => a.startsWith('--copy-up='));
      assert.deepEqual(
        copyUps,
        COPY_UP.filter((d) => !missing.includes(d)).map((d) => `--copy-up=${d}`),
      );
      if (cgroupV1)
        assert.ok(!rkArgs.some((a) => a.startsWith('--evacuate-cgroup2')), rkArgs.join(' '));
      for (const f of ['--disable-host-loopback', '--net=slirp4netns', '--mtu=65520', '--pidns'])
        assert.ok(rkArgs.includes(f), f);
    });

    it('check 19: ready within 10 s: child_pid, api.sock, lock, the ready marker equal to child_pid; the payload runs', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      assert.ok(startMs < 10_000, `start to ready took ${startMs} ms`);
      const dir = stateDir();
      const names = await readdir(dir);
      for (const n of ['child_pid', 'api.sock', 'lock', '_child_pid.u7s-ready'])
        assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
      assert.ok((await lstat(`${dir}/api.sock`)).isSocket());
      const childPid = (await readFile(`${dir}/child_pid`, 'utf8')).trim();
      assert.match(childPid, /^[1-9]\d*$/);
      assert.equal((await readFile(`${dir}/_child_pid.u7s-ready`, 'utf8')).trim(), childPid);
      assert.equal((await status()).childPid, Number(childPid));
      // PID 1 of the namespace is u7s-admin's process, and the payload (sleep infinity without one) runs below it
      assert.match(
        await readFile(`/proc/${childPid}/status`, 'utf8'),
        new RegExp(`^Uid:\\s+${uid}\\s`, 'm'),
      );
      const parent = new Map<number, number>();
      for (const pid of await launcher.userProcesses(uid)) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      }
      const below = (pid: number): boolean => {
        for (let p = parent.get(pid); p !== undefined; p = parent.get(p))
          if (p === Number(childPid)) return true;
        return false;
      };
      const sleeps = (await userProcs('sleep')).filter(below);
      assert.equal(sleeps.length, 1, 'the payload runs inside');
    });

    it('check 20: uid_map and gid_map (read through podsec-u7s enter) are 0 <uid> 1 and 1 <subordinate start> <count>', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const r = await inside(
        'id -u; echo @; cat /proc/self/uid_map; echo @; cat /proc/self/gid_map',
      );
      assert.equal(r.exitCode, 0, r.stderr);
      const [id, uidMap = '', gidMap = ''] = r.stdout.split('@\n');
      assert.equal(id?.trim(), '0');
      const rows = (text: string) =>
        text
          .trim()
          .split('\n')
          .map((l) => l.trim().split(/\s+/).map(Number));
      const range = async (file: string) => {
        const line = (await readFile(file, 'utf8'))
          .split('\n')
          .find((l) => l.startsWith('u7s-admin:'));
        const [, start, count] = (line ?? '').split(':').map(Number);
        assert.ok(start && count && count >= 65536, `${file}: ${line}`);
        return [start, count] as const;
      };
      const [uStart, uCount] = await range('/etc/subuid');
      const [gStart, gCount] = await range('/etc/subgid');
      assert.deepEqual(rows(uidMap), [
        [0, uid, 1],
        [1, uStart, uCount],
      ]);
      assert.deepEqual(rows(gidMap), [
        [0, gid, 1],
        [1, gStart, gCount],
      ]);
    });

    it('check 21: tap0 has mtu 65520 and the node IP only; the default route via 10.96.0.2 dev tap0 survives', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const r = await inside(
        'cat /sys/class/net/tap0/mtu; ip -4 -o addr show dev tap0; ip route show default',
      );
      assert.equal(r.exitCode, 0, r.stderr);
      const [mtu, ...rest] = r.stdout.trim().split('\n');
      assert.equal(mtu, '65520');
      const addrs = rest.filter((l) => / inet /.test(l));
      assert.equal(addrs.length, 1, r.stdout);
      assert.match(addrs[0] ?? '', new RegExp(` inet ${EXTIP.replaceAll('.', '\\.')}/32 `));
      assert.doesNotMatch(r.stdout, /10\.96\.0\.100/);
      assert.match(r.stdout, /^default via 10\.96\.0\.2 dev tap0\b/m);
    });

    it('check 23: a first control plane forwards 2379, 2380, 6443 besides the node set, 6053 to 53; RootlessKit listens', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const want = [
        ...[2379, 2380, 6443, 10250, 10255, 10256].map((p) => `127.0.0.1:${p}:${p}/tcp`),
        '127.0.0.1:8472:8472/udp',
        '127.0.0.1:6053:53/udp',
      ].sort();
      assert.deepEqual([...(await status()).ports].sort(), want);
      // on the host side each is a listener of u7s-admin's RootlessKit, exactly once
      const [rk, ...more] = await userProcs('rootlesskit');
      assert.ok(rk && more.length === 0, 'one rootlesskit');
      const ss = await execa('nsenter', inNetns(['ss', '-Hlntup']), { reject: false });
      assert.equal(ss.exitCode, 0, ss.stderr);
      for (const spec of want) {
        const [, port, , proto] = /^[^:]+:(\d+):(\d+)\/(tcp|udp)$/.exec(spec) ?? [];
        const lines = ss.stdout
          .split('\n')
          .filter((l) => l.startsWith(proto!) && l.includes(` 127.0.0.1:${port} `));
        assert.equal(lines.length, 1, `${spec}: ${ss.stdout}`);
        assert.match(lines[0]!, new RegExp(`users:\\(\\("rootlesskit",pid=${rk},`));
      }

      // a listener inside on 6443 answers a client of the host at the node's forward
      const api = u7s(
        ['enter', '--', 'socat', 'TCP-LISTEN:6443,reuseaddr', 'SYSTEM:echo api-inside'],
        { timeout: 30_000 },
      );
      let answer = '';
      for (let i = 0; i < 100 && answer !== 'api-inside'; i++) {
        const c = await execa(
          'nsenter',
          inNetns(['socat', '-u', 'TCP:127.0.0.1:6443,connect-timeout=2', 'STDOUT']),
          { reject: false },
        );
        answer = c.stdout.trim();
        if (answer !== 'api-inside') await sleep(100);
      }
      assert.equal(answer, 'api-inside');
      assert.equal((await api).exitCode, 0);

      // a datagram to the host's 8472 reaches a socket bound inside on 8472
      const recv = u7s(
        ['enter', '--', 'timeout', '20', 'socat', '-u', 'UDP-RECVFROM:8472', 'STDOUT'],
        {
          timeout: 30_000,
        },
      );
      let got: Awaited<typeof recv> | undefined;
      void recv.then((r) => (got = r));
      for (let i = 0; i < 100 && !got; i++) {
        await execa('nsenter', inNetns(['socat', '-u', 'STDIN', 'UDP-SENDTO:127.0.0.1:8472']), {
          reject: false,
          input: 'vxlan-probe\n',
        });
        await sleep(100);
      }
      const r = await recv;
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'vxlan-probe');
    });

    it('check 33: a second start is a no-op: the same child_pid and supervisor, no duplicate forward', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const before = await status();
      const again = await u7s(startArgs());
      assert.equal(again.exitCode, 0, again.stderr);
      assert.match(again.stdout, /already running/);
      const after = await status();
      assert.equal(after.childPid, before.childPid);
      assert.equal(after.supervisor.pid, before.supervisor.pid);
      assert.deepEqual([...after.ports].sort(), [...before.ports].sort());
      assert.equal(after.ports.length, new Set(after.ports).size);
      assert.equal((await userProcs('rootlesskit')).length, 1);
      assert.deepEqual(await supervisors(), [supervisorPid]);
    });

    it('check 28: stale state counts as down (marker missing, marker != child_pid, a dead or foreign pid), bounded', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const dir = stateDir();
      const childPid = (await readFile(`${dir}/child_pid`, 'utf8')).trim();
      const marker = `${dir}/_child_pid.u7s-ready`;
      const put = async (file: string, text: string) => {
        const w = await asUser([
          'sh',
          '-c',
          'printf "%s\\n" "$1" > "$2.tmp" && mv -f "$2.tmp" "$2"',
          'sh',
          text,
          file,
        ]);
        assert.equal(w.exitCode, 0, w.stderr);
      };
      const down = async (why: string, wait = ['--wait', '1']) => {
        const t0 = Date.now();
        const r = await u7s(['enter', ...wait, '--', 'id', '-u']);
        const ms = Date.now() - t0;
        assert.equal(r.exitCode, 2, `${why}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, '', why);
        assert.match(r.stderr, /RootlessKit not running\?/, why);
        return ms;
      };
      assert.equal((await inside('id -u')).stdout.trim(), '0');
      const gone = execa('true');
      await gone;
      const dead = gone.pid!;
      try {
        await asUser(['rm', '-f', '--', marker]);
        await down('marker missing');
        // the default bound: about ten seconds of waiting for a starting namespace, then the error
        const ms = await down('marker missing, default wait', []);
        t.diagnostic(`down after ${ms} ms with the default wait`);
        assert.ok(ms >= 9_000 && ms < 14_000, `${ms} ms`);
        await put(marker, String(Number(childPid) + 1));
        await down('marker != child_pid');
        await put(`${dir}/child_pid`, String(dead));
        await put(marker, String(dead));
        await down('a dead pid');
        await put(`${dir}/child_pid`, String(process.pid));
        await put(marker, String(process.pid));
        await down("a live pid that is not u7s-admin's");
      } finally {
        await put(`${dir}/child_pid`, childPid);
        await put(marker, childPid);
      }
      assert.equal((await inside('id -u')).stdout.trim(), '0');
    });

    it('check 22: the host loopback (via 10.96.0.2) and the node IP are not reached from inside', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const port = 20000 + (process.pid % 20000);
      await hostServer('127.0.0.1', port, 'host-loopback');
      await hostServer(EXTIP, port + 1, 'host-extip');
      await hostServer(OTHER_HOST_IP, port + 1, 'host-other');
      // the servers answer on the host side
      const onHost = await execa(
        'nsenter',
        inNetns(['socat', '-u', `TCP:127.0.0.1:${port},connect-timeout=3`, 'STDOUT']),
        { reject: false },
      );
      assert.equal(onHost.stdout.trim(), 'host-loopback', onHost.stderr);

      // 10.96.0.2 is slirp's gateway, which would lead to the host's 127.0.0.1 without --disable-host-loopback
      const loop = await connectInside('10.96.0.2', port);
      assert.notEqual(loop.exitCode, 0, `reached the host loopback: ${loop.stdout}`);
      assert.doesNotMatch(loop.stdout, /host-loopback/);
      // another host address is reached through slirp (so the refusal below is the node IP's, not slirp's)
      const other = await connectInside(OTHER_HOST_IP, port + 1);
      assert.equal(other.stdout.trim(), 'host-other', other.stderr);
      // the node IP is tap0's own address inside: the connection stays in the namespace, where nothing listens
      const ext = await connectInside(EXTIP, port + 1);
      assert.notEqual(ext.exitCode, 0);
      assert.doesNotMatch(ext.stdout, /host-extip/);
      assert.match(ext.stderr, /Connection refused/);
    });

    it('check 24: bind mounts onto the user data dir, host CNI plugins, private runtime dirs, rshared kubelet dir', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const touch = await inside(
        BIND_MOUNTS.map((d) => `echo ${probe} > ${d}/${probe}`).join(' && '),
      );
      assert.equal(touch.exitCode, 0, touch.stderr);
      for (const d of BIND_MOUNTS) {
        const host = `${DATA}/${d.replaceAll('/', '_')}/${probe}`;
        const st = await stat(host);
        assert.equal(st.uid, uid, `${host} is owned by u7s-admin`);
        assert.equal((await readFile(host, 'utf8')).trim(), probe);
        // and not in the host's own directory of that name
        assert.equal(existsSync(`${d}/${probe}`), false, `${d}/${probe} on the host`);
      }
      const mounts = await inside(
        `for d in ${BIND_MOUNTS.join(' ')}; do findmnt -n -o TARGET,SOURCE --mountpoint "$d"; done`,
      );
      // findmnt names a bind's source by its path from the root of its file system, and the host's / need not be
      // that root (a btrfs subvolume, a tree entered with pivot_root): the root's path, then DATA below the mount
      const [mnt = '/', fsRoot = '/'] = (
        await execa('findmnt', ['-n', '-o', 'TARGET,FSROOT', '--target', DATA])
      ).stdout
        .trim()
        .split(/\s+/);
      const source = path.posix.join(fsRoot, path.posix.relative(mnt, DATA));
      const re = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      for (const d of BIND_MOUNTS)
        assert.match(
          mounts.stdout,
          new RegExp(`^${d}\\s+\\S*\\[${re(source)}/${d.replaceAll('/', '_')}\\]$`, 'm'),
        );

      // /opt/cni/bin is the host's CNI plugin directory (read-only)
      const cni = await inside(
        'ls -1 /opt/cni/bin; findmnt -n -o OPTIONS --mountpoint /opt/cni/bin',
      );
      const lines = cni.stdout.trim().split('\n');
      const opts = lines.pop() ?? '';
      assert.deepEqual(lines, (await readdir('/usr/lib/cni')).sort());
      assert.match(opts, /(^|,)ro(,|$)/);

      // the crio socket link, and the runtime state/config dirs are the namespace's own, not links to the host
      const links = await inside(
        'readlink /run/crio/crio.sock; for p in /run/crio /run/netns /run/xtables.lock /etc/crio; do if [ -L "$p" ]; then echo "link $p"; fi; done; ' +
          `touch /run/${probe}; findmnt -n -o PROPAGATION --mountpoint /var/lib/kubelet`,
      );
      assert.equal(links.exitCode, 0, links.stderr);
      assert.deepEqual(links.stdout.trim().split('\n'), [
        `/run/user/${uid}/usernetes/crio/crio.sock`,
        'shared',
      ]);
      // the host's /run is unchanged: what the namespace created there stays in its tmpfs
      assert.equal(existsSync(`/run/${probe}`), false);
      const added = (await readdir('/run')).filter((n) => !runBefore.includes(n));
      for (const n of ['crio', 'netns', 'xtables.lock'])
        if (!runBefore.includes(n)) assert.ok(!added.includes(n), `/run/${n} appeared on the host`);
    });

    it('check 25: iptables, hostname, processes and /etc writes stay inside', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      const comment = `${probe}-nat`;
      const rule = await inside(
        `iptables -w 5 -t nat -A POSTROUTING -s 10.250.0.0/16 -j MASQUERADE -m comment --comment ${comment} && iptables -w 5 -t nat -S POSTROUTING`,
      );
      assert.equal(rule.exitCode, 0, rule.stderr);
      assert.match(rule.stdout, new RegExp(comment));
      const hostRules = await execa('iptables', ['-w', '5', '-t', 'nat', '-S'], { reject: false });
      assert.equal(hostRules.exitCode, 0, hostRules.stderr);
      assert.doesNotMatch(hostRules.stdout, new RegExp(comment));
      const netnsRules = await execa(
        'nsenter',
        inNetns(['iptables', '-w', '5', '-t', 'nat', '-S']),
        {
          reject: false,
        },
      );
      assert.doesNotMatch(netnsRules.stdout, new RegExp(comment));

      const hostName = hostname();
      const uts = await inside('hostname u7s-probe-node && hostname');
      assert.equal(uts.stdout.trim(), 'u7s-probe-node', uts.stderr);
      assert.equal(hostname(), hostName);
      assert.equal((await readFile('/proc/sys/kernel/hostname', 'utf8')).trim(), hostName);

      // ps inside sees the namespace's processes only: PID 1 is RootlessKit's child, not the host's init
      const ps = await inside('ps -e -o pid=,comm=');
      const procs = ps.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      const hostInit = (await readFile('/proc/1/comm', 'utf8')).trim();
      const ns1 = procs.find(([pid]) => pid === '1')?.[1];
      assert.ok(ns1, ps.stdout);
      assert.notEqual(ns1, hostInit);
      const hostCount = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).length;
      assert.ok(procs.length < 20 && procs.length < hostCount, ps.stdout);
      assert.ok(!procs.some(([, comm]) => comm === 'node'), 'the test runner is not seen inside');

      const etc = await inside(
        `echo inside > /etc/${probe} && cat /etc/${probe} && findmnt -n -o FSTYPE --mountpoint /etc`,
      );
      assert.equal(etc.exitCode, 0, etc.stderr);
      assert.deepEqual(etc.stdout.trim().split('\n'), ['inside', 'tmpfs']);
      assert.equal(existsSync(`/etc/${probe}`), false);
    });

    it('check 34 (SIGTERM) and 35: the supervisor stops everything, frees the ports, removes the state dir; a new start is the same', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      // /dev/net/tun for u7s-admin while this test starts a namespace
      await allowTun(t);
      baseline = await snapshot();
      const forwarded = baseline.ports.map((p) => p.split(':')[1]);
      // a process of root that keeps the private network namespace, to look at its listeners afterwards
      const netns = await readlink(`/proc/${supervisorPid}/ns/net`);
      const holder = execa('nsenter', inNetns(['sleep', '120']), { reject: false });
      servers.push(holder);
      assert.ok(
        await until(
          async () => (await readlink(`/proc/${holder.pid}/ns/net`).catch(() => '')) === netns,
          5000,
        ),
      );
      const listening = async () =>
        (await execa('nsenter', [`--net=/proc/${holder.pid}/ns/net`, '--', 'ss', '-Hlntu'])).stdout;
      assert.match(await listening(), /127\.0\.0\.1:10250 /);

      process.kill(supervisorPid, 'SIGTERM');
      assert.ok(
        await until(
          async () =>
            !(await alive(supervisorPid)) && (await launcher.userProcesses(uid)).length === 0,
          // the supervisor's own bound: 10 s of grace for RootlessKit, then SIGKILL (a loaded machine is slow)
          40_000,
        ),
        `left:\n${await described()}`,
      );
      assert.equal(existsSync(stateDir()), false, 'the state dir is removed');
      assert.equal(existsSync('/run/podsec/u7s/supervisor.json'), false);
      const left = await listening();
      for (const port of forwarded) assert.doesNotMatch(left, new RegExp(`:${port} `));
      holder.kill('SIGKILL');

      const again = await startInNetns();
      assert.equal(again.exitCode, 0, again.stderr);
      supervisorPid = (await status()).supervisor.pid;
      assert.deepEqual(await snapshot(), baseline);
    });

    it('check 34 (SIGKILL): nothing of the namespace outlives its supervisor, enter refuses the stale pid, start succeeds', async (t) => {
      if (!supervisorPid || !baseline) return t.skip('no namespace');
      // /dev/net/tun for u7s-admin while this test starts a namespace
      await allowTun(t);
      const stale = String((await status()).childPid);
      process.kill(supervisorPid, 'SIGKILL');
      assert.ok(
        await until(async () => (await launcher.userProcesses(uid)).length === 0, 10_000),
        `left:\n${await described()}`,
      );
      // RootlessKit had no chance to clean up: its state dir still names the dead PID 1, marker and all
      const dir = stateDir();
      assert.equal((await readFile(`${dir}/child_pid`, 'utf8')).trim(), stale);
      assert.equal((await readFile(`${dir}/_child_pid.u7s-ready`, 'utf8')).trim(), stale);
      const enter = await u7s(['enter', '--wait', '1', '--', 'id', '-u']);
      assert.equal(enter.exitCode, 2, enter.stdout);
      assert.match(enter.stderr, /RootlessKit not running\?/);
      assert.equal((await u7s(['status'])).exitCode, 2);

      const again = await startInNetns();
      assert.equal(again.exitCode, 0, again.stderr);
      const now = await status();
      supervisorPid = now.supervisor.pid;
      assert.notEqual(String(now.childPid), stale);
      assert.deepEqual(await snapshot(), baseline);
    });

    it('stop leaves no process of u7s-admin, and the private network namespace goes with it', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      for (const s of servers) s.kill('SIGTERM');
      await Promise.allSettled(servers);
      const stop = await u7s(['stop']);
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.deepEqual(await launcher.userProcesses(uid), []);
      assert.equal(await alive(supervisorPid), false);
    });

    it('two podsec-u7s start at once make exactly one namespace (the start lock)', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      // /dev/net/tun for u7s-admin while this test starts a namespace
      await allowTun(t);
      assert.deepEqual(await launcher.userProcesses(uid), []);
      const both = await Promise.all([startInNetns(), startInNetns()]);
      for (const r of both) assert.equal(r.exitCode, 0, r.stderr);
      assert.deepEqual(both.map((r) => /already running/.test(r.stdout)).sort(), [false, true]);
      // give a second supervisor, were there one, the time to show
      await sleep(1000);
      assert.equal((await supervisors()).length, 1);
      assert.equal((await userProcs('rootlesskit')).length, 1);
      assert.equal((await userProcs('slirp4netns')).length, 1);
      supervisorPid = (await status()).supervisor.pid;
      const stop = await u7s(['stop']);
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.deepEqual(await launcher.userProcesses(uid), []);
    });
  },
);
