import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parse as parseToml } from 'smol-toml';
import { parseAllDocuments } from 'yaml';
import { requireCommand } from '@podsec/test-utils';
import { KUBEADM_FLAGS, parseKubeadmArgv, passThroughArgv } from './flags.ts';
import { parseEnvFile } from './env-file.ts';
import { discoveryKubeconfig } from '../test-helpers/discovery-fixture.ts';
import {
  planKubeadm,
  writesKubeletConfig,
  precheckKubeadmArgv,
  type ConfiguredPlan,
  type KubeadmFacts,
} from './plan.ts';

const TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'a'.repeat(64)}`;
const KEY = 'b'.repeat(64);
const facts: KubeadmFacts = {
  user: { name: 'u7s-admin', uid: 990, gid: 990, home: '/var/lib/u7s-admin' },
  hostAddresses: [
    { ifname: 'lo', address: '127.0.0.1', prefix: 8 },
    { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
  ],
  defaultAddress: { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
  hostname: 'Node1',
  kubeadmVersion: 'v1.37.2',
  platform: 'c10f',
  hostsHaveRegistryLocal: true,
  env: {},
  libexec: '/usr/libexec/podsec/u7s/bin',
};
const JOIN = ['join', '192.0.2.1:6443', '--token', TOKEN, '--discovery-token-ca-cert-hash', HASH];
/** A join by file discovery, the discovery kubeconfig as the wrapper read it. */
const FILE_JOIN = ['join', '--discovery-file', '/srv/discovery.conf', '--token', TOKEN];
const fileFacts = (content = discoveryKubeconfig()): KubeadmFacts => ({
  ...facts,
  discoveryFile: { source: '/srv/discovery.conf', content },
});

function configured(argv: string[], f: KubeadmFacts = facts): ConfiguredPlan {
  const p = planKubeadm(argv, f);
  assert.equal(p.kind, 'configured');
  return p;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML documents, checked field by field
type Doc = Record<string, any>;
function docs(p: ConfiguredPlan): Doc[] {
  return parseAllDocuments(p.files[0]!.content).map((d) => d.toJS() as Doc);
}
const byKind = (p: ConfiguredPlan, kind: string) => docs(p).find((d) => d['kind'] === kind)!;
const extra = (args: { name: string; value: string }[]) =>
  Object.fromEntries(args.map((a) => [a.name, a.value]));

// For every flag of the table: the argv that uses it, and what must then be true of the plan.
const WALK: Record<string, { argv: string[]; check: (p: ConfiguredPlan) => void }> = {
  v: { argv: ['init', '-v', '5'], check: (p) => assert.ok(p.argv.includes('--v=5')) },
  vmodule: {
    argv: ['init', '--vmodule', 'x=3'],
    check: (p) => assert.ok(p.argv.includes('--vmodule=x=3')),
  },
  'ignore-preflight-errors': {
    argv: ['init', '--ignore-preflight-errors', 'Swap,Mem'],
    check: (p) => assert.ok(p.argv.includes('--ignore-preflight-errors=Swap,Mem')),
  },
  'skip-certificate-key-print': {
    argv: ['init', '--skip-certificate-key-print'],
    check: (p) => assert.ok(p.argv.includes('--skip-certificate-key-print')),
  },
  'skip-token-print': {
    argv: ['init', '--skip-token-print'],
    check: (p) => assert.ok(p.argv.includes('--skip-token-print')),
  },
  'upload-certs': {
    argv: ['init', '--upload-certs'],
    check: (p) => assert.equal(p.argv.filter((a) => a === '--upload-certs').length, 1),
  },
  kubeconfig: {
    argv: [
      'init',
      'phase',
      'upload-config',
      'all',
      '--kubeconfig',
      '/etc/kubernetes/super-admin.conf',
    ],
    check: (p) => assert.ok(p.argv.includes('--kubeconfig=/etc/kubernetes/super-admin.conf')),
  },
  'dry-run': {
    argv: ['init', '--dry-run'],
    check: (p) => assert.ok(!p.argv.includes('--dry-run')),
  },
  json: { argv: ['init', '--json'], check: (p) => assert.ok(!p.argv.includes('--json')) },
  'admin-kubeconfig': {
    argv: ['init', '--admin-kubeconfig', '/tmp/x/admin'],
    check: (p) => {
      assert.equal(p.adminKubeconfig, '/tmp/x/admin');
      assert.ok(!p.argv.some((a) => a.includes('admin-kubeconfig')));
    },
  },
  timeout: { argv: ['init', '--timeout', '30'], check: (p) => assert.equal(p.timeoutMs, 30_000) },
  yes: {
    argv: ['init', '--yes'],
    check: (p) => {
      assert.equal(p.yes, true);
      assert.equal(p.etcdMember, '/var/lib/podsec/u7s/etcd/member');
      assert.ok(!p.argv.includes('--yes'));
    },
  },
  'apiserver-advertise-address': {
    argv: ['init', '--apiserver-advertise-address', '192.0.2.10'],
    check: (p) =>
      assert.equal(
        byKind(p, 'InitConfiguration')['localAPIEndpoint'].advertiseAddress,
        '192.0.2.10',
      ),
  },
  'apiserver-bind-port': {
    argv: ['init', '--apiserver-bind-port', '7443'],
    check: (p) => {
      assert.equal(byKind(p, 'InitConfiguration')['localAPIEndpoint'].bindPort, 7443);
      assert.equal(byKind(p, 'ClusterConfiguration')['controlPlaneEndpoint'], '192.0.2.2:7443');
    },
  },
  'apiserver-cert-extra-sans': {
    argv: ['init', '--apiserver-cert-extra-sans', 'api.example,198.51.100.7'],
    check: (p) =>
      assert.deepEqual(byKind(p, 'ClusterConfiguration')['apiServer'].certSANs, [
        '127.0.0.1',
        'api.example',
        '198.51.100.7',
      ]),
  },
  'cert-dir': {
    argv: ['init', '--cert-dir', '/etc/kubernetes/pki2'],
    check: (p) =>
      assert.equal(byKind(p, 'ClusterConfiguration')['certificatesDir'], '/etc/kubernetes/pki2'),
  },
  'certificate-key': {
    argv: ['init', '--certificate-key', KEY],
    check: (p) => assert.equal(byKind(p, 'InitConfiguration')['certificateKey'], KEY),
  },
  'control-plane-endpoint': {
    argv: ['init', '--control-plane-endpoint', 'lb.example:6443'],
    check: (p) =>
      assert.equal(byKind(p, 'ClusterConfiguration')['controlPlaneEndpoint'], 'lb.example:6443'),
  },
  'cri-socket': {
    argv: ['init', '--cri-socket', 'unix:///run/containerd/containerd.sock'],
    check: (p) =>
      assert.equal(
        byKind(p, 'InitConfiguration')['nodeRegistration'].criSocket,
        'unix:///run/containerd/containerd.sock',
      ),
  },
  'feature-gates': {
    argv: ['init', '--feature-gates', 'RootlessControlPlane=false'],
    check: (p) =>
      assert.deepEqual(byKind(p, 'ClusterConfiguration')['featureGates'], {
        RootlessControlPlane: false,
      }),
  },
  'image-repository': {
    argv: ['init', '--image-repository', 'registry.k8s.io'],
    check: (p) =>
      assert.equal(byKind(p, 'ClusterConfiguration')['imageRepository'], 'registry.k8s.io'),
  },
  'kubernetes-version': {
    argv: ['init', '--kubernetes-version', 'v1.36.1'],
    check: (p) => assert.equal(byKind(p, 'ClusterConfiguration')['kubernetesVersion'], '1.36.1'),
  },
  'node-name': {
    argv: ['init', '--node-name', 'cp-1'],
    check: (p) => assert.equal(byKind(p, 'InitConfiguration')['nodeRegistration'].name, 'cp-1'),
  },
  patches: {
    argv: ['init', '--patches', '/etc/kubernetes/patches'],
    check: (p) =>
      assert.deepEqual(byKind(p, 'InitConfiguration')['patches'], {
        directory: '/etc/kubernetes/patches',
      }),
  },
  'pod-network-cidr': {
    argv: ['init', '--pod-network-cidr', '10.50.0.0/16'],
    check: (p) => {
      const c = byKind(p, 'ClusterConfiguration');
      assert.equal(c['networking'].podSubnet, '10.50.0.0/16');
      assert.equal(extra(c['controllerManager'].extraArgs)['cluster-cidr'], '10.50.0.0/16');
    },
  },
  'service-cidr': {
    argv: ['init', '--service-cidr', '10.112.0.0/12'],
    check: (p) => {
      assert.equal(byKind(p, 'ClusterConfiguration')['networking'].serviceSubnet, '10.112.0.0/12');
      const env = parseEnvFile(p.files[1]!.content);
      assert.equal(env['U7S_KUBERNETESCLUSTERIP'], '10.112.0.1');
      assert.equal(env['U7S_KUBERNETESCLUSTERDNS'], '10.112.0.10');
      assert.equal(env['U7S_SLIRP4IP'], '10.112.0.100');
      assert.equal(env['U7S_ROOTLESSKIT_FLAGS'], '--cidr=10.112.0.0/12');
    },
  },
  'service-dns-domain': {
    argv: ['init', '--service-dns-domain', 'corp.internal'],
    check: (p) =>
      assert.equal(byKind(p, 'ClusterConfiguration')['networking'].dnsDomain, 'corp.internal'),
  },
  'skip-phases': {
    argv: ['init', '--skip-phases', 'addon/kube-proxy,preflight'],
    check: (p) =>
      assert.deepEqual(byKind(p, 'InitConfiguration')['skipPhases'], [
        'addon/kube-proxy',
        'preflight',
      ]),
  },
  token: {
    argv: ['init', '--token', TOKEN],
    check: (p) => assert.equal(byKind(p, 'InitConfiguration')['bootstrapTokens'][0].token, TOKEN),
  },
  'token-ttl': {
    argv: ['init', '--token-ttl', '2h'],
    check: (p) => assert.equal(byKind(p, 'InitConfiguration')['bootstrapTokens'][0].ttl, '2h'),
  },
  'control-plane': {
    argv: [...JOIN, '--control-plane', '--certificate-key', KEY],
    check: (p) => {
      assert.equal(p.role, 'master');
      assert.equal(byKind(p, 'JoinConfiguration')['controlPlane'].certificateKey, KEY);
    },
  },
  'discovery-token': {
    argv: [
      'join',
      '192.0.2.1:6443',
      '--discovery-token',
      TOKEN,
      '--discovery-token-ca-cert-hash',
      HASH,
    ],
    check: (p) =>
      assert.equal(byKind(p, 'JoinConfiguration')['discovery'].bootstrapToken.token, TOKEN),
  },
  'discovery-token-ca-cert-hash': {
    argv: JOIN,
    check: (p) =>
      assert.deepEqual(byKind(p, 'JoinConfiguration')['discovery'].bootstrapToken.caCertHashes, [
        HASH,
      ]),
  },
  'discovery-token-unsafe-skip-ca-verification': {
    argv: [
      'join',
      '192.0.2.1:6443',
      '--token',
      TOKEN,
      '--discovery-token-unsafe-skip-ca-verification',
    ],
    check: (p) =>
      assert.equal(
        byKind(p, 'JoinConfiguration')['discovery'].bootstrapToken.unsafeSkipCAVerification,
        true,
      ),
  },
  'discovery-file': {
    argv: FILE_JOIN,
    check: (p) => {
      const d = byKind(p, 'JoinConfiguration')['discovery'];
      assert.deepEqual(d, {
        file: { kubeConfigPath: '/etc/podsec/u7s/kubeadm/discovery.conf' },
        tlsBootstrapToken: TOKEN,
      });
      assert.ok(!p.argv.some((a) => a.includes('/srv/discovery.conf')));
    },
  },
  'tls-bootstrap-token': {
    argv: [...JOIN, '--tls-bootstrap-token', 'zyxwvu.0123456789zyxwvu'],
    check: (p) =>
      assert.equal(
        byKind(p, 'JoinConfiguration')['discovery'].tlsBootstrapToken,
        'zyxwvu.0123456789zyxwvu',
      ),
  },
};
const REFUSED_VALUE: Record<string, string> = { rootfs: '/x', config: '/x.yaml', c: 'x' };

describe('the flag table of podsec-u7s-kubeadm', () => {
  it('every flag is honoured (config, pass, wrapper) as its row says, or refused naming it', () => {
    for (const spec of KUBEADM_FLAGS) {
      if (spec.name === 'help') {
        assert.equal(planKubeadm(['init', '--help'], facts).kind, 'host');
        continue;
      }
      if (spec.treatment === 'refuse') {
        const flag = spec.short && spec.value ? `-${spec.short}` : `--${spec.name}`;
        const argv = [...(spec.commands.includes('init') ? ['init'] : JOIN), flag];
        if (spec.value) argv.push(REFUSED_VALUE[spec.name] ?? 'x');
        assert.throws(
          () => planKubeadm(argv, facts),
          (e: { code?: string; message?: string }) =>
            e.code === 'KUBEADM_FLAG_REFUSED' && e.message!.includes(flag),
          spec.name,
        );
        continue;
      }
      const row = WALK[spec.name];
      assert.ok(row, `no walk for --${spec.name}`);
      const p = configured(row.argv, spec.name === 'discovery-file' ? fileFacts() : facts);
      row.check(p);
      // config flags never reach kubeadm itself: it refuses most of them next to --config
      if (spec.treatment === 'config')
        assert.ok(!p.argv.some((a) => a.startsWith(`--${spec.name}`)), spec.name);
    }
    assert.deepEqual(
      Object.keys(WALK).filter((n) => !KUBEADM_FLAGS.some((f) => f.name === n)),
      [],
    );
  });

  it('refuses unknown flags and flags of the other command before anything else', () => {
    assert.throws(() => precheckKubeadmArgv(['init', '--frobnicate']), {
      code: 'KUBEADM_UNKNOWN_FLAG',
      message: /--frobnicate/,
    });
    assert.throws(() => precheckKubeadmArgv(['init', '--control-plane']), {
      code: 'KUBEADM_FLAG_WRONG_COMMAND',
      message: /--control-plane is not a flag of kubeadm init/,
    });
    assert.throws(() => precheckKubeadmArgv([]), { code: 'KUBEADM_NO_COMMAND' });
    assert.throws(() => precheckKubeadmArgv(['frob']), { code: 'KUBEADM_UNKNOWN_COMMAND' });
    assert.throws(() => precheckKubeadmArgv(['init', '--token']), {
      code: 'KUBEADM_FLAG_NEEDS_VALUE',
    });
    assert.throws(() => precheckKubeadmArgv(['token', 'list', '--rootfs=/']), {
      code: 'KUBEADM_FLAG_REFUSED',
    });
  });
});

describe('planKubeadm', () => {
  it('init with defaults: the node address of the default route, registry.local/<platform>, --upload-certs', () => {
    const p = configured(['init']);
    assert.equal(p.role, 'initMaster');
    assert.equal(p.advertiseAddress, '192.0.2.2');
    assert.equal(p.endpoint, '192.0.2.2:6443');
    assert.equal(p.imageRepository, 'registry.local/c10f');
    assert.deepEqual(p.argv, [
      'init',
      '--config',
      '/etc/podsec/u7s/kubeadm/init.yaml',
      '--upload-certs',
    ]);
    assert.equal(byKind(p, 'InitConfiguration')['nodeRegistration'].name, 'node1');
    const env = parseEnvFile(p.files[1]!.content);
    assert.equal(env['U7S_CONTROLPLANE'], 'initMaster');
    assert.equal(env['U7S_EXTIP'], '192.0.2.2');
    assert.equal(env['U7S_EXTDEV'], 'eth0');
    assert.equal(env['U7S_SERVICECIDR'], '10.96.0.0/12');
    assert.equal(env['U7S_PODNETWORKCIDR'], '10.244.0.0/16');
    assert.equal(env['U7S_UID'], '990');
    assert.equal(env['_CONTAINERS_USERNS_CONFIGURED'], '1');
    assert.ok(p.files[1]!.content.startsWith('PATH=/usr/libexec/podsec/u7s/bin:'));
    assert.equal(p.adminKubeconfig, '/root/.kube/config');
    // same inputs, same bytes
    assert.deepEqual(configured(['init']).files, p.files);
  });

  it('init phases: the phase words, the same config, the admin kubeconfig only for kubeconfig all|admin', () => {
    const certs = configured(['init', 'phase', 'certs', 'all']);
    assert.deepEqual(certs.argv, [
      'init',
      'phase',
      'certs',
      'all',
      '--config',
      '/etc/podsec/u7s/kubeadm/init.yaml',
    ]);
    assert.equal(certs.adminKubeconfig, undefined);
    assert.equal(certs.files[0]!.content, configured(['init']).files[0]!.content);
    assert.equal(
      configured(['init', 'phase', 'kubeconfig', 'all']).adminKubeconfig,
      '/root/.kube/config',
    );
    assert.equal(
      configured(['init', 'phase', 'kubeconfig', 'admin']).adminKubeconfig,
      '/root/.kube/config',
    );
    assert.equal(
      configured(['init', 'phase', 'kubeconfig', 'scheduler']).adminKubeconfig,
      undefined,
    );
    assert.deepEqual(configured(['init', 'phase', 'addon', 'kube-proxy']).phase, [
      'addon',
      'kube-proxy',
    ]);
    assert.equal(planKubeadm(['init', 'phase'], facts).kind, 'host');
  });

  it('worker and control-plane joins: the endpoint positional, the join credentials only in a 0640 file', () => {
    const w = configured(JOIN);
    assert.equal(w.role, '');
    assert.deepEqual(w.argv, ['join', '--config', '/etc/podsec/u7s/kubeadm/join.yaml']);
    assert.equal(w.files[0]!.secret, true);
    assert.equal(w.files[0]!.mode, 0o640);
    assert.equal(w.adminKubeconfig, undefined);
    assert.ok(!w.files.some((f) => f.path.endsWith('policy.yaml')));
    assert.doesNotMatch(w.files[1]!.content, /abcdef|sha256/);
    // kubeadm join ignores (and warns about) other documents: the kubelet settings go over config.yaml after
    // kubelet-start, so a join keeps the user's --patches and writes no patch of its own
    assert.deepEqual(
      docs(w).map((d) => d['kind']),
      ['JoinConfiguration'],
    );
    assert.equal(byKind(w, 'JoinConfiguration')['patches'], undefined);
    assert.ok(!w.files.some((f) => f.path.includes('patches')));
    assert.equal(w.kubeletConfig, true);
    assert.deepEqual(
      byKind(configured([...JOIN, '--patches', '/p']), 'JoinConfiguration')['patches'],
      {
        directory: '/p',
      },
    );
    const cp = configured([...JOIN, '--control-plane', '--certificate-key', KEY]);
    assert.equal(cp.role, 'master');
    assert.ok(cp.files.some((f) => f.path === '/etc/kubernetes/audit/policy.yaml'));
    assert.throws(() => planKubeadm([...JOIN, '--certificate-key', KEY], facts), {
      code: 'KUBEADM_FLAG_REFUSED',
    });
    assert.throws(() => planKubeadm(['join', '--token', TOKEN], facts), {
      code: 'KUBEADM_NO_ENDPOINT',
    });
  });

  it('file discovery: the checked kubeconfig copied root-owned for the namespace, its server the endpoint', () => {
    const p = configured(FILE_JOIN, fileFacts());
    assert.equal(p.endpoint, '192.0.2.1:6443');
    const copy = p.files.find((f) => f.path === '/etc/podsec/u7s/kubeadm/discovery.conf')!;
    assert.deepEqual([copy.mode, copy.uid, copy.gid, copy.secret], [0o640, 0, 990, true]);
    assert.equal(copy.content, discoveryKubeconfig());
    // the wrapper's --timeout bounds kubeadm's discovery wait too (it ends 10 s before, with kubeadm's error)
    const short = configured([...FILE_JOIN, '--timeout', '25'], fileFacts());
    assert.deepEqual(byKind(short, 'JoinConfiguration')['timeouts'], { discovery: '15s' });
    assert.deepEqual(byKind(p, 'JoinConfiguration')['timeouts'], { discovery: '300s' });
    // credentials in the file: no TLS bootstrap token needed
    const withToken = configured(
      ['join', '--discovery-file', '/srv/discovery.conf'],
      fileFacts(discoveryKubeconfig({ user: { token: TOKEN } })),
    );
    assert.equal(byKind(withToken, 'JoinConfiguration')['discovery'].tlsBootstrapToken, undefined);
    for (const [argv, f, re] of [
      [['join', '--discovery-file', '/srv/discovery.conf'], fileFacts(), /carries no credentials/],
      [[...FILE_JOIN, '192.0.2.1:6443'], fileFacts(), /exclude each other/],
      [[...FILE_JOIN, '--discovery-token-ca-cert-hash', HASH], fileFacts(), /exclude each other/],
      [FILE_JOIN, fileFacts('kind: Pod\n'), /kind is "Pod"/],
    ] as [string[], KubeadmFacts, RegExp][])
      assert.throws(() => planKubeadm(argv, f), re);
  });

  it('refuses pod or service networks that overlap a host network, naming the interface', () => {
    for (const argv of [
      ['init', '--service-cidr', '192.0.2.0/24'],
      ['init', '--pod-network-cidr', '192.0.0.0/16'],
    ])
      assert.throws(() => planKubeadm(argv, facts), {
        code: 'U7S_NET_OVERLAP',
        message: /interface eth0/,
      });
    for (const bad of ['10.96.0.0', '300.1.1.1/16', '10.0.0.0/33'])
      assert.throws(() => planKubeadm(['init', '--pod-network-cidr', bad], facts), {
        code: 'U7S_BAD_CIDR',
      });
    assert.throws(() => planKubeadm(['init', '--apiserver-advertise-address', '1.2.3'], facts), {
      code: 'U7S_BAD_ADDRESS',
    });
  });

  it('image repository: U7S_REGISTRY="" is upstream, a set U7S_REGISTRY is honoured, no platform is an error', () => {
    const repo = (env: Record<string, string>, extra: Partial<KubeadmFacts> = {}) =>
      configured(['init'], { ...facts, env, ...extra }).imageRepository;
    assert.equal(repo({ U7S_REGISTRY: '' }), 'registry.k8s.io');
    assert.equal(repo({ U7S_REGISTRY: 'mirror.example:5000' }), 'mirror.example:5000/c10f');
    assert.equal(repo({}, { hostsHaveRegistryLocal: false }), 'registry.altlinux.org/c10f');
    assert.throws(() => planKubeadm(['init'], { ...facts, platform: undefined }), {
      code: 'KUBEADM_NO_PLATFORM',
    });
  });

  it('names the commands after which kubeadm has written config.yaml: kubelet-start, upgrade kubelet-config', () => {
    const writes = [
      'init',
      'init phase kubelet-start',
      'join 10.0.0.1:6443',
      'join phase kubelet-start',
      'join phase kubelet-start 10.0.0.1:6443',
      'upgrade apply v1.37.2',
      'upgrade node',
      'upgrade node phase kubelet-config',
      'upgrade apply phase kubelet-config',
    ];
    const keeps = [
      'init phase certs all',
      'join phase preflight',
      'upgrade plan',
      'upgrade diff',
      'upgrade node phase control-plane',
      'upgrade apply phase addon all',
      'token create',
      'reset',
    ];
    for (const w of writes) assert.equal(writesKubeletConfig(w.split(' ')), true, w);
    for (const w of keeps) assert.equal(writesKubeletConfig(w.split(' ')), false, w);
    const up = planKubeadm(['upgrade', 'node', 'phase', 'kubelet-config', '-v', '5'], undefined);
    assert.equal(up.kind === 'passthrough' && up.kubeletConfig, true);
    const plan = planKubeadm(['upgrade', 'plan'], undefined);
    assert.equal(plan.kind === 'passthrough' && plan.kubeletConfig, false);
    assert.equal(configured(['init', 'phase', 'certs', 'all']).kubeletConfig, false);
    assert.equal(
      configured(['join', 'phase', 'kubelet-start', ...JOIN.slice(1)]).kubeletConfig,
      true,
    );
    assert.equal(configured(['join', 'phase', 'preflight', ...JOIN.slice(1)]).kubeletConfig, false);
  });

  it('a whole init applies the flannel manifest it renders, bounded; its phases and joins do not', () => {
    const init = configured(['init']);
    assert.deepEqual(init.flannelApply, {
      manifest: '/etc/podsec/u7s/manifests/kube-flannel.yml',
      kubectlArgs: [
        '--kubeconfig=/etc/kubernetes/admin.conf',
        '--request-timeout=10s',
        'apply',
        '-f',
        '/etc/podsec/u7s/manifests/kube-flannel.yml',
      ],
      timeoutMs: 120_000,
    });
    assert.ok(init.files.some((f) => f.path === init.flannelApply!.manifest));
    assert.equal(configured(['init', 'phase', 'addon', 'all']).flannelApply, undefined);
    assert.equal(configured(JOIN).flannelApply, undefined);
  });

  it('other commands pass through verbatim (unknown flags included), minus the wrapper flags', () => {
    const argv = ['token', 'create', '--print-join-command', '--ttl', '1h', '--dry-run'];
    const p = planKubeadm(argv, undefined);
    assert.equal(p.kind, 'passthrough');
    assert.deepEqual(p.argv, ['token', 'create', '--print-join-command', '--ttl', '1h']);
    assert.deepEqual(planKubeadm(['version', '-o', 'short'], undefined).argv, [
      'version',
      '-o',
      'short',
    ]);
    assert.equal(planKubeadm(['reset', '--help'], undefined).kind, 'host');
    assert.deepEqual(
      passThroughArgv(['-v=4', 'token', 'list'], parseKubeadmArgv(['-v=4', 'token', 'list'])),
      ['-v=4', 'token', 'list'],
    );
  });
});

describe('planned configurations and the real kubeadm', () => {
  it('every planned configuration passes kubeadm config validate; a broken one is refused', async (t) => {
    const kubeadm = requireCommand(t, 'kubeadm');
    if (kubeadm === undefined) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-plan-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const validate = async (name: string, text: string) => {
      const file = path.join(dir, `${name}.yaml`);
      await writeFile(file, text);
      return execa(kubeadm, ['config', 'validate', '--config', file], { reject: false });
    };
    const cases: Record<string, string[]> = {
      init: ['init'],
      'init-all-flags': [
        'init',
        '--apiserver-advertise-address',
        '192.0.2.10',
        '--apiserver-bind-port',
        '7443',
        '--apiserver-cert-extra-sans',
        'api.example,198.51.100.7',
        '--cert-dir',
        '/etc/kubernetes/pki',
        '--certificate-key',
        KEY,
        '--control-plane-endpoint',
        'lb.example:6443',
        '--feature-gates',
        'RootlessControlPlane=false',
        '--image-repository',
        'registry.k8s.io',
        '--kubernetes-version',
        'v1.37.2',
        '--node-name',
        'cp-1',
        '--pod-network-cidr',
        '10.50.0.0/16',
        '--service-cidr',
        '10.112.0.0/12',
        '--service-dns-domain',
        'corp.internal',
        '--skip-phases',
        'addon/kube-proxy',
        '--token',
        TOKEN,
        '--token-ttl',
        '2h',
      ],
      'init-phase-certs': ['init', 'phase', 'certs', 'all'],
      join: JOIN,
      'join-control-plane': [...JOIN, '--control-plane', '--certificate-key', KEY],
      'join-file': FILE_JOIN,
      'join-file-control-plane': [...FILE_JOIN, '--control-plane', '--certificate-key', KEY],
      'join-unsafe': [
        'join',
        '192.0.2.1:6443',
        '--token',
        TOKEN,
        '--discovery-token-unsafe-skip-ca-verification',
        '--tls-bootstrap-token',
        'zyxwvu.0123456789zyxwvu',
      ],
    };
    const discovery = path.join(dir, 'discovery.conf');
    await writeFile(discovery, discoveryKubeconfig());
    for (const [name, argv] of Object.entries(cases)) {
      const p = configured(
        argv,
        argv === FILE_JOIN || name === 'join-file-control-plane' ? fileFacts() : facts,
      );
      // kubeadm validate checks that the discovery file exists: the copy's path, here in the temp dir
      const text = p.files[0]!.content.replace('/etc/podsec/u7s/kubeadm/discovery.conf', discovery);
      const r = await validate(name, text);
      assert.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
      // and without a warning: no document kubeadm ignores
      assert.doesNotMatch(r.stderr, /WARNING|Ignored/, `${name}: ${r.stderr}`);
    }
    const broken = configured(['init']).files[0]!.content.replace(
      'serviceSubnet: 10.96.0.0/12',
      'serviceSubnet: 10.96.0.0/40',
    );
    const r = await validate('broken', broken);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /serviceSubnet|10\.96\.0\.0\/40/);
  });
});

describe('the admin kubeconfigs and the etcd member check of a plan', () => {
  it("writes root's and u7s-admin's kubeconfig after init and a control-plane join, not after a worker join", () => {
    const init = configured(['init']);
    assert.equal(init.adminKubeconfig, '/root/.kube/config');
    assert.equal(init.userKubeconfig, '/var/lib/u7s-admin/.kube/config');
    const cp = configured([...JOIN, '--control-plane', '--certificate-key', KEY]);
    assert.equal(cp.userKubeconfig, '/var/lib/u7s-admin/.kube/config');
    const worker = configured(JOIN);
    assert.equal(worker.adminKubeconfig, undefined);
    assert.equal(worker.userKubeconfig, undefined);
    assert.equal(configured(['init', 'phase', 'certs', 'all']).userKubeconfig, undefined);
  });
  it('checks the etcd member directory for the whole init or join only, never for a phase', () => {
    assert.equal(configured(JOIN).etcdMember, '/var/lib/podsec/u7s/etcd/member');
    assert.equal(configured(['init', 'phase', 'etcd', 'local']).etcdMember, undefined);
    assert.equal(configured(['init']).yes, false);
  });
  it("keeps --yes for pass-through commands, where it is kubeadm's own (upgrade apply -y)", () => {
    const argv = ['upgrade', 'apply', 'v1.37.2', '--yes', '--json'];
    assert.deepEqual(passThroughArgv(argv, parseKubeadmArgv(argv)), [
      'upgrade',
      'apply',
      'v1.37.2',
      '--yes',
    ]);
  });
  it('renders crio.conf (TOML) with the pause image of the repository, registry.local insecure, nothing else', () => {
    const crio = (p: ConfiguredPlan) =>
      parseToml(p.files.find((f) => f.path === '/etc/podsec/u7s/config/crio.conf')!.content) as {
        crio: { image: { pause_image: string; insecure_registries: string[] } };
      };
    const local = crio(configured(['init', '--image-repository', 'registry.local/c10f']));
    assert.equal(local.crio.image.pause_image, 'registry.local/c10f/pause:3.10');
    assert.deepEqual(local.crio.image.insecure_registries, ['registry.local']);
    const upstream = crio(configured(['init', '--image-repository', 'registry.k8s.io']));
    assert.deepEqual(upstream.crio.image.insecure_registries, []);
  });
});
