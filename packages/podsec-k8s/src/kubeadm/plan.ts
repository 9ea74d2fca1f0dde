/**
 * Pure planning of one `podsec-u7s-kubeadm` invocation: from argv and the facts read from the host to what runs
 * where (the real kubeadm inside the namespace, or on the host for help/version) and which files are written.
 * `--dry-run` prints exactly this plan; the executor only carries it out.
 */
import { InternalError } from '@podsec/core';
import { ENDPOINT_RE, planHostArgv, precheckKubeadmArgv, timeoutOf, usage } from './classify.ts';
import { ETC_U7S, U7S_VARLIB } from '../paths.ts';
import { checkNetOverlap, parseCidr, type HostAddress } from '../u7s/net.ts';
import { planNode, type U7sNode, type U7sRole } from '../u7s/node-config.ts';
import { renderAuditPolicy } from './audit.ts';
import { renderCrioConf } from './cri.ts';
import { renderEnvFile } from './env-file.ts';
import {
  FLANNEL_APPLY_TIMEOUT_MS,
  FLANNEL_MANIFEST,
  planFlannelApply,
  planFlannelRepository,
  renderFlannelManifest,
} from './flannel.ts';
import {
  checkConfiguredFlags,
  flagSet,
  flagValue,
  formatFlags,
  parseKubeadmArgv,
  passThroughArgv,
  type ConfiguredCommand,
  type ParsedKubeadmArgv,
} from './flags.ts';
import { planImageRepository } from './registry.ts';
import { checkDiscoveryKubeconfig, discoveryRefused } from './discovery.ts';
import { AUDIT, renderKubeadmConfig, type KubeadmConfigKind } from './render.ts';

/** What the executor needs to know about the host (read by `readKubeadmFacts`). */
export interface KubeadmFacts {
  readonly user: {
    readonly name: string;
    readonly uid: number;
    readonly gid: number;
    readonly home: string;
  };
  /** IPv4 addresses of the host's interfaces. */
  readonly hostAddresses: readonly HostAddress[];
  /** The address of the interface with the default route (the original's getExtIP). */
  readonly defaultAddress?: HostAddress;
  readonly hostname: string;
  /** `vX.Y.Z` of the real kubeadm, when it was asked. */
  readonly kubeadmVersion?: string;
  readonly platform?: string;
  readonly hostsHaveRegistryLocal: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Root-owned helper dir (PATH of the u7s processes). */
  readonly libexec: string;
  /**
   * `--discovery-file`: the discovery kubeconfig as the wrapper read it (bounded) from the file or the https URL
   * named, undefined when the flag is not given.
   */
  readonly discoveryFile?: { readonly source: string; readonly content: string };
}

/** A file the plan writes. */
export interface PlannedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Holds secrets: no backup copies, removed after a successful join. */
  readonly secret?: boolean;
}

