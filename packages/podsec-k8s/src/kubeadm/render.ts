/**
 * Pure rendering of the kubeadm configuration of a rootless node: init, control-plane join and worker join,
 * in the API version the target kubeadm speaks (v1beta4 from 1.31, v1beta3 before), with the kubelet and
 * kube-proxy documents a kubelet in a user namespace needs, and the API audit wired in.
 */
import { UsageError } from '@podsec/core';
import { stringify } from 'yaml';
import { parseIPv4 } from '../u7s/net.ts';
import type { U7sNode } from '../u7s/node-config.ts';

/** Which configuration. */
export type KubeadmConfigKind = 'init' | 'join' | 'join-control-plane';

/** Inputs of {@link renderKubeadmConfig}. */
export interface KubeadmConfigInput {
  readonly kind: KubeadmConfigKind;
  readonly node: U7sNode;
  /** `v1.37.2` or `1.37.2`. */
  readonly kubernetesVersion: string;
  /** e.g. `registry.local/c10f` or `registry.k8s.io`. */
  readonly imageRepository: string;
  readonly advertiseAddress: string;
  readonly nodeName: string;
  /** init: `host:port` (default `<advertise>:<bind port>`); join: the endpoint to join. */
  readonly controlPlaneEndpoint?: string;
  readonly token?: string;
  readonly caCertHash?: string;
  readonly certificateKey?: string;
  /** @default '/var/lib/podsec/u7s/etcd' */
  readonly etcdDataDir?: string;
  /** @default 'unix:///run/crio/crio.sock' */
  readonly criSocket?: string;
  /** Home of u7s-admin (kubelet volume plugin dir). @default '/var/lib/u7s-admin' */
  readonly home?: string;
  /** Node joins (or is) a rootful cluster: keep the kubelet patch per node, render the same cluster values. */
  readonly mixed?: boolean;
  /** Extra API server certificate SANs (`--apiserver-cert-extra-sans`). */
  readonly certSANs?: readonly string[];
  /** `--cert-dir`. @default kubeadm's /etc/kubernetes/pki */
  readonly certificatesDir?: string;
  /** kubeadm feature gates (`--feature-gates`). */
  readonly featureGates?: Readonly<Record<string, boolean>>;
  /** @default 'cluster.local' */
  readonly dnsDomain?: string;
  /** Phases kubeadm skips (`--skip-phases`). */
  readonly skipPhases?: readonly string[];
  /** Directory of kubeadm patches (`--patches`, a path inside the namespace). */
  readonly patchesDir?: string;
  /** init: the first bootstrap token's ttl (`--token-ttl`, e.g. `24h0m0s`). */
  readonly tokenTtl?: string;
  /** join: `--tls-bootstrap-token` (default: the discovery token). */
  readonly tlsBootstrapToken?: string;
  /** join: `--discovery-token-unsafe-skip-ca-verification` (no CA pinning). */
  readonly unsafeSkipCAVerification?: boolean;
  /**
   * join: file-based discovery, the path of the checked discovery kubeconfig as the namespace sees it (instead of
   * the bootstrap token, endpoint and CA hash).
   */
  readonly discoveryFile?: string;
  /** join: how long kubeadm's discovery may take (a Go duration). @default '5m0s' */
  readonly discoveryTimeout?: string;
}

