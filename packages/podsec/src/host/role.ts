import type { System } from '@podsec/core/system';
import { ETC_HOSTS, REGISTRY_HOST, SIGSTORE_HOST } from '../paths.ts';
import { bindingsOf, parseHosts } from './hosts.ts';

/** Result of {@link checkSigstoreServer}. */
export interface SigstoreServerCheck {
  readonly isServer: boolean;
  /** The IP `registry.local` and `sigstore.local` are bound to, if they are. */
  readonly ip?: string;
  /** Why this host is not the server. */
  readonly reason?: 'NOT_BOUND' | 'BOUND_TO_DIFFERENT_IPS' | 'REMOTE';
  readonly message?: string;
}

/**
 * Is this host the registry/signature server? True iff /etc/hosts binds both `registry.local` and
 * `sigstore.local` (non-comment entries) to the same IP and that IP is exactly one of the host's
 * interface addresses. (The original's `isSigstoreServer` never made its callers stop, docs/weaknesses.md#w1-host-role-guard.)
 */
export async function checkSigstoreServer(sys: System): Promise<SigstoreServerCheck> {
  const text = (await sys.fs.readTextIfExists(ETC_HOSTS)) ?? '';
  const b = bindingsOf(parseHosts(text), [REGISTRY_HOST, SIGSTORE_HOST]);
  const reg = b.get(REGISTRY_HOST);
  const sig = b.get(SIGSTORE_HOST);
  if (reg === undefined || sig === undefined) {
    return {
      isServer: false,
      reason: 'NOT_BOUND',
      message: `${REGISTRY_HOST} and ${SIGSTORE_HOST} are not bound in /etc/hosts: run podsec-create-policy first`,
    };
  }
  if (reg !== sig) {
    return {
      isServer: false,
      ip: reg,
      reason: 'BOUND_TO_DIFFERENT_IPS',
      message: `${REGISTRY_HOST} (${reg}) and ${SIGSTORE_HOST} (${sig}) are bound to different addresses`,
    };
  }
  const local = await sys.host.localAddresses();
  if (!local.includes(reg)) {
    return {
      isServer: false,
      ip: reg,
      reason: 'REMOTE',
      message: `${REGISTRY_HOST} and ${SIGSTORE_HOST} are bound to the remote server ${reg}`,
    };
  }
  return { isServer: true, ip: reg };
}
