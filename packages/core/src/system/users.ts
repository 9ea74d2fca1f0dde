import { NotFoundError, PodsecError, UsageError } from '../errors.ts';
import { runOrThrow } from './process.ts';
import type { FileSystem, ProcessRunner } from './types.ts';

/** One line of /etc/passwd. */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly gecos: string;
  readonly home: string;
  readonly shell: string;
}
/** One line of /etc/group. */
export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}
/** One line of /etc/subuid or /etc/subgid. */
export interface SubIdRange {
  readonly owner: string;
  readonly start: number;
  readonly count: number;
}

/** Options of {@link UserDatabase.addUser}. */
export interface AddUserOptions {
  /** Primary group name. */
  readonly group?: string;
  readonly groups?: readonly string[];
  readonly system?: boolean;
  readonly home?: string;
  readonly createHome?: boolean;
  readonly shell?: string;
  readonly comment?: string;
}

/** The user and group database under the root. Reads parse the files; changes run the shadow tools. */
export interface UserDatabase {
  passwd(): Promise<PasswdEntry[]>;
  groups(): Promise<GroupEntry[]>;
  getUser(name: string): Promise<PasswdEntry | undefined>;
  getGroup(name: string): Promise<GroupEntry | undefined>;
  /** Names of all groups the user belongs to (primary first), as getgrouplist(3). */
  groupsOf(name: string): Promise<string[]>;
  subuids(): Promise<SubIdRange[]>;
  subgids(): Promise<SubIdRange[]>;
  /** groupadd [-r]; `false` if the group already existed. */
  ensureGroup(name: string, options?: { readonly system?: boolean }): Promise<boolean>;
  /** useradd; throws `USER_EXISTS` if present. */
  addUser(name: string, options?: AddUserOptions): Promise<void>;
  /** usermod -a -G. */
  addToGroups(name: string, groups: readonly string[]): Promise<void>;
  deleteUser(name: string, options?: { readonly removeHome?: boolean }): Promise<void>;
  /** groupdel (undoes a group this run created when a later step failed). */
  deleteGroup(name: string): Promise<void>;
  /**
   * Sets the primary group, resolved in this root's /etc/group (Debian's `usermod --prefix -g` looks the
   * group up on the host): the tree's /etc/passwd is rewritten under its lock, atomically, with a backup.
   * @throws NotFoundError `USER_NOT_FOUND`, `GROUP_NOT_FOUND`
   */
  setPrimaryGroup(name: string, group: string): Promise<void>;
  /**
   * Sets the password with chpasswd, the secret on stdin only (never on a command line): a crypt(3) hash
   * (`$id$...`) is stored as it is (`-e`), plain text is hashed with SHA-512; under a root other than `/`
   * chpasswd works in the tree (`-R`).
   * @throws UsageError `USER_BAD_PASSWORD` (empty, several lines, `:` in plain text); ExternalCommandError
   */
  setPassword(name: string, secret: string): Promise<void>;
}

/** A crypt(3) hash as chpasswd -e takes it. */
const CRYPT_HASH = /^\$[0-9a-z]+\$[^\s:]+$/;

// POSIX portable user names, as shadow's default: start with a lower-case letter or underscore.
const NAME_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Validates a user or group name; throws `USAGE_BAD_NAME`. */
export function validateName(name: string, what = 'user'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new UsageError(
      'USAGE_BAD_NAME',
      `invalid ${what} name ${JSON.stringify(name)}: use 1-32 characters a-z 0-9 _ -, starting with a letter or _`,
      { details: { what, name: String(name) } },
    );
  }
  return name;
}

function num(s: string | undefined, file: string, line: number): number {
  const n = Number(s);
  if (s === undefined || s === '' || !Number.isInteger(n) || n < 0) {
    throw new PodsecError('USERDB_CORRUPT', `${file}:${line}: bad number ${JSON.stringify(s)}`);
  }
  return n;
}

function lines(text: string | undefined): Array<[string, number]> {
  if (!text) return [];
  return text
    .split('\n')
    .map((l, i): [string, number] => [l, i + 1])
    .filter(([l]) => l.trim() !== '' && !l.startsWith('#'));
}

/** Parses /etc/passwd text. */
export function parsePasswd(text: string | undefined): PasswdEntry[] {
  return lines(text).map(([l, n]) => {
    const f = l.split(':');
    return {
      name: f[0]!,
      uid: num(f[2], 'passwd', n),
      gid: num(f[3], 'passwd', n),
      gecos: f[4] ?? '',
      home: f[5] ?? '',
      shell: f[6] ?? '',
    };
  });
}
/** Parses /etc/group text. */
export function parseGroup(text: string | undefined): GroupEntry[] {
  return lines(text).map(([l, n]) => {
    const f = l.split(':');
    return {
      name: f[0]!,
      gid: num(f[2], 'group', n),
      members: (f[3] ?? '').split(',').filter((m) => m !== ''),
    };
  });
}
/** Parses /etc/subuid or /etc/subgid text. */
export function parseSubIds(text: string | undefined): SubIdRange[] {
  return lines(text).map(([l, n]) => {
    const f = l.split(':');
    return { owner: f[0]!, start: num(f[1], 'subid', n), count: num(f[2], 'subid', n) };
  });
}

