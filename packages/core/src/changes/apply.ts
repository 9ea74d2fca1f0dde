import { ExternalCommandError } from '../errors.ts';
import { formatBackupStamp } from '../system/node-fs.ts';
import { allocateSubIds } from '../system/subid.ts';
import type { System } from '../system/types.ts';
import type {
  Change,
  ChangeAction,
  ChangeRecord,
  ChangeReport,
  OwnerRef,
  VersionedChange,
} from './types.ts';
import { changeTarget, validateChanges } from './validate.ts';

const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';
const octal = (m: number) => m.toString(8).padStart(4, '0');

/** What one change needs, found by reading only. */
interface Pending {
  readonly change: Change;
  readonly record: ChangeRecord;
  /** Versioned: the new version's path, chosen while inspecting. */
  readonly version?: string;
}

/** Names created earlier in the list (a dry run cannot look them up yet). */
interface Planned {
  readonly groups: Set<string>;
  readonly users: Set<string>;
  readonly subids: Set<string>;
}

async function resolveOwner(
  sys: System,
  ref: OwnerRef | undefined,
  what: 'user' | 'group',
): Promise<number | undefined> {
  if (ref === undefined || typeof ref === 'number') return ref;
  const e = what === 'group' ? await sys.users.getGroup(ref) : await sys.users.getUser(ref);
  return what === 'group'
    ? (e as { gid: number } | undefined)?.gid
    : (e as { uid: number } | undefined)?.uid;
}

const ownerText = (uid: OwnerRef | undefined, gid: OwnerRef | undefined) =>
  uid === undefined && gid === undefined ? '' : `${uid ?? '-'}:${gid ?? '-'}`;

function detailOf(mode: number | undefined, uid: OwnerRef | undefined, gid: OwnerRef | undefined) {
  const parts = [mode === undefined ? '' : octal(mode), ownerText(uid, gid)].filter(
    (x) => x !== '',
  );
  return parts.length === 0 ? undefined : parts.join(' ');
}

function record(c: Change, action: ChangeAction, detail: string | undefined): ChangeRecord {
  return { kind: c.kind, target: changeTarget(c), action, ...(detail ? { detail } : {}) };
}

const bytesOf = (d: string | Uint8Array) =>
  typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d);

/** Does the existing entry have this mode and owner (ids unknown yet count as different)? */
async function attrsMatch(
  sys: System,
  st: { mode: number; uid: number; gid: number },
  c: { mode?: number; uid?: OwnerRef; gid?: OwnerRef },
): Promise<boolean> {
  if (c.mode !== undefined && st.mode !== c.mode) return false;
  if (c.uid !== undefined && (await resolveOwner(sys, c.uid, 'user')) !== st.uid) return false;
  if (c.gid !== undefined && (await resolveOwner(sys, c.gid, 'group')) !== st.gid) return false;
  return true;
}

/** Upper bound of the entries {@link treeOwned} looks at (a larger tree counts as not owned: chownTree runs). */
const TREE_LIMIT = 10_000;

/** Is every entry below `dir` owned by the change's uid/gid (links not followed)? */
async function treeOwned(
  sys: System,
  dir: string,
  c: { uid?: OwnerRef; gid?: OwnerRef },
): Promise<boolean> {
  const uid = await resolveOwner(sys, c.uid, 'user');
  const gid = await resolveOwner(sys, c.gid, 'group');
  const queue = [dir];
  let seen = 0;
  for (let d = queue.pop(); d !== undefined; d = queue.pop()) {
    for (const name of await sys.fs.readdir(d)) {
      if (++seen > TREE_LIMIT) return false;
      const p = `${d}/${name}`;
      const st = await sys.fs.stat(p);
      if (st === undefined) continue;
      if ((uid !== undefined && st.uid !== uid) || (gid !== undefined && st.gid !== gid))
        return false;
      if (st.kind === 'dir') queue.push(p);
    }
  }
  return true;
}

