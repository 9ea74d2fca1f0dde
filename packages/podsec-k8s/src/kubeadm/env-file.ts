/** The environment file of the u7s processes (`/etc/podsec/u7s/config/env`), rendered from the node's values (pure). */
import type { U7sNode } from '../u7s/node-config.ts';

/** Inputs of {@link renderEnvFile} beyond the node. */
export interface EnvFileInput {
  readonly node: U7sNode;
  readonly uid: number;
  /** `vX.Y.Z`. */
  readonly kubernetesVersion: string;
  readonly libexec: string;
  readonly imageRepository: string;
  readonly advertiseAddress: string;
  /** Interface that owns the node address (informational). */
  readonly extDev?: string;
  /** init: the control-plane endpoint; join: the endpoint joined. */
  readonly apiServerEndpoint: string;
  /** Pass-through kubeadm flags, as given to the real kubeadm. */
  readonly kubeadmFlags: readonly string[];
  readonly platform?: string;
  readonly pauseImage?: string;
}

const SAFE = /^[A-Za-z0-9_.,:/@%+=-]*$/;

/** A systemd EnvironmentFile value: bare when safe, else single-quoted (never multi-line). */
function envValue(v: string): string {
  const one = v.replace(/[\r\n]+/g, ' ');
  return SAFE.test(one) ? one : `'${one.replace(/'/g, '')}'`;
}

/**
 * Pure: the env file: the PATH line first, then one `KEY=VALUE` per line, no multi-line values, no secrets
 * (fix: the bootstrap token, CA hash and certificate key of a join are not persisted here). Same inputs, same bytes.
 */
export function renderEnvFile(i: EnvFileInput): string {
  const n = i.node;
  const pairs: [string, string][] = [
    [
      'U7S_KUBEVERSION',
      i.kubernetesVersion.startsWith('v') ? i.kubernetesVersion : `v${i.kubernetesVersion}`,
    ],
    ['U7S_KUBEADMFLAGS', i.kubeadmFlags.join(' ')],
    ['U7S_PLATFORM', i.platform ?? ''],
    ['U7S_REGISTRY_PLATFORM', i.imageRepository],
    ['U7S_PAUSE_IMAGE', i.pauseImage ?? ''],
    ['U7S_UID', String(i.uid)],
    ['U7S_EXTIP', i.advertiseAddress],
    ['U7S_APISERVER_ADVERTISE_ADDRESS', i.advertiseAddress],
    ['U7S_APISERVER_BIND_PORT', String(n.apiserverBindPort)],
    ['U7S_EXTDEV', i.extDev ?? ''],
    ['U7S_CONTROLPLANE', n.role],
    ['U7S_APISERVERENDPOINT', i.apiServerEndpoint],
    ['U7S_SERVICECIDR', n.serviceCidr],
    ['U7S_SERVICECIDRIP', n.serviceCidrIP],
    ['U7S_SERVICEMASK', String(n.serviceMask)],
    ['U7S_PODNETWORKCIDR', n.podNetworkCidr],
    ['U7S_PODNETWORKCIDRIP', n.podNetworkCidr.split('/')[0]!],
    ['U7S_PODNETWORKMASK', n.podNetworkCidr.split('/')[1]!],
    ['U7S_CNI_PLUGIN', n.cniPlugin],
    ['U7S_ROOTLESSKIT_FLAGS', `--cidr=${n.serviceCidr}`],
    ['U7S_KUBERNETESCLUSTERIP', n.kubernetesClusterIP],
    ['U7S_KUBERNETESCLUSTERDNS', n.kubernetesClusterDNS],
    ['U7S_SLIRP4IP', n.slirp4IP],
    ['_CONTAINERS_ROOTLESS_UID', String(i.uid)],
    ['_CONTAINERS_USERNS_CONFIGURED', '1'],
  ];
  const path = `${i.libexec}:/sbin/:/usr/sbin/:/bin:/usr/bin/`;
  return `PATH=${path}\n${pairs.map(([k, v]) => `${k}=${envValue(v)}`).join('\n')}\n`;
}

/** Pure: parses an env file back into pairs (tests, status). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!;
    out[m[1]!] = v.length >= 2 && v.startsWith("'") && v.endsWith("'") ? v.slice(1, -1) : v;
  }
  return out;
}
