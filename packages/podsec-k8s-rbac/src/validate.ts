import { UsageError } from '@podsec/core';

/** The three role-type words of bindrole/unbindrole. */
export const ROLE_TYPES = ['role', 'role=clusterrole', 'clusterrole'] as const;
export type RoleTypeWord = (typeof ROLE_TYPES)[number];

/** What a role-type word means. */
export interface RoleType {
  readonly word: RoleTypeWord;
  readonly bindingKind: 'RoleBinding' | 'ClusterRoleBinding';
  readonly roleKind: 'Role' | 'ClusterRole';
  readonly namespaced: boolean;
}

const USER_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;
const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Groups that confer cluster-wide administration. */
export const PRIVILEGED_GROUPS = ['system:masters', 'kubeadm:cluster-admins'] as const;

/** Validates a local (Linux and RBAC) user name. Throws `RBAC_BAD_USER`. */
export function parseUserName(name: string): string {
  if (!USER_RE.test(name))
    throw new UsageError('RBAC_BAD_USER', `invalid user name ${JSON.stringify(name)}`, {
      details: { name },
    });
  return name;
}

/**
 * A subject name of bind/unbind/get-userroles: a local user name, or a `system:` name kept verbatim
 * (e.g. `system:serviceaccount:ns:sa`). Throws `RBAC_BAD_USER`.
 */
export function parseSubjectName(name: string): { name: string; system: boolean } {
  if (name.startsWith('system:')) {
    if (!/^system:[\x21-\x7e]+$/.test(name) || name.length > 253)
      throw new UsageError('RBAC_BAD_USER', `invalid user name ${JSON.stringify(name)}`, {
        details: { name },
      });
    return { name, system: true };
  }
  return { name: parseUserName(name), system: false };
}

/** RBAC object names (roles, bindings): non-empty, not . or .., no / or %, at most 253 characters. */
export function parseObjectName(name: string, what = 'object'): string {
  if (name === '' || name === '.' || name === '..' || /[/%]/.test(name) || name.length > 253)
    throw new UsageError('RBAC_BAD_NAME', `invalid ${what} name ${JSON.stringify(name)}`, {
      details: { what, name },
    });
  return name;
}

/** A DNS-1123 label. Throws `RBAC_BAD_NAMESPACE`. */
export function parseNamespace(ns: string): string {
  if (ns.length > 63 || !NAMESPACE_RE.test(ns))
    throw new UsageError('RBAC_BAD_NAMESPACE', `invalid namespace ${JSON.stringify(ns)}`, {
      details: { namespace: ns },
    });
  return ns;
}

/** Parses a role-type word (case-sensitive). Throws `RBAC_BAD_ROLE_TYPE`. */
export function parseRoleType(word: string): RoleType {
  switch (word) {
    case 'role':
      return { word, bindingKind: 'RoleBinding', roleKind: 'Role', namespaced: true };
    case 'role=clusterrole':
      return { word, bindingKind: 'RoleBinding', roleKind: 'ClusterRole', namespaced: true };
    case 'clusterrole':
      return {
        word,
        bindingKind: 'ClusterRoleBinding',
        roleKind: 'ClusterRole',
        namespaced: false,
      };
    default:
      throw new UsageError('RBAC_BAD_ROLE_TYPE', `invalid role type ${JSON.stringify(word)}`, {
        details: { type: word },
      });
  }
}

/** Checks the namespace against the role type: required for role types, forbidden for clusterrole. */
export function checkNamespaceFor(
  type: RoleType,
  namespace: string | undefined,
): string | undefined {
  if (type.namespaced) {
    if (namespace === undefined)
      throw new UsageError(
        'RBAC_NAMESPACE_REQUIRED',
        `a namespace must be given for ${type.word}`,
        {
          details: { type: type.word },
        },
      );
    return parseNamespace(namespace);
  }
  if (namespace !== undefined)
    throw new UsageError(
      'RBAC_NAMESPACE_FORBIDDEN',
      'a namespace is not applicable to a cluster role',
      { details: { type: type.word, namespace } },
    );
  return undefined;
}

/**
 * A certificate group (one O= value): printable, no / = , + \ or newline, at most 64 characters.
 * Privileged groups need `allowPrivileged`. Throws `RBAC_BAD_GROUP` / `RBAC_PRIVILEGED_GROUP`.
 */
export function parseGroup(group: string, allowPrivileged = false): string {
  if (group === '' || group.length > 64 || !/^[\x20-\x7e]+$/.test(group) || /[/=,+\\]/.test(group))
    throw new UsageError('RBAC_BAD_GROUP', `invalid group ${JSON.stringify(group)}`, {
      details: { group },
    });
  if (
    !allowPrivileged &&
    (PRIVILEGED_GROUPS.some((g) => g === group) || group.startsWith('system:'))
  )
    throw new UsageError(
      'RBAC_PRIVILEGED_GROUP',
      `group ${group} confers cluster administration; give --allow-privileged-group to issue it`,
      { details: { group } },
    );
  return group;
}

/** Splits `user[@remoteuser]`: zero or one @, both parts non-empty. Throws `RBAC_BAD_USER`. */
export function parseUserAtRemote(arg: string): { user: string; remote?: string } {
  const parts = arg.split('@');
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw new UsageError('RBAC_BAD_USER', `invalid user name ${JSON.stringify(arg)}`, {
      details: { name: arg },
    });
  const user = parseUserName(parts[0]!);
  return parts[1] === undefined ? { user } : { user, remote: parts[1] };
}

/** Quotes a shell word only when needed (identical output for ordinary names). */
export function shellWord(s: string): string {
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