const VERSION_RE = /^v?(1)\.(\d{1,3})\.(\d{1,3})$/;
const TOKEN_RE = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
const HASH_RE = /^sha256:[0-9a-f]{64}$/;
const KEY_RE = /^[0-9a-f]{64}$/;
const REPO_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9._-]+)*$/;
const ENDPOINT_RE = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;
const SAN_RE = /^[a-zA-Z0-9*]([a-zA-Z0-9.:*-]{0,252})$/;
const GATE_RE = /^[A-Z][A-Za-z0-9]{0,99}$/;
const DOMAIN_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const DURATION_RE = /^(0|(\d{1,6}(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/;
const PHASE_RE = /^[a-z-]+(\/[a-z-]+)*$/;

/** Pure: the kubeadm API version for a Kubernetes minor. */
export function kubeadmApiVersion(
  minor: number,
): 'kubeadm.k8s.io/v1beta4' | 'kubeadm.k8s.io/v1beta3' {
  return minor >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}

function bad(code: string, message: string, value: string): never {
  throw new UsageError(code, message, { details: { value } });
}

/** Where the API audit lives (fix: logs under /var/log, not /etc; the policy file is written by root). */
export const AUDIT = {
  policy: '/etc/kubernetes/audit/policy.yaml',
  dir: '/etc/kubernetes/audit',
  logDir: '/var/log/kubernetes/audit',
  log: '/var/log/kubernetes/audit/audit.log',
} as const;

/** Pure: the per-node kubelet settings of a kubelet in a user namespace. */
export function rootlessKubeletSettings(home: string) {
  return {
    volumePluginDir: `${home}/.local/share/usernetes/kubelet-plugins-exec`,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    featureGates: { KubeletInUserNamespace: true },
    evictionHard: { 'nodefs.available': '3%' },
    localStorageCapacityIsolation: false,
    cgroupsPerQOS: true,
    enforceNodeAllocatable: [] as string[],
  };
}

/** Error codes of the version and repository checks (the rootful master keeps its own). */
interface RenderCodes {
  readonly version: string;
  readonly repository: string;
}
const KUBEADM_CODES: RenderCodes = {
  version: 'KUBEADM_BAD_VERSION',
  repository: 'KUBEADM_BAD_REPOSITORY',
};

/** Pure: a Kubernetes version of 1.26 or newer (`v1.37.2` or `1.37.2`) -> its minor and `1.37.2`. */
function checkVersionAndRepository(
  kubernetesVersion: string,
  imageRepository: string,
  codes: RenderCodes,
): { minor: number; version: string } {
  const m = VERSION_RE.exec(kubernetesVersion);
  if (!m)
    bad(codes.version, `invalid Kubernetes version "${kubernetesVersion}"`, kubernetesVersion);
  const minor = Number(m[2]);
  if (minor < 26)
    bad(codes.version, `Kubernetes ${kubernetesVersion} is older than 1.26`, kubernetesVersion);
  if (!REPO_RE.test(imageRepository) || imageRepository.includes('//'))
    bad(codes.repository, `invalid image repository "${imageRepository}"`, imageRepository);
  return { minor, version: `${m[1]}.${m[2]}.${m[3]}` };
}

/** Where the API server's audit policy and log are, and how the policy is mounted into its pod. */
export interface AuditWiring {
  readonly policyFile: string;
  /** Host path of the policy volume: the policy's directory or the file itself. */
  readonly policyVolume: { readonly hostPath: string; readonly pathType: string };
  readonly logDir: string;
  readonly log: string;
}

/** The rootless node's audit wiring (the policy directory, logs under /var/log). */
export const ROOTLESS_AUDIT: AuditWiring = {
  policyFile: AUDIT.policy,
  policyVolume: { hostPath: AUDIT.dir, pathType: 'DirectoryOrCreate' },
  logDir: AUDIT.logDir,
  log: AUDIT.log,
};

/** Inputs of the ClusterConfiguration document, shared by the rootless node and the rootful master. */
interface ClusterDocInput {
  readonly minor: number;
  readonly version: string;
  readonly imageRepository: string;
  readonly podSubnet: string;
  readonly serviceSubnet: string;
  readonly dnsDomain?: string;
  readonly controlPlaneEndpoint?: string;
  readonly certificatesDir?: string;
  readonly featureGates?: Readonly<Record<string, boolean>>;
  readonly etcd?: Readonly<Record<string, unknown>>;
  readonly certSANs?: readonly string[];
  /** API server flags before the audit ones. */
  readonly apiServerArgs?: Readonly<Record<string, string>>;
  readonly audit: AuditWiring;
}

/** Pure: extraArgs in the API version's shape (v1beta4: a list of name/value, v1beta3: a map). */
function extraArgs(minor: number, o: Readonly<Record<string, string>>) {
  return minor >= 31 ? Object.entries(o).map(([name, value]) => ({ name, value })) : { ...o };
}

/** Pure: the ClusterConfiguration document: networks, image repository, controller CIDRs, the API audit. */
function clusterDocument(c: ClusterDocInput): Record<string, unknown> {
  const v4 = c.minor >= 31;
  return {
    apiVersion: kubeadmApiVersion(c.minor),
    kind: 'ClusterConfiguration',
    clusterName: 'kubernetes',
    kubernetesVersion: c.version,
    ...(c.controlPlaneEndpoint ? { controlPlaneEndpoint: c.controlPlaneEndpoint } : {}),
    imageRepository: c.imageRepository,
    ...(c.certificatesDir ? { certificatesDir: c.certificatesDir } : {}),
    ...(c.featureGates && Object.keys(c.featureGates).length
      ? { featureGates: { ...c.featureGates } }
      : {}),
    networking: {
      dnsDomain: c.dnsDomain ?? 'cluster.local',
      serviceSubnet: c.serviceSubnet,
      podSubnet: c.podSubnet,
    },
    ...(c.etcd ? { etcd: c.etcd } : {}),
    apiServer: {
      ...(c.certSANs ? { certSANs: [...c.certSANs] } : {}),
      extraArgs: extraArgs(c.minor, {
        ...c.apiServerArgs,
        'audit-policy-file': c.audit.policyFile,
        'audit-log-path': c.audit.log,
        'audit-log-maxsize': '500',
        'audit-log-maxbackup': '3',
      }),
      extraVolumes: [
        {
          name: 'audit',
          hostPath: c.audit.policyVolume.hostPath,
          mountPath: c.audit.policyVolume.hostPath,
          readOnly: true,
          pathType: c.audit.policyVolume.pathType,
        },
        {
          name: 'audit-log',
          hostPath: c.audit.logDir,
          mountPath: c.audit.logDir,
          readOnly: false,
          pathType: 'DirectoryOrCreate',
        },
      ],
      ...(v4 ? {} : { timeoutForControlPlane: '4m0s' }),
    },
    controllerManager: {
      extraArgs: extraArgs(c.minor, {
        'allocate-node-cidrs': 'true',
        'cluster-cidr': c.podSubnet,
        'service-cluster-ip-range': c.serviceSubnet,
      }),
    },
    scheduler: {},
    dns: {},
  };
}

const toYaml = (docs: readonly unknown[]) =>
  docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');

/** Inputs of {@link renderRootfulInitConfig}. */
export interface RootfulInitInput {
  readonly kubernetesVersion: string;
  readonly imageRepository: string;
  /** Checked by the caller. */
  readonly podNetworkCidr: string;
  readonly serviceCidr: string;
  readonly advertiseAddress?: string;
  readonly criSocket: string;
  readonly audit: AuditWiring;
}

/**
 * Pure: the kubeadm configuration of a rootful first control plane (`podsec-k8s-create-master`): the same
 * ClusterConfiguration as a rootless node's, without the namespace's etcd, kubelet and kube-proxy settings.
 * Throws `MASTER_BAD_VERSION` / `MASTER_BAD_REPOSITORY`.
 */
export function renderRootfulInitConfig(i: RootfulInitInput): string {
  const { minor, version } = checkVersionAndRepository(i.kubernetesVersion, i.imageRepository, {
    version: 'MASTER_BAD_VERSION',
    repository: 'MASTER_BAD_REPOSITORY',
  });
  const init = {
    apiVersion: kubeadmApiVersion(minor),
    kind: 'InitConfiguration',
    ...(i.advertiseAddress ? { localAPIEndpoint: { advertiseAddress: i.advertiseAddress } } : {}),
    nodeRegistration: { criSocket: i.criSocket, imagePullPolicy: 'IfNotPresent' },
  };
  return toYaml([
    init,
    clusterDocument({
      minor,
      version,
      imageRepository: i.imageRepository,
      podSubnet: i.podNetworkCidr,
      serviceSubnet: i.serviceCidr,
      audit: i.audit,
    }),
  ]);
}

/** Pure: renders the multi-document YAML. Throws `KUBEADM_BAD_*` on invalid input, before anything is written. */
export function renderKubeadmConfig(i: KubeadmConfigInput): string {
  const { minor, version } = checkVersionAndRepository(
    i.kubernetesVersion,
    i.imageRepository,
    KUBEADM_CODES,
  );
  if (parseIPv4(i.advertiseAddress) === undefined)
    bad(
      'KUBEADM_BAD_ADDRESS',
      `invalid advertise address "${i.advertiseAddress}"`,
      i.advertiseAddress,
    );
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(i.nodeName))
    bad('KUBEADM_BAD_NODE_NAME', `invalid node name "${i.nodeName}"`, i.nodeName);
  const endpoint = i.controlPlaneEndpoint ?? `${i.advertiseAddress}:${i.node.apiserverBindPort}`;
  if (!ENDPOINT_RE.test(endpoint))
    bad('KUBEADM_BAD_ENDPOINT', `invalid endpoint "${endpoint}" (host:port)`, endpoint);
  if (i.kind !== 'init' && i.discoveryFile !== undefined) {
    if (i.token !== undefined || i.caCertHash !== undefined || i.unsafeSkipCAVerification)
      bad(
        'KUBEADM_BAD_DISCOVERY',
        'file discovery takes no discovery token, CA hash or unsafe-skip-ca-verification',
        i.discoveryFile,
      );
    if (!i.discoveryFile.startsWith('/') || i.discoveryFile.includes('\0'))
      bad(
        'KUBEADM_BAD_PATH',
        `invalid path "${i.discoveryFile}" (an absolute path)`,
        i.discoveryFile,
      );
  } else if (i.kind !== 'init') {
    if (!i.token || !TOKEN_RE.test(i.token))
      bad('KUBEADM_BAD_TOKEN', 'invalid or missing bootstrap token', i.token ?? '');
    if (
      i.unsafeSkipCAVerification
        ? i.caCertHash !== undefined && !HASH_RE.test(i.caCertHash)
        : !i.caCertHash || !HASH_RE.test(i.caCertHash)
    )
      bad(
        'KUBEADM_BAD_CA_HASH',
        'invalid or missing --discovery-token-ca-cert-hash (sha256:<64 hex>)',
        i.caCertHash ?? '',
      );
  }
  for (const san of i.certSANs ?? [])
    if (!SAN_RE.test(san)) bad('KUBEADM_BAD_SAN', `invalid certificate SAN "${san}"`, san);
  for (const gate of Object.keys(i.featureGates ?? {}))
    if (!GATE_RE.test(gate))
      bad('KUBEADM_BAD_FEATURE_GATE', `invalid feature gate "${gate}"`, gate);
  if (i.dnsDomain !== undefined && !DOMAIN_RE.test(i.dnsDomain))
    bad('KUBEADM_BAD_DOMAIN', `invalid DNS domain "${i.dnsDomain}"`, i.dnsDomain);
  if (i.discoveryTimeout !== undefined && !DURATION_RE.test(i.discoveryTimeout))
    bad(
      'KUBEADM_BAD_DURATION',
      `invalid discovery timeout "${i.discoveryTimeout}"`,
      i.discoveryTimeout,
    );
  if (i.tokenTtl !== undefined && !DURATION_RE.test(i.tokenTtl))
    bad('KUBEADM_BAD_DURATION', `invalid token ttl "${i.tokenTtl}" (e.g. 24h, 30m)`, i.tokenTtl);
  for (const phase of i.skipPhases ?? [])
    if (!PHASE_RE.test(phase)) bad('KUBEADM_BAD_PHASE', `invalid phase name "${phase}"`, phase);
  for (const [what, dir] of [
    ['certificate directory', i.certificatesDir],
    ['patches directory', i.patchesDir],
  ] as const)
    if (dir !== undefined && (!dir.startsWith('/') || dir.includes('\0') || dir.length > 4096))
      bad('KUBEADM_BAD_PATH', `invalid ${what} "${dir}" (an absolute path)`, dir);
  if (i.tlsBootstrapToken !== undefined && !TOKEN_RE.test(i.tlsBootstrapToken))
    bad('KUBEADM_BAD_TOKEN', 'invalid --tls-bootstrap-token', i.tlsBootstrapToken);
  if (i.kind === 'init' && i.token !== undefined && !TOKEN_RE.test(i.token))
    bad('KUBEADM_BAD_TOKEN', 'invalid bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})', i.token);
  if (i.certificateKey !== undefined && !KEY_RE.test(i.certificateKey))
    bad('KUBEADM_BAD_CERT_KEY', 'invalid --certificate-key (64 hex)', i.certificateKey);
  if (i.kind === 'join-control-plane' && (!i.certificateKey || !KEY_RE.test(i.certificateKey)))
    bad(
      'KUBEADM_BAD_CERT_KEY',
      'invalid or missing --certificate-key (64 hex)',
      i.certificateKey ?? '',
    );
  const v4 = minor >= 31;
  const discoveryTimeout = i.discoveryTimeout ?? '5m0s';
  const apiVersion = kubeadmApiVersion(minor);
  const args = (o: Record<string, string>) => extraArgs(minor, o);
  const criSocket = i.criSocket ?? 'unix:///run/crio/crio.sock';
  const home = i.home ?? '/var/lib/u7s-admin';
  const nodeRegistration = {
    name: i.nodeName,
    criSocket,
    imagePullPolicy: 'IfNotPresent',
    kubeletExtraArgs: args({ 'node-ip': i.advertiseAddress }),
  };
  const common = {
    ...(i.skipPhases?.length ? { skipPhases: [...i.skipPhases] } : {}),
    ...(i.patchesDir ? { patches: { directory: i.patchesDir } } : {}),
  };
  const docs: unknown[] = [];
  if (i.kind === 'init') {
    docs.push({
      apiVersion,
      kind: 'InitConfiguration',
      ...(i.token || i.tokenTtl
        ? {
            bootstrapTokens: [
              {
                ...(i.token ? { token: i.token } : {}),
                ttl: i.tokenTtl ?? '24h0m0s',
                groups: ['system:bootstrappers:kubeadm:default-node-token'],
                usages: ['signing', 'authentication'],
              },
            ],
          }
        : {}),
      localAPIEndpoint: {
        advertiseAddress: i.advertiseAddress,
        bindPort: i.node.apiserverBindPort,
      },
      nodeRegistration,
      ...(i.certificateKey ? { certificateKey: i.certificateKey } : {}),
      ...common,
      ...(v4 ? { timeouts: { controlPlaneComponentHealthCheck: '4m0s' } } : {}),
    });
  } else {
    docs.push({
      apiVersion,
      kind: 'JoinConfiguration',
      discovery: {
        ...(i.discoveryFile !== undefined
          ? { file: { kubeConfigPath: i.discoveryFile } }
          : {
              bootstrapToken: {
                token: i.token,
                apiServerEndpoint: endpoint,
                ...(i.caCertHash ? { caCertHashes: [i.caCertHash] } : {}),
                ...(i.unsafeSkipCAVerification ? { unsafeSkipCAVerification: true } : {}),
              },
            }),
        ...(i.tlsBootstrapToken ? { tlsBootstrapToken: i.tlsBootstrapToken } : {}),
        ...(v4 ? {} : { timeout: discoveryTimeout }),
      },
      nodeRegistration,
      ...common,
      ...(i.kind === 'join-control-plane'
        ? {
            controlPlane: {
              localAPIEndpoint: {
                advertiseAddress: i.advertiseAddress,
                bindPort: i.node.apiserverBindPort,
              },
              certificateKey: i.certificateKey,
            },
          }
        : {}),
      ...(v4 ? { timeouts: { discovery: discoveryTimeout } } : {}),
    });
  }
  // a join takes its ClusterConfiguration and kubelet configuration from the cluster: kubeadm ignores (and warns
  // about) any other document next to a JoinConfiguration; the per-node kubelet settings go over the
  // config.yaml kubeadm writes from the cluster's (u7s/kubelet-config.ts)
  if (i.kind === 'init') {
    const etcdDataDir = i.etcdDataDir ?? '/var/lib/podsec/u7s/etcd';
    docs.push(
      clusterDocument({
        minor,
        version,
        imageRepository: i.imageRepository,
        podSubnet: i.node.podNetworkCidr,
        serviceSubnet: i.node.serviceCidr,
        ...(i.dnsDomain ? { dnsDomain: i.dnsDomain } : {}),
        controlPlaneEndpoint: endpoint,
        ...(i.certificatesDir ? { certificatesDir: i.certificatesDir } : {}),
        ...(i.featureGates ? { featureGates: i.featureGates } : {}),
        etcd: {
          local: {
            imageRepository: i.imageRepository,
            dataDir: etcdDataDir,
            serverCertSANs: [i.advertiseAddress, '127.0.0.1'],
            peerCertSANs: [i.advertiseAddress],
            extraArgs: args({ 'listen-peer-urls': 'https://0.0.0.0:2380' }),
          },
        },
        certSANs: [...new Set(['127.0.0.1', ...(i.certSANs ?? [])])],
        apiServerArgs: {
          'advertise-address': i.advertiseAddress,
          'etcd-servers': 'https://127.0.0.1:2379',
        },
        audit: ROOTLESS_AUDIT,
      }),
    );
  }
  if (i.kind === 'init')
    docs.push(
      {
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        ...rootlessKubeletSettings(home),
      },
      {
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'iptables',
        clientConnection: { kubeconfig: '/var/lib/kube-proxy/kubeconfig.conf' },
        conntrack: { maxPerCore: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      },
    );
  return toYaml(docs);
}
