// The flannel add-on: its images from the cluster's registry (no `//` without a platform), net-conf.json with the
// pod network CIDR of `init`, the file outside the static-pod directory; and the manifest applied for real to a
// real API server (test-utils startControlPlane), which stores every object as rendered.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { CONTROL_PLANE_BINARIES, requireCommands, startControlPlane } from '@podsec/test-utils';
import { FLANNEL_MANIFEST, planFlannelRepository, renderFlannelManifest } from './flannel.ts';
import { planKubeadm, type KubeadmFacts } from './plan.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, checked field by field
type Doc = Record<string, any>;
const docsOf = (text: string): Doc[] => parseAllDocuments(text).map((d) => d.toJS() as Doc);
function images(text: string): string[] {
  const ds = docsOf(text).find((d) => d['kind'] === 'DaemonSet')!;
  const spec = ds['spec']['template']['spec'];
  return [...spec['initContainers'], ...spec['containers']].map((c: Doc) => c['image'] as string);
}
const netConf = (text: string) =>
  JSON.parse(
    docsOf(text).find((d) => d['kind'] === 'ConfigMap')!['data']['net-conf.json'] as string,
  ) as { Network: string; Backend: { Type: string } };

describe('renderFlannelManifest', () => {
  it('takes every image of the DaemonSet from registry/platform, with the tags given', () => {
    const m = renderFlannelManifest({
      registry: 'registry.local',
      platform: 'c10f',
      tag: 'v0.26.7',
      cniPluginTag: 'v1.6.2-flannel1',
      podNetworkCidr: '10.244.0.0/16',
    });
    assert.deepEqual(images(m), [
      'registry.local/c10f/flannel-cni-plugin:v1.6.2-flannel1',
      'registry.local/c10f/flannel:v0.26.7',
      'registry.local/c10f/flannel:v0.26.7',
    ]);
    assert.deepEqual(netConf(m), {
      Network: '10.244.0.0/16',
      EnableNFTables: false,
      Backend: { Type: 'vxlan' },
    });
  });

  it('leaves the platform out without a `//` when it is empty', () => {
    const m = renderFlannelManifest({
      registry: 'registry.local',
      platform: '',
      tag: 'v0.26.7',
      podNetworkCidr: '10.244.0.0/16',
    });
    assert.deepEqual(images(m), [
      'registry.local/flannel-cni-plugin:v1.6.2-flannel1',
      'registry.local/flannel:v0.26.7',
      'registry.local/flannel:v0.26.7',
    ]);
    assert.ok(!m.includes('//flannel'));
    assert.deepEqual(planFlannelRepository('registry.k8s.io'), {
      registry: 'docker.io',
      platform: 'flannel',
    });
    assert.deepEqual(planFlannelRepository('registry.local/c10f'), {
      registry: 'registry.local',
      platform: 'c10f',
    });
  });

  it('refuses a bad registry, platform, tag or CIDR before anything is written', () => {
    const ok = { registry: 'registry.local', platform: 'c10f', podNetworkCidr: '10.244.0.0/16' };
    for (const [bad, code] of [
      [{ registry: 'Registry Local' }, 'U7S_BAD_FLANNEL'],
      [{ platform: 'c10f//x' }, 'U7S_BAD_FLANNEL'],
      [{ tag: 'v0.26.7 --x' }, 'U7S_BAD_FLANNEL'],
      [{ cniPluginTag: '' }, 'U7S_BAD_FLANNEL'],
      [{ podNetworkCidr: '10.244.0.0/33' }, 'U7S_BAD_CIDR'],
    ] as const)
      assert.throws(() => renderFlannelManifest({ ...ok, ...bad }), { code }, JSON.stringify(bad));
  });
});

