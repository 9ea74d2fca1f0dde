// The real u7s-admin on this host: `podsec-u7s provision` and `podsec-u7s units` for real (useradd, /etc/subuid,
// the unit directories), then what they left is checked (account, trees, subordinate ids, nothing root runs or
// reads is u7s-admin's), a file planted in u7s-admin's ~/.config/usernetes/env is ignored by root's commands, and
// `podsec-u7s preflight --json` reports each deliberately broken prerequisite. /etc/subuid and /dev/net/tun are
// shared with every other process of the machine (tests of other users run in parallel), so they are broken for
// the preflight process alone: in a private mount namespace a copy without u7s-admin's line, a tun device node of
// mode 0600 and a file holding the fs.inotify.max_user_instances value are bind-mounted over them. The sysctl is
// never written: it is the kernel's one value for every process of the machine (and of a fresh-machine tree on
// it), so lowering it for real failed a parallel run of this test and changed it under the others. The cgroup
// finding is this machine's own (cgroup v1 hybrid).
import assert from 'node:assert/strict';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  allowTun,
  copyPackageForUsers,
  k8sBinary,
  lockTestUser,
  removeTestUser,
  requireCommands,
  runWithBinds,
  whichCommand,
} from '@podsec/test-utils';
import { INIT_ARGS } from '../test-helpers/init-args.ts';
import { U7S_BINARIES, type PreflightCheck } from './preflight.ts';
import { UNIT_PATHS } from './units.ts';

const isRoot = process.geteuid?.() === 0;
const u7sMain = fileURLToPath(new URL('../test-helpers/podsec-u7s-main.ts', import.meta.url));
const wrapMain = fileURLToPath(
  new URL('../test-helpers/podsec-u7s-kubeadm-main.ts', import.meta.url),
);
const HOME = '/var/lib/u7s-admin';
const bundleDir = fileURLToPath(new URL('../../bundle', import.meta.url));
/** The host's CNI plugins, which the namespace mounts on /opt/cni/bin (the original chowned them: W-S2). */
const CNI = '/usr/lib/cni';

/** Kind, mode, owner and ctime of every entry below `dir`: a chown or chmod, even to the same values, moves the ctime. */
async function statTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const st = await lstat(path.join(dir, name));
    out.push(`${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.ctimeMs}`);
  }
  return out;
}
const INOTIFY = '/proc/sys/fs/inotify/max_user_instances';

interface SubidLine {
  readonly owner: string;
  readonly start: number;
  readonly count: number;
}
const subids = (text: string): SubidLine[] =>
  text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [owner = '', start = '', count = ''] = l.split(':');
      return { owner, start: Number(start), count: Number(count) };
    });

