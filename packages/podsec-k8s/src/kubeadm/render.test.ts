import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { requireCommand } from '@podsec/test-utils';
import { planNode } from '../u7s/node-config.ts';
import { renderKubeadmConfig, type KubeadmConfigInput } from './render.ts';

const TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'a'.repeat(64)}`;
const KEY = 'b'.repeat(64);
const base = (
  kind: KubeadmConfigInput['kind'],
  role: '' | 'initMaster' | 'master',
): KubeadmConfigInput => ({
  kind,
  node: planNode({ role, extIP: '192.0.2.10' }),
  kubernetesVersion: 'v1.37.2',
  imageRepository: 'registry.local/c10f',
  advertiseAddress: '192.0.2.10',
  nodeName: 'node1',
  ...(kind === 'init'
    ? {}
    : { controlPlaneEndpoint: '192.0.2.1:6443', token: TOKEN, caCertHash: HASH }),
  ...(kind === 'join-control-plane' ? { certificateKey: KEY } : {}),
});
const CASES = {
  init: base('init', 'initMaster'),
  join: base('join', ''),
  'join-control-plane': base('join-control-plane', 'master'),
  'mixed worker joining a rootful cluster': { ...base('join', ''), mixed: true },
  'init for kubeadm 1.30 (v1beta3)': {
    ...base('init', 'initMaster'),
    kubernetesVersion: 'v1.30.4',
  },
} as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, checked field by field
type Doc = Record<string, any>;
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Doc);

describe('renderKubeadmConfig', () => {
  it('renders init: four documents with the node values, v1beta4 for 1.37', () => {
    const d = docs(renderKubeadmConfig(CASES.init));
    assert.deepEqual(
      d.map((x) => x['kind']),
      [
        'InitConfiguration',
        'ClusterConfiguration',
        'KubeletConfiguration',
        'KubeProxyConfiguration',
      ],
    );
    assert.equal(d[0]!['apiVersion'], 'kubeadm.k8s.io/v1beta4');
    assert.equal(d[0]!['localAPIEndpoint'].advertiseAddress, '192.0.2.10');
    assert.equal(d[0]!['nodeRegistration'].criSocket, 'unix:///run/crio/crio.sock');
    const c = d[1]!;
    assert.equal(c['kubernetesVersion'], '1.37.2');
    assert.equal(c['imageRepository'], 'registry.local/c10f');
    assert.equal(c['etcd'].local.imageRepository, 'registry.local/c10f');
    assert.equal(c['etcd'].local.dataDir, '/var/lib/podsec/u7s/etcd');
    assert.deepEqual(c['etcd'].local.serverCertSANs, ['192.0.2.10', '127.0.0.1']);
    assert.deepEqual(c['networking'], {
      dnsDomain: 'cluster.local',
      serviceSubnet: '10.96.0.0/12',
      podSubnet: '10.244.0.0/16',
    });
    assert.equal(c['controlPlaneEndpoint'], '192.0.2.10:6443');
    const apiArgs = Object.fromEntries(
      c['apiServer'].extraArgs.map((a: { name: string; value: string }) => [a.name, a.value]),
    );
    assert.equal(apiArgs['audit-policy-file'], '/etc/kubernetes/audit/policy.yaml');
    assert.equal(apiArgs['audit-log-maxbackup'], '3');
    assert.equal(d[2]!['cgroupDriver'], 'cgroupfs');
    assert.deepEqual(d[2]!['featureGates'], { KubeletInUserNamespace: true });
    assert.deepEqual(d[3]!['conntrack'], {
      maxPerCore: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
    });
    // re-rendering is byte-identical
    assert.equal(renderKubeadmConfig(CASES.init), renderKubeadmConfig(CASES.init));
  });

  it('renders a worker join without ClusterConfiguration and a control-plane join with its endpoint and key', () => {
    const w = docs(renderKubeadmConfig(CASES.join));
    assert.deepEqual(
      w.map((x) => x['kind']),
      ['JoinConfiguration'],
    );
    assert.deepEqual(w[0]!['discovery'].bootstrapToken, {
      token: TOKEN,
      apiServerEndpoint: '192.0.2.1:6443',
      caCertHashes: [HASH],
    });
    assert.equal(w[0]!['nodeRegistration'].name, 'node1');
    assert.equal(w[0]!['controlPlane'], undefined);
    const cp = docs(renderKubeadmConfig(CASES['join-control-plane']));
    // the cluster's ClusterConfiguration is authoritative for a join: kubeadm ignores one next to it
    assert.deepEqual(
      cp.map((x) => x['kind']),
      ['JoinConfiguration'],
    );
    assert.deepEqual(cp[0]!['controlPlane'], {
      localAPIEndpoint: { advertiseAddress: '192.0.2.10', bindPort: 6443 },
      certificateKey: KEY,
    });
  });

  it('uses v1beta3 (map extraArgs) for kubeadm releases before 1.31', () => {
    const d = docs(renderKubeadmConfig(CASES['init for kubeadm 1.30 (v1beta3)']));
    assert.equal(d[0]!['apiVersion'], 'kubeadm.k8s.io/v1beta3');
    assert.equal(d[1]!['apiServer'].extraArgs['advertise-address'], '192.0.2.10');
  });

  it('refuses bad input before rendering', () => {
    const bads: [Partial<KubeadmConfigInput>, string][] = [
      [{ kubernetesVersion: '1.37' }, 'KUBEADM_BAD_VERSION'],
      [{ kubernetesVersion: 'v1.25.0' }, 'KUBEADM_BAD_VERSION'],
      [{ imageRepository: 'docker.io/flannel//x' }, 'KUBEADM_BAD_REPOSITORY'],
      [{ advertiseAddress: '300.1.1.1' }, 'KUBEADM_BAD_ADDRESS'],
      [{ controlPlaneEndpoint: 'nohost' }, 'KUBEADM_BAD_ENDPOINT'],
    ];
    for (const [patch, code] of bads)
      assert.throws(() => renderKubeadmConfig({ ...CASES.init, ...patch }), { code });
    assert.throws(() => renderKubeadmConfig({ ...CASES.join, token: 'x' }), {
      code: 'KUBEADM_BAD_TOKEN',
    });
    assert.throws(() => renderKubeadmConfig({ ...CASES.join, caCertHash: 'abc' }), {
      code: 'KUBEADM_BAD_CA_HASH',
    });
    assert.throws(
      () => renderKubeadmConfig({ ...CASES['join-control-plane'], certificateKey: undefined }),
      {
        code: 'KUBEADM_BAD_CERT_KEY',
      },
    );
  });

  it('every rendered configuration passes the real kubeadm config validate, a broken one is refused', async (t) => {
    const kubeadm = requireCommand(t, 'kubeadm');
    if (kubeadm === undefined) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-validate-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const validate = async (name: string, text: string) => {
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, text);
      return execa(kubeadm, ['config', 'validate', '--config', file], { reject: false });
    };
    for (const [name, input] of Object.entries(CASES)) {
      if (input.kubernetesVersion !== 'v1.37.2') continue; // validate checks against its own version
      const r = await validate(name, renderKubeadmConfig(input));
      assert.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /WARNING|Ignored/, `${name}: ${r.stderr}`);
    }
    const broken = renderKubeadmConfig(CASES.init).replace(
      'podSubnet: 10.244.0.0/16',
      'podSubnet: 10.244.0.0/99',
    );
    const r = await validate('broken', broken);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /podSubnet|10\.244\.0\.0\/99/);
  });
});
