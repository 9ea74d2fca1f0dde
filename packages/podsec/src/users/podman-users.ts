/**
 * podsec-create-podmanusers (docs/commands/podsec-create-podmanusers.md): container users with primary group podman whose personal
 * containers configuration directory is empty, owned so they cannot fill it, and immutable (docs/weaknesses.md#w13-container-user-lockdown).
 * read → plan → validate → apply: {@link planPodmanUserChanges} reads the tree and returns one `Change[]`
 * (refusing an unusable home, a symlinked or non-empty configuration directory before anything is
 * touched); `applyChanges` of core is the only writer, so `--dry-run` lists what the real run applies.
 */
import { errorMessage, PodsecError, UsageError } from '@podsec/core';
import { applyChanges, type Change, type ChangeReport } from '@podsec/core/changes';
import { validateName, type System } from '@podsec/core/system';
import { PODMAN_GROUP } from '../paths.ts';

/** How the password of a new account is set (docs/weaknesses.md#w21-interactive-only-flows: non-interactive ways first). */
export type PasswordSource =
  | { readonly kind: 'none' }
  /** One password for every listed user: a crypt(3) hash (`$id$...`) or plain text. */
  | { readonly kind: 'secret'; readonly value: string };

/** Options of {@link createPodmanUsers}. */
export interface CreatePodmanUsersOptions {
  readonly users: readonly string[];
  /** Accept (and lock down) accounts that exist already. @default false */
  readonly existing?: boolean;
  /** For new accounts; for existing ones only when given. */
  readonly password: PasswordSource;
}

/** What happened to one user. */
export interface PodmanUserResult {
  readonly user: string;
  readonly home: string;
  readonly created: boolean;
  /** `false` with the reason when the directory could not be made immutable. */
  readonly immutable: true | { readonly reason: string };
}

/** Result of {@link createPodmanUsers}. */
export interface CreatePodmanUsersResult {
  readonly groupCreated: boolean;
  readonly users: readonly PodmanUserResult[];
  /** The changes needed (dry run) or made: the same list in both modes. */
  readonly report: ChangeReport;
}

/** Mode of ~/.config/containers: readable by its owner only, writable by nobody (docs/commands/podsec-create-podmanusers.md#files-read-and-written). */
const CONTAINERS_DIR_MODE = 0o500;
const CONFIG_DIR_MODE = 0o755;
const CHATTR_ARGS = ['+i', '--', '.'] as const;

/** Pure: checks every name and the existing-account rule before anything is done. */
export function planPodmanUsers(
  users: readonly string[],
  existingUsers: ReadonlySet<string>,
  options: { readonly existing?: boolean },
): string[] {
  if (users.length === 0)
    throw new UsageError('PODUSERS_NO_USERS', 'no user names given', { details: {} });
  for (const u of users) validateName(u);
  const unique = [...new Set(users)];
  const clash = unique.filter((u) => existingUsers.has(u));
  if (clash.length > 0 && !options.existing) {
    throw new UsageError(
      'PODUSERS_USER_EXISTS',
      `user ${clash.join(', ')} already exists; give --existing to lock the account down anyway`,
      {
        details: { users: clash.join(', ') },
      },
    );
  }
  return unique;
}

/** The base of new homes: `HOME=` of the tree's /etc/default/useradd, else /home (useradd's default). */
async function homeBase(sys: System): Promise<string> {
  const text = (await sys.fs.readTextIfExists('/etc/default/useradd')) ?? '';
  const m = /^HOME=(\/[^\s]*)$/m.exec(text);
  const base = m?.[1]?.replace(/\/+$/, '');
  return base && !base.split('/').includes('..') ? base : '/home';
}

async function isImmutable(sys: System, dir: string): Promise<boolean> {
  const r = await sys.fs.withDir(dir, (pinned) =>
    sys.proc.run('lsattr', ['-d', '--', '.'], { cwd: pinned }),
  );
  return r.exitCode === 0 && /^\S*i\S*\s/.test(r.stdout);
}

/** One user's part of the plan. */
interface UserPlan {
  readonly user: string;
  readonly home: string;
  readonly created: boolean;
  readonly changes: readonly Change[];
  /** Known now (away from the running system, or already immutable); else decided by the chattr run. */
  readonly immutable?: true | { readonly reason: string };
  /** The containers directory chattr +i runs in. */
  readonly lockDir: string;
}

