import { NotFoundError, PodsecError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { isConflict, isNotFound, type Binding, type KubeApi } from '../kube/kube-api.ts';
import { homeOf } from '../paths.ts';
import { planBind, planUnbind, type BindingPlan, type BindingRequest } from './plan-binding.ts';

/** Optimistic-concurrency attempts before giving up with `RBAC_API_CONFLICT`. */
export const MAX_ATTEMPTS = 12;

/** A short random pause after a conflict, growing with the attempt, so that racing writers spread out. */
const backoff = (attempt: number) =>
  new Promise((r) => setTimeout(r, Math.floor(Math.random() * 40 * Math.min(attempt, 5))));

/** Result of bindrole/unbindrole. */
export interface BindingResult {
  readonly action: BindingPlan['action'];
  /** The object written (or, with dry run, that would be written). */
  readonly body: Binding;
  readonly attempts: number;
  readonly dryRun: boolean;
}

/** Options of {@link bindRole} / {@link unbindRole}. */
export interface BindingOptions {
  /** Skip the check that the user has a home on this machine. @default false */
  readonly noLocalCheck?: boolean;
}

/** The original's "user exists" test: a home directory. Throws `RBAC_USER_MISSING`. */
export async function checkLocalUser(sys: System, user: string): Promise<void> {
  const entry = await sys.users.getUser(user);
  const home = entry?.home || homeOf(user);
  if ((await sys.fs.stat(home))?.kind !== 'dir')
    throw new NotFoundError('RBAC_USER_MISSING', `user ${user} does not exist (no ${home})`, {
      details: { user, home },
    });
}

async function readOrUndefined(
  api: KubeApi,
  namespace: string | undefined,
  name: string,
): Promise<Binding | undefined> {
  try {
    return await api.readBinding(namespace, name);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function checkTargets(api: KubeApi, req: BindingRequest): Promise<void> {
  if (req.namespace !== undefined) {
    try {
      await api.readNamespace(req.namespace);
    } catch (e) {
      if (isNotFound(e))
        throw new NotFoundError('RBAC_NAMESPACE_MISSING', `namespace ${req.namespace} not found`, {
          details: { namespace: req.namespace },
        });
      throw e;
    }
  }
  try {
    if (req.type.roleKind === 'Role') await api.readRole(req.namespace ?? '', req.role);
    else await api.readClusterRole(req.role);
  } catch (e) {
    if (isNotFound(e))
      throw new NotFoundError(
        req.type.roleKind === 'Role' ? 'RBAC_ROLE_MISSING' : 'RBAC_CLUSTERROLE_MISSING',
        `${req.type.roleKind === 'Role' ? 'Role' : 'Cluster role'} '${req.role}' absent`,
        { details: { role: req.role, namespace: req.namespace ?? '' } },
      );
    throw e;
  }
}

function conflict(name: string, attempts: number): PodsecError {
  const message = `binding ${name} kept changing; gave up after ${attempts} attempts`;
  return new PodsecError('RBAC_API_CONFLICT', message, {
    details: { status: 409, binding: name, attempts, message },
  });
}

/**
 * The one read-decide-write loop of bindrole, unbindrole and offboard (optimistic concurrency): reads
 * the binding, lets `decide` plan from the live object (undefined: absent), writes the plan with the
 * read resourceVersion (or delete preconditions), and on a 409, or a 404 of an object that went
 * meanwhile, re-reads and decides again. A dry run stops after the first decision.
 */
export async function applyBindingPlan(
  sys: System,
  api: KubeApi,
  namespace: string | undefined,
  name: string,
  decide: (existing: Binding | undefined) => BindingPlan,
): Promise<BindingResult> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const plan = decide(await readOrUndefined(api, namespace, name));
    if (plan.action === 'none' || sys.dryRun)
      return { action: plan.action, body: plan.body, attempts: attempt, dryRun: sys.dryRun };
    try {
      if (plan.action === 'delete') {
        await api.deleteBinding(namespace, name, plan.preconditions);
        return { action: 'delete', body: plan.body, attempts: attempt, dryRun: false };
      }
      const body =
        plan.action === 'create'
          ? await api.createBinding(namespace, plan.body)
          : await api.replaceBinding(namespace, plan.body);
      return { action: plan.action, body, attempts: attempt, dryRun: false };
    } catch (e) {
      // 409: someone else created or changed it meanwhile (404: deleted it); re-read and re-plan
      if (!isConflict(e) && !(plan.action !== 'create' && isNotFound(e))) throw e;
      await backoff(attempt);
    }
  }
  throw conflict(name, MAX_ATTEMPTS);
}

/**
 * Adds the user to the binding (creating it when missing), with optimistic concurrency: each 409
 * re-reads and re-plans. Throws `RBAC_ROLEREF_MISMATCH`, `RBAC_*_MISSING`, `RBAC_API_*`.
 */
export async function bindRole(
  sys: System,
  api: KubeApi,
  req: BindingRequest,
  options: BindingOptions = {},
): Promise<BindingResult> {
  if (!options.noLocalCheck && !req.user.startsWith('system:')) await checkLocalUser(sys, req.user);
  await checkTargets(api, req);
  return applyBindingPlan(sys, api, req.namespace, req.binding, (existing) =>
    planBind(existing, req),
  );
}

function bindingMissing(req: BindingRequest): NotFoundError {
  const details = {
    kind: req.type.bindingKind,
    binding: req.binding,
    namespace: req.namespace ?? '',
  };
  return req.namespace === undefined
    ? new NotFoundError(
        'RBAC_BINDING_MISSING',
        `${req.type.bindingKind} ${req.binding} not found`,
        {
          details,
        },
      )
    : new NotFoundError(
        'RBAC_ROLEBINDING_MISSING',
        `RoleBinding ${req.binding} not found in namespace ${req.namespace}`,
        { details },
      );
}

/**
 * Removes the user from the binding; deletes the binding (with uid/resourceVersion preconditions)
 * when the last subject goes. Throws `RBAC_BINDING_MISSING`, `RBAC_NOT_BOUND`, `RBAC_UNBIND_MISMATCH`,
 * `RBAC_API_*`.
 */
export async function unbindRole(
  sys: System,
  api: KubeApi,
  req: BindingRequest,
  options: BindingOptions = {},
): Promise<BindingResult> {
  if (!options.noLocalCheck && !req.user.startsWith('system:')) await checkLocalUser(sys, req.user);
  return applyBindingPlan(sys, api, req.namespace, req.binding, (existing) => {
    if (existing === undefined) throw bindingMissing(req);
    return planUnbind(existing, req);
  });
}
