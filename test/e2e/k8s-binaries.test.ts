/**
 * The binaries of tools/k8s-bin/build report the versions pinned in tools/k8s-bin/<module>/go.mod, and the real
 * kubeadm validates a v1beta4 InitConfiguration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { k8sBinDir, k8sVersion, requireCommand } from '@podsec/test-utils';

const toolsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../tools/k8s-bin');

async function pinned(moduleDir: string, module: string): Promise<string> {
  const goMod = await readFile(path.join(toolsDir, moduleDir, 'go.mod'), 'utf8');
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`^(?:require\\s+|\\s+)${escaped} (v\\S+)`, 'm').exec(goMod);
  assert.ok(m?.[1] !== undefined, `${module} pinned in ${moduleDir}/go.mod`);
  return m[1];
}

test('kubeadm version -o json reports the pinned release', async (t) => {
  const kubeadm = requireCommand(t, 'kubeadm');
  if (kubeadm === undefined) return;
  const { stdout } = await execa(kubeadm, ['version', '-o', 'json']);
  const info = (JSON.parse(stdout) as { clientVersion: Record<string, string> }).clientVersion;
  const version = k8sVersion();
  assert.equal(info['gitVersion'], version);
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  assert.equal(info['major'], major);
  assert.equal(info['minor'], minor);
  assert.equal(info['gitTreeState'], 'clean');
});

test('kubelet, kubectl, crictl, trivy and etcd report their pinned versions', async (t) => {
  const version = k8sVersion();
  const checks: [string, string[], () => Promise<RegExp>][] = [
    [
      'kubelet',
      ['--version'],
      () => Promise.resolve(new RegExp(`^Kubernetes ${version.replace(/\./g, '\\.')}$`, 'm')),
    ],
    [
      'kubectl',
      ['version', '--client'],
      () => Promise.resolve(new RegExp(`Client Version: ${version.replace(/\./g, '\\.')}`)),
    ],
    [
      'crictl',
      ['--version'],
      async () =>
        new RegExp(`^crictl version ${await pinned('cri-tools', 'sigs.k8s.io/cri-tools')}$`, 'm'),
    ],
    [
      'trivy',
      ['--version'],
      async () =>
        new RegExp(
          `^Version: ${(await pinned('trivy', 'github.com/aquasecurity/trivy')).slice(1)}$`,
          'm',
        ),
    ],
    [
      'etcd',
      ['--version'],
      async () =>
        new RegExp(
          `^etcd Version: ${(await pinned('etcd', 'go.etcd.io/etcd/server/v3')).slice(1)}$`,
          'm',
        ),
    ],
  ];
  for (const [name, args, expected] of checks) {
    await t.test(name, async (st) => {
      const bin = requireCommand(st, name);
      if (bin === undefined) return;
      // what this checks is tools/k8s-bin's build: another one on PATH (a cloud SDK's kubectl) is not it
      if (path.dirname(bin) !== k8sBinDir()) {
        const why = `${name} is ${bin}, not one of tools/k8s-bin in ${k8sBinDir()}`;
        if (process.env['CI'] === 'true') throw new Error(`required command missing in CI: ${why}`);
        st.skip(why);
        return;
      }
      const { stdout } = await execa(bin, args);
      assert.match(stdout, await expected());
    });
  }
});

test('kubeadm config validate accepts a v1beta4 InitConfiguration and rejects a broken one', async (t) => {
  const kubeadm = requireCommand(t, 'kubeadm');
  if (kubeadm === undefined) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-kubeadm-'));
  try {
    const good = path.join(dir, 'good.yaml');
    await writeFile(
      good,
      [
        'apiVersion: kubeadm.k8s.io/v1beta4',
        'kind: InitConfiguration',
        'localAPIEndpoint:',
        // kubeadm refuses loopback here; a documentation address (RFC 5737): validation only, no traffic.
        '  advertiseAddress: 192.0.2.10',
        '  bindPort: 6443',
        'nodeRegistration:',
        '  name: podsec-node',
        '  criSocket: unix:///run/containerd/containerd.sock',
        '---',
        'apiVersion: kubeadm.k8s.io/v1beta4',
        'kind: ClusterConfiguration',
        `kubernetesVersion: ${k8sVersion()}`,
        'networking:',
        '  podSubnet: 10.88.0.0/16',
        '',
      ].join('\n'),
    );
    const ok = await execa(kubeadm, ['config', 'validate', '--config', good], { reject: false });
    assert.equal(ok.exitCode, 0, ok.stderr);

    const broken = path.join(dir, 'broken.yaml');
    await writeFile(
      broken,
      [
        'apiVersion: kubeadm.k8s.io/v1beta4',
        'kind: InitConfiguration',
        'localAPIEndpoint:',
        '  advertiseAddress: not-an-ip',
        '  bindPort: 6443',
        '',
      ].join('\n'),
    );
    const bad = await execa(kubeadm, ['config', 'validate', '--config', broken], { reject: false });
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /advertiseAddress|not-an-ip/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
