// podsec-u7s-kubeadm as a real process over a temp root (--root): the plan, the refusals and their exit codes,
// the pass-through of the real kubeadm. The real kubeadm is copied to a root-owned directory u7s-admin can reach
// (the build cache under /root is not).
import assert from 'node:assert/strict';
import { chmod, copyFile, link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createServer } from 'node:https';
import { symlink } from 'node:fs/promises';
import {
  makeTestCert,
  requireCommand,
  requireCommands,
  runInPty,
  snapshotTree,
} from '@podsec/test-utils';
import { discoveryKubeconfig } from '../test-helpers/discovery-fixture.ts';
import { INIT_ARGS } from '../test-helpers/init-args.ts';

const main = fileURLToPath(new URL('../test-helpers/podsec-u7s-kubeadm-main.ts', import.meta.url));
const isRoot = process.geteuid?.() === 0;

async function setup(t: TestContext) {
  const found = requireCommands(t, ['kubeadm', 'kubectl']);
  if (found === undefined) return undefined;
  const real = found.kubeadm;
  const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  const kubeadm = path.join(dir, 'bin/kubeadm');
  await mkdir(path.dirname(kubeadm), { mode: 0o755 });
  await link(real, kubeadm).catch(() => copyFile(real, kubeadm));
  // where u7s-admin can run it, as kubeadm (the built ones are under root's 0700 home)
  const kubectl = path.join(dir, 'bin/kubectl');
  await link(found.kubectl, kubectl).catch(() => copyFile(found.kubectl, kubectl));
  const root = path.join(dir, 'root');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(
    path.join(root, 'etc/passwd'),
    'root:x:0:0::/root:/bin/sh\nu7s-admin:x:990:990::/var/lib/u7s-admin:/bin/sh\n',
  );
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\nu7s-admin:x:990:\n');
  const baseEnv = {
    PATH: process.env['PATH'] ?? '',
    LANG: 'C',
    U7S_KUBEADM: kubeadm,
    // init checks the add-ons' kubectl first: the built one, not /usr/bin's (none on a fresh host)
    U7S_KUBECTL: kubectl,
    U7S_PLATFORM: 'c10f',
  };
  const run = (args: readonly string[], env: Record<string, string> = {}) =>
    execa(process.execPath, ['--conditions=podsec-source', main, '--root', root, ...args], {
      reject: false,
      extendEnv: false,
      env: { ...baseEnv, ...env },
      timeout: 60_000,
    });
  return { kubeadm, root, run, dir, env: baseEnv };
}

const filesOf = async (root: string) =>
  (await execa('find', [root, '-type', 'f'])).stdout.split('\n').sort();

