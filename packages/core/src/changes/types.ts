import type { AddUserOptions } from '../system/users.ts';

/**
 * Changes as data (design B13): a planner returns `Change[]`, {@link validateChanges} checks the whole list
 * against the current tree before anything is touched, and {@link applyChanges} is the only writer.
 * Every change is an *ensure*: applying it to a tree that already has the wanted state does nothing.
 */

/** An owner given as a number, or as a name resolved when the change is applied (a group made earlier in the list). */
export type OwnerRef = number | string;

/** Ensure a regular file: its content (when given), mode and owner. */
export interface FileChange {
  readonly kind: 'file';
  readonly path: string;
  /** Wanted content; `undefined` ensures only mode and owner of a file that must already exist. */
  readonly content?: string | Uint8Array;
  /** @default the old file's mode, else 0o644 */
  readonly mode?: number;
  readonly uid?: OwnerRef;
  readonly gid?: OwnerRef;
  /** Keep the previous content as `<path>.<stamp>.bak`. @default true */
  readonly backup?: boolean;
}

/** Ensure a directory (parents are created 0755 as needed) with this mode and owner. */
export interface DirChange {
  readonly kind: 'dir';
  readonly path: string;
  /** @default 0o755 for a new directory; an existing one keeps its mode */
  readonly mode?: number;
  readonly uid?: OwnerRef;
  readonly gid?: OwnerRef;
  /**
   * The whole tree below gets `uid`/`gid` too (`chownTree`: by descriptor, links not followed, one device),
   * e.g. files root's tools once left in a user's `~/.gnupg`. @default false
   */
  readonly ownTree?: boolean;
}

/** Ensure `path` is a symlink to `target` (replaced atomically). */
export interface SymlinkChange {
  readonly kind: 'symlink';
  readonly path: string;
  /** Kept verbatim (usually relative). */
  readonly target: string;
}

/** Ensure a group exists (groupadd). */
export interface GroupChange {
  readonly kind: 'group';
  readonly name: string;
  /** `groupadd -r`. @default false */
  readonly system?: boolean;
}

/**
 * Ensure a user exists (useradd) and belongs to `options.groups` (usermod -a -G); an existing user whose
 * primary group is not `options.group` gets it (written in the tree's passwd, `setPrimaryGroup`).
 */
export interface UserChange {
  readonly kind: 'user';
  readonly name: string;
  readonly options?: AddUserOptions;
}

/**
 * A configuration file kept in versions (the /etc/containers scheme): the content goes to a new
 * `<dir>/<prefix><stamp>[.<n>]`, then the live name is switched to it by an atomic symlink replacement.
 * A regular file at the live name is first copied to `<path>.<stamp>.bak`. The live name is never missing.
 */
export interface VersionedChange {
  readonly kind: 'versioned';
  readonly path: string;
  /** Plain file-name prefix of the versions, e.g. `policy_`. */
  readonly prefix: string;
  readonly content: string;
  /** @default 0o644 */
  readonly mode?: number;
  readonly uid?: OwnerRef;
  readonly gid?: OwnerRef;
}

/**
 * Set a user's password (chpasswd, the secret on stdin only; a crypt(3) hash `$id$...` is stored as it is).
 * Always applied when listed: a planner lists it only when a password is to be set. The secret is never
 * part of the report.
 */
export interface PasswordChange {
  readonly kind: 'password';
  readonly user: string;
  readonly secret: string;
}

/** Ensure `user` has a range in /etc/subuid or /etc/subgid (a free one, under the file's lock). */
export interface SubIdsChange {
  readonly kind: 'subids';
  readonly path: '/etc/subuid' | '/etc/subgid';
  readonly user: string;
  /** @default 65536 */
  readonly count?: number;
}

/**
 * Move a directory at `path` aside to `to` (one rename by descriptor, never following a link); nothing when
 * `path` is not a directory (missing, or already replaced). `to` must not exist then. A later change in the
 * list may use `path` (e.g. a symlink where the directory stood).
 */
export interface RenameChange {
  readonly kind: 'rename';
  readonly path: string;
  readonly to: string;
}

/** Ensure nothing exists at `path`. */
export interface RemoveChange {
  readonly kind: 'remove';
  readonly path: string;
  /** Remove a directory with its content. @default false */
  readonly recursive?: boolean;
}

/**
 * An external command that changes the running host (sysctl, control, systemctl). Always applied when listed,
 * so a planner lists it only when it is needed.
 */
export interface RunChange {
  readonly kind: 'run';
  readonly file: string;
  readonly args: readonly string[];
  /** A failure stops the apply (`fail`) or becomes a warning (`warn`). @default 'fail' */
  readonly onFailure?: 'fail' | 'warn';
  /**
   * Run inside this directory (a system path), pinned by descriptor (`fs.withDir`): a user who owns a
   * directory on the way cannot redirect the program by a rename. The report shows it after the command.
   */
  readonly cwd?: string;
  /** Drop to these credentials (names resolved when applied: a user made earlier in the list). */
  readonly runAs?: { readonly uid: OwnerRef; readonly gid: OwnerRef };
  /** Data for stdin (never part of the report). */
  readonly input?: string;
  /** The child's whole environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** One thing to ensure. */
export type Change =
  | FileChange
  | DirChange
  | SymlinkChange
  | GroupChange
  | UserChange
  | VersionedChange
  | RemoveChange
  | RenameChange
  | RunChange
  | PasswordChange
  | SubIdsChange;

/** The kinds of {@link Change}. */
export type ChangeKind = Change['kind'];

/** What applying a change does (or did). */
export type ChangeAction = 'create' | 'update' | 'remove' | 'run';

/**
 * One line of the report: the same records are printed by `--dry-run` and applied by the real run
 * (serialisable, no file contents).
 */
export interface ChangeRecord {
  readonly kind: ChangeKind;
  /** Path, or group/user name, or the command line. */
  readonly target: string;
  readonly action: ChangeAction;
  /** e.g. `0755 0:podman_dev`, the new version of a versioned file, the groups added. */
  readonly detail?: string;
}

/** Result of {@link applyChanges}. */
export interface ChangeReport {
  readonly dryRun: boolean;
  /** True when at least one change was needed. */
  readonly changed: boolean;
  /** The changes that were needed, in order: planned (dry run) or applied. */
  readonly changes: readonly ChangeRecord[];
  /** How many changes of the list were already in place. */
  readonly unchanged: number;
  /** System paths of backups made (never in a dry run). */
  readonly backups: readonly string[];
  /** Failures of `run` changes with `onFailure: 'warn'`. */
  readonly warnings: readonly string[];
}