/** A version name not taken yet: `<dir>/<prefix><stamp>[.<n>]`. */
async function nextVersion(sys: System, c: VersionedChange): Promise<string> {
  const stamp = formatBackupStamp(sys.clock.now());
  const base = `${parentOf(c.path)}/${c.prefix}${stamp}`;
  let version = base;
  for (let i = 1; (await sys.fs.stat(version)) !== undefined; i++) version = `${base}.${i}`;
  return version;
}

async function inspect(sys: System, c: Change, planned: Planned): Promise<Pending | undefined> {
  switch (c.kind) {
    case 'group': {
      if (planned.groups.has(c.name) || (await sys.users.getGroup(c.name))) return undefined;
      planned.groups.add(c.name);
      return { change: c, record: record(c, 'create', c.system ? 'system' : undefined) };
    }
    case 'user': {
      const wanted = c.options?.groups ?? [];
      const user = planned.users.has(c.name) ? undefined : await sys.users.getUser(c.name);
      if (user === undefined) {
        if (planned.users.has(c.name)) return undefined;
        planned.users.add(c.name);
        return {
          change: c,
          record: record(c, 'create', wanted.length ? `groups ${wanted.join(',')}` : undefined),
        };
      }
      const have = await sys.users.groupsOf(c.name);
      const missing = wanted.filter((g) => !have.includes(g));
      const primary = c.options?.group;
      const primaryWrong =
        primary !== undefined && (await resolveOwner(sys, primary, 'group')) !== user.gid;
      if (missing.length === 0 && !primaryWrong) return undefined;
      const detail = [
        ...(primaryWrong ? [`group ${primary}`] : []),
        ...(missing.length ? [`groups +${missing.join(',')}`] : []),
      ].join(', ');
      return { change: c, record: record(c, 'update', detail) };
    }
    case 'password':
      return { change: c, record: record(c, 'update', undefined) };
    case 'subids': {
      if (planned.subids.has(changeTarget(c))) return undefined;
      const ranges =
        c.path === '/etc/subuid' ? await sys.users.subuids() : await sys.users.subgids();
      if (ranges.some((r) => r.owner === c.user)) return undefined;
      planned.subids.add(changeTarget(c));
      return { change: c, record: record(c, 'create', `${c.count ?? 65536} ids`) };
    }
    case 'file': {
      const st = await sys.fs.stat(c.path);
      const detail = detailOf(c.mode, c.uid, c.gid);
      if (st?.kind !== 'file') return { change: c, record: record(c, 'create', detail) };
      const same =
        (await attrsMatch(sys, st, c)) &&
        (c.content === undefined ||
          Buffer.from(await sys.fs.readFile(c.path)).equals(bytesOf(c.content)));
      return same ? undefined : { change: c, record: record(c, 'update', detail) };
    }
    case 'dir': {
      const st = await sys.fs.stat(c.path);
      const detail = detailOf(c.mode, c.uid, c.gid);
      if (st === undefined) return { change: c, record: record(c, 'create', detail) };
      if (st.kind === 'symlink') return undefined; // a link to a directory (validated) is left as it is
      if (!(await attrsMatch(sys, st, c)))
        return { change: c, record: record(c, 'update', detail) };
      if (c.ownTree && !(await treeOwned(sys, c.path, c)))
        return { change: c, record: record(c, 'update', `${detail ?? ''} tree`.trim()) };
      return undefined;
    }
    case 'symlink': {
      const st = await sys.fs.stat(c.path);
      if (st?.kind === 'symlink' && (await sys.fs.readlink(c.path)) === c.target) return undefined;
      return { change: c, record: record(c, st ? 'update' : 'create', `-> ${c.target}`) };
    }
    case 'versioned': {
      const st = await sys.fs.stat(c.path);
      if (st?.kind === 'symlink' && (await sys.fs.readTextIfExists(c.path)) === c.content)
        return undefined;
      const version = await nextVersion(sys, c);
      return {
        change: c,
        version,
        record: record(
          c,
          st ? 'update' : 'create',
          `-> ${version.slice(parentOf(c.path).length + 1)}`,
        ),
      };
    }
    case 'rename':
      return (await sys.fs.stat(c.path))?.kind !== 'dir'
        ? undefined
        : { change: c, record: record(c, 'update', `-> ${c.to}`) };
    case 'remove':
      return (await sys.fs.stat(c.path)) === undefined
        ? undefined
        : { change: c, record: record(c, 'remove', undefined) };
    case 'run':
      return { change: c, record: record(c, 'run', undefined) };
  }
}

