/**
 * Provisioning of a namespace user: a system account with its own group, supplementary groups (created
 * when missing), one subordinate uid and gid range of at least `subIdCount` ids that overlaps no other
 * range, a 0700 home and a 0700 runtime dir owned by it. Idempotent: a second run changes nothing.
 */
import { applyChanges } from '../changes/apply.ts';
import type { Change, ChangeRecord, ChangeReport } from '../changes/types.ts';
import { ExternalCommandError, isPodsecError, UsageError } from '../errors.ts';
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
  /**
   * More changes of the caller (its trees), applied in the same list after the account's, so one dry run
   * shows them all; owners may name the new user and its group, resolved when applied.
   */
  readonly extra?: readonly Change[];
}

/** What {@link ensureNamespaceUser} found or made. */
export interface EnsureNamespaceUserResult {
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly runtimeDir: string;
  readonly subuid: SubIdRange;
  readonly subgid: SubIdRange;
  /** What was changed, or planned in a dry run (empty on an idempotent re-run): the report's records. */
  readonly changes: readonly ChangeRecord[];
  /** The whole report of the change engine (`changeReportJson` / `formatChangeReport`). */
  readonly report: ChangeReport;
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

/** The last line a failed tool printed (`useradd: Can't get unique UID ...`), or its exit status. */
function toolReason(e: unknown): { status: string; reason: string } {
  const d = (isPodsecError(e) ? e.details : undefined) ?? {};
  const stderr = d['stderr'];
  const exitCode = d['exitCode'];
  const lines = (typeof stderr === 'string' ? stderr : '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/can't create user$/.test(l));
  const status = typeof exitCode === 'number' ? String(exitCode) : '?';
  return { status, reason: lines[0] ?? (e instanceof Error ? e.message.split('\n')[0]! : '') };
}

/**
 * Applies the account's list. A failing groupadd or useradd (the original's `%pre` swallowed it with `||:`, and
 * every later step failed obscurely) stops the run loudly, in one line: the groups this run created before it
 * are removed again, so nothing is left half done and a re-run starts from the same state.
 * @throws ExternalCommandError `USERNS_ACCOUNT_FAILED` (all undone), `USERNS_ACCOUNT_LEFT` (a group stayed)
 */
async function applyAccount(sys: System, name: string, account: readonly Change[]) {
  const created: string[] = [];
  let step: Change | undefined;
  let action = 'create';
  try {
    return await applyChanges(sys, account, {
      onStep: (c, r) => {
        if (step?.kind === 'group') created.push(step.name);
        step = c;
        action = r.action;
      },
    });
  } catch (e) {
    if (step?.kind !== 'group' && step?.kind !== 'user') throw e;
    const left: string[] = [];
    for (const g of created.reverse()) await sys.users.deleteGroup(g).catch(() => left.push(g));
    const { status, reason } = toolReason(e);
    const what = `${step.kind} ${step.name}`;
    const tool = step.kind === 'group' ? 'groupadd' : action === 'create' ? 'useradd' : 'usermod';
    const details = { action, what, user: name, tool, status, reason, left: left.join(', ') };
    if (left.length)
      throw new ExternalCommandError(
        'USERNS_ACCOUNT_LEFT',
        `cannot ${action} ${what}: ${tool} exited ${status}: ${reason}; left behind: group ${details.left}`,
        { cause: e, details },
      );
    throw new ExternalCommandError(
      'USERNS_ACCOUNT_FAILED',
      `cannot ${action} ${what}: ${tool} exited ${status}: ${reason}; nothing was changed`,
      { cause: e, details },
    );
  }
}

/**
 * Creates or checks the namespace user: validates everything before the first change, then one change list
 * (groups, the account, its subordinate ids, its 0700 home, `extra`) goes through the change engine, and
 * the runtime dir, whose name needs the uid, follows in a second list. A dry run lists the same records
 * (the runtime dir of a user not created yet as `/run/user/<uid of NAME>`).
 */
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

  const owner = { uid: o.name, gid: o.name };
  const account: Change[] = [
    ...[o.name, ...groups].map((g): Change => ({ kind: 'group', name: g, system: true })),
    {
      kind: 'user',
      name: o.name,
      options: {
        system: true,
        // an existing account keeps its primary group: only a new one is made with its own
        ...(existing ? {} : { group: o.name }),
        groups,
        home: o.home,
        createHome: false,
        ...(o.comment === undefined ? {} : { comment: o.comment }),
      },
    },
    { kind: 'subids', path: '/etc/subuid', user: o.name, count },
    { kind: 'subids', path: '/etc/subgid', user: o.name, count },
    { kind: 'dir', path: o.home, mode: 0o700, ...owner },
    ...(o.extra ?? []),
  ];
  const first = await applyAccount(sys, o.name, account);
  const user = await sys.users.getUser(o.name);
  if (!user && !sys.dryRun)
    throw new UsageError('USERNS_USER_MISSING', `${o.name} was not created`);
  const runtimeDir = user ? `/run/user/${user.uid}` : `/run/user/<uid of ${o.name}>`;
  let second: ChangeReport | undefined;
  if (o.runtimeDir ?? true) {
    if (user)
      second = await applyChanges(sys, [{ kind: 'dir', path: runtimeDir, mode: 0o700, ...owner }]);
    else
      // dry run for a new user: its uid is chosen by useradd when the real run creates it
      second = {
        ...first,
        changed: true,
        changes: [
          { kind: 'dir', target: runtimeDir, action: 'create', detail: `0700 ${o.name}:${o.name}` },
        ],
        unchanged: 0,
      };
  }
  const report: ChangeReport = second
    ? {
        dryRun: first.dryRun,
        changed: first.changed || second.changed,
        changes: [...first.changes, ...second.changes],
        unchanged: first.unchanged + second.unchanged,
        backups: [...first.backups, ...second.backups],
        warnings: [...first.warnings, ...second.warnings],
      }
    : first;
  const ranges = async (file: '/etc/subuid' | '/etc/subgid') =>
    (file === '/etc/subuid' ? await sys.users.subuids() : await sys.users.subgids()).find(
      (r) => r.owner === o.name,
    );
  return {
    uid: user?.uid ?? -1,
    gid: user?.gid ?? -1,
    home: o.home,
    runtimeDir,
    subuid: (await ranges('/etc/subuid')) ?? haveUid ?? { owner: o.name, start: -1, count },
    subgid: (await ranges('/etc/subgid')) ?? haveGid ?? { owner: o.name, start: -1, count },
    changes: report.changes,
    report,
  };
}