async function planUser(
  sys: System,
  user: string,
  base: string,
  password: PasswordSource,
): Promise<UserPlan> {
  const entry = await sys.users.getUser(user);
  const changes: Change[] = [];
  const home = entry?.home ?? `${base}/${user}`;
  changes.push(
    entry
      ? // only the primary group, resolved in this root's /etc/group (never usermod --prefix -g)
        { kind: 'user', name: user, options: { group: PODMAN_GROUP } }
      : { kind: 'user', name: user, options: { group: PODMAN_GROUP, home, createHome: true } },
  );
  if (password.kind === 'secret') changes.push({ kind: 'password', user, secret: password.value });
  // the home comes from passwd, never from the current directory (docs/weaknesses.md#w13-container-user-lockdown)
  if (
    entry &&
    (!home.startsWith('/') || home === '/' || (await sys.fs.stat(home))?.kind !== 'dir')
  ) {
    throw new PodsecError(
      'PODUSERS_NO_HOME',
      `home directory "${home}" of ${user} is missing or unusable`,
      { details: { user, home } },
    );
  }
  const config = `${home}/.config`;
  const dir = `${config}/containers`;
  for (const p of [config, dir]) {
    const st = await sys.fs.stat(p);
    // never follow a link the user may have planted (chown/chmod would act on its target)
    if (st && st.kind !== 'dir')
      throw new PodsecError('PODUSERS_UNSAFE_PATH', `${p} is not a directory (a symlink?)`, {
        details: { path: p },
      });
  }
  changes.push({ kind: 'dir', path: config, mode: CONFIG_DIR_MODE, uid: 0, gid: 0 });
  const st = await sys.fs.stat(dir);
  if (st && (await sys.fs.readdir(dir)).length > 0) {
    throw new PodsecError(
      'PODUSERS_CONFIG_NOT_EMPTY',
      `${dir} is not empty: move its files away (they would override the system policy) and run again`,
      { details: { path: dir } },
    );
  }
  const running = sys.root === '/';
  const immutableNow = running && st !== undefined && (await isImmutable(sys, dir));
  // an immutable directory cannot change (and is right: it was locked down in this state)
  if (!immutableNow)
    changes.push({
      kind: 'dir',
      path: dir,
      mode: CONTAINERS_DIR_MODE,
      uid: user,
      gid: PODMAN_GROUP,
    });
  // chattr runs inside the directory pinned by descriptor: the user owns the home and could swap
  // ~/.config for a link to /etc between a check and a path-based call
  if (running && !immutableNow)
    changes.push({ kind: 'run', file: 'chattr', args: CHATTR_ARGS, cwd: dir, onFailure: 'warn' });
  changes.push({ kind: 'subids', path: '/etc/subuid', user });
  changes.push({ kind: 'subids', path: '/etc/subgid', user });
  return {
    user,
    home,
    created: entry === undefined,
    changes,
    lockDir: dir,
    ...(running
      ? immutableNow
        ? { immutable: true as const }
        : {}
      : {
          immutable: {
            reason: 'chattr +i is only applied to the running system (--root is not "/")',
          },
        }),
  };
}

/**
 * Reads the tree and plans every user (in order): group podman (once, first), each account with primary
 * group podman, its password when given, `~/.config` root:root 0755, `~/.config/containers`
 * `<user>:podman` 0500 and empty, `chattr +i` on the running system, sub-id ranges. Changes nothing.
 * @throws UsageError `USAGE_BAD_NAME`, `PODUSERS_NO_USERS`, `PODUSERS_USER_EXISTS`; PodsecError
 *   `PODUSERS_USER_FAILED` (an unusable home, a symlinked or non-empty configuration directory)
 */
export async function planPodmanUserChanges(
  sys: System,
  options: CreatePodmanUsersOptions,
): Promise<{ readonly group: Change[]; readonly users: readonly UserPlan[] }> {
  const existing = new Set((await sys.users.passwd()).map((u) => u.name));
  const names = planPodmanUsers(options.users, existing, options);
  const base = await homeBase(sys);
  const users: UserPlan[] = [];
  for (const user of names) {
    try {
      users.push(await planUser(sys, user, base, options.password));
    } catch (e) {
      throw userFailed(user, e, []);
    }
  }
  return { group: [{ kind: 'group', name: PODMAN_GROUP, system: true }], users };
}

function userFailed(user: string, e: unknown, done: readonly string[]): PodsecError {
  const reason = errorMessage(e);
  return new PodsecError('PODUSERS_USER_FAILED', `user ${user} failed: ${reason}`, {
    cause: e,
    details: { user, reason, done: done.join(', ') || '-' },
  });
}

/**
 * Creates (or with `existing` locks down) container users: everything is planned and validated first, then
 * applied in order by the core engine. A failure while applying stops the run with `PODUSERS_USER_FAILED`
 * (details: user, done): the users before it are complete.
 * @throws UsageError `USAGE_BAD_NAME`, `PODUSERS_NO_USERS`, `PODUSERS_USER_EXISTS`, `CHANGES_INVALID`;
 *   PodsecError `PODUSERS_USER_FAILED`
 */
export async function createPodmanUsers(
  sys: System,
  options: CreatePodmanUsersOptions,
): Promise<CreatePodmanUsersResult> {
  const plan = await planPodmanUserChanges(sys, options);
  const owner = new Map<Change, string>();
  for (const u of plan.users) for (const c of u.changes) owner.set(c, u.user);
  const all = [...plan.group, ...plan.users.flatMap((u) => u.changes)];
  let current: string | undefined;
  let report: ChangeReport;
  try {
    report = await applyChanges(sys, all, { onStep: (c) => (current = owner.get(c) ?? current) });
  } catch (e) {
    if (current === undefined) throw e;
    const failing = current;
    const done = plan.users
      .map((u) => u.user)
      .slice(
        0,
        plan.users.findIndex((u) => u.user === failing),
      );
    throw userFailed(failing, e, done);
  }
  const users = plan.users.map((u): PodmanUserResult => {
    const failed = report.warnings.find((w) => w.includes(`(in ${u.lockDir})`));
    const immutable =
      u.immutable ??
      (failed === undefined
        ? true
        : { reason: `chattr +i failed: ${failed.replace(/^.*?failed \(exit \d+\): /, '')}` });
    if (immutable !== true)
      sys.report.warn(`${u.user}: ~/.config/containers not made immutable: ${immutable.reason}`);
    return { user: u.user, home: u.home, created: u.created, immutable };
  });
  return {
    groupCreated: report.changes.some((c) => c.kind === 'group'),
    users,
    report,
  };
}