/**
 * Reads the tree and returns what the list still needs, in order, without changing anything: the list
 * `--dry-run` prints and the real run then applies.
 */
async function planChanges(sys: System, changes: readonly Change[]): Promise<Pending[]> {
  const planned: Planned = { groups: new Set(), users: new Set(), subids: new Set() };
  const out: Pending[] = [];
  for (const c of changes) {
    const p = await inspect(sys, c, planned);
    if (p) out.push(p);
  }
  return out;
}

async function applyOne(
  sys: System,
  p: Pending,
  backups: string[],
  warnings: string[],
): Promise<void> {
  const c = p.change;
  switch (c.kind) {
    case 'group':
      await sys.users.ensureGroup(c.name, { system: c.system ?? false });
      return;
    case 'user':
      if (p.record.action === 'create') await sys.users.addUser(c.name, c.options ?? {});
      else {
        const primary = c.options?.group;
        const user = await sys.users.getUser(c.name);
        if (primary !== undefined && (await resolveOwner(sys, primary, 'group')) !== user?.gid)
          await sys.users.setPrimaryGroup(c.name, primary);
        const have = await sys.users.groupsOf(c.name);
        const missing = (c.options?.groups ?? []).filter((g) => !have.includes(g));
        if (missing.length > 0) await sys.users.addToGroups(c.name, missing);
      }
      return;
    case 'file': {
      const uid = await resolveOwner(sys, c.uid, 'user');
      const gid = await resolveOwner(sys, c.gid, 'group');
      if (c.content === undefined) {
        // chown clears the set-id bits: chmod afterwards
        const st = await sys.fs.stat(c.path);
        if (uid !== undefined || gid !== undefined)
          await sys.fs.chown(c.path, uid ?? st?.uid ?? 0, gid ?? st?.gid ?? 0);
        if (c.mode !== undefined) await sys.fs.chmod(c.path, c.mode);
        return;
      }
      await sys.fs.mkdir(parentOf(c.path));
      const r = await sys.fs.writeFileAtomic(c.path, c.content, {
        ...(c.mode === undefined ? {} : { mode: c.mode }),
        ...(uid === undefined ? {} : { uid }),
        ...(gid === undefined ? {} : { gid }),
        backup: c.backup ?? true,
      });
      if (r.backup) backups.push(r.backup);
      return;
    }
    case 'dir': {
      const uid = await resolveOwner(sys, c.uid, 'user');
      const gid = await resolveOwner(sys, c.gid, 'group');
      const st = await sys.fs.stat(c.path);
      if (st === undefined) {
        // one step: a new directory never exists with the wrong owner (a re-run would take it as it is)
        await sys.fs.mkdir(c.path, {
          mode: c.mode ?? 0o755,
          ...(uid === undefined ? {} : { uid }),
          ...(gid === undefined ? {} : { gid }),
        });
        return;
      }
      if (uid !== undefined || gid !== undefined) {
        const now = st ?? (await sys.fs.stat(c.path));
        await sys.fs.chown(c.path, uid ?? now?.uid ?? 0, gid ?? now?.gid ?? 0);
      }
      if (c.mode !== undefined) await sys.fs.chmod(c.path, c.mode);
      if (c.ownTree) {
        const now = await sys.fs.stat(c.path);
        await sys.fs.chownTree(c.path, uid ?? now?.uid ?? 0, gid ?? now?.gid ?? 0);
      }
      return;
    }
    case 'symlink':
      await sys.fs.mkdir(parentOf(c.path));
      await sys.fs.symlink(c.target, c.path);
      return;
    case 'versioned': {
      // NOTE: the order is the crash safety: new version, backup copy, then one atomic rename over the live name
      const dir = parentOf(c.path);
      const uid = await resolveOwner(sys, c.uid, 'user');
      const gid = await resolveOwner(sys, c.gid, 'group');
      await sys.fs.mkdir(dir);
      const version = p.version!;
      await sys.fs.writeFileAtomic(version, c.content, {
        mode: c.mode ?? 0o644,
        backup: false,
        ...(uid === undefined ? {} : { uid }),
        ...(gid === undefined ? {} : { gid }),
      });
      const st = await sys.fs.stat(c.path);
      if (st?.kind === 'file') {
        const stamp = formatBackupStamp(sys.clock.now());
        let backup = `${c.path}.${stamp}.bak`;
        for (let i = 1; (await sys.fs.stat(backup)) !== undefined; i++)
          backup = `${c.path}.${stamp}.${i}.bak`;
        await sys.fs.writeFileAtomic(backup, await sys.fs.readFile(c.path), {
          mode: st.mode,
          uid: st.uid,
          gid: st.gid,
          backup: false,
        });
        backups.push(backup);
      }
      await sys.fs.symlink(version.slice(dir.length + 1), c.path);
      return;
    }
    case 'remove':
      await sys.fs.remove(c.path, { recursive: c.recursive ?? false });
      return;
    case 'rename':
      await sys.fs.rename(c.path, c.to);
      return;
    case 'password':
      await sys.users.setPassword(c.user, c.secret);
      return;
    case 'subids':
      await allocateSubIds(sys.fs, c.user, c.path, c.count === undefined ? {} : { count: c.count });
      return;
    case 'run': {
      const runAs = c.runAs && {
        uid: (await resolveOwner(sys, c.runAs.uid, 'user')) ?? -1,
        gid: (await resolveOwner(sys, c.runAs.gid, 'group')) ?? -1,
      };
      const options = {
        ...(runAs ? { runAs } : {}),
        ...(c.input === undefined ? {} : { input: c.input }),
        ...(c.env === undefined ? {} : { env: c.env }),
      };
      const r =
        c.cwd === undefined
          ? await sys.proc.run(c.file, c.args, options)
          : await sys.fs.withDir(c.cwd, (pinned) =>
              sys.proc.run(c.file, c.args, { ...options, cwd: pinned }),
            );
      if (r.exitCode === 0) return;
      const line = `${changeTarget(c)} failed (exit ${r.exitCode}): ${r.stderr.trim()}`;
      if (c.onFailure === 'warn') {
        warnings.push(line);
        sys.report.warn(line);
        return;
      }
      throw new ExternalCommandError('PROC_FAILED', line, {
        details: { file: c.file, args: c.args.join(' '), exitCode: r.exitCode, stderr: r.stderr },
      });
    }
  }
}

