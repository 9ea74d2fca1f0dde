/** Reads what planning a kubeadm invocation needs from the host, through the System boundary. */
import { parseOsRelease, planPlatform } from '@podsec/core';
import type { System } from '@podsec/core/system';
import type { NamespaceUser } from '@podsec/core/userns';
import { parseIpAddrJson, type HostAddress } from '../u7s/net.ts';
import type { KubeadmFacts } from './plan.ts';
import { hostsNameRegistryLocal } from './registry.ts';

const SMALL = { maxBytes: 1 << 20 };

/**
 * Pure: the interface of the default route in `ip -j -4 route show default` output: of several default routes the
 * one with the lowest metric (the one the kernel uses), whether it has a gateway or not (a point-to-point or
 * `dev`-only route has none); routes marked dead or linkdown are not used.
 */
export function parseDefaultRouteDev(json: string): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(data)) return undefined;
  let best: { dev: string; metric: number } | undefined;
  for (const r of data as { dst?: unknown; dev?: unknown; metric?: unknown; flags?: unknown }[]) {
    if (r === null || typeof r !== 'object' || r.dst !== 'default' || typeof r.dev !== 'string')
      continue;
    if (Array.isArray(r.flags) && r.flags.some((f) => f === 'dead' || f === 'linkdown')) continue;
    const metric = typeof r.metric === 'number' ? r.metric : 0;
    if (best === undefined || metric < best.metric) best = { dev: r.dev, metric };
  }
  return best?.dev;
}

/** Pure: the node address: the first address of the default route's interface. */
export function pickDefaultAddress(
  addresses: readonly HostAddress[],
  dev: string | undefined,
): HostAddress | undefined {
  return dev === undefined ? undefined : addresses.find((a) => a.ifname === dev);
}

async function ipJson(sys: System, args: string[]): Promise<string> {
  const r = await sys.proc.run('ip', ['-j', '-4', ...args], { timeoutMs: 10_000 });
  return r.exitCode === 0 && r.stdout.trim() ? r.stdout : '[]';
}

/** `vX.Y.Z` of the real kubeadm (`kubeadm version -o short`), bounded. */
export async function readKubeadmVersion(
  sys: System,
  kubeadm: string,
): Promise<string | undefined> {
  const r = await sys.proc.run(kubeadm, ['version', '-o', 'short'], { timeoutMs: 30_000 });
  const v = r.stdout.trim();
  return r.exitCode === 0 && /^v\d+\.\d+\.\d+/.test(v) ? /^v\d+\.\d+\.\d+/.exec(v)![0] : undefined;
}

/** Reads the host's addresses, default route, hostname, platform and /etc/hosts. */
export async function readKubeadmFacts(
  sys: System,
  o: {
    readonly user: NamespaceUser;
    readonly libexec: string;
    readonly kubeadmVersion?: string;
  },
): Promise<KubeadmFacts> {
  const hostAddresses = parseIpAddrJson(await ipJson(sys, ['addr']));
  const dev = parseDefaultRouteDev(await ipJson(sys, ['route', 'show', 'default']));
  const hostname = (
    (await sys.hostFs.readTextIfExists('/proc/sys/kernel/hostname', SMALL)) ??
    (await sys.fs.readTextIfExists('/etc/hostname', SMALL)) ??
    'localhost'
  ).trim();
  let platform: string | undefined;
  try {
    const osRelease = await sys.fs.readTextIfExists('/etc/os-release', SMALL);
    platform = planPlatform(
      osRelease === undefined ? undefined : parseOsRelease(osRelease),
      sys.env['U7S_PLATFORM'],
    ).platform;
  } catch {
    // not an ALT host: the image repository must then come from --image-repository or U7S_REGISTRY=""
    platform = undefined;
  }
  const hosts = (await sys.fs.readTextIfExists('/etc/hosts', SMALL)) ?? '';
  const defaultAddress = pickDefaultAddress(hostAddresses, dev);
  return {
    user: { name: o.user.name, uid: o.user.uid, gid: o.user.gid, home: o.user.home },
    hostAddresses,
    ...(defaultAddress ? { defaultAddress } : {}),
    hostname,
    ...(o.kubeadmVersion ? { kubeadmVersion: o.kubeadmVersion } : {}),
    ...(platform ? { platform } : {}),
    hostsHaveRegistryLocal: hostsNameRegistryLocal(hosts),
    env: sys.env,
    libexec: o.libexec,
  };
}
