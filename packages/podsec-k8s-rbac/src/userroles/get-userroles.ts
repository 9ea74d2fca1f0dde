import type { V1PolicyRule } from '@kubernetes/client-node';
import type { System } from '@podsec/core/system';
import { isNotFound, type KubeApi } from '../kube/kube-api.ts';
import { buildReport, matchBindings, type MatchedBinding, type UserRolesReport } from './report.ts';

/** Options of {@link getUserRoles}. */
export interface GetUserRolesOptions {
  /** Add each role's rules (`showRules`). @default false */
  readonly showRules?: boolean;
  /** Also report bindings whose Group subjects are one of these. @default [] */
  readonly groups?: readonly string[];
}

/** The report and the matched bindings (for the table formats). */
export interface GetUserRolesResult {
  readonly report: UserRolesReport;
  readonly matched: readonly MatchedBinding[];
}

/**
 * Lists the bindings that name the user (two list calls, paged). Any API error propagates (an
 * unreachable server is an error, never an empty report); a dangling roleRef gives `rules: null`.
 */
export async function getUserRoles(
  sys: System,
  api: KubeApi,
  user: string,
  options: GetUserRolesOptions = {},
): Promise<GetUserRolesResult> {
  const [cluster, namespaced] = await Promise.all([
    api.listClusterRoleBindings(),
    api.listRoleBindings(),
  ]);
  const matched = matchBindings(user, cluster, namespaced, options.groups ?? []);
  if (!options.showRules) return { report: buildReport(user, matched), matched };
  const rules = new Map<MatchedBinding, V1PolicyRule[] | null>();
  const cache = new Map<string, Promise<V1PolicyRule[] | null>>();
  const fetchRules = async (m: MatchedBinding): Promise<V1PolicyRule[] | null> => {
    const ref = m.binding.roleRef;
    try {
      const role =
        ref.kind === 'Role'
          ? await api.readRole(m.namespace ?? '', ref.name)
          : await api.readClusterRole(ref.name);
      return role.rules ?? null;
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const where = ref.kind === 'Role' ? `${m.namespace}/` : '';
      sys.report.warn(
        `binding ${m.binding.metadata?.name} refers to ${ref.kind} ${where}${ref.name}, which does not exist`,
      );
      return null;
    }
  };
  for (const m of matched) {
    const ref = m.binding.roleRef;
    const key = `${ref.kind}/${ref.kind === 'Role' ? (m.namespace ?? '') : ''}/${ref.name}`;
    let p = cache.get(key);
    if (!p) {
      p = fetchRules(m);
      cache.set(key, p);
    }
    rules.set(m, await p);
  }
  return { report: buildReport(user, matched, (m) => rules.get(m) ?? null), matched };
}
