import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createTestSystem, requireCommand, requireCommands } from '@podsec/test-utils';
import { planNode } from './node-config.ts';
import { installU7sUnits } from './install-units.ts';
import { planU7sUnits, UNIT_PATHS, type U7sUnitsOptions } from './units.ts';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const OPTS: U7sUnitsOptions = {
  user: 'u7s-admin',
  uid: 990,
  gid: 990,
  home: '/var/lib/u7s-admin',
  rootlesskitArgs: [
    '--state-dir=/run/user/990/usernetes/rootlesskit',
    '--net=slirp4netns',
    '--mtu=65520',
    '--copy-up=/etc',
    '--cidr=10.96.0.0/12',
    '--',
  ],
  env: {
    U7S_UID: '990',
    PATH: '/usr/libexec/podsec/u7s/bin:/usr/bin:/bin',
    U7S_EXTIP: '192.0.2.10',
  },
  ports: [
    { proto: 'tcp', parentIP: '0.0.0.0', parentPort: 10250, childPort: 10250 },
    { proto: 'udp', parentIP: '0.0.0.0', parentPort: 6053, childPort: 53 },
  ],
  nodeIP: '192.0.2.10',
};

/** Parses a unit file into section -> key -> values (repeated keys kept in order). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    const s = /^\[(.+)\]$/.exec(line);
    if (s) out.set(s[1]!, (section = new Map()));
    else if (line.includes('=') && !line.startsWith('#') && section) {
      const i = line.indexOf('=');
      const k = line.slice(0, i);
      section.set(k, [...(section.get(k) ?? []), line.slice(i + 1)]);
    }
  }
  return out;
}
const unit = (name: string) => {
  const u = planU7sUnits(OPTS).find((x) => x.path.endsWith(`/${name}`));
  assert.ok(u, name);
  return parseUnit(u.content);
};
const key = (u: Map<string, Map<string, string[]>>, s: string, k: string) => u.get(s)?.get(k);

describe('planU7sUnits', () => {
  it('orders kubelet after the namespace and binds it to it, with notify readiness', () => {
    const k = unit('kubelet.service');
    assert.deepEqual(key(k, 'Unit', 'BindsTo'), ['rootlesskit.service']);
    assert.deepEqual(key(k, 'Unit', 'After'), ['rootlesskit.service']);
    assert.deepEqual(key(k, 'Service', 'Type'), ['notify']);
    assert.deepEqual(key(k, 'Service', 'NotifyAccess'), ['all']);
    // the node's kubelet settings over kubeadm's file before every start, as u7s-admin
    assert.deepEqual(key(k, 'Service', 'ExecStartPre'), [
      '/usr/bin/podsec-u7s kubelet-config --user u7s-admin',
    ]);
    const exec = key(k, 'Service', 'ExecStart')![0]!;
    assert.match(exec, /^\/usr\/bin\/podsec-u7s enter --wait 10 -- \/usr\/bin\/kubelet /);
    assert.match(
      exec,
      /--container-runtime-endpoint=unix:\/\/\/run\/user\/990\/usernetes\/crio\/crio\.sock/,
    );
    assert.match(exec, /--root-dir=\/var\/lib\/u7s-admin\/\.local\/share\/usernetes\/kubelet/);
    assert.match(exec, /--node-ip=192\.0\.2\.10/);
  });

  it('makes the namespace unit ready only after the bounded wait for the marker, then adds the forwards', () => {
    const r = unit('rootlesskit.service');
    assert.deepEqual(key(r, 'Service', 'ExecStartPost'), [
      '/usr/bin/podsec-u7s enter --wait 60 -- /bin/true',
      '/usr/bin/podsec-u7s ports add 0.0.0.0:10250:10250/tcp 0.0.0.0:6053:53/udp',
    ]);
    assert.equal(
      key(r, 'Service', 'ExecStart')![0],
      '/usr/bin/rootlesskit --state-dir=/run/user/990/usernetes/rootlesskit --net=slirp4netns --mtu=65520 ' +
        '--copy-up=/etc --cidr=10.96.0.0/12 -- /usr/libexec/podsec/u7s/bin/rootlesskit.sh',
    );
    assert.deepEqual(key(r, 'Service', 'Delegate'), ['yes']);
    assert.deepEqual(key(r, 'Service', 'TimeoutStartSec'), ['90']);
    assert.ok(
      key(r, 'Service', 'Environment')!.includes(
        '"PATH=/usr/libexec/podsec/u7s/bin:/usr/bin:/bin"',
      ) ||
        key(r, 'Service', 'Environment')!.includes(
          'PATH=/usr/libexec/podsec/u7s/bin:/usr/bin:/bin',
        ),
    );
  });

  it('runs u7s.service as the user after its manager; root only for the narrow ping range', () => {
    const u = unit('u7s.service');
    assert.deepEqual(key(u, 'Unit', 'Requires'), ['user@990.service']);
    assert.deepEqual(key(u, 'Unit', 'After'), ['user@990.service network-online.target']);
    assert.deepEqual(key(u, 'Service', 'User'), ['u7s-admin']);
    assert.deepEqual(key(u, 'Service', 'ExecStartPre'), [
      '+/usr/sbin/sysctl -w "net.ipv4.ping_group_range=990 990"',
    ]);
    assert.deepEqual(key(u, 'Service', 'ExecStart'), [
      '/usr/bin/systemctl --user start kubelet.service',
    ]);
    assert.deepEqual(key(u, 'Install', 'WantedBy'), ['multi-user.target']);
  });

  it('delegates controllers to this user manager only, and lists the modules without the bogus "tap"', () => {
    const units = planU7sUnits(OPTS);
    const d = units.find((x) => x.path.endsWith('delegate.conf'));
    assert.equal(d?.path, '/usr/lib/systemd/system/user@990.service.d/delegate.conf');
    assert.match(d.content, /^Delegate=cpu cpuset io memory pids$/m);
    const m = units.find((x) => x.path === UNIT_PATHS.modulesLoad)!.content;
    const mods = m.split('\n').filter((l) => l && !l.startsWith('#'));
    assert.ok(
      mods.includes('br_netfilter') && mods.includes('tun') && mods.includes('xt_MASQUERADE'),
    );
    assert.ok(!mods.includes('tap'));
  });

  it('waits for nothing with sleeps', () => {
    for (const u of planU7sUnits(OPTS)) assert.doesNotMatch(u.content, /\bsleep\b/, u.path);
  });

  it('quotes words with blanks and escapes % and $ for systemd', () => {
    const r = planU7sUnits({ ...OPTS, env: { A: 'x y', B: '50%', C: '$HOME' } }).find((x) =>
      x.path.endsWith('rootlesskit.service'),
    )!.content;
    assert.match(r, /^Environment="A=x y"$/m);
    assert.match(r, /^Environment=B=50%%$/m);
    assert.match(r, /^Environment=C=\$\$HOME$/m);
  });
});

/**
 * A scratch root as the package would install into: systemd's own units, the binaries the units run, and
 * ours. systemd-analyze verify works offline with --root (PID 1 is not systemd here).
 */