describe('u7s-admin provisioned on this host', { skip: !isRoot && 'needs root' }, () => {
  let dir = '';
  let uid = 0;
  let gid = 0;
  let release: (() => Promise<void>) | undefined;
  /** Unit files and lingering that did not exist before the test (removed after it). */
  let unitsBefore = new Set<string>();
  const unitFiles = () => [
    `${UNIT_PATHS.system}/u7s.service`,
    `${UNIT_PATHS.user}/rootlesskit.service`,
    `${UNIT_PATHS.user}/kubelet.service`,
    `${UNIT_PATHS.system}/user@${uid}.service.d/delegate.conf`,
    `${UNIT_PATHS.system}/user@${uid}.service.d`,
    UNIT_PATHS.modulesLoad,
    UNIT_PATHS.linger,
    `${UNIT_PATHS.linger}/u7s-admin`,
  ];
  const libexec = () => path.join(dir, 'libexec');
  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env['PATH'],
    LANG: 'C',
    U7S_PLATFORM: 'c10f',
    ...extra,
  });
  /** One of this package's binaries, from the sources, as a real process in exactly `env(extra)`. */
  const runMain =
    (main: string) =>
    (args: string[], extra: Record<string, string> = {}) =>
      execa(process.execPath, ['--conditions=podsec-source', main, ...args], {
        reject: false,
        env: env(extra),
        extendEnv: false,
        timeout: 90_000,
      });
  const u7s = runMain(u7sMain);
  const wrap = runMain(wrapMain);
  let provisioned = false;
  /** {@link statTree} of the CNI plugins before anything of this file ran. */
  let cniBefore: string[] | undefined;

  before(async () => {
    if (!isRoot) return;
    release = await lockTestUser('u7s-admin');
    await removeTestUser('u7s-admin');
    if (await stat(CNI).catch(() => undefined)) cniBefore = await statTree(CNI);
    dir = await mkdtemp(path.join(tmpdir(), 'u7s-host-'));
    await chmod(dir, 0o755);
    await mkdir(libexec(), { mode: 0o755 });
  });
  after(async () => {
    if (!isRoot) return;
    if (provisioned) await u7s(['stop', '--timeout', '10']);
    for (const f of unitFiles().reverse())
      if (uid && !unitsBefore.has(f)) await rm(f, { recursive: true, force: true });
    await removeTestUser('u7s-admin');
    for (const p of ['/etc/kubernetes', '/var/lib/podsec/u7s', dir])
      await rm(p, { recursive: true, force: true });
    await release?.();
  });

  async function provision(t: TestContext): Promise<boolean> {
    if (!requireCommands(t, ['useradd', 'setpriv', 'unshare', 'mount'])) return false;
    if (provisioned) return true;
    const r = await u7s(['provision', '--libexec', libexec()]);
    assert.equal(r.exitCode, 0, r.stderr);
    uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    gid = Number((await execa('id', ['-g', 'u7s-admin'])).stdout);
    unitsBefore = new Set();
    for (const f of unitFiles()) if (await stat(f).catch(() => undefined)) unitsBefore.add(f);
    const units = await u7s(['units', '--libexec', libexec(), '--extip', '192.0.2.10']);
    assert.equal(units.exitCode, 0, units.stderr);
    provisioned = true;
    return true;
  }

  it('creates the system account, its primary group, supplementary groups and trees (checks 1, 3)', async (t) => {
    if (!(await provision(t))) return;
    assert.ok(uid > 0 && uid < 1000, `system uid ${uid}`);
    assert.equal((await execa('id', ['-gn', 'u7s-admin'])).stdout, 'u7s-admin');
    const groups = (await execa('id', ['-Gn', 'u7s-admin'])).stdout.split(' ');
    for (const g of ['u7s-admin', 'podman', 'systemd-journal']) assert.ok(groups.includes(g), g);
    const dirOf = async (p: string) => {
      const st = await stat(p);
      assert.ok(st.isDirectory(), p);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [uid, gid, 0o700], p);
    };
    await dirOf(HOME);
    await dirOf(`${HOME}/.local/share/usernetes`);
    await dirOf(`${HOME}/.local/share/usernetes/containers`);
    assert.equal(
      (await execa('readlink', [`${HOME}/.local/share/containers`])).stdout,
      'usernetes/containers',
    );
    for (const p of ['etcd', 'log', 'log/kubeapi']) await dirOf(`/var/lib/podsec/u7s/${p}`);
  });

  it('gives it one subuid and one subgid range of 65536 ids overlapping no other line; a re-run changes neither file (check 2)', async (t) => {
    if (!(await provision(t))) return;
    const before = {
      subuid: await readFile('/etc/subuid', 'utf8'),
      subgid: await readFile('/etc/subgid', 'utf8'),
    };
    for (const [file, text] of Object.entries(before)) {
      const lines = subids(text);
      const mine = lines.filter((l) => l.owner === 'u7s-admin' || l.owner === String(uid));
      assert.equal(mine.length, 1, `${file}: one line of u7s-admin`);
      const m = mine[0]!;
      assert.ok(m.count >= 65536, `${file}: ${m.count} ids`);
      for (const o of lines)
        if (o !== m)
          assert.ok(
            o.start + o.count <= m.start || m.start + m.count <= o.start,
            `${file}: ${o.owner}:${o.start}:${o.count} overlaps u7s-admin's ${m.start}:${m.count}`,
          );
    }
    const again = await u7s(['provision', '--libexec', libexec(), '--json']);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal(await readFile('/etc/subuid', 'utf8'), before.subuid);
    assert.equal(await readFile('/etc/subgid', 'utf8'), before.subgid);
  });

  it('leaves nothing root runs or reads owned by or writable by u7s-admin (check 4, W-S1)', async (t) => {
    if (!(await provision(t))) return;
    // what root executes or reads as code or configuration: the helpers, the units, the root-side configuration
    // and state, the binaries of this package (here: the sources the test runs, and its bundles when built)
    const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    const roots = [
      libexec(),
      ...unitFiles().filter((f) => !f.endsWith('.service.d') && f !== UNIT_PATHS.linger),
      '/etc/podsec/u7s',
      '/run/podsec/u7s',
      path.join(pkg, 'src'),
      path.join(pkg, 'bundle'),
      process.execPath,
    ];
    const present: string[] = [];
    for (const r of roots) if (await stat(r).catch(() => undefined)) present.push(r);
    assert.ok(present.includes(libexec()) && present.includes('/etc/podsec/u7s'));
    assert.ok(present.includes(`${UNIT_PATHS.system}/u7s.service`));
    // and every directory above them, up to /
    const above = new Set<string>();
    for (const p of present)
      for (let d = path.dirname(p); ; d = path.dirname(d)) {
        above.add(d);
        if (d === '/') break;
      }
    const owned = await execa('find', [...present, '-uid', String(uid), '-print']);
    assert.equal(owned.stdout, '', 'owned by u7s-admin');
    for (const d of above) assert.notEqual((await stat(d)).uid, uid, d);
    // writable, as the kernel decides for u7s-admin itself (its groups included)
    const asUser = [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'];
    const writable = await execa(
      'setpriv',
      [...asUser, 'find', ...present, '-writable', '-print'],
      {
        reject: false,
      },
    );
    assert.equal(writable.stdout, '', 'writable by u7s-admin');
    const dirs = await execa(
      'setpriv',
      [...asUser, 'find', ...above, '-maxdepth', '0', '-writable'],
      {
        reject: false,
      },
    );
    assert.deepEqual(
      dirs.stdout.split('\n').filter((d) => d !== '' && d !== '/tmp' && d !== tmpdir()),
      [],
      'no directory above them is writable by u7s-admin (but the sticky temp dir)',
    );
  });

  it("ignores a file planted in u7s-admin's ~/.config/usernetes/env (W-S1)", async (t) => {
    if (!(await provision(t))) return;
    const dryRuns = async () => ({
      units: await u7s([
        'units',
        '--libexec',
        libexec(),
        '--extip',
        '192.0.2.10',
        '--dry-run',
        '--json',
      ]),
      init: await wrap([...INIT_ARGS, '--dry-run', '--json'], {
        U7S_KUBEADM: k8sBinary('kubeadm') ?? '/usr/bin/kubeadm',
      }),
    });
    const clean = await dryRuns();
    assert.equal(clean.units.exitCode, 0, clean.units.stderr);
    // a marker program that leaves a trace if anything ran it
    const trace = path.join(dir, 'marker-ran');
    const marker = path.join(dir, 'marker');
    await writeFile(marker, `#!/bin/sh\ntouch ${trace}\n`, { mode: 0o755 });
    const envFile = `${HOME}/.config/usernetes/env`;
    await execa('setpriv', [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      'mkdir',
      '-p',
      path.dirname(envFile),
    ]);
    const planted = [
      `PATH=${dir}:/usr/bin:/bin`,
      `U7S_KUBEADM=${marker}`,
      `U7S_SERVICECIDR=10.200.0.0/16`,
      `U7S_REGISTRY=evil.example`,
      `LD_PRELOAD=${marker}`,
      `$(${marker})`,
      '',
    ].join('\n');
    await execa('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'tee', envFile], {
      input: planted,
    });
    assert.equal((await stat(envFile)).uid, uid);
    const dirty = await dryRuns();
    assert.equal(dirty.units.stdout, clean.units.stdout, 'podsec-u7s units: same plan');
    assert.equal(dirty.init.exitCode, clean.init.exitCode, dirty.init.stderr);
    assert.equal(dirty.init.stdout, clean.init.stdout, 'podsec-u7s-kubeadm init: same plan');
    assert.doesNotMatch(dirty.init.stdout, /10\.200\.0\.0|evil\.example/);
    await assert.rejects(stat(trace), { code: 'ENOENT' });
  });

  describe('preflight reports each broken prerequisite (proof P1)', () => {
    /** A PATH directory with every program a node needs that this machine has, but `hide`. */
    async function binDir(hide?: string): Promise<string> {
      const d = await mkdtemp(path.join(dir, 'bin-'));
      await chmod(d, 0o755);
      for (const b of U7S_BINARIES) {
        if (b === hide) continue;
        const found = k8sBinary(b) ?? whichCommand(b);
        if (found) await symlink(found, path.join(d, b));
      }
      return d;
    }
    async function tunNode(mode: number): Promise<string> {
      const p = path.join(dir, `tun-${mode.toString(8)}`);
      await rm(p, { force: true });
      await execa('mknod', ['-m', mode.toString(8), p, 'c', '10', '200']);
      return p;
    }
    async function preflight(o: {
      hide?: string;
      tunMode?: number;
      subuid?: string;
      inotifyInstances?: number;
    }): Promise<{ code: number | undefined; checks: Map<string, PreflightCheck> }> {
      const sysctl = path.join(dir, 'max_user_instances');
      await writeFile(sysctl, `${o.inotifyInstances ?? 8192}\n`, { mode: 0o644 });
      const binds = [
        { source: await tunNode(o.tunMode ?? 0o666), target: '/dev/net/tun' },
        { source: sysctl, target: INOTIFY },
      ];
      if (o.subuid !== undefined) {
        const copy = path.join(dir, 'subuid');
        await writeFile(copy, o.subuid, { mode: 0o644 });
        binds.push({ source: copy, target: '/etc/subuid' });
      }
      const r = await runWithBinds(
        binds,
        process.execPath,
        ['--conditions=podsec-source', u7sMain, 'preflight', '--json'],
        { env: { PATH: await binDir(o.hide), LANG: 'C' } },
      );
      const doc = JSON.parse(r.stdout) as { checks: PreflightCheck[]; ok: boolean };
      assert.equal(r.exitCode, doc.ok ? 0 : 6, r.stderr);
      return { code: r.exitCode, checks: new Map(doc.checks.map((c) => [c.id, c])) };
    }
    const expectOk = (c: Map<string, PreflightCheck>, id: string) =>
      assert.equal(c.get(id)?.status, 'ok', `${id}: ${JSON.stringify(c.get(id))}`);
    function expectFail(c: Map<string, PreflightCheck>, id: string, message: RegExp, fix: RegExp) {
      const x = c.get(id);
      assert.equal(x?.status, 'fail', `${id}: ${JSON.stringify(x)}`);
      assert.match(x.message, message);
      assert.match(x.fix ?? '', fix);
    }

    it('passes subuid, tun, inotify-instances and the binaries when they are there; fails each one broken alone', async (t) => {
      if (!(await provision(t))) return;
      if (!requireCommands(t, ['mknod', 'rootlesskit', 'slirp4netns'])) return;
      const good = await preflight({});
      for (const id of ['user', 'subuid', 'subgid', 'tun', 'inotify-instances', 'bin-slirp4netns'])
        expectOk(good.checks, id);

      const subuid = await readFile('/etc/subuid', 'utf8');
      const without = subuid
        .split('\n')
        .filter((l) => !l.startsWith('u7s-admin:'))
        .join('\n');
      assert.notEqual(without, subuid);
      const noSubuid = await preflight({ subuid: without });
      expectFail(
        noSubuid.checks,
        'subuid',
        /^\/etc\/subuid gives u7s-admin 0 ids$/,
        /podsec-u7s provision \(allocates 65536 subordinate uids\)/,
      );
      expectOk(noSubuid.checks, 'subgid');
      assert.equal(noSubuid.code, 6);
      assert.equal(await readFile('/etc/subuid', 'utf8'), subuid, 'the host file is untouched');

      const rootOnly = await preflight({ tunMode: 0o600 });
      expectFail(
        rootOnly.checks,
        'tun',
        /^\/dev\/net\/tun mode 0600$/,
        /chmod 0666 \/dev\/net\/tun/,
      );
      expectOk(rootOnly.checks, 'subuid');

      const low = await preflight({ inotifyInstances: 127 });
      expectFail(
        low.checks,
        'inotify-instances',
        /^fs\.inotify\.max_user_instances = 127$/,
        /^sysctl -w fs\.inotify\.max_user_instances=8192$/,
      );

      const hidden = await preflight({ hide: 'slirp4netns' });
      expectFail(
        hidden.checks,
        'bin-slirp4netns',
        /^slirp4netns not found$/,
        /^install slirp4netns$/,
      );
      expectOk(hidden.checks, 'bin-rootlesskit');
    });

    it("reports this machine's cgroup as it is, with the fix", async (t) => {
      if (!(await provision(t))) return;
      if (!requireCommands(t, ['mknod'])) return;
      const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
      const v2Only = / - cgroup2 /.test(mountinfo) && !/ - cgroup /.test(mountinfo);
      const r = await preflight({});
      if (v2Only) return expectOk(r.checks, 'cgroup');
      expectFail(
        r.checks,
        'cgroup',
        /^cgroup v1 .*kubelet is configured to not run on a host using cgroup v1/,
        /systemd\.unified_cgroup_hierarchy=1/,
      );
      assert.equal(r.code, 6);
    });
  });

  it("provision, a namespace start and stop keep the CNI plugins as they were (W-S2) and use no predictable temp path (W-S4); u7s-admin's own enter is root's (check 29)", async (t) => {
    if (!(await provision(t))) return;
    // kubeadm too: the wrapper's init dry run below renders what root writes for init
    const found = requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'kubeadm']);
    if (!found) return;
    assert.ok(cniBefore, `${CNI} (containernetworking-plugins) is installed`);
    await allowTun(t);
    // the original's root wrote /tmp/kube-api-server.$$ and /tmp/cmd_$$.sh: links planted at those names point
    // at a file that must stay as it is, for every pid the kernel can hand out (pid_max is 32768 here), or on a
    // host with a larger pid_max for the next 40000 (the runs below must take theirs from that window)
    const pidMax = Number(await readFile('/proc/sys/kernel/pid_max', 'utf8'));
    const last = Number(await readFile('/proc/sys/kernel/ns_last_pid', 'utf8'));
    const span = Math.min(pidMax - 1, 40_000);
    const pids = new Set(Array.from({ length: span }, (_, i) => ((last + i) % (pidMax - 1)) + 1));
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'untouched\n', { mode: 0o644 });
    const names = [...pids].flatMap((p) => [`/tmp/kube-api-server.${p}`, `/tmp/cmd_${p}.sh`]);
    const planted: string[] = [];
    const inBatches = async (all: readonly string[], f: (n: string) => Promise<void>) => {
      for (let k = 0; k < all.length; k += 2000) await Promise.all(all.slice(k, k + 2000).map(f));
    };
    t.after(() => inBatches(planted, (l) => rm(l, { force: true })));
    // a link left by a run of this test that was killed (its victim in another u7s-host- dir) is planted anew
    const plant = async (l: string, again = true): Promise<void> => {
      try {
        await symlink(victim, l);
        planted.push(l);
      } catch {
        const old = await readlink(l).catch(() => '');
        if (again && /^\/tmp\/u7s-host-[^/]+\/victim$/.test(old)) {
          await rm(l, { force: true });
          await plant(l, false);
        }
      }
    };
    await inBatches(names, (l) => plant(l));
    assert.ok(planted.length > span, `${planted.length} links planted`);
    // and every temp file of the runs would land here: it must be empty afterwards
    const tmp = await mkdtemp(path.join(dir, 'tmp-'));
    await chmod(tmp, 0o1777);
    const extra = {
      TMPDIR: tmp,
      PODSEC_U7S_SELF: JSON.stringify([process.execPath, '--conditions=podsec-source', u7sMain]),
    };
    const ran: (number | undefined)[] = [];
    const step = async (r: ReturnType<typeof u7s>, code = 0) => {
      ran.push(r.pid);
      const done = await r;
      assert.equal(done.exitCode, code, `${done.command}: ${done.stderr}`);
      return done;
    };
    await step(u7s(['provision', '--libexec', libexec()], extra));
    // the wrapper renders what root writes for init (the original's temp files), before the namespace runs,
    // with a kubeadm u7s-admin can reach (the built one is under root's 0700 home)
    const kubeadm = path.join(dir, 'kubeadm');
    await copyFile(found.kubeadm, kubeadm);
    await chmod(kubeadm, 0o755);
    await step(wrap([...INIT_ARGS, '--dry-run'], { ...extra, U7S_KUBEADM: kubeadm }));
    await step(
      u7s(
        ['start', '--libexec', libexec(), '--parent-ip', '127.0.0.1', '--extip', '192.0.2.10'],
        extra,
      ),
    );
    const inside = await step(
      u7s(
        [
          'enter',
          '--',
          'sh',
          '-c',
          'ls /opt/cni/bin; touch /opt/cni/bin/bridge /opt/cni/bin/new 2>/dev/null && echo WROTE; exit 0',
        ],
        extra,
      ),
    );
    assert.deepEqual(
      inside.stdout.split('\n').filter((l) => l !== ''),
      (await readdir(CNI)).sort(),
      'the host plugins, and nothing written through /opt/cni/bin',
    );
    // check 29: u7s-admin's own call gives what root's call on its behalf gives (its status, pseudo-root, the
    // cwd); it runs the installed layout, as the checkout may be out of its reach
    const { node, bundle } = await copyPackageForUsers(t, bundleDir);
    const cwd = await mkdtemp(path.join(dir, 'cwd-'));
    await chmod(cwd, 0o755);
    const probe = ['enter', '--', 'sh', '-c', 'echo "$(id -u) $(pwd)"; exit 7'];
    const byRoot = execa(process.execPath, ['--conditions=podsec-source', u7sMain, ...probe], {
      reject: false,
      cwd,
      env: env(extra),
      extendEnv: false,
    });
    const own = execa(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        '--init-groups',
        '--',
        node,
        path.join(bundle, 'podsec-u7s.cjs'),
        ...probe,
      ],
      { reject: false, cwd, env: env(extra), extendEnv: false },
    );
    for (const r of [await step(byRoot, 7), await step(own, 7)])
      assert.equal(r.stdout, `0 ${cwd}`, r.stderr);
    await step(u7s(['stop', '--timeout', '10'], extra));
    assert.deepEqual(await statTree(CNI), cniBefore, `${CNI}: owners, modes and ctimes as before`);
    assert.ok(
      ran.every((p) => p !== undefined && pids.has(p)),
      `the runs' pids ${ran.join(' ')} are among the planted ones`,
    );
    assert.equal(await readFile(victim, 'utf8'), 'untouched\n');
    for (const l of planted) assert.equal(await readlink(l), victim, l);
    assert.deepEqual(await readdir(tmp), [], 'no temp file left behind');
  });

  it('left no process of u7s-admin behind', async (t) => {
    if (!(await provision(t))) return;
    const ps = await execa('pgrep', ['-u', String(uid)], { reject: false });
    assert.equal(ps.stdout, '');
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f === 'marker-ran'),
      [],
    );
  });
});
