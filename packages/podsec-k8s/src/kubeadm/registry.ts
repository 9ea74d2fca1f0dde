/** Which image repository the control plane uses (pure). */
import { UsageError } from '@podsec/core';

/** Inputs of {@link planImageRepository}. */
export interface ImageRepositoryInput {
  /** `--image-repository`. */
  readonly flag?: string;
  /** `U7S_REGISTRY` (undefined: unset; '' : upstream images). */
  readonly registry?: string;
  /** The node's platform (c10f, p11 ...), when known. */
  readonly platform?: string;
  /** /etc/hosts names registry.local. */
  readonly hostsHaveRegistryLocal: boolean;
}

/**
 * Pure: `--image-repository` wins; `U7S_REGISTRY=""` means registry.k8s.io without platform; a non-empty
 * `U7S_REGISTRY` is honoured (fix: the original overwrote it); else registry.local when /etc/hosts names it, else
 * registry.altlinux.org; the platform is appended (`k8s-c10f*` -> `c10f`). Throws `KUBEADM_NO_PLATFORM`.
 */
export function planImageRepository(i: ImageRepositoryInput): string {
  if (i.flag) return i.flag;
  if (i.registry === '') return 'registry.k8s.io';
  const registry =
    i.registry ?? (i.hostsHaveRegistryLocal ? 'registry.local' : 'registry.altlinux.org');
  if (!i.platform)
    throw new UsageError(
      'KUBEADM_NO_PLATFORM',
      'cannot choose the image repository: the platform is unknown (set U7S_PLATFORM, or give --image-repository)',
      { details: {} },
    );
  const platform = i.platform.startsWith('k8s-c10f') ? 'c10f' : i.platform;
  return `${registry}/${platform}`;
}

/** Pure: does /etc/hosts name registry.local (as a host name, not in a comment)? */
export function hostsNameRegistryLocal(hosts: string): boolean {
  return hosts
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/).slice(1))
    .some((names) => names.includes('registry.local'));
}
