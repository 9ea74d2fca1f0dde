import type {
  RbacV1Subject,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
} from '@kubernetes/client-node';
import { UsageError } from '@podsec/core';

/** What is asked: a resource request (group, resource, subresource, name, namespace) or a URL. */
export type AccessQuery =
  | {
      readonly kind: 'resource';
      readonly verb: string;
      readonly group: string;
      readonly resource: string;
      readonly subresource?: string;
      readonly name?: string;
      /** Undefined: a cluster-wide request (only ClusterRoleBindings apply). */
      readonly namespace?: string;
    }
  | { readonly kind: 'url'; readonly verb: string; readonly path: string };

/** The cluster's RBAC objects. */
export interface RbacObjects {
  readonly roles: readonly V1Role[];
  readonly clusterRoles: readonly V1ClusterRole[];
  readonly roleBindings: readonly V1RoleBinding[];
  readonly clusterRoleBindings: readonly V1ClusterRoleBinding[];
}

/** A subject allowed to do it, and the binding and role that allow it. */
export interface Grant {
  readonly subject: { readonly kind: string; readonly name: string; readonly namespace?: string };
  readonly binding: { readonly kind: string; readonly name: string; readonly namespace?: string };
  readonly role: { readonly kind: string; readonly name: string };
}

// Common resources of the built-in API groups, so that `who-can get deployments` needs no discovery.
const BUILTIN_GROUPS: Readonly<Record<string, string>> = {
  deployments: 'apps',
  replicasets: 'apps',
  statefulsets: 'apps',
  daemonsets: 'apps',
  controllerrevisions: 'apps',
  jobs: 'batch',
  cronjobs: 'batch',
  roles: 'rbac.authorization.k8s.io',
  rolebindings: 'rbac.authorization.k8s.io',
  clusterroles: 'rbac.authorization.k8s.io',
  clusterrolebindings: 'rbac.authorization.k8s.io',
  certificatesigningrequests: 'certificates.k8s.io',
  ingresses: 'networking.k8s.io',
  networkpolicies: 'networking.k8s.io',
  horizontalpodautoscalers: 'autoscaling',
  poddisruptionbudgets: 'policy',
  leases: 'coordination.k8s.io',
  storageclasses: 'storage.k8s.io',
  customresourcedefinitions: 'apiextensions.k8s.io',
};

/**
 * Parses kubectl-who-can's arguments: `VERB (TYPE[.GROUP][/NAME] | /NON/RESOURCE/URL)` with an
 * optional subresource, API group override and namespace. Throws `RBAC_BAD_QUERY`.
 */
export function parseAccessQuery(
  verb: string,
  target: string,
  o: {
    readonly subresource?: string;
    readonly apiGroup?: string;
    readonly namespace?: string;
  } = {},
): AccessQuery {
  const bad = (reason: string) =>
    new UsageError('RBAC_BAD_QUERY', `invalid query: ${reason}`, { details: { reason } });
  if (!/^([a-z]+|\*)$/.test(verb)) throw bad(`verb ${JSON.stringify(verb)}`);
  if (target.startsWith('/')) {
    if (o.subresource !== undefined || o.namespace !== undefined)
      throw bad('a non-resource URL has no subresource and no namespace');
    return { kind: 'url', verb, path: target };
  }
  const m = /^([a-z0-9*-]+)(?:\.([a-z0-9.-]+))?(?:\/([^/]+))?$/.exec(target);
  if (!m) throw bad(`resource ${JSON.stringify(target)}`);
  const resource = m[1]!;
  const group = o.apiGroup ?? m[2] ?? BUILTIN_GROUPS[resource] ?? '';
  return {
    kind: 'resource',
    verb,
    group,
    resource,
    ...(o.subresource !== undefined ? { subresource: o.subresource } : {}),
    ...(m[3] !== undefined ? { name: m[3] } : {}),
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
  };
}

const has = (list: readonly string[] | undefined, v: string) =>
  (list ?? []).some((x) => x === '*' || x === v);

