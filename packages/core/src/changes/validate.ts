import { UsageError } from '../errors.ts';
import type { System } from '../system/types.ts';
import { validateName } from '../system/users.ts';
import type { Change, OwnerRef } from './types.ts';

/** A plain file name: what a versioned prefix must be. */
const PLAIN_NAME = /^[A-Za-z0-9._-]+$/;
/** A crypt(3) hash as chpasswd -e takes it. */
export const CRYPT_HASH = /^\$[0-9a-z]+\$[^\s:]+$/;

/** The path or name a change is about, as its report shows it. */
export function changeTarget(c: Change): string {
  switch (c.kind) {
    case 'group':
    case 'user':
      return c.name;
    case 'password':
      return c.user;
    case 'subids':
      return `${c.path} ${c.user}`;
    case 'run':
      return [c.file, ...c.args].join(' ') + (c.cwd === undefined ? '' : ` (in ${c.cwd})`);
    default:
      return c.path;
  }
}

const parentOf = (p: string) => p.slice(0, p.lastIndexOf('/')) || '/';

function checkPath(p: string): string | undefined {
  if (typeof p !== 'string' || !p.startsWith('/') || p.length < 2) return 'not an absolute path';
  if (p.includes('\0')) return 'contains a NUL byte';
  if (p.endsWith('/')) return 'ends with /';
  if (p.split('/').some((s) => s === '..' || s === '.')) return 'contains . or .. segments';
  return undefined;
}