const facts: KubeadmFacts = {
  user: { name: 'u7s-admin', uid: 990, gid: 990, home: '/var/lib/u7s-admin' },
  hostAddresses: [{ ifname: 'eth0', address: '192.0.2.2', prefix: 24 }],
  defaultAddress: { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
  hostname: 'node1',
  kubeadmVersion: 'v1.37.2',
  platform: 'c10f',
  hostsHaveRegistryLocal: true,
  env: {},
  libexec: '/usr/libexec/podsec/u7s/bin',
};

describe('the flannel manifest of kubeadm init', () => {
  it('carries --pod-network-cidr into net-conf.json and ClusterConfiguration, outside the static pods', () => {
    const p = planKubeadm(['init', '--pod-network-cidr', '10.50.0.0/16'], facts);
    assert.equal(p.kind, 'configured');
    const file = p.files.find((f) => f.path === FLANNEL_MANIFEST);
    assert.ok(file, 'init writes the manifest');
    assert.ok(!FLANNEL_MANIFEST.startsWith('/etc/kubernetes/manifests/'));
    assert.deepEqual([file.uid, file.mode], [0, 0o644]);
    assert.equal(netConf(file.content).Network, '10.50.0.0/16');
    const cluster = docsOf(p.files[0]!.content).find((d) => d['kind'] === 'ClusterConfiguration')!;
    assert.equal(cluster['networking']['podSubnet'], '10.50.0.0/16');
    assert.deepEqual(images(file.content), [
      'registry.local/c10f/flannel-cni-plugin:v1.6.2-flannel1',
      'registry.local/c10f/flannel:v0.26.7',
      'registry.local/c10f/flannel:v0.26.7',
    ]);
  });

  it('honours U7S_FLANNEL_TAG, U7S_FLANNELCNIPLUGIN_TAG and U7S_FLANNEL_REGISTRY; phases and joins write none', () => {
    const p = planKubeadm(['init'], {
      ...facts,
      env: {
        U7S_FLANNEL_TAG: 'v0.25.1',
        U7S_FLANNELCNIPLUGIN_TAG: 'v1.5.1-flannel2',
        U7S_FLANNEL_REGISTRY: 'mirror.example:5000/net',
      },
    });
    assert.equal(p.kind, 'configured');
    assert.deepEqual(images(p.files.find((f) => f.path === FLANNEL_MANIFEST)!.content), [
      'mirror.example:5000/net/flannel-cni-plugin:v1.5.1-flannel2',
      'mirror.example:5000/net/flannel:v0.25.1',
      'mirror.example:5000/net/flannel:v0.25.1',
    ]);
    for (const argv of [
      ['init', 'phase', 'certs', 'all'],
      [
        'join',
        '192.0.2.1:6443',
        '--token',
        'abcdef.0123456789abcdef',
        '--discovery-token-ca-cert-hash',
        `sha256:${'a'.repeat(64)}`,
      ],
    ]) {
      const q = planKubeadm(argv, facts);
      assert.equal(q.kind, 'configured');
      assert.ok(!q.files.some((f) => f.path === FLANNEL_MANIFEST), argv.join(' '));
    }
  });
});

describe('the flannel manifest on a real API server', () => {
  it('is accepted by kube-apiserver and stored as rendered', async (t) => {
    const bins = requireCommands(t, [...CONTROL_PLANE_BINARIES, 'kubectl']);
    if (!bins) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'flannel-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cp = await startControlPlane();
    t.after(() => cp.stop());
    const file = path.join(dir, 'kube-flannel.yml');
    await writeFile(
      file,
      renderFlannelManifest({
        registry: 'registry.local',
        platform: 'c10f',
        podNetworkCidr: '10.50.0.0/16',
      }),
    );
    const kubectl = (args: string[]) =>
      execa(bins.kubectl, ['--kubeconfig', cp.kubeconfigPath, ...args], { timeout: 60_000 });
    const applied = await kubectl(['apply', '-f', file]);
    assert.match(applied.stdout, /daemonset\.apps\/kube-flannel-ds created/);
    const cm = await kubectl([
      'get',
      'configmap',
      'kube-flannel-cfg',
      '-n',
      'kube-flannel',
      '-o',
      'jsonpath={.data.net-conf\\.json}',
    ]);
    assert.equal((JSON.parse(cm.stdout) as { Network: string }).Network, '10.50.0.0/16');
    const ds = await kubectl([
      'get',
      'daemonset',
      'kube-flannel-ds',
      '-n',
      'kube-flannel',
      '-o',
      'jsonpath={.spec.template.spec.initContainers[*].image} {.spec.template.spec.containers[*].image}',
    ]);
    assert.equal(
      ds.stdout,
      'registry.local/c10f/flannel-cni-plugin:v1.6.2-flannel1 registry.local/c10f/flannel:v0.26.7 registry.local/c10f/flannel:v0.26.7',
    );
    // a second apply changes nothing
    const again = await kubectl(['apply', '-f', file]);
    assert.doesNotMatch(again.stdout, /created|configured/);
  });
});
