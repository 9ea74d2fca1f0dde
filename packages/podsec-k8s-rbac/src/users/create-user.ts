import { NotFoundError, PodsecError, UsageError } from '@podsec/core';
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

/** One step of create-user (what --dry-run and --json show). */
export interface UserChange {
  readonly kind: 'group' | 'user' | 'password' | 'chmod' | 'mkdir' | 'chown';
  readonly target: string;
  readonly detail?: string;
}

/** Result of {@link createUser}. */
export interface CreateUserResult {
  readonly user: string;
  readonly home: string;
  readonly changes: readonly UserChange[];
  readonly dryRun: boolean;
}

/** The steps for a new user (pure). */
export function planUser(o: CreateUserOptions, groupK8sExists: boolean): UserChange[] {
  const home = homeOf(o.user);
  const mode = o.compatHomeMode ? '0770' : '0700';
  return [
    ...(groupK8sExists ? [] : [{ kind: 'group' as const, target: K8S_GROUP, detail: 'system' }]),
    { kind: 'user', target: o.user, detail: `home ${home}, groups ${PODMAN_GROUP},${K8S_GROUP}` },
    { kind: 'password', target: o.user, detail: o.password === undefined ? 'locked' : 'set' },
    { kind: 'chmod', target: home, detail: mode },
    { kind: 'mkdir', target: `${home}/.kube`, detail: '0700' },
    { kind: 'chown', target: home, detail: `${o.user}:${K8S_GROUP}` },
  ];
}

/**
 * Creates the local account that owns the user's kubeconfig: group k8s, the user in podman and k8s,
 * home 0700 (0770 with compatHomeMode) and ~/.kube 0700, both owned by user:k8s. Every step is
 * checked; a failure after the account exists removes it again. Throws `RBAC_USER_EXISTS`,
 * `RBAC_GROUP_MISSING`, `RBAC_CREATE_USER_FAILED`.
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
  const changes = planUser(o, (await sys.users.getGroup(K8S_GROUP)) !== undefined);
  if (sys.dryRun) return { user: o.user, home, changes, dryRun: true };
  const password = typeof o.password === 'function' ? await o.password() : o.password;
  await sys.users.ensureGroup(K8S_GROUP, { system: true });
  await sys.users.addUser(o.user, {
    groups: [PODMAN_GROUP, K8S_GROUP],
    home,
    createHome: true,
  });
  try {
    if (password !== undefined) {
      // PAM on the real root; a prefixed root has no PAM stack, so chroot with an explicit method
      const args = sys.root === '/' ? [] : ['-c', 'SHA512', '-R', sys.root];
      // the secret goes through stdin only, never on a command line
      const r = await sys.proc.run('chpasswd', args, {
        input: `${o.user}:${password}\n`,
      });
      if (r.exitCode !== 0)
        throw new PodsecError('RBAC_CREATE_USER_FAILED', `chpasswd failed: ${r.stderr.trim()}`, {
          details: { reason: r.stderr.trim() },
        });
    }
    const entry = await sys.users.getUser(o.user);
    const k8s = await sys.users.getGroup(K8S_GROUP);
    if (!entry || !k8s)
      throw new PodsecError('RBAC_CREATE_USER_FAILED', `user ${o.user} was not created`, {
        details: { reason: 'not in the user database after useradd' },
      });
    const st = await sys.fs.stat(home);
    if (st?.kind !== 'dir' || st.uid !== entry.uid)
      throw new PodsecError('RBAC_CREATE_USER_FAILED', `${home} is not the new user's directory`, {
        details: { reason: `${home} is not the new user's directory` },
      });
    await sys.fs.chmod(home, o.compatHomeMode ? 0o770 : 0o700);
    await sys.fs.chown(home, entry.uid, k8s.gid);
    await sys.fs.mkdir(`${home}/.kube`, { mode: 0o700, uid: entry.uid, gid: k8s.gid });
    await sys.fs.chmod(`${home}/.kube`, 0o700);
    await sys.fs.chown(`${home}/.kube`, entry.uid, k8s.gid);
  } catch (e) {
    await sys.users.deleteUser(o.user, { removeHome: true }).catch(() => undefined);
    throw e;
  }
  return { user: o.user, home, changes, dryRun: false };
}
