// The namespace acceptance checks on the REAL namespace of a real u7s-admin, started once for all of them:
// the host loopback and the node IP are unreachable from inside (--disable-host-loopback, EXTIP on tap0), the bind
// mounts and private runtime dirs of the child phase, isolation of iptables/hostname/pids//etc, and bring-up on
// this Debian host without /etc/sysconfig and /var/lib/crio and on cgroup v1 (no --evacuate-cgroup2).
//
// Network isolation of the test itself: the supervisor (and so RootlessKit and slirp4netns, which make the host-side
// connections) runs in a private network namespace of root made with `unshare --net`, whose "host" addresses are a
// loopback that also carries 192.0.2.10 (the node IP, EXTIP) and 192.0.2.20 (no dummy module here). The host-side servers of the checks listen
// there, so nothing of this test listens on or reaches a real interface of this machine (whose eth0 is in
// 192.0.2.0/24 too). Everything else is the real thing: the user, rootlesskit, slirp4netns, nsenter, iptables.
// Needs root, rootlesskit, slirp4netns, nsenter, setpriv, socat, unshare, iptables, findmnt, ps.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { allowTun, lockTestUser, removeTestUser, requireCommands } from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';

const isRoot = process.geteuid?.() === 0;
const main = fileURLToPath(new URL('../test-helpers/podsec-u7s-main.ts', import.meta.url));
const NODE = [process.execPath, '--conditions=podsec-source', main];
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

function u7s(args: readonly string[], o: { timeout?: number } = {}) {
  return execa(NODE[0]!, [...NODE.slice(1), ...args], {
    reject: false,
    env,
    extendEnv: false,
    timeout: o.timeout ?? 60_000,
    stdin: 'ignore',
  });
}

/** A shell command inside the namespace as its pseudo-root. */
const inside = (script: string) => u7s(['enter', '--', 'sh', '-c', script]);

describe(
  'the u7s namespace acceptance checks (one real namespace)',
  { skip: !isRoot && 'needs root' },
  () => {
    let release: (() => Promise<void>) | undefined;
    let libexec = '';
    let uid = 0;
    let supervisorPid = 0;
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
      // the portability case this machine is (Debian: no /etc/sysconfig, no /var/lib/crio; cgroup v1 hybrid); on
      // another host the same rule: copy-up exactly of the directories that exist, no evacuation on cgroup v1
      const missing = COPY_UP.filter((d) => !existsSync(d));
      const cgroupV1 = / - cgroup /.test(await readFile('/proc/self/mountinfo', 'utf8'));
      t.diagnostic(
        `missing here: ${missing.join(' ') || 'none'}; cgroup v1 controllers: ${cgroupV1}`,
      );
      runBefore = (await readdir('/run')).sort();

      // the private "host network": lo, with the node IP and another host address on it
      const t0 = Date.now();
      const start = await execa(
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
          'start',
          '--libexec',
          libexec,
          '--parent-ip',
          '127.0.0.1',
          '--extip',
          EXTIP,
          '--timeout',
          '60',
        ],
        { reject: false, env, extendEnv: false, stdin: 'ignore', timeout: 90_000 },
      );
      startMs = Date.now() - t0;
      assert.equal(start.exitCode, 0, start.stderr);
      t.diagnostic(`start to ready: ${startMs} ms`);
      const status = JSON.parse((await u7s(['status', '--json'])).stdout) as {
        running: boolean;
        supervisor: { pid: number };
      };
      assert.ok(status.running);
      supervisorPid = status.supervisor.pid;

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

    it('stop leaves no process of u7s-admin, and the private network namespace goes with it', async (t) => {
      if (!supervisorPid) return t.skip('no namespace');
      for (const s of servers) s.kill('SIGTERM');
      await Promise.allSettled(servers);
      const stop = await u7s(['stop']);
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.deepEqual(await launcher.userProcesses(uid), []);
      assert.equal(existsSync(`/proc/${supervisorPid}`), false);
    });
  },
);
