// The per-node kubelet configuration patch on the file the real kubeadm writes: `kubeadm init phase kubelet-start`
// under --rootfs (kubeadm chroots into a scratch root: nothing touches the host's /var/lib/kubelet) with a
// rootful-style KubeletConfiguration (systemd cgroup driver, a feature gate of the cluster), as a join gets it from
// the cluster's kubelet-config ConfigMap. Then the patch in a tree owned by another user: written back as that
// user's file, and a link planted in place of the file is refused, never followed.
import assert from 'node:assert/strict';
import {
  chown,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, after, describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { fileURLToPath } from 'node:url';
import {
  baseTree,
  copyPackageForUsers,
  createTestSystem,
  k8sBinary,
  requireCommand,
  runProgram,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-u7s.ts';
import {
  applyKubeletConfigPatch,
  kubeletConfigHostPath,
  patchKubeletConfig,
} from './kubelet-config.ts';

const kubeadm = k8sBinary('kubeadm');
const isRoot = process.geteuid?.() === 0;
const HOME = '/var/lib/u7s-admin';

/** The per-node values of a kubelet in a user namespace. */
const ROOTLESS = {
  volumePluginDir: `${HOME}/.local/share/usernetes/kubelet-plugins-exec`,
  cgroupDriver: 'cgroupfs',
  failSwapOn: false,
  evictionHard: { 'nodefs.available': '3%' },
  localStorageCapacityIsolation: false,
  cgroupsPerQOS: true,
  enforceNodeAllocatable: [],
};

const CLUSTER_KUBELET = [
  'apiVersion: kubeadm.k8s.io/v1beta4',
  'kind: InitConfiguration',
  'localAPIEndpoint:',
  '  advertiseAddress: 192.0.2.10',
  'nodeRegistration:',
  '  name: node1',
  '  criSocket: unix:///run/crio/crio.sock',
  '---',
  'apiVersion: kubeadm.k8s.io/v1beta4',
  'kind: ClusterConfiguration',
  'kubernetesVersion: 1.37.2',
  '---',
  'apiVersion: kubelet.config.k8s.io/v1beta1',
  'kind: KubeletConfiguration',
  'cgroupDriver: systemd',
  'failSwapOn: true',
  'featureGates:',
  '  Foo: true',
  '',
].join('\n');

describe('patchKubeletConfig on the configuration the real kubeadm writes', () => {
  let root = '';
  let written = '';
  before(async () => {
    // kubeadm --rootfs chroots: root only
    if (!kubeadm || !isRoot) return;
    root = await mkdtemp(path.join(tmpdir(), 'kubelet-config-'));
    await writeFile(path.join(root, 'init.yaml'), CLUSTER_KUBELET);
    await execa(
      kubeadm,
      ['init', 'phase', 'kubelet-start', '--config', '/init.yaml', '--rootfs', root],
      { timeout: 60_000 },
    );
    written = await readFile(path.join(root, 'var/lib/kubelet/config.yaml'), 'utf8');
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('sets the rootless values, merges the feature gates, keeps every other key; twice is byte-identical', (t) => {
    if (requireCommand(t, 'kubeadm') === undefined) return;
    if (!isRoot) return t.skip('kubeadm --rootfs needs root (chroot)');
    const before = parse(written) as Record<string, unknown>;
    // the sample is what a join gets from a rootful cluster
    assert.equal(before['cgroupDriver'], 'systemd');
    assert.deepEqual(before['featureGates'], { Foo: true });
    assert.ok(Object.keys(before).length > 20, 'kubeadm wrote its full configuration');

    const once = patchKubeletConfig(written, HOME);
    const after = parse(once) as Record<string, unknown>;
    for (const [k, v] of Object.entries(ROOTLESS)) assert.deepEqual(after[k], v, k);
    assert.deepEqual(after['featureGates'], { Foo: true, KubeletInUserNamespace: true });
    for (const [k, v] of Object.entries(before))
      if (!(k in ROOTLESS) && k !== 'featureGates') assert.deepEqual(after[k], v, `${k} kept`);
    assert.deepEqual(
      Object.keys(after).sort(),
      [...new Set([...Object.keys(before), ...Object.keys(ROOTLESS)])].sort(),
      'no other key added or lost',
    );
    assert.equal(patchKubeletConfig(once, HOME), once, 'a second application changes no byte');
  });
});

describe('patchKubeletConfig (refusals and gates)', () => {
  it('turns a disabled KubeletInUserNamespace on and adds the gates where there were none', () => {
    const off = parse(
      patchKubeletConfig(
        'kind: KubeletConfiguration\nfeatureGates:\n  KubeletInUserNamespace: false\n  Bar: false\n',
        HOME,
      ),
    ) as { featureGates: unknown };
    assert.deepEqual(off.featureGates, { KubeletInUserNamespace: true, Bar: false });
    const none = parse(patchKubeletConfig('kind: KubeletConfiguration\n', HOME)) as {
      featureGates: unknown;
    };
    assert.deepEqual(none.featureGates, { KubeletInUserNamespace: true });
  });

  it('refuses what is not one KubeletConfiguration mapping', () => {
    for (const text of [
      'kind: Pod\n',
      '- a\n- b\n',
      'kind: KubeletConfiguration\nfeatureGates: [Foo]\n',
      'kind: KubeletConfiguration\nkind: Pod\n',
      'a: [\n',
    ])
      assert.throws(() => patchKubeletConfig(text, HOME), { code: 'U7S_BAD_KUBELET_CONFIG' }, text);
  });
});

describe('applyKubeletConfigPatch in the tree of another user', () => {
  const UID = 4242;
  const user = { name: 'u7s-admin', uid: UID, gid: UID, home: HOME };
  const hostFile = kubeletConfigHostPath(user);

  /** A home owned by the user, down to the namespace's /var/lib/kubelet. */
  async function tree(root: string) {
    let p = root;
    for (const seg of hostFile.split('/').slice(1, -1)) {
      p = path.join(p, seg);
      await mkdir(p, { recursive: true });
      if (p.startsWith(path.join(root, 'var/lib/u7s-admin'))) await chown(p, UID, UID);
    }
    return path.join(root, hostFile);
  }

  it('writes the patched file back as the user, 0644, no backup in its tree; a re-run changes nothing', async (t) => {
    if (!isRoot) return t.skip('chown needs root');
    const sys = await createTestSystem(t);
    const file = await tree(sys.root);
    await writeFile(file, 'kind: KubeletConfiguration\ncgroupDriver: systemd\nstaticPodPath: /x\n');
    await chown(file, UID, UID);
    const r = await applyKubeletConfigPatch(sys, user);
    assert.deepEqual(r, { path: hostFile, changed: true });
    const st = await stat(file);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [UID, UID, 0o644]);
    const out = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.equal(out['cgroupDriver'], 'cgroupfs');
    assert.equal(out['staticPodPath'], '/x');
    assert.deepEqual(await readdir(path.dirname(file)), ['config.yaml']);
    assert.deepEqual(await applyKubeletConfigPatch(sys, user), { path: hostFile, changed: false });
  });

  it('is nothing to do without a file; a link planted in its place is refused and its target untouched', async (t) => {
    if (!isRoot) return t.skip('chown needs root');
    const sys = await createTestSystem(t);
    const file = await tree(sys.root);
    assert.equal(await applyKubeletConfigPatch(sys, user), undefined);
    const secret = path.join(sys.root, 'etc/secret.yaml');
    await writeFile(secret, 'kind: KubeletConfiguration\ncgroupDriver: systemd\n', { mode: 0o600 });
    await symlink('/etc/secret.yaml', file);
    await assert.rejects(applyKubeletConfigPatch(sys, user), { code: 'FS_UNSAFE_PATH' });
    assert.equal(
      await readFile(secret, 'utf8'),
      'kind: KubeletConfiguration\ncgroupDriver: systemd\n',
    );
    assert.equal((await stat(secret)).uid, 0);
  });
});

describe('podsec-u7s kubelet-config (what kubelet.service runs before each start)', () => {
  const UID = 4243;
  const user = { name: 'u7s-admin', uid: UID, gid: UID, home: HOME };
  const hostFile = kubeletConfigHostPath(user);
  const SAMPLE = 'kind: KubeletConfiguration\ncgroupDriver: systemd\nfeatureGates:\n  Foo: true\n';
  const bundleDir = fileURLToPath(new URL('../../bundle', import.meta.url));

  async function system(t: Parameters<typeof createTestSystem>[0]) {
    const sys = await createTestSystem(t, {
      tree: {
        ...baseTree,
        'etc/passwd': `root:x:0:0:root:/root:/bin/bash\nu7s-admin:x:${UID}:${UID}::${HOME}:/bin/sh\n`,
        'etc/group': `root:x:0:\nu7s-admin:x:${UID}:\n`,
      },
    });
    let p = sys.root;
    for (const seg of hostFile.split('/').slice(1, -1)) {
      p = path.join(p, seg);
      await mkdir(p, { recursive: true });
      if (p.startsWith(path.join(sys.root, 'var/lib/u7s-admin'))) await chown(p, UID, UID);
    }
    const file = path.join(sys.root, hostFile);
    await writeFile(file, SAMPLE);
    await chown(file, UID, UID);
    return { sys, file };
  }

  it('--dry-run says it would patch and writes nothing; the run patches; a re-run reports it unchanged', async (t) => {
    if (!isRoot) return t.skip('chown needs root');
    const { sys, file } = await system(t);
    const dry = await runProgram(cli, ['kubelet-config', '--dry-run', '--json'], { system: sys });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), { path: hostFile, present: true, changed: true });
    assert.equal(await readFile(file, 'utf8'), SAMPLE);
    const run = await runProgram(cli, ['kubelet-config'], { system: sys });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /the rootless kubelet settings were set/);
    const out = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.equal(out['cgroupDriver'], 'cgroupfs');
    assert.deepEqual(out['featureGates'], { Foo: true, KubeletInUserNamespace: true });
    const again = await runProgram(cli, ['kubelet-config', '--json'], { system: sys });
    assert.deepEqual(JSON.parse(again.stdout), { path: hostFile, present: true, changed: false });
    await writeFile(file, 'kind: Pod\n');
    const bad = await runProgram(cli, ['kubelet-config'], { system: sys });
    assert.equal(bad.code, 10, bad.stderr);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, /cannot be patched: kind "Pod", not KubeletConfiguration/);
  });

  it('runs as u7s-admin itself on its own file, as the unit does (no root involved)', async (t) => {
    if (!isRoot) return t.skip('setpriv to another uid needs root');
    if (requireCommand(t, 'setpriv') === undefined) return;
    const { sys, file } = await system(t);
    // u7s-admin runs it, and the checkout may be out of its reach (a clone under /root, 0700, on a fresh machine:
    // "Cannot find module"): the bundle of podsec-k8s and Node go to a directory it can read, as a package lays
    // them out
    const { node, bundle } = await copyPackageForUsers(t, bundleDir);
    const r = await execa(
      'setpriv',
      [
        `--reuid=${UID}`,
        `--regid=${UID}`,
        '--clear-groups',
        '--',
        node,
        path.join(bundle, 'podsec-u7s.cjs'),
        '--root',
        sys.root,
        'kubelet-config',
        '--json',
      ],
      { reject: false, extendEnv: false, env: { PATH: process.env['PATH'], LANG: 'C' } },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { path: hostFile, present: true, changed: true });
    const st = await stat(file);
    assert.deepEqual([st.uid, st.gid], [UID, UID]);
    assert.equal(
      (parse(await readFile(file, 'utf8')) as Record<string, unknown>)['cgroupDriver'],
      'cgroupfs',
    );
  });
});
