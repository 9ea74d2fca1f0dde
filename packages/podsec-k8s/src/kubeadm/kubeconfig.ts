/** The admin kubeconfig for the host: kubeadm's admin.conf with the server pointing at the host's port forward. */
import { UsageError } from '@podsec/core';
import { parseDocument } from 'yaml';

/** Pure: the server URL the host reaches the API server at, through the forward of the bind port. */
export function planHostServer(o: {
  /** Listen address of the forward (`0.0.0.0`: every address). */
  readonly parentIP: string | undefined;
  readonly parentPort: number;
  /** Used when the forward listens on every address. */
  readonly advertiseAddress: string;
}): string {
  const host =
    o.parentIP === undefined || o.parentIP === '0.0.0.0' || o.parentIP === ''
      ? o.advertiseAddress
      : o.parentIP;
  return `https://${host.includes(':') ? `[${host}]` : host}:${o.parentPort}`;
}

/**
 * Pure: admin.conf with every cluster's `server` replaced. Throws `KUBEADM_BAD_KUBECONFIG` when it is not a
 * kubeconfig with clusters.
 */
export function planHostKubeconfig(adminConf: string, server: string): string {
  const doc = parseDocument(adminConf);
  const js: unknown = doc.errors.length ? undefined : doc.toJS({ maxAliasCount: 10 });
  const clusters = (js as { clusters?: unknown } | undefined)?.clusters;
  if (
    !Array.isArray(clusters) ||
    clusters.length === 0 ||
    (js as { kind?: unknown }).kind !== 'Config'
  )
    throw new UsageError('KUBEADM_BAD_KUBECONFIG', 'admin.conf is not a kubeconfig with clusters', {
      details: { reason: doc.errors[0]?.message ?? 'no clusters' },
    });
  clusters.forEach((_, n) => doc.setIn(['clusters', n, 'cluster', 'server'], server));
  return doc.toString({ lineWidth: 0 });
}
