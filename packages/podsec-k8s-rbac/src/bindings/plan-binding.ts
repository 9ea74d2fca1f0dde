import type { RbacV1Subject, V1RoleRef } from '@kubernetes/client-node';
import { PodsecError, UsageError } from '@podsec/core';
import type { Binding } from '../kube/kube-api.ts';
import type { RoleType } from '../validate.ts';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** Label on bindings created by this package. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'podsec-k8s-rbac' } as const;

/** What bindrole/unbindrole are asked to do. */
export interface BindingRequest {
  readonly user: string;
  readonly type: RoleType;
  readonly role: string;
  readonly binding: string;
  /** Undefined for a ClusterRoleBinding. */
  readonly namespace: string | undefined;
}

/** One step decided from the live object. */
export type BindingPlan =
  | { readonly action: 'create'; readonly body: Binding }
  | { readonly action: 'update'; readonly body: Binding }
  | {
      readonly action: 'delete';
      readonly body: Binding;
      readonly preconditions: { readonly uid?: string; readonly resourceVersion?: string };
    }
  | { readonly action: 'none'; readonly body: Binding };

/** The User subject for a name (the full name, `system:` kept). */
export function userSubject(name: string): RbacV1Subject {
  return { kind: 'User', apiGroup: RBAC_GROUP, name };
}

/** True when a subject is the User `name` (apiGroup rbac.authorization.k8s.io or empty). */
export function isUserSubject(s: RbacV1Subject, name: string): boolean {
  return (
    s.kind === 'User' &&
    s.name === name &&
    (s.apiGroup === undefined || s.apiGroup === '' || s.apiGroup === RBAC_GROUP)
  );
}

function describeRef(ref: V1RoleRef | undefined): string {
  return `${ref?.kind ?? '?'}/${ref?.name ?? '?'}`;
}

function bindingLabel(req: BindingRequest): string {
  return req.namespace === undefined ? req.binding : `${req.namespace}/${req.binding}`;
}

/** The binding bindrole creates when none exists. */
export function newBinding(req: BindingRequest): Binding {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: req.type.bindingKind,
    metadata: {
      name: req.binding,
      ...(req.namespace === undefined ? {} : { namespace: req.namespace }),
      labels: { ...MANAGED_BY },
    },
    roleRef: { apiGroup: RBAC_GROUP, kind: req.type.roleKind, name: req.role },
    subjects: [userSubject(req.user)],
  };
}

/**
 * bindrole's decision: create the binding, append the user, or nothing (already bound). Throws
 * `RBAC_ROLEREF_MISMATCH` when the existing binding grants another role (roleRef is immutable).
 */
export function planBind(existing: Binding | undefined, req: BindingRequest): BindingPlan {
  if (existing === undefined) return { action: 'create', body: newBinding(req) };
  const ref = existing.roleRef;
  if (ref.kind !== req.type.roleKind || ref.name !== req.role)
    throw new PodsecError(
      'RBAC_ROLEREF_MISMATCH',
      `binding ${bindingLabel(req)} already refers to ${describeRef(ref)}`,
      { details: { binding: bindingLabel(req), ref: describeRef(ref) } },
    );
  const subjects = existing.subjects ?? [];
  if (subjects.some((s) => isUserSubject(s, req.user))) return { action: 'none', body: existing };
  return {
    action: 'update',
    body: { ...existing, subjects: [...subjects, userSubject(req.user)] },
  };
}

/**
 * unbindrole's decision: remove the User subject, or delete the binding when it was the last one.
 * Throws `RBAC_UNBIND_MISMATCH` (role or type differs from roleRef) or `RBAC_NOT_BOUND`.
 */
export function planUnbind(existing: Binding, req: BindingRequest): BindingPlan {
  const ref = existing.roleRef;
  // legacy: get-userroles prints `role` also for RoleBindings to a ClusterRole
  const kindOk =
    req.type.word === 'role'
      ? ref.kind === 'Role' || ref.kind === 'ClusterRole'
      : ref.kind === 'ClusterRole';
  if (!kindOk || ref.name !== req.role)
    throw new UsageError(
      'RBAC_UNBIND_MISMATCH',
      `binding ${bindingLabel(req)} refers to ${describeRef(ref)}`,
      { details: { binding: bindingLabel(req), ref: describeRef(ref) } },
    );
  return planRemoveUser(existing, req.user, bindingLabel(req));
}

/**
 * Removes the User subject `user` (Groups and ServiceAccounts of that name stay); deletes the binding,
 * with uid/resourceVersion preconditions, when it was the last subject. `label` names the binding in
 * messages. Throws `RBAC_NOT_BOUND`.
 */
export function planRemoveUser(existing: Binding, user: string, label: string): BindingPlan {
  const subjects = existing.subjects ?? [];
  const remaining = subjects.filter((s) => !isUserSubject(s, user));
  if (remaining.length === subjects.length)
    throw new UsageError('RBAC_NOT_BOUND', `user ${user} is not bound by ${label}`, {
      details: { user, binding: label },
    });
  if (remaining.length === 0) {
    const { uid, resourceVersion } = existing.metadata ?? {};
    return {
      action: 'delete',
      body: existing,
      preconditions: {
        ...(uid === undefined ? {} : { uid }),
        ...(resourceVersion === undefined ? {} : { resourceVersion }),
      },
    };
  }
  return { action: 'update', body: { ...existing, subjects: remaining } };
}