/** A directory the plan ensures. */
export interface PlannedDir {
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Where and how the real kubeadm runs. */
export type KubeadmPlan =
  | {
      /** help and version: the real kubeadm on the host, nothing else. */
      readonly kind: 'host';
      readonly argv: readonly string[];
      readonly timeoutMs: number;
    }
  | {
      /** other commands: verbatim inside the namespace. */
      readonly kind: 'passthrough';
      readonly argv: readonly string[];
      readonly timeoutMs: number;
      /** kubeadm rewrites /var/lib/kubelet/config.yaml from the cluster's: the rootless settings go over it. */
      readonly kubeletConfig: boolean;
    }
  | ConfiguredPlan;

/** init/join and their phases: rendered configuration, then kubeadm inside the namespace. */
export interface ConfiguredPlan {
  readonly kind: 'configured';
  readonly command: ConfiguredCommand;
  /** `init phase certs all` -> ['certs', 'all']; undefined for the whole command. */
  readonly phase: readonly string[] | undefined;
  readonly role: U7sRole;
  readonly configKind: KubeadmConfigKind;
  readonly node: U7sNode;
  readonly advertiseAddress: string;
  readonly endpoint: string;
  readonly dirs: readonly PlannedDir[];
  readonly files: readonly PlannedFile[];
  /** The config file (inside == outside: /etc/podsec is shared with the namespace). */
  readonly configFile: string;
  readonly argv: readonly string[];
  readonly timeoutMs: number;
  /**
   * The etcd member directory of an earlier cluster that must not be there when init/join runs (the whole
   * command, not a phase); `--yes` removes it, a terminal is asked, otherwise the run is refused.
   */
  readonly etcdMember: string | undefined;
  /** `--yes` was given. */
  readonly yes: boolean;
  /** Write the host's admin kubeconfig afterwards, to this path. */
  readonly adminKubeconfig: string | undefined;
  /** And u7s-admin's copy (`~u7s-admin/.kube/config`), owned by it. */
  readonly userKubeconfig: string | undefined;
  readonly kubernetesVersion: string;
  readonly imageRepository: string;
  /** kubeadm writes /var/lib/kubelet/config.yaml (kubelet-start): the rootless settings go over it afterwards. */
  readonly kubeletConfig: boolean;
  /** A whole init: the rendered flannel manifest is applied (kubectl inside the namespace) once kubeadm is done. */
  readonly flannelApply:
    | {
        readonly manifest: string;
        readonly kubectlArgs: readonly string[];
        readonly timeoutMs: number;
      }
    | undefined;
}

/**
 * Pure: whether `kubeadm <words>` (flags left out) writes the kubelet's /var/lib/kubelet/config.yaml: init and
 * join in their kubelet-start phase (from the rendered configuration, or on a join from the cluster's
 * `kubelet-config` ConfigMap), and `upgrade apply` / `upgrade node` in their kubelet-config phase (from the
 * ConfigMap again). After each, the wrapper sets the node's rootless settings over the file (one code path:
 * u7s/kubelet-config.ts, also run by kubelet.service before every kubelet start).
 */
export function writesKubeletConfig(words: readonly string[]): boolean {
  const [cmd, sub, ...rest] = words;
  if (cmd === 'init' || cmd === 'join') return sub !== 'phase' || rest[0] === 'kubelet-start';
  if (cmd === 'upgrade' && (sub === 'apply' || sub === 'node'))
    return rest[0] !== 'phase' || rest[1] === 'kubelet-config';
  return false;
}

export {
  isConfiguredArgv,
  KUBEADM_COMMANDS,
  needsKubeadmVersion,
  precheckKubeadmArgv,
} from './classify.ts';

/** The host directory kubeadm writes into (shared with the namespace, owned by u7s-admin). */
export const KUBE_DIR = '/etc/kubernetes';
/** The etcd member directory of the rendered configuration's data dir (left over by an earlier cluster). */
export const ETCD_MEMBER = `${U7S_VARLIB}/etcd/member`;
/** Root-owned record of the rendered configurations. */
export const KUBEADM_STATE_DIR = `${ETC_U7S}/kubeadm`;
/** The checked copy of a join's discovery kubeconfig (the namespace sees /etc/podsec as the host's). */
export const DISCOVERY_COPY = `${KUBEADM_STATE_DIR}/discovery.conf`;

/** Pure: the Go duration of kubeadm's discovery wait: 5 min, but ending 10 s before the wrapper's own bound. */
export function discoveryTimeoutOf(timeoutMs: number): string {
  return `${Math.max(1, Math.min(300, Math.floor(timeoutMs / 1000) - 10))}s`;
}

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function parseFeatureGates(v: string | undefined): Record<string, boolean> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, boolean> = {};
  for (const kv of list(v)) {
    const m = /^([^=]+)=(true|false)$/.exec(kv);
    if (!m)
      usage('KUBEADM_BAD_FEATURE_GATE', `invalid feature gate "${kv}" (Name=true|false)`, {
        value: kv,
      });
    out[m[1]!] = m[2] === 'true';
  }
  return out;
}

function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n < 1 || n > 65535)
    usage('U7S_BAD_PORT', `invalid port ${v}`, { value: v });
  return n;
}

/**
 * Pure: the plan of one invocation. Validates everything before anything is written: unknown or refused flags,
 * addresses, CIDRs (and their overlap with the host's networks), versions, tokens. Throws `KUBEADM_*`/`U7S_*`.
 */
