import type { System } from '@podsec/core/system';
import type { KubeApi } from '../kube/kube-api.ts';
import { matchBindings } from '../userroles/report.ts';
import { applyBindingPlan } from './bind.ts';
import { isUserSubject, planRemoveUser } from './plan-binding.ts';

/** What offboarding did (or, in a dry run, would do) to one binding. */
export interface OffboardEntry {
  readonly kind: 'ClusterRoleBinding' | 'RoleBinding';
  /** Undefined for a ClusterRoleBinding. */
  readonly namespace?: string;
  readonly binding: string;
  /** `Kind/name` of the role the binding grants. */
  readonly role: string;
  /** `update`: the user was removed; `delete`: the user was the last subject; `none`: gone meanwhile. */
  readonly action: 'update' | 'delete' | 'none';
  readonly attempts: number;
}

/** Result of {@link offboardUser}. */
export interface OffboardResult {
  readonly user: string;
  readonly entries: readonly OffboardEntry[];
  readonly dryRun: boolean;
}

/**
 * Takes every RBAC binding away from a user (Kubernetes cannot revoke a client certificate, so
 * removing the user from every binding is what ends its rights): the User subjects of exactly that
 * name are found as get-userroles finds them (two list calls), and each is removed as unbindrole
 * removes it — the binding is deleted when its last subject goes, with uid/resourceVersion
 * preconditions, and a 409 re-reads and decides again. Groups and ServiceAccounts of the same name
 * and the user's group memberships are not touched. Throws `RBAC_API_*`.
 */
export async function offboardUser(
  sys: System,
  api: KubeApi,
  user: string,
): Promise<OffboardResult> {
  const [cluster, namespaced] = await Promise.all([
    api.listClusterRoleBindings(),
    api.listRoleBindings(),
  ]);
  const entries: OffboardEntry[] = [];
  for (const m of matchBindings(user, cluster, namespaced)) {
    const name = m.binding.metadata?.name ?? '';
    const label = m.namespace === undefined ? name : `${m.namespace}/${name}`;
    const r = await applyBindingPlan(sys, api, m.namespace, name, (existing) =>
      // removed or changed by someone else since the list: nothing left to do
      existing === undefined || !(existing.subjects ?? []).some((s) => isUserSubject(s, user))
        ? { action: 'none', body: existing ?? m.binding }
        : planRemoveUser(existing, user, label),
    );
    entries.push({
      kind: m.namespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding',
      ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
      binding: name,
      role: `${m.binding.roleRef.kind}/${m.binding.roleRef.name}`,
      action: r.action === 'delete' ? 'delete' : r.action === 'update' ? 'update' : 'none',
      attempts: r.attempts,
    });
  }
  return { user, entries, dryRun: sys.dryRun };
}