function resourceMatches(rule: V1PolicyRule, resource: string, sub: string | undefined): boolean {
  const combined = sub ? `${resource}/${sub}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (sub && r === `*/${sub}`) return true;
  }
  return false;
}

function urlMatches(rule: V1PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}

/** The RBAC authorizer's rule test (same semantics as Kubernetes' RuleAllows). */
export function ruleAllows(rule: V1PolicyRule, q: AccessQuery): boolean {
  if (!has(rule.verbs, q.verb)) return false;
  if (q.kind === 'url') return urlMatches(rule, q.path);
  if (!has(rule.apiGroups, q.group)) return false;
  if (!resourceMatches(rule, q.resource, q.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (q.name !== undefined && names.includes(q.name));
}

function subjectOf(s: RbacV1Subject, bindingNamespace: string | undefined): Grant['subject'] {
  if (s.kind === 'ServiceAccount') {
    const ns = s.namespace || bindingNamespace || '';
    return { kind: s.kind, name: s.name, namespace: ns };
  }
  return { kind: s.kind, name: s.name };
}

/**
 * Who may do it: every subject of every binding whose role has a rule that allows the request.
 * Cluster bindings always apply; RoleBindings only for a namespaced request in their namespace, and
 * never for non-resource URLs. Bindings to missing roles grant nothing.
 */
export function whoCan(objects: RbacObjects, q: AccessQuery): Grant[] {
  const clusterRoles = new Map(objects.clusterRoles.map((r) => [r.metadata?.name ?? '', r]));
  const roles = new Map(
    objects.roles.map((r) => [`${r.metadata?.namespace ?? ''}/${r.metadata?.name ?? ''}`, r]),
  );
  const allows = (rules: readonly V1PolicyRule[] | undefined, urlOk: boolean) =>
    (q.kind === 'url' ? urlOk : true) && (rules ?? []).some((r) => ruleAllows(r, q));
  const grants: Grant[] = [];
  const seen = new Set<string>();
  const add = (g: Grant) => {
    const key = JSON.stringify(g);
    if (!seen.has(key)) {
      seen.add(key);
      grants.push(g);
    }
  };
  for (const b of objects.clusterRoleBindings) {
    if (b.roleRef.kind !== 'ClusterRole') continue;
    if (!allows(clusterRoles.get(b.roleRef.name)?.rules, true)) continue;
    for (const s of b.subjects ?? [])
      add({
        subject: subjectOf(s, undefined),
        binding: { kind: 'ClusterRoleBinding', name: b.metadata?.name ?? '' },
        role: { kind: 'ClusterRole', name: b.roleRef.name },
      });
  }
  const ns = q.kind === 'resource' ? q.namespace : undefined;
  if (ns !== undefined && ns !== '') {
    for (const b of objects.roleBindings) {
      if (b.metadata?.namespace !== ns) continue;
      const role =
        b.roleRef.kind === 'ClusterRole'
          ? clusterRoles.get(b.roleRef.name)
          : b.roleRef.kind === 'Role'
            ? roles.get(`${ns}/${b.roleRef.name}`)
            : undefined;
      if (!allows(role?.rules, false)) continue;
      for (const s of b.subjects ?? [])
        add({
          subject: subjectOf(s, ns),
          binding: { kind: 'RoleBinding', name: b.metadata?.name ?? '', namespace: ns },
          role: { kind: b.roleRef.kind, name: b.roleRef.name },
        });
    }
  }
  return grants;
}

/** Whether an identity (user name and groups) is among the grants: what SubjectAccessReview answers. */
export function isAllowed(
  grants: readonly Grant[],
  user: string,
  groups: readonly string[],
): boolean {
  return grants.some(({ subject: s }) => {
    if (s.kind === 'User') return s.name === user;
    if (s.kind === 'Group') return groups.includes(s.name);
    if (s.kind === 'ServiceAccount')
      return s.namespace !== '' && user === `system:serviceaccount:${s.namespace}:${s.name}`;
    return false;
  });
}

/** Table of grants (kubectl-who-can's columns, one table). */
export function formatGrants(grants: readonly Grant[]): string {
  const rows = [
    ['BINDING', 'NAMESPACE', 'SUBJECT', 'TYPE', 'SA-NAMESPACE', 'ROLE'],
    ...grants.map((g) => [
      `${g.binding.kind}/${g.binding.name}`,
      g.binding.namespace ?? '-',
      g.subject.name,
      g.subject.kind,
      g.subject.namespace ?? '',
      `${g.role.kind}/${g.role.name}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