async function scratchRoot(t: TestContext, bins: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'u7s-units-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'usr/lib/systemd'), { recursive: true });
  await cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await cp('/usr/lib/systemd/user', path.join(root, 'usr/lib/systemd/user'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  for (const d of ['usr/bin', 'usr/sbin', 'etc', 'run', 'var'])
    await mkdir(path.join(root, d), { recursive: true });
  await symlink('usr/bin', path.join(root, 'bin'));
  await symlink('usr/sbin', path.join(root, 'sbin'));
  for (const [to, from] of Object.entries(bins)) {
    await mkdir(path.dirname(path.join(root, to)), { recursive: true });
    await copyFile(from, path.join(root, to));
  }
  // user units are verified against the host's user search path (systemd-analyze --user has no --root):
  // there, they name the scratch root's binaries
  const inRoot = (f: string) => path.join(root, f);
  const userBins = {
    podsecU7s: inRoot('/usr/bin/podsec-u7s'),
    rootlesskit: inRoot('/usr/bin/rootlesskit'),
    kubelet: inRoot('/usr/bin/kubelet'),
  };
  const system = planU7sUnits(OPTS).filter((u) => !u.path.startsWith(UNIT_PATHS.user));
  const user = planU7sUnits({ ...OPTS, bin: userBins }).filter((u) =>
    u.path.startsWith(UNIT_PATHS.user),
  );
  for (const u of [...system, ...user]) {
    await mkdir(path.dirname(inRoot(u.path)), { recursive: true });
    await writeFile(inRoot(u.path), u.content);
  }
  return root;
}

async function verify(root: string, user: boolean, units: string[]) {
  const rt = await mkdtemp(path.join(tmpdir(), 'u7s-rt-'));
  try {
    const r = await execa(
      'systemd-analyze',
      [
        ...(user ? ['--user', 'verify'] : ['verify', `--root=${root}`]),
        '--man=no',
        ...units.map((u) => path.join(root, u)),
      ],
      {
        reject: false,
        env: {
          XDG_RUNTIME_DIR: rt,
          ...(user ? { SYSTEMD_UNIT_PATH: `${path.join(root, UNIT_PATHS.user)}:` } : {}),
        },
        timeout: 60_000,
      },
    );
    return { code: r.exitCode, out: `${r.stdout}\n${r.stderr}` };
  } finally {
    await rm(rt, { recursive: true, force: true });
  }
}

describe('systemd-analyze verify of the rendered units', () => {
  const needed = async (t: TestContext) => {
    const tools = requireCommands(t, [
      'systemd-analyze',
      'systemctl',
      'sysctl',
      'rootlesskit',
      'kubelet',
    ]);
    if (!tools) return undefined;
    return {
      '/usr/bin/systemctl': tools.systemctl,
      '/usr/sbin/sysctl': tools.sysctl,
      '/usr/bin/rootlesskit': tools.rootlesskit,
      '/usr/bin/kubelet': tools.kubelet,
      '/usr/bin/true': '/usr/bin/true',
      '/usr/bin/podsec-u7s': path.join(pkgDir, 'bin/podsec-u7s'),
    };
  };

  it('accepts u7s.service with its user manager and the delegate drop-in', async (t) => {
    const bins = await needed(t);
    if (!bins) return;
    const root = await scratchRoot(t, bins);
    const r = await verify(root, false, ['usr/lib/systemd/system/u7s.service']);
    assert.equal(r.code, 0, r.out);
  });

  it('accepts the user units rootlesskit.service and kubelet.service', async (t) => {
    const bins = await needed(t);
    if (!bins) return;
    const root = await scratchRoot(t, bins);
    const r = await verify(root, true, [
      'usr/lib/systemd/user/rootlesskit.service',
      'usr/lib/systemd/user/kubelet.service',
    ]);
    assert.equal(r.code, 0, r.out);
  });

  it('refuses the units when a program they run is not installed', async (t) => {
    const bins = await needed(t);
    if (!bins) return;
    const rest: Record<string, string> = { ...bins };
    delete rest['/usr/bin/rootlesskit'];
    const root = await scratchRoot(t, rest);
    const r = await verify(root, true, ['usr/lib/systemd/user/rootlesskit.service']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /\/usr\/bin\/rootlesskit is not executable/);
  });

  it('refuses a unit bound to a unit that does not exist', async (t) => {
    const bins = await needed(t);
    if (!bins) return;
    const root = await scratchRoot(t, bins);
    const file = path.join(root, 'usr/lib/systemd/user/kubelet.service');
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace(/rootlesskit\.service/g, 'rootleskit.service'),
    );
    const r = await verify(root, true, ['usr/lib/systemd/user/kubelet.service']);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /rootleskit\.service/);
  });
});