function checkName(name: string, what: string): string | undefined {
  try {
    validateName(name, what);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * Checks a whole change list against the current tree before anything is touched: absolute clean paths,
 * one change per target, nothing of the wrong kind in the way (a directory where a file goes, a file where
 * a directory or parent goes), valid user and group names, and owners by name that exist or are created
 * earlier in the list. Reads only.
 * @throws UsageError `CHANGES_INVALID` naming every problem found
 */
export async function validateChanges(sys: System, changes: readonly Change[]): Promise<void> {
  const problems: string[] = [];
  const seen = new Set<string>();
  const groups = new Set<string>();
  const users = new Set<string>();
  // paths an earlier remove or rename frees: what stands there now is no longer in the way
  const vacated = new Set<string>();
  const problem = (c: Change, reason: string) =>
    problems.push(`${c.kind} ${changeTarget(c)}: ${reason}`);

  const checkOwner = async (c: Change, ref: OwnerRef | undefined, what: 'user' | 'group') => {
    if (ref === undefined) return;
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref < 0) problem(c, `invalid ${what} id ${ref}`);
      return;
    }
    const known =
      what === 'group'
        ? groups.has(ref) || (await sys.users.getGroup(ref)) !== undefined
        : users.has(ref) || (await sys.users.getUser(ref)) !== undefined;
    if (!known) problem(c, `${what} ${ref} does not exist and is not created before`);
  };
  const checkMode = (c: Change, mode: number | undefined) => {
    if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777))
      problem(c, `invalid mode ${String(mode)}`);
  };
  // every existing ancestor must be a directory (or a link to one), else the write would fail halfway
  const checkParents = async (c: Change, p: string) => {
    for (let dir = parentOf(p); dir !== '/'; dir = parentOf(dir)) {
      const st = await sys.fs.stat(dir);
      if (st === undefined) continue;
      if (st.kind === 'dir') return;
      if (st.kind === 'symlink') {
        if (!(await sys.fs.exists(dir))) problem(c, `parent ${dir} is a dangling symlink`);
        return;
      }
      problem(c, `parent ${dir} exists and is not a directory`);
      return;
    }
  };

  for (const c of changes) {
    const target = changeTarget(c);
    const key =
      c.kind === 'group' ||
      c.kind === 'user' ||
      c.kind === 'password' ||
      c.kind === 'subids' ||
      // a rename frees its path for a later change
      c.kind === 'rename'
        ? `${c.kind}:${target}`
        : `path:${target}`;
    if (c.kind !== 'run') {
      if (seen.has(key)) problem(c, 'listed twice');
      seen.add(key);
    }
    switch (c.kind) {
      case 'group': {
        const bad = checkName(c.name, 'group');
        if (bad) problem(c, bad);
        groups.add(c.name);
        break;
      }
      case 'user': {
        const bad = checkName(c.name, 'user');
        if (bad) problem(c, bad);
        for (const g of [
          ...(c.options?.group ? [c.options.group] : []),
          ...(c.options?.groups ?? []),
        ])
          await checkOwner(c, g, 'group');
        users.add(c.name);
        break;
      }
      case 'password': {
        const bad = checkName(c.user, 'user');
        if (bad) problem(c, bad);
        else if (!users.has(c.user) && (await sys.users.getUser(c.user)) === undefined)
          problem(c, `user ${c.user} does not exist and is not created before`);
        if (typeof c.secret !== 'string' || c.secret === '') problem(c, 'empty password');
        else if (c.secret.includes('\n') || c.secret.includes('\r'))
          problem(c, 'the password must be one line');
        else if (c.secret.includes(':') && !CRYPT_HASH.test(c.secret))
          problem(c, 'the password must not contain ":"');
        break;
      }
      case 'subids': {
        const bad = checkName(c.user, 'user');
        if (bad) problem(c, bad);
        if (c.path !== '/etc/subuid' && c.path !== '/etc/subgid')
          problem(c, 'not /etc/subuid or /etc/subgid');
        if (c.count !== undefined && (!Number.isInteger(c.count) || c.count < 1))
          problem(c, `invalid count ${String(c.count)}`);
        break;
      }
      case 'run':
        if (typeof c.file !== 'string' || c.file === '') problem(c, 'no program');
        if (c.cwd !== undefined) {
          const badCwd = checkPath(c.cwd);
          if (badCwd) problem(c, `working directory ${badCwd}`);
        }
        if (c.runAs) {
          await checkOwner(c, c.runAs.uid, 'user');
          await checkOwner(c, c.runAs.gid, 'group');
        }
        break;
      default: {
        const bad = checkPath(c.path);
        if (bad) {
          problem(c, bad);
          break;
        }
        await checkParents(c, c.path);
        const st = vacated.has(c.path) ? undefined : await sys.fs.stat(c.path);
        if (c.kind === 'file') {
          checkMode(c, c.mode);
          if (st?.kind === 'dir' || st?.kind === 'other') problem(c, `exists and is not a file`);
          if (c.content === undefined && st?.kind !== 'file')
            problem(c, 'mode and owner only, but the file does not exist');
          await checkOwner(c, c.uid, 'user');
          await checkOwner(c, c.gid, 'group');
        } else if (c.kind === 'dir') {
          checkMode(c, c.mode);
          if (st?.kind === 'file' || st?.kind === 'other')
            problem(c, 'exists and is not a directory');
          if (st?.kind === 'symlink' && !(await sys.fs.exists(c.path)))
            problem(c, 'is a dangling symlink');
          await checkOwner(c, c.uid, 'user');
          await checkOwner(c, c.gid, 'group');
        } else if (c.kind === 'symlink') {
          if (typeof c.target !== 'string' || c.target === '' || c.target.includes('\0'))
            problem(c, 'empty or invalid target');
          if (st?.kind === 'dir') problem(c, 'a directory is in the way');
        } else if (c.kind === 'rename') {
          const badTo = checkPath(c.to);
          if (badTo) problem(c, `destination ${badTo}`);
          else if (st?.kind === 'dir') {
            await checkParents(c, c.to);
            if ((await sys.fs.stat(c.to)) !== undefined) problem(c, `${c.to} is in the way`);
            vacated.add(c.path);
          }
        } else if (c.kind === 'remove') {
          vacated.add(c.path);
        } else if (c.kind === 'versioned') {
          checkMode(c, c.mode);
          if (!PLAIN_NAME.test(c.prefix))
            problem(c, `prefix ${JSON.stringify(c.prefix)} is not a plain name`);
          if (st?.kind === 'dir' || st?.kind === 'other') problem(c, 'exists and is not a file');
          await checkOwner(c, c.uid, 'user');
          await checkOwner(c, c.gid, 'group');
        }
      }
    }
  }
  if (problems.length > 0) {
    throw new UsageError('CHANGES_INVALID', `nothing changed: ${problems.join('; ')}`, {
      details: { problems: problems.join('; ') },
    });
  }
}
