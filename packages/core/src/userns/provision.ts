/**
 * Provisioning of a namespace user: a system account with its own group, supplementary groups (created
 * when missing), one subordinate uid and gid range of at least `subIdCount` ids that overlaps no other
 * range, a 0700 home and a 0700 runtime dir owned by it. Idempotent: a second run changes nothing.
 */
import { UsageError } from '../errors.ts';
import { allocateSubIds } from '../system/subid.ts';
import type { System } from '../system/types.ts';
import { validateName, type SubIdRange } from '../system/users.ts';

/** Options of {@link ensureNamespaceUser}. */
export interface EnsureNamespaceUserOptions {
  readonly name: string;
  readonly home: string;
  /** Supplementary groups (system groups, created when missing). @default [] */
  readonly groups?: readonly string[];
  /** @default 65536 */
  readonly subIdCount?: number;
  /** GECOS comment. */
  readonly comment?: string;
  /** Create `/run/user/<uid>` (0700, owned by the user). @default true */
  readonly runtimeDir?: boolean;
}

/** What {@link ensureNamespaceUser} found or made. */
export interface EnsureNamespaceUserResult {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly runtimeDir: string;
  readonly subuid: SubIdRange;
  readonly subgid: SubIdRange;
  /** What was changed (empty on an idempotent re-run). */
  readonly changes: readonly string[];
}

function overlaps(a: SubIdRange, b: SubIdRange): boolean {
  return a.start < b.start + b.count && b.start < a.start + a.count;
}

async function checkRange(
  sys: System,
  file: '/etc/subuid' | '/etc/subgid',
  owner: string,
  min: number,
) {
  const ranges = file === '/etc/subuid' ? await sys.users.subuids() : await sys.users.subgids();
  const mine = ranges.filter((r) => r.owner === owner);
  if (mine.length > 1)
    throw new UsageError(
      'USERNS_SUBIDS_SPLIT',
      `${file} has ${mine.length} lines for ${owner}; keep one`,
    );
  const r = mine[0];
  if (!r) return undefined;
  if (r.count < min)
    throw new UsageError(
      'USERNS_SUBIDS_TOO_FEW',
      `${file}: ${owner} has ${r.count} ids, ${min} needed`,
    );
  const other = ranges.find((o) => o.owner !== owner && overlaps(o, r));
  if (other)
    throw new UsageError(
      'USERNS_SUBIDS_OVERLAP',
      `${file}: the range of ${owner} overlaps that of ${other.owner}`,
    );
  return r;
}

/** Creates or checks the namespace user; validates everything before the first change. */
export async function ensureNamespaceUser(
  sys: System,
  o: EnsureNamespaceUserOptions,
): Promise<EnsureNamespaceUserResult> {
  validateName(o.name);
  const groups = (o.groups ?? []).map((g) => validateName(g, 'group'));
  const count = o.subIdCount ?? 65536;
  if (!o.home.startsWith('/') || o.home === '/' || o.home.split('/').includes('..'))
    throw new UsageError('USERNS_BAD_HOME', `bad home directory ${o.home}`);
  const existing = await sys.users.getUser(o.name);
  if (existing && existing.home !== o.home)
    throw new UsageError(
      'USERNS_HOME_MISMATCH',
      `${o.name} exists with home ${existing.home}, expected ${o.home}`,
    );
  if (existing && existing.uid === 0) throw new UsageError('USERNS_ROOT', `${o.name} has uid 0`);
  const homeStat = await sys.fs.stat(o.home);
  if (homeStat && homeStat.kind !== 'dir')
    throw new UsageError('USERNS_HOME_NOT_DIR', `${o.home} exists and is not a directory`);
  // validation of the subordinate id files before anything changes
  const haveUid = await checkRange(sys, '/etc/subuid', o.name, count);
  const haveGid = await checkRange(sys, '/etc/subgid', o.name, count);

  const changes: string[] = [];
  if (sys.dryRun) {
    for (const g of [o.name, ...groups])
      if (!(await sys.users.getGroup(g))) changes.push(`create group ${g}`);
    if (!existing) changes.push(`create system user ${o.name} (home ${o.home})`);
    if (!haveUid) changes.push(`allocate ${count} ids in /etc/subuid`);
    if (!haveGid) changes.push(`allocate ${count} ids in /etc/subgid`);
    if (!homeStat) changes.push(`create ${o.home} 0700`);
    return {
      uid: existing?.uid ?? -1,
      gid: existing?.gid ?? -1,
      home: o.home,
      runtimeDir: existing ? `/run/user/${existing.uid}` : '/run/user/<uid>',
      subuid: haveUid ?? { owner: o.name, start: -1, count },
      subgid: haveGid ?? { owner: o.name, start: -1, count },
      changes,
    };
  }
  for (const g of [o.name, ...groups])
    if (await sys.users.ensureGroup(g, { system: true })) changes.push(`created group ${g}`);
  if (!existing) {
    await sys.users.addUser(o.name, {
      system: true,
      group: o.name,
      groups,
      home: o.home,
      createHome: false,
      ...(o.comment === undefined ? {} : { comment: o.comment }),
    });
    changes.push(`created system user ${o.name}`);
  } else {
    const member = await sys.users.groupsOf(o.name);
    const missing = groups.filter((g) => !member.includes(g));
    if (missing.length) {
      await sys.users.addToGroups(o.name, missing);
      changes.push(`added ${o.name} to ${missing.join(',')}`);
    }
  }
  const user = await sys.users.getUser(o.name);
  if (!user) throw new UsageError('USERNS_USER_MISSING', `${o.name} was not created`);
  const subuid = await allocateSubIds(sys.fs, o.name, '/etc/subuid', { count });
  const subgid = await allocateSubIds(sys.fs, o.name, '/etc/subgid', { count });
  if (subuid.created) changes.push(`allocated /etc/subuid ${subuid.range.start}:${count}`);
  if (subgid.created) changes.push(`allocated /etc/subgid ${subgid.range.start}:${count}`);
  const want = { mode: 0o700, uid: user.uid, gid: user.gid };
  const ensureDir = async (dir: string) => {
    const st = await sys.fs.stat(dir);
    if (st && st.kind === 'dir' && st.mode === 0o700 && st.uid === user.uid && st.gid === user.gid)
      return;
    await sys.fs.mkdir(dir, want);
    changes.push(`${st ? 'fixed' : 'created'} ${dir} 0700 ${o.name}`);
  };
  await ensureDir(o.home);
  const runtimeDir = `/run/user/${user.uid}`;
  if (o.runtimeDir ?? true) await ensureDir(runtimeDir);
  return {
    uid: user.uid,
    gid: user.gid,
    home: o.home,
    runtimeDir,
    subuid: subuid.range,
    subgid: subgid.range,
    changes,
  };
}