describe('installU7sUnits', () => {
  const tree = {
    'etc/passwd':
      'root:x:0:0:root:/root:/bin/bash\nu7s-admin:x:990:990::/var/lib/u7s-admin:/bin/sh\n',
    'etc/group': 'root:x:0:\nu7s-admin:x:990:\n',
  };

  it('plans in a dry run, writes root-owned units and lingering, and a re-run changes nothing', async (t) => {
    if (!requireCommand(t, 'systemd-analyze')) return;
    const node = planNode({ role: 'initMaster', extIP: '192.0.2.10' });
    const dry = await createTestSystem(t, { tree, dryRun: true });
    const planned = await installU7sUnits(dry, { node });
    assert.equal(planned.dryRun, true);
    assert.deepEqual(
      planned.changes.map((c) => c.target),
      [
        '/usr/lib/systemd/system/u7s.service',
        '/usr/lib/systemd/system/user@990.service.d/delegate.conf',
        '/usr/lib/systemd/user/rootlesskit.service',
        '/usr/lib/systemd/user/kubelet.service',
        '/usr/lib/modules-load.d/u7s.conf',
        '/var/lib/systemd/linger',
        '/var/lib/systemd/linger/u7s-admin',
      ],
    );
    assert.equal(await dry.fs.stat('/usr/lib/systemd/system/u7s.service'), undefined);

    const sys = await createTestSystem(t, { tree });
    const r = await installU7sUnits(sys, { node });
    assert.equal(r.changes.length, 7);
    const st = await sys.fs.stat('/usr/lib/systemd/user/rootlesskit.service');
    assert.equal(st?.mode, 0o644);
    assert.equal(st?.uid, 0);
    const text = await sys.fs.readText('/usr/lib/systemd/user/rootlesskit.service');
    // a control plane forwards the API and etcd ports; cgroup v1 here: no evacuation flag
    assert.match(text, /0\.0\.0\.0:6443:6443\/tcp/);
    assert.doesNotMatch(text, /--evacuate-cgroup2/);
    const again = await installU7sUnits(sys, { node });
    assert.equal(again.changed, false);
  });

  it("gives the child phase's waits the unit's ready timeout less a second", async (t) => {
    const node = planNode({ role: '', extIP: '192.0.2.10' });
    for (const [readyTimeoutSec, wait] of [
      [undefined, 59],
      [30, 29],
      [1, 1],
    ] as const) {
      const sys = await createTestSystem(t, { tree });
      await installU7sUnits(sys, { node, ...(readyTimeoutSec ? { readyTimeoutSec } : {}) });
      const text = await sys.fs.readText('/usr/lib/systemd/user/rootlesskit.service');
      assert.match(text, new RegExp(`^Environment=U7S_WAIT_SECONDS=${wait}$`, 'm'));
      assert.match(
        text,
        /^Environment=U7S_CRI_SOCKET=\/run\/user\/990\/usernetes\/crio\/crio\.sock$/m,
      );
      assert.match(text, new RegExp(`enter --wait ${readyTimeoutSec ?? 60} -- /bin/true$`, 'm'));
    }
  });
});