describe('podsec-u7s-kubeadm', { skip: !isRoot && 'needs root' }, () => {
  it('--dry-run prints the rendered files and the exact kubeadm argv, and changes nothing', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const args = ['init', 'phase', 'certs', 'all', '--apiserver-advertise-address', '192.0.2.10'];
    const text = await s.run([...args, '--dry-run']);
    assert.equal(text.exitCode, 0, text.stderr);
    assert.match(
      text.stdout,
      /^# file \/etc\/podsec\/u7s\/kubeadm\/init\.yaml \(mode 640, owner 0:990\)$/m,
    );
    assert.match(text.stdout, /advertiseAddress: 192\.0\.2\.10/);
    assert.ok(
      text.stdout
        .trimEnd()
        .endsWith(`${s.kubeadm} init phase certs all --config /etc/podsec/u7s/kubeadm/init.yaml`),
      text.stdout,
    );
    const json = await s.run(['--json', ...args, '--dry-run']);
    assert.equal(json.exitCode, 0, json.stderr);
    const plan = (
      JSON.parse(json.stdout) as { plan: { kubeadmArgv: string[]; files: { path: string }[] } }
    ).plan;
    assert.deepEqual(plan.kubeadmArgv, [
      s.kubeadm,
      'init',
      'phase',
      'certs',
      'all',
      '--config',
      '/etc/podsec/u7s/kubeadm/init.yaml',
    ]);
    assert.ok(plan.files.some((f) => f.path === '/etc/podsec/u7s/config/env'));
    // nothing written under the root
    assert.deepEqual((await execa('find', [s.root, '-type', 'f'])).stdout.split('\n').sort(), [
      path.join(s.root, 'etc/group'),
      path.join(s.root, 'etc/passwd'),
    ]);
  });

  it('refuses unknown and refused flags, bad networks and no command with one line and exit 1', async (t) => {
    const s = await setup(t);
    if (!s) return;
    for (const [args, re] of [
      [['init', '--frobnicate'], /unknown flag --frobnicate/],
      [['init', '--config', '/x.yaml'], /flag --config is refused/],
      [
        ['join', '192.0.2.1:6443', '--discovery-file', 'https://h/x'],
        /flag --discovery-file is refused: it and 192\.0\.2\.1:6443 exclude each other/,
      ],
      [
        ['init', '--pod-network-cidr', '300.1.1.1/16'],
        /invalid pod network CIDR "300\.1\.1\.1\/16"/,
      ],
      [
        [
          'init',
          '--service-cidr',
          '127.0.0.0/8',
          '--apiserver-advertise-address',
          '192.0.2.10',
          '--dry-run',
        ],
        /./,
      ],
      [[], /no kubeadm command given/],
    ] as [string[], RegExp][]) {
      const r = await s.run(args);
      if (args.includes('127.0.0.0/8')) {
        // loopback is never a conflict: the plan goes through
        assert.equal(r.exitCode, 0, r.stderr);
        continue;
      }
      assert.equal(r.exitCode, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    const ru = await s.run(['init', '--frobnicate'], { LANG: 'ru_RU.UTF-8' });
    assert.match(ru.stderr, /неизвестный флаг --frobnicate/);
  });

  it('--discovery-file: read bounded, checked, planned as a root-owned copy; links of others and bad URLs refused', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const file = path.join(s.dir, 'discovery.conf');
    await writeFile(file, discoveryKubeconfig());
    const join = ['join', '--token', 'abcdef.0123456789abcdef', '--apiserver-advertise-address'];
    const args = [...join, '192.0.2.10', '--discovery-file'];
    const dry = await s.run([...args, file, '--dry-run', '--json']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    const plan = (
      JSON.parse(dry.stdout) as {
        plan: { endpoint: string; files: { path: string; content: string; mode: string }[] };
      }
    ).plan;
    assert.equal(plan.endpoint, '192.0.2.1:6443');
    const copy = plan.files.find((f) => f.path === '/etc/podsec/u7s/kubeadm/discovery.conf')!;
    assert.deepEqual([copy.content, copy.mode], [discoveryKubeconfig(), '640']);
    assert.match(
      plan.files[0]!.content,
      /kubeConfigPath: \/etc\/podsec\/u7s\/kubeadm\/discovery\.conf/,
    );
    // nothing written under the root
    assert.deepEqual(await filesOf(s.root), [
      path.join(s.root, 'etc/group'),
      path.join(s.root, 'etc/passwd'),
    ]);
    // the same file through a link in a directory every user can write (/tmp): refused, not followed
    const link = path.join(tmpdir(), `kgaps-discovery-${process.pid}.conf`);
    await symlink(file, link);
    t.after(() => rm(link, { force: true }));
    const bad: [string, RegExp][] = [
      [link, /refused: a symbolic link in a directory another user can write/],
      [path.join(s.dir, 'missing.conf'), /refused: no such file/],
      ['http://192.0.2.1/discovery.conf', /a URL must be https/],
    ];
    // an https server whose certificate the host's CA bundle does not trust (kubeadm verifies the same way)
    const cert = await makeTestCert(s.dir, 'tls');
    const server = createServer({ key: cert.key, cert: cert.cert }, (_q, res) =>
      res.end(discoveryKubeconfig()),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    bad.push([`https://127.0.0.1:${port}/discovery.conf?key=secret`, /self-signed certificate/]);
    for (const [value, re] of bad) {
      const r = await s.run([...args, value, '--dry-run']);
      assert.equal(r.exitCode, 1, `${value}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /the discovery file .* is refused: /);
      assert.match(r.stderr, re);
      // a query of the URL (it may carry a secret) is not shown
      assert.doesNotMatch(r.stderr, /secret/);
    }
    const ru = await s.run([...args, link, '--dry-run'], { LANG: 'ru_RU.UTF-8' });
    assert.match(ru.stderr, /файл обнаружения .* отклонён/);
  });

  it('refuses a kubeadm binary that anyone but root can change (exit 4), runs version on the host', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const v = await s.run(['version', '-o', 'short']);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.match(v.stdout, /^v1\.\d+\.\d+/);
    const writable = path.join(s.dir, 'writable');
    await mkdir(writable, { mode: 0o777 });
    await chmod(writable, 0o777);
    await copyFile('/bin/true', path.join(writable, 'kubeadm'));
    const r = await s.run(['version'], { U7S_KUBEADM: path.join(writable, 'kubeadm') });
    assert.equal(r.exitCode, 4);
    assert.match(r.stderr, /refusing to run .*writable is writable by group or others/);
    // kubeadm's own failure status passes through for pass-through commands
    const bad = await s.run(['version', '-o', 'nonsense']);
    assert.notEqual(bad.exitCode, 0);
  });

  it('needs a running namespace for init phases (exit 3, nothing written)', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const r = await s.run([
      'init',
      'phase',
      'certs',
      'all',
      '--apiserver-advertise-address',
      '192.0.2.10',
    ]);
    assert.equal(r.exitCode, 3, r.stderr);
    assert.match(r.stderr, /the u7s namespace is not running/);
  });

  it('refuses a node-changing run while another holds the run lock (exit 7, one line, nothing written); a dead holder is taken over', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const args = ['init', 'phase', 'certs', 'all', '--apiserver-advertise-address', '192.0.2.10'];
    const lock = path.join(s.root, 'run/podsec/u7s/kubeadm.lock');
    await mkdir(path.dirname(lock), { recursive: true });
    // a live holder: this test process (the lock file holds the runner's pid, as shadow-utils' locks do)
    await writeFile(lock, `${process.pid}`);
    const before = await filesOf(s.root);
    const busy = await s.run(args);
    assert.equal(busy.exitCode, 7, busy.stderr);
    assert.equal(
      busy.stderr.trim(),
      `podsec-u7s-kubeadm: another podsec-u7s-kubeadm run (pid ${process.pid}) is changing this node: wait for it to end`,
    );
    assert.deepEqual(await filesOf(s.root), before);
    assert.equal(await readFile(lock, 'utf8'), `${process.pid}`);
    // a command that changes nothing on the node is not held up by it (here it stops at the missing namespace)
    const list = await s.run(['token', 'list']);
    assert.equal(list.exitCode, 3, list.stderr);
    // the holder is gone (a pid no process has): the next run takes the lock over and gets as far as without one
    await writeFile(lock, '4194303');
    const stale = await s.run(args);
    assert.equal(stale.exitCode, 3, stale.stderr);
    assert.match(stale.stderr, /the u7s namespace is not running/);
    await assert.rejects(readFile(lock), { code: 'ENOENT' });
  });

  // check 36: the etcd data of an earlier cluster is never wiped without a yes
  const INIT = INIT_ARGS;
  async function withMember(root: string) {
    const member = path.join(root, 'var/lib/podsec/u7s/etcd/member');
    await mkdir(path.join(member, 'snap'), { recursive: true });
    await writeFile(path.join(member, 'snap/db'), 'etcd data');
    return member;
  }
  const files = filesOf;

  it('refuses init over an existing etcd member directory without --yes when nobody can be asked (exit 1, kept)', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const member = await withMember(s.root);
    const before = await files(s.root);
    const r = await s.run(INIT);
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(
      r.stderr,
      /\/var\/lib\/podsec\/u7s\/etcd\/member exists \(the etcd data of an earlier cluster\): give --yes to remove it/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(await files(s.root), before);
    assert.equal(await readFile(path.join(member, 'snap/db'), 'utf8'), 'etcd data');
    // a join is refused the same way (the original asked on workers too)
    const join = await s.run([
      'join',
      '192.0.2.1:6443',
      '--token',
      'abcdef.0123456789abcdef',
      '--discovery-token-ca-cert-hash',
      `sha256:${'a'.repeat(64)}`,
      '--apiserver-advertise-address',
      '192.0.2.10',
    ]);
    assert.equal(join.exitCode, 1, join.stderr);
    assert.match(join.stderr, /give --yes/);
    // --yes: the dry run says it goes first; the real run gets past the check (and stops at the namespace, down
    // here: the removal itself waits until the namespace is known to run, see kubeadm-namespace.test.ts)
    const dry = await s.run([...INIT, '--yes', '--dry-run']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.match(dry.stdout, /etcd\/member exists .*removed first \(--yes\)/);
    const yes = await s.run([...INIT, '--yes']);
    assert.equal(yes.exitCode, 3, yes.stderr);
    assert.match(yes.stderr, /the u7s namespace is not running/);
  });

  it('asks on a terminal whether to clear the etcd member directory; anything but y keeps it (exit 1)', async (t) => {
    const s = await setup(t);
    if (!s) return;
    if (requireCommand(t, 'python3') === undefined) return;
    const member = await withMember(s.root);
    const before = await files(s.root);
    for (const answer of ['n', '']) {
      const out = await runInPty(
        process.execPath,
        ['--conditions=podsec-source', main, '--root', s.root, ...INIT],
        {
          env: s.env,
          steps: [{ expect: '[y/N]', send: answer }],
        },
      );
      assert.match(
        out.out,
        /etcd\/member holds the etcd data of an earlier cluster\. Clear the directory\? \[y\/N\]/,
      );
      assert.equal(out.code, 1, out.out);
      assert.match(out.out, /etcd\/member kept: nothing was changed/);
      assert.deepEqual(await files(s.root), before);
    }
    assert.equal(await readFile(path.join(member, 'snap/db'), 'utf8'), 'etcd data');
  });

  // check 7 and the node address: a private network namespace with two interfaces stands in for a host with
  // 192.0.2.2/24 on d0 (default route via 192.0.2.1, metric 200) and 198.51.100.2/24 on d1 (a gateway-less default
  // route, metric 100); the wrapper reads them with the real `ip` in there. The host's own network is not touched.
  it('refuses networks overlapping a host interface (exit 1, names it, nothing written); takes the address of the lowest-metric default route', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const ip = requireCommand(t, 'ip');
    if (ip === undefined) return;
    const ns = `podsec-kconf-${process.pid}`;
    await execa(ip, ['netns', 'add', ns]);
    t.after(() => execa(ip, ['netns', 'del', ns], { reject: false }));
    const inNs = (args: string[]) => execa(ip, ['-n', ns, ...args]);
    for (const [dev, peer] of [
      ['d0', 'p0'],
      ['d1', 'p1'],
    ] as const) {
      await inNs(['link', 'add', dev, 'type', 'veth', 'peer', 'name', peer]);
      for (const l of [dev, peer]) await inNs(['link', 'set', l, 'up']);
    }
    await inNs(['addr', 'add', '192.0.2.2/24', 'dev', 'd0']);
    await inNs(['addr', 'add', '198.51.100.2/24', 'dev', 'd1']);
    await inNs(['route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'd0', 'metric', '200']);
    await inNs(['route', 'add', 'default', 'dev', 'd1', 'metric', '100']);
    const run = (args: string[]) =>
      execa(
        ip,
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          '--conditions=podsec-source',
          main,
          '--root',
          s.root,
          ...args,
        ],
        {
          reject: false,
          extendEnv: false,
          env: s.env,
          timeout: 60_000,
        },
      );
    const before = await snapshotTree(s.root);
    for (const args of [
      ['init', '--service-cidr', '192.0.2.0/24'],
      ['init', '--pod-network-cidr', '192.0.0.0/16'],
      ['init', '--apiserver-advertise-address', '192.0.2.10', '--service-cidr', '192.0.0.0/20'],
    ]) {
      const r = await run(args);
      assert.equal(r.exitCode, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /overlaps 192\.0\.2\.2\/24 of interface d0/);
      assert.deepEqual(await snapshotTree(s.root), before, `${args.join(' ')} changed nothing`);
    }
    // no --apiserver-advertise-address: the address of d1, whose default route has the lower metric and no gateway
    const dry = await run(['init', '--dry-run', '--json']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    const plan = (
      JSON.parse(dry.stdout) as { plan: { advertiseAddress: string; endpoint: string } }
    ).plan;
    assert.equal(plan.advertiseAddress, '198.51.100.2');
    assert.equal(plan.endpoint, '198.51.100.2:6443');
    assert.deepEqual(await snapshotTree(s.root), before, 'the dry run changed nothing');
  });

  it('honours -v 5 before the command; refuses a service CIDR smaller than /24 (exit 1, nothing written)', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const before = await snapshotTree(s.root);
    const v = await s.run([
      '-v',
      '5',
      'init',
      '--apiserver-advertise-address',
      '192.0.2.10',
      '--dry-run',
      '--json',
    ]);
    assert.equal(v.exitCode, 0, v.stderr);
    const argv = (JSON.parse(v.stdout) as { plan: { kubeadmArgv: string[]; role: string } }).plan;
    assert.equal(argv.role, 'initMaster');
    assert.deepEqual(argv.kubeadmArgv.slice(1), [
      'init',
      '--config',
      '/etc/podsec/u7s/kubeadm/init.yaml',
      '--v=5',
      '--upload-certs',
    ]);
    for (const cidr of ['10.96.0.0/25', '10.96.0.0/30']) {
      const r = await s.run([
        'init',
        '--service-cidr',
        cidr,
        '--apiserver-advertise-address',
        '192.0.2.10',
      ]);
      assert.equal(r.exitCode, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`the network ${cidr.replace(/[./]/g, '\\$&')} is too small`),
      );
    }
    // a /24 is the smallest accepted
    const ok = await s.run([
      'init',
      '--service-cidr',
      '10.96.0.0/24',
      '--apiserver-advertise-address',
      '192.0.2.10',
      '--dry-run',
    ]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.deepEqual(await snapshotTree(s.root), before);
  });
});
