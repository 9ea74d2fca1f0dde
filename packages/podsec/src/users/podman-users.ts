/**
 * podsec-create-podmanusers (spec §7): container users with primary group podman whose personal
 * containers configuration directory is empty, owned so they cannot fill it, and immutable (W13).
 */
import { errorMessage, PodsecError, UsageError } from '@podsec/core';
import { allocateSubIds, validateName, type System } from '@podsec/core/system';
import { PODMAN_GROUP } from '../paths.ts';

/** How the password of a new account is set (W21: non-interactive ways first). */
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
  readonly changes: readonly string[];
  /** `false` with the reason when the directory could not be made immutable. */
  readonly immutable: true | { readonly reason: string };
}

/** Result of {@link createPodmanUsers}. */
export interface CreatePodmanUsersResult {
  readonly groupCreated: boolean;
  readonly users: readonly PodmanUserResult[];
}

/** Mode of ~/.config/containers: readable by its owner only, writable by nobody (spec §7.3). */
const CONTAINERS_DIR_MODE = 0o500;
const CONFIG_DIR_MODE = 0o755;
const CRYPT_HASH = /^\$[0-9a-z]+\$[^\s:]+$/;

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

async function setPassword(sys: System, user: string, secret: string): Promise<void> {
  const hashed = CRYPT_HASH.test(secret);
  if (secret.includes('\n') || (secret.includes(':') && !hashed)) {
    throw new UsageError('PODUSERS_BAD_PASSWORD', 'the password must be one line without ":"', {
      details: {},
    });
  }
  // the secret goes through stdin only, never on a command line
  const args = [
    ...(hashed ? ['-e'] : ['-c', 'SHA512']),
    ...(sys.fs.root === '/' ? [] : ['-R', sys.fs.root]),
  ];
  const r = await sys.proc.run('chpasswd', args, { input: `${user}:${secret}\n` });
  if (r.exitCode !== 0) {
    throw new PodsecError(
      'PODUSERS_PASSWORD_FAILED',
      `cannot set the password of ${user}: ${r.stderr.trim()}`,
      { details: { user, reason: r.stderr.trim() } },
    );
  }
}

async function lockDown(
  sys: System,
  user: string,
  home: string,
  gid: number,
  uid: number,
  changes: string[],
): Promise<true | { reason: string }> {
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
  const cfg = await sys.fs.stat(config);
  if (!cfg || cfg.uid !== 0 || cfg.gid !== 0 || cfg.mode !== CONFIG_DIR_MODE) {
    if (!sys.dryRun) {
      await sys.fs.mkdir(config);
      await sys.fs.chown(config, 0, 0);
      await sys.fs.chmod(config, CONFIG_DIR_MODE);
    }
    changes.push(`${config} root:root 0755`);
  }
  const st = await sys.fs.stat(dir);
  if (st && (await sys.fs.readdir(dir)).length > 0) {
    throw new PodsecError(
      'PODUSERS_CONFIG_NOT_EMPTY',
      `${dir} is not empty: move its files away (they would override the system policy) and run again`,
      { details: { path: dir } },
    );
  }
  const immutableNow = sys.root === '/' && st !== undefined && (await isImmutable(sys, dir));
  if (
    !immutableNow &&
    (!st || st.uid !== uid || st.gid !== gid || st.mode !== CONTAINERS_DIR_MODE)
  ) {
    if (!sys.dryRun) {
      await sys.fs.mkdir(dir);
      await sys.fs.chown(dir, uid, gid);
      await sys.fs.chmod(dir, CONTAINERS_DIR_MODE);
    }
    changes.push(`${dir} ${user}:${PODMAN_GROUP} 0500`);
  }
  if (sys.root !== '/')
    return { reason: 'chattr +i is only applied to the running system (--root is not "/")' };
  if (immutableNow) return true;
  if (sys.dryRun) {
    changes.push(`chattr +i ${dir}`);
    return true;
  }
  // chattr runs inside the directory pinned by descriptor: the user owns the home and could swap
  // ~/.config for a link to /etc between a check and a path-based call
  const r = await sys.fs.withDir(dir, (pinned) =>
    sys.proc.run('chattr', ['+i', '--', '.'], { cwd: pinned }),
  );
  if (r.exitCode !== 0)
    return { reason: `chattr +i failed: ${r.stderr.trim() || `exit ${r.exitCode}`}` };
  changes.push(`chattr +i ${dir}`);
  return true;
}

