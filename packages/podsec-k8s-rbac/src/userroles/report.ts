import type { V1ClusterRoleBinding, V1PolicyRule, V1RoleBinding } from '@kubernetes/client-node';
import type { Binding } from '../kube/kube-api.ts';
import { shellWord } from '../validate.ts';

/** One entry of the report (key order is the original's). */
export interface UserRoleEntry {
  bindName: string;
  roleType: string;
  roleName: string;
  unbindCmd: string;
  rules?: V1PolicyRule[] | null;
}

/** The get-userroles document: `{ <user>: { clusterRoles, roles: { namespaces: [{ns: [...]}] } } }`. */
export type UserRolesReport = Record<
  string,
  {
    clusterRoles: UserRoleEntry[];
    roles: { namespaces: Array<Record<string, UserRoleEntry[]>> };
  }
>;

/** A matched binding, before it becomes a report entry. */
export interface MatchedBinding {
  readonly namespace: string | undefined;
  readonly binding: Binding;
  /** How the user is named in it: `User` or `Group <name>`. */
  readonly via: string;
}

const UNBIND = 'podsec-k8s-rbac-unbindrole';

/** Subjects that make a binding the user's: the User itself, and (optionally) the given groups. */
function matchVia(b: Binding, user: string, groups: readonly string[]): string | undefined {
  for (const s of b.subjects ?? []) {
    if (s.kind === 'User' && s.name === user) return 'User';
  }
  for (const s of b.subjects ?? []) {
    if (s.kind === 'Group' && groups.includes(s.name)) return `Group ${s.name}`;
  }
  return undefined;
}

const byName = (a: Binding, b: Binding) =>
  (a.metadata?.name ?? '') < (b.metadata?.name ?? '')
    ? -1
    : (a.metadata?.name ?? '') > (b.metadata?.name ?? '')
      ? 1
      : 0;

/**
 * The bindings naming the user, one per binding (never duplicated), cluster ones by name, namespaced
 * ones by namespace then name: the order of the original's per-namespace loop.
 */
export function matchBindings(
  user: string,
  clusterBindings: readonly V1ClusterRoleBinding[],
  roleBindings: readonly V1RoleBinding[],
  groups: readonly string[] = [],
): MatchedBinding[] {
  const out: MatchedBinding[] = [];
  for (const b of [...clusterBindings].sort(byName)) {
    const via = matchVia(b, user, groups);
    if (via) out.push({ namespace: undefined, binding: b, via });
  }
  const sorted = [...roleBindings].sort((a, b) => {
    const na = a.metadata?.namespace ?? '';
    const nb = b.metadata?.namespace ?? '';
    return na < nb ? -1 : na > nb ? 1 : byName(a, b);
  });
  for (const b of sorted) {
    const via = matchVia(b, user, groups);
    if (via) out.push({ namespace: b.metadata?.namespace ?? '', binding: b, via });
  }
  return out;
}

/** The original's `unbindCmd` (tokens quoted only when they need it). */
export function unbindCommand(user: string, m: MatchedBinding): string {
  const ref = m.binding.roleRef;
  const words = [
    UNBIND,
    user,
    m.namespace === undefined ? 'clusterrole' : 'role',
    ref.name,
    m.binding.metadata?.name ?? '',
    ...(m.namespace === undefined ? [] : [m.namespace]),
  ];
  return words.map(shellWord).join(' ');
}

/** Builds the report; `rules` (showRules) maps a matched binding to its role's rules (null: none). */
export function buildReport(
  user: string,
  matched: readonly MatchedBinding[],
  rules?: (m: MatchedBinding) => V1PolicyRule[] | null,
): UserRolesReport {
  const entry = (m: MatchedBinding): UserRoleEntry => ({
    bindName: m.binding.metadata?.name ?? '',
    roleType: m.binding.roleRef.kind,
    roleName: m.binding.roleRef.name,
    unbindCmd: unbindCommand(user, m),
    ...(rules ? { rules: rules(m) } : {}),
  });
  const clusterRoles = matched.filter((m) => m.namespace === undefined).map(entry);
  const namespaces: Array<Record<string, UserRoleEntry[]>> = [];
  let current: { ns: string; list: UserRoleEntry[] } | undefined;
  for (const m of matched) {
    if (m.namespace === undefined) continue;
    if (current?.ns !== m.namespace) {
      current = { ns: m.namespace, list: [] };
      namespaces.push({ [m.namespace]: current.list });
    }
    current.list.push(entry(m));
  }
  return { [user]: { clusterRoles, roles: { namespaces } } };
}

/** Output formats of get-userroles. */
export const OUTPUT_FORMATS = ['json', 'yaml', 'table', 'wide'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Formats the report: json is the original's document byte for byte (2 spaces, trailing newline); yaml
 * needs the `yaml` module's stringify (loaded by the caller only when asked for).
 */
export function formatReport(
  report: UserRolesReport,
  matched: readonly MatchedBinding[],
  format: OutputFormat,
  yamlStringify?: (value: unknown) => string,
): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'yaml') {
    if (!yamlStringify) throw new Error('formatReport: yaml needs a stringify function');
    return yamlStringify(report);
  }
  const head =
    format === 'wide'
      ? ['SCOPE', 'NAMESPACE', 'BINDING', 'ROLE', 'SUBJECT', 'UNBIND']
      : ['SCOPE', 'NAMESPACE', 'BINDING', 'ROLE'];
  const user = Object.keys(report)[0] ?? '';
  const rows = matched.map((m) => {
    const base = [
      m.namespace === undefined ? 'cluster' : 'namespace',
      m.namespace ?? '-',
      m.binding.metadata?.name ?? '',
      `${m.binding.roleRef.kind}/${m.binding.roleRef.name}`,
    ];
    return format === 'wide' ? [...base, m.via, unbindCommand(user, m)] : base;
  });
  return `${table([head, ...rows])}\n`;
}