/** Options of {@link applyChanges}. */
export interface ApplyChangesOptions {
  /** Called before each change is applied (not in a dry run): e.g. to name the user a failure belongs to. */
  readonly onStep?: (change: Change, record: ChangeRecord) => void;
}

/**
 * The only writer: validates the whole list ({@link validateChanges}), finds what is still needed
 * ({@link planChanges}) and, unless `sys.dryRun`, applies exactly that, in order. A second run with the
 * same list reports no changes. Hold the command's lock around read → plan → apply.
 * @throws UsageError `CHANGES_INVALID` (nothing changed); whatever a failing step throws
 */
export async function applyChanges(
  sys: System,
  changes: readonly Change[],
  options: ApplyChangesOptions = {},
): Promise<ChangeReport> {
  await validateChanges(sys, changes);
  const pending = await planChanges(sys, changes);
  const backups: string[] = [];
  const warnings: string[] = [];
  if (!sys.dryRun) {
    for (const p of pending) {
      sys.report.debug(`apply: ${p.record.action} ${p.record.kind} ${p.record.target}`);
      options.onStep?.(p.change, p.record);
      await applyOne(sys, p, backups, warnings);
    }
  }
  return {
    dryRun: sys.dryRun,
    changed: pending.length > 0,
    changes: pending.map((p) => p.record),
    unchanged: changes.length - pending.length,
    backups,
    warnings,
  };
}