export function planKubeadm(argv: readonly string[], facts: KubeadmFacts | undefined): KubeadmPlan {
  precheckKubeadmArgv(argv);
  const p = parseKubeadmArgv(argv);
  const timeoutMs = timeoutOf(p);
  // help (of any command), version and the list of phases need no namespace
  const host = planHostArgv(argv);
  if (host) return { kind: 'host', argv: host, timeoutMs: Math.min(timeoutMs, 60_000) };
  const cmd = p.words[0];
  if (cmd !== 'init' && cmd !== 'join')
    return {
      kind: 'passthrough',
      argv: passThroughArgv(argv, p),
      timeoutMs,
      kubeletConfig: writesKubeletConfig(p.words),
    };
  if (!facts) throw new InternalError('KUBEADM_NO_FACTS', 'init/join planned without host facts');
  return planConfigured(p, cmd, p.words[1] === 'phase', facts, timeoutMs);
}

function planConfigured(
  p: ParsedKubeadmArgv,
  command: ConfiguredCommand,
  isPhase: boolean,
  facts: KubeadmFacts,
  timeoutMs: number,
): ConfiguredPlan {
  checkConfiguredFlags(p, command);
  const words = p.words.slice(isPhase ? 2 : 1);
  let endpointArg: string | undefined;
  const phase: string[] = [];
  for (const w of words) {
    if (command === 'join' && ENDPOINT_RE.test(w) && endpointArg === undefined) endpointArg = w;
    else if (isPhase && /^[a-z][a-z0-9-]*$/.test(w)) phase.push(w);
    else
      usage('KUBEADM_BAD_ARGS', `unexpected argument "${w}" for kubeadm ${command}`, { value: w });
  }
  if (p.rest.length)
    usage('KUBEADM_BAD_ARGS', `unexpected arguments after -- for kubeadm ${command}`, {
      value: p.rest.join(' '),
    });
  const f = (name: string) => flagValue(p, name);
  const controlPlane = command === 'join' && flagSet(p, 'control-plane');
  const role: U7sRole = command === 'init' ? 'initMaster' : controlPlane ? 'master' : '';
  const configKind: KubeadmConfigKind =
    command === 'init' ? 'init' : controlPlane ? 'join-control-plane' : 'join';
  if (command === 'join' && !controlPlane && f('certificate-key') !== undefined)
    usage('KUBEADM_FLAG_REFUSED', 'flag --certificate-key needs --control-plane', {
      flag: '--certificate-key',
      reason: 'only a control-plane join decrypts the uploaded certificates',
    });
  const fileDiscovery = command === 'join' ? f('discovery-file') : undefined;
  if (fileDiscovery !== undefined) {
    if (!facts.discoveryFile)
      throw new InternalError('KUBEADM_NO_FACTS', 'the discovery file was not read');
  }
  const discovery =
    fileDiscovery !== undefined && facts.discoveryFile
      ? checkDiscoveryKubeconfig(facts.discoveryFile.content, facts.discoveryFile.source)
      : undefined;
  if (command === 'join' && !endpointArg && !discovery && !isPhase)
    usage('KUBEADM_NO_ENDPOINT', 'kubeadm join needs the API server endpoint (host:port)');

  const advertise = f('apiserver-advertise-address') ?? facts.defaultAddress?.address;
  if (advertise === undefined)
    usage(
      'KUBEADM_NO_ADDRESS',
      'cannot find the node address (no default route): give --apiserver-advertise-address',
    );
  const node = planNode({
    role,
    extIP: advertise,
    ...(f('service-cidr') ? { serviceCidr: f('service-cidr')! } : {}),
    ...(f('pod-network-cidr') ? { podNetworkCidr: f('pod-network-cidr')! } : {}),
    ...(f('apiserver-bind-port')
      ? { apiserverBindPort: parsePort(f('apiserver-bind-port'))! }
      : {}),
  });
  // the original checked only the service CIDR (and that by accident): check both
  checkNetOverlap(
    [
      { name: 'service CIDR', cidr: parseCidr(node.serviceCidr, 'service CIDR') },
      { name: 'pod network CIDR', cidr: parseCidr(node.podNetworkCidr, 'pod network CIDR') },
    ],
    facts.hostAddresses,
  );
  const kubernetesVersion =
    f('kubernetes-version') ?? facts.env['U7S_KUBEVERSION'] ?? facts.kubeadmVersion;
  if (!kubernetesVersion)
    usage('KUBEADM_BAD_VERSION', 'the Kubernetes version is unknown: give --kubernetes-version');
  const imageRepository = planImageRepository({
    ...(f('image-repository') ? { flag: f('image-repository')! } : {}),
    ...(facts.env['U7S_REGISTRY'] !== undefined ? { registry: facts.env['U7S_REGISTRY'] } : {}),
    ...(facts.platform ? { platform: facts.platform } : {}),
    hostsHaveRegistryLocal: facts.hostsHaveRegistryLocal,
  });
  const endpoint =
    command === 'init'
      ? (f('control-plane-endpoint') ?? `${advertise}:${node.apiserverBindPort}`)
      : (endpointArg ??
        discovery?.endpoint ??
        f('control-plane-endpoint') ??
        `${advertise}:${node.apiserverBindPort}`);
  // kubeadm: --token is the discovery token and the TLS bootstrap token, unless those are given (with file
  // discovery it can only be the TLS bootstrap token)
  const token =
    command === 'join'
      ? discovery
        ? undefined
        : (f('discovery-token') ?? f('token'))
      : f('token');
  const tls =
    command === 'join'
      ? (f('tls-bootstrap-token') ?? (f('discovery-token') || discovery ? f('token') : undefined))
      : undefined;
  if (discovery && !discovery.hasCredentials && !tls)
    discoveryRefused(
      facts.discoveryFile!.source,
      'it carries no credentials: give --tls-bootstrap-token (or --token)',
    );
  const hashes = list(f('discovery-token-ca-cert-hash'));
  if (hashes.length > 1)
    usage('KUBEADM_BAD_CA_HASH', 'give one --discovery-token-ca-cert-hash', {
      value: hashes.join(','),
    });
  const featureGates = parseFeatureGates(f('feature-gates'));
  const nodeName = (f('node-name') ?? facts.hostname).toLowerCase();
  const config = renderKubeadmConfig({
    kind: configKind,
    node,
    kubernetesVersion,
    imageRepository,
    advertiseAddress: advertise,
    nodeName,
    controlPlaneEndpoint: endpoint,
    home: facts.user.home,
    ...(token ? { token } : {}),
    ...(hashes[0] ? { caCertHash: hashes[0] } : {}),
    ...(f('certificate-key') ? { certificateKey: f('certificate-key')! } : {}),
    ...(f('cri-socket') ? { criSocket: f('cri-socket')! } : {}),
    ...(f('apiserver-cert-extra-sans') ? { certSANs: list(f('apiserver-cert-extra-sans')) } : {}),
    ...(f('cert-dir') ? { certificatesDir: f('cert-dir')! } : {}),
    ...(featureGates ? { featureGates } : {}),
    ...(f('service-dns-domain') ? { dnsDomain: f('service-dns-domain')! } : {}),
    ...(f('skip-phases') ? { skipPhases: list(f('skip-phases')) } : {}),
    ...(f('patches') ? { patchesDir: f('patches')! } : {}),
    ...(f('token-ttl') ? { tokenTtl: f('token-ttl')! } : {}),
    ...(tls ? { tlsBootstrapToken: tls } : {}),
    ...(flagSet(p, 'discovery-token-unsafe-skip-ca-verification')
      ? { unsafeSkipCAVerification: true }
      : {}),
    ...(discovery ? { discoveryFile: DISCOVERY_COPY } : {}),
    ...(command === 'join' ? { discoveryTimeout: discoveryTimeoutOf(timeoutMs) } : {}),
  });

  const { uid, gid } = facts.user;
  const configFile = `${KUBEADM_STATE_DIR}/${command}.yaml`;
  const passFlags = formatFlags(p, 'pass');
  // the original always uploads the certificates on init, so that control planes can join with the key
  const uploadCerts =
    command === 'init' && !isPhase && !flagSet(p, 'upload-certs') ? ['--upload-certs'] : [];
  const argv = [
    command,
    ...(isPhase ? ['phase', ...phase] : []),
    '--config',
    configFile,
    ...passFlags,
    ...uploadCerts,
  ];
  const pauseImage = facts.env['U7S_PAUSE_IMAGE']
    ? `${imageRepository}/${facts.env['U7S_PAUSE_IMAGE']}`
    : `${imageRepository}/pause:3.10`;
  const controlPlaneNode = role !== '';
  const flannel =
    command === 'init' && !isPhase && node.cniPlugin === 'flannel'
      ? renderFlannelManifest({
          ...planFlannelRepository(imageRepository, facts.env['U7S_FLANNEL_REGISTRY'] || undefined),
          ...(facts.env['U7S_FLANNEL_TAG'] ? { tag: facts.env['U7S_FLANNEL_TAG'] } : {}),
          ...(facts.env['U7S_FLANNELCNIPLUGIN_TAG']
            ? { cniPluginTag: facts.env['U7S_FLANNELCNIPLUGIN_TAG'] }
            : {}),
          podNetworkCidr: node.podNetworkCidr,
        })
      : undefined;
  const files: PlannedFile[] = [
    { path: configFile, content: config, mode: 0o640, uid: 0, gid, secret: command === 'join' },
    {
      path: `${ETC_U7S}/config/env`,
      content: renderEnvFile({
        node,
        uid,
        kubernetesVersion,
        libexec: facts.libexec,
        imageRepository,
        advertiseAddress: advertise,
        ...(facts.defaultAddress?.address === advertise
          ? { extDev: facts.defaultAddress.ifname }
          : {}),
        apiServerEndpoint: endpoint,
        kubeadmFlags: passFlags,
        ...(facts.platform ? { platform: facts.platform } : {}),
        pauseImage: pauseImage.slice(imageRepository.length + 1),
      }),
      mode: 0o644,
      uid: 0,
      gid: 0,
    },
    {
      path: `${ETC_U7S}/config/crio.conf`,
      content: renderCrioConf({
        uid,
        home: facts.user.home,
        pauseImage,
        // podsec's own registry is plain HTTP (registries.conf marks it insecure the same way); the podsec
        // signature policy still decides what runs
        insecureRegistries:
          imageRepository.split('/')[0] === 'registry.local' ? ['registry.local'] : [],
      }),
      mode: 0o644,
      uid: 0,
      gid: 0,
    },
    ...(controlPlaneNode
      ? [{ path: AUDIT.policy, content: renderAuditPolicy(), mode: 0o644, uid: 0, gid: 0 }]
      : []),
    // the network add-on of a new cluster, with its pod CIDR, for kubectl apply (never a static pod)
    ...(flannel ? [{ path: FLANNEL_MANIFEST, content: flannel, mode: 0o644, uid: 0, gid: 0 }] : []),
    // the discovery kubeconfig as checked (it may hold credentials): root's, readable by the namespace
    ...(discovery
      ? [
          {
            path: DISCOVERY_COPY,
            content: facts.discoveryFile!.content,
            mode: 0o640,
            uid: 0,
            gid,
            secret: true,
          },
        ]
      : []),
  ];
  const dirs: PlannedDir[] = [
    { path: KUBE_DIR, mode: 0o755, uid, gid },
    { path: KUBEADM_STATE_DIR, mode: 0o750, uid: 0, gid },
    { path: `${ETC_U7S}/config`, mode: 0o755, uid: 0, gid: 0 },
    ...(controlPlaneNode ? [{ path: AUDIT.dir, mode: 0o755, uid: 0, gid: 0 }] : []),
    ...(flannel
      ? [
          {
            path: FLANNEL_MANIFEST.slice(0, FLANNEL_MANIFEST.lastIndexOf('/')),
            mode: 0o755,
            uid: 0,
            gid: 0,
          },
        ]
      : []),
  ];
  // a control plane gets admin.conf from kubeadm: init (or its kubeconfig phase) and a control-plane join
  const writesAdmin =
    (command === 'init' &&
      (!isPhase || (phase[0] === 'kubeconfig' && (phase[1] === 'all' || phase[1] === 'admin')))) ||
    (command === 'join' && controlPlane && !isPhase);
  return {
    kind: 'configured',
    command,
    phase: isPhase ? phase : undefined,
    role,
    configKind,
    node,
    advertiseAddress: advertise,
    endpoint,
    dirs,
    files,
    configFile,
    argv,
    timeoutMs,
    etcdMember: isPhase ? undefined : ETCD_MEMBER,
    yes: flagSet(p, 'yes'),
    adminKubeconfig: writesAdmin ? (f('admin-kubeconfig') ?? '/root/.kube/config') : undefined,
    userKubeconfig: writesAdmin ? `${facts.user.home}/.kube/config` : undefined,
    kubernetesVersion,
    imageRepository,
    kubeletConfig: writesKubeletConfig(p.words),
    flannelApply: flannel
      ? {
          manifest: FLANNEL_MANIFEST,
          kubectlArgs: planFlannelApply(),
          timeoutMs: FLANNEL_APPLY_TIMEOUT_MS,
        }
      : undefined,
  };
}