async function isImmutable(sys: System, dir: string): Promise<boolean> {
  const r = await sys.fs.withDir(dir, (pinned) =>
    sys.proc.run('lsattr', ['-d', '--', '.'], { cwd: pinned }),
  );
  return r.exitCode === 0 && /^\S*i\S*\s/.test(r.stdout);
}

async function ensureSubIds(sys: System, user: string, changes: string[]): Promise<void> {
  for (const [file, list] of [
    ['/etc/subuid', await sys.users.subuids()],
    ['/etc/subgid', await sys.users.subgids()],
  ] as const) {
    if (list.some((r) => r.owner === user)) continue;
    if (!sys.dryRun) await allocateSubIds(sys.fs, user, file);
    changes.push(`${file} ${user}`);
  }
}

async function processUser(
  sys: System,
  user: string,
  options: CreatePodmanUsersOptions,
  gid: number,
): Promise<PodmanUserResult> {
  const changes: string[] = [];
  let entry = await sys.users.getUser(user);
  const created = entry === undefined;
  if (created) {
    if (!sys.dryRun) await sys.users.addUser(user, { group: PODMAN_GROUP, createHome: true });
    changes.push(`useradd -g ${PODMAN_GROUP} -m ${user}`);
    entry = await sys.users.getUser(user);
  } else if (entry && entry.gid !== gid) {
    // resolved in this root's /etc/group (usermod --prefix -g would look the group up on the host)
    if (!sys.dryRun) await sys.users.setPrimaryGroup(user, PODMAN_GROUP);
    changes.push(`usermod -g ${PODMAN_GROUP} ${user}`);
  }
  if (options.password.kind === 'secret') {
    if (!sys.dryRun) await setPassword(sys, user, options.password.value);
    changes.push(`password of ${user}`);
  }
  if (sys.dryRun && !entry) {
    return { user, home: `(new home of ${user})`, created, changes, immutable: true };
  }
  // the home comes from passwd, never from the current directory (W13)
  const home = entry?.home ?? '';
  if (!home.startsWith('/') || home === '/' || (await sys.fs.stat(home))?.kind !== 'dir') {
    throw new PodsecError(
      'PODUSERS_NO_HOME',
      `home directory "${home}" of ${user} is missing or unusable`,
      { details: { user, home } },
    );
  }
  const immutable = await lockDown(sys, user, home, gid, entry!.uid, changes);
  await ensureSubIds(sys, user, changes);
  return { user, home, created, changes, immutable };
}

/**
 * Creates (or with `existing` locks down) container users: group podman (once), each user with primary
 * group podman, `~/.config` root:root 0755, `~/.config/containers` `<user>:podman` 0500 and empty,
 * immutable when this is the running system, subordinate uid/gid ranges for rootless podman.
 * Users are processed in order; the first failure stops the run with `PODUSERS_USER_FAILED`
 * (details: user, done), earlier users stay complete.
 * @throws UsageError `USAGE_BAD_NAME`, `PODUSERS_NO_USERS`, `PODUSERS_USER_EXISTS`; PodsecError `PODUSERS_USER_FAILED`
 */
export async function createPodmanUsers(
  sys: System,
  options: CreatePodmanUsersOptions,
): Promise<CreatePodmanUsersResult> {
  const existing = new Set((await sys.users.passwd()).map((u) => u.name));
  const users = planPodmanUsers(options.users, existing, options);
  let groupCreated = false;
  if (!(await sys.users.getGroup(PODMAN_GROUP))) {
    if (!sys.dryRun) await sys.users.ensureGroup(PODMAN_GROUP, { system: true });
    groupCreated = true;
  }
  const gid = (await sys.users.getGroup(PODMAN_GROUP))?.gid ?? -1;
  const results: PodmanUserResult[] = [];
  for (const user of users) {
    try {
      const r = await processUser(sys, user, options, gid);
      if (r.immutable !== true)
        sys.report.warn(`${user}: ~/.config/containers not made immutable: ${r.immutable.reason}`);
      results.push(r);
    } catch (e) {
      const reason = errorMessage(e);
      throw new PodsecError('PODUSERS_USER_FAILED', `user ${user} failed: ${reason}`, {
        cause: e,
        details: { user, reason, done: results.map((x) => x.user).join(', ') || '-' },
      });
    }
  }
  return { groupCreated, users: results };
}