/**
 * `useradd --prefix <root> -m` creates `<root><home>` with plain path calls: a symlinked `<root>/home`
 * would put the home (and root-owned files in it) outside the tree. Every existing component must be a
 * real directory.
 */
async function refuseLinkedHome(fs: FileSystem, home: string): Promise<void> {
  const parts = home.split('/').filter((x) => x !== '');
  for (let i = 1; i <= parts.length; i++) {
    const p = '/' + parts.slice(0, i).join('/');
    const st = await fs.stat(p);
    if (st === undefined) return;
    if (st.kind !== 'dir')
      throw new UsageError(
        'USER_HOME_UNSAFE',
        `${p} under ${fs.root} is ${st.kind === 'symlink' ? 'a symbolic link' : 'not a directory'}: useradd would create the home outside the root`,
        { details: { path: p, root: fs.root } },
      );
  }
}

/** The real database: files under `fs.root`, changes through useradd/groupadd/usermod/userdel --prefix. */
export function createUserDatabase(fs: FileSystem, proc: ProcessRunner): UserDatabase {
  const prefix = fs.root === '/' ? [] : ['--prefix', fs.root];
  const db: UserDatabase = {
    passwd: async () => parsePasswd(await fs.readTextIfExists('/etc/passwd')),
    groups: async () => parseGroup(await fs.readTextIfExists('/etc/group')),
    async getUser(name) {
      return (await db.passwd()).find((u) => u.name === name);
    },
    async getGroup(name) {
      return (await db.groups()).find((g) => g.name === name);
    },
    async groupsOf(name) {
      const user = await db.getUser(name);
      const groups = await db.groups();
      const out: string[] = [];
      const primary = user && groups.find((g) => g.gid === user.gid);
      if (primary) out.push(primary.name);
      for (const g of groups)
        if (g.members.includes(name) && !out.includes(g.name)) out.push(g.name);
      return out;
    },
    subuids: async () => parseSubIds(await fs.readTextIfExists('/etc/subuid')),
    subgids: async () => parseSubIds(await fs.readTextIfExists('/etc/subgid')),
    async ensureGroup(name, o = {}) {
      validateName(name, 'group');
      if (await db.getGroup(name)) return false;
      await runOrThrow(proc, 'groupadd', [...prefix, ...(o.system ? ['-r'] : []), '--', name]);
      return true;
    },
    async addUser(name, o = {}) {
      validateName(name);
      if (await db.getUser(name))
        throw new UsageError('USER_EXISTS', `user ${name} already exists`);
      if ((o.createHome ?? true) && fs.root !== '/')
        await refuseLinkedHome(fs, o.home ?? `/home/${name}`);
      const args = [...prefix];
      if (o.system) args.push('-r');
      if (o.group) args.push('-g', validateName(o.group, 'group'));
      if (o.groups?.length)
        args.push('-G', o.groups.map((g) => validateName(g, 'group')).join(','));
      if (o.home) args.push('-d', o.home);
      if (o.createHome ?? true) args.push('-m');
      else args.push('-M');
      if (o.shell) args.push('-s', o.shell);
      if (o.comment !== undefined) args.push('-c', o.comment);
      await runOrThrow(proc, 'useradd', [...args, '--', name]);
    },
    async addToGroups(name, groups) {
      validateName(name);
      await runOrThrow(proc, 'usermod', [
        ...prefix,
        '-a',
        '-G',
        groups.map((g) => validateName(g, 'group')).join(','),
        '--',
        name,
      ]);
    },
    async setPrimaryGroup(name, group) {
      validateName(name);
      validateName(group, 'group');
      await fs.withLock('/etc/passwd', async () => {
        const g = await db.getGroup(group);
        if (!g)
          throw new NotFoundError('GROUP_NOT_FOUND', `no group ${group} in ${fs.root}/etc/group`, {
            details: { group },
          });
        const text = await fs.readText('/etc/passwd');
        let found = false;
        const lines = text.split('\n').map((line) => {
          const f = line.split(':');
          if (f[0] !== name || f.length < 7) return line;
          found = true;
          f[3] = String(g.gid);
          return f.join(':');
        });
        if (!found)
          throw new NotFoundError('USER_NOT_FOUND', `no user ${name} in ${fs.root}/etc/passwd`, {
            details: { user: name },
          });
        await fs.writeFileAtomic('/etc/passwd', lines.join('\n'));
      });
    },
    async setPassword(name, secret) {
      validateName(name);
      const hashed = CRYPT_HASH.test(secret);
      if (secret === '' || /[\r\n]/.test(secret) || (secret.includes(':') && !hashed))
        throw new UsageError('USER_BAD_PASSWORD', 'the password must be one line without ":"', {
          details: {},
        });
      const args = [
        ...(hashed ? ['-e'] : ['-c', 'SHA512']),
        ...(fs.root === '/' ? [] : ['-R', fs.root]),
      ];
      await runOrThrow(proc, 'chpasswd', args, { input: `${name}:${secret}\n` });
    },
    async deleteUser(name, o = {}) {
      validateName(name);
      await runOrThrow(proc, 'userdel', [...prefix, ...(o.removeHome ? ['-r'] : []), '--', name]);
    },
    async deleteGroup(name) {
      validateName(name, 'group');
      await runOrThrow(proc, 'groupdel', [...prefix, '--', name]);
    },
  };
  return db;
}
