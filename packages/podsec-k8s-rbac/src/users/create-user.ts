import { NotFoundError, PodsecError, UsageError } from '@podsec/core';
import type { Change, ChangeRecord, ChangeReport } from '@podsec/core/changes';
import type { System } from '@podsec/core/system';
import { homeOf, K8S_GROUP, PODMAN_GROUP } from '../paths.ts';

/** Options of {@link createUser}. */
export interface CreateUserOptions {
  readonly user: string;
  /**
   * Password for chpasswd, or a function that asks for it (called after the checks, before the first
   * change, never in a dry run); undefined leaves the password locked.
   */
  readonly password?: string | (() => Promise<string>);
  /** Home mode 0770 (the original's) instead of 0700. @default false */
  readonly compatHomeMode?: boolean;
}

/** Result of {@link createUser}. */
export interface CreateUserResult {
  readonly user: string;
  readonly home: string;
  /** The change engine's records: what was applied, or planned in a dry run (the same list). */
  readonly changes: readonly ChangeRecord[];
  readonly report: ChangeReport;
  readonly dryRun: boolean;
}

/**
 * The changes for a new user (pure): group k8s, the account in podman and k8s, its password when one is
 * given, home 0700 (0770 with compatHomeMode) and ~/.kube 0700, both owned by user:k8s (names resolved when
 * applied).
 */
export function planUser(o: CreateUserOptions, password: string | undefined): Change[] {
  const home = homeOf(o.user);
  const own = { uid: o.user, gid: K8S_GROUP } as const;
  return [
    { kind: 'group', name: K8S_GROUP, system: true },
    {
      kind: 'user',
      name: o.user,
      options: { groups: [PODMAN_GROUP, K8S_GROUP], home, createHome: true },
    },
    ...(password === undefined
      ? []
      : [{ kind: 'password', user: o.user, secret: password } as const]),
    { kind: 'dir', path: home, mode: o.compatHomeMode ? 0o770 : 0o700, ...own },
    { kind: 'dir', path: `${home}/.kube`, mode: 0o700, ...own },
  ];
}

/**
 * Creates the local account that owns the user's kubeconfig, through the core change engine (checks, then
 * one list; `--dry-run` lists what the real run applies). A failure after the account exists removes it
 * again. Throws `RBAC_USER_EXISTS`, `RBAC_GROUP_MISSING`, `RBAC_CREATE_USER_FAILED`.
 */
export async function createUser(sys: System, o: CreateUserOptions): Promise<CreateUserResult> {
  const home = homeOf(o.user);
  if ((await sys.users.getUser(o.user)) || (await sys.fs.stat(home)))
    throw new UsageError('RBAC_USER_EXISTS', `user ${o.user} already exists`, {
      details: { user: o.user },
    });
  if (!(await sys.users.getGroup(PODMAN_GROUP)))
    throw new NotFoundError(
      'RBAC_GROUP_MISSING',
      `group ${PODMAN_GROUP} does not exist (install podsec or run podsec-create-policy first)`,
      { details: { group: PODMAN_GROUP } },
    );
  // the prompt is never shown in a dry run: its change is listed with a stand-in (never reported)
  const password =
    o.password === undefined
      ? undefined
      : sys.dryRun
        ? 'asked-when-applied'
        : typeof o.password === 'function'
          ? await o.password()
          : o.password;
  // the engine (and the fs/users code behind it) is loaded when a user is created, not at start
  const { applyChanges } = await import('@podsec/core/changes');
  let report: ChangeReport;
  try {
    report = await applyChanges(sys, planUser(o, password));
  } catch (e) {
    if (!sys.dryRun && (await sys.users.getUser(o.user)))
      await sys.users.deleteUser(o.user, { removeHome: true }).catch(() => undefined);
    if (e instanceof PodsecError && e.code === 'PROC_FAILED')
      throw new PodsecError('RBAC_CREATE_USER_FAILED', e.message, {
        details: { reason: e.message },
        cause: e,
      });
    throw e;
  }
  return { user: o.user, home, changes: report.changes, report, dryRun: sys.dryRun };
}
