import type { HttpClient } from './http.ts';
import type { DaemonLauncher } from './daemon.ts';
import type { UserDatabase } from './users.ts';

/**
 * The side-effect boundary (design B5). Library code reaches the host only through these interfaces,
 * passed in as the first argument. Paths given to {@link FileSystem} are *system* paths ("/etc/passwd");
 * the adapter maps them under {@link FileSystem.root}.
 */

/** What `lstat` tells about a path. */
export interface FileStat {
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits only (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** What {@link FileSystem.withPinned} pinned. */
export interface PinnedEntry {
  /** `/proc/self/fd/<n>`: names exactly the pinned object while the pin is held (this process only). */
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'socket' | 'other';
  /** Permission bits only (0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Options of an atomic write. */
export interface WriteOptions {
  /** Permission bits of the new file. @default the old file's mode, else 0o644 */
  readonly mode?: number;
  /** Owner of the new file. @default the old file's owner, else the caller */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Keep the previous content as `<path>.<YYYYmmdd-HHMMSS.mmm>.bak` (unique name) before replacing it.
   * @default true
   */
  readonly backup?: boolean;
  /**
   * Awaited once the new content is durable in its temporary file (same directory), before the rename puts it in
   * place: a write prepared while what it depends on is still under way. When it throws, the temporary file is
   * removed, nothing is changed and its error is thrown. Not called when nothing is written (the same content).
   */
  readonly gate?: () => Promise<void>;
}

/** Options of {@link FileSystem.readFile}. */
export interface ReadOptions {
  /** Largest accepted file. @default 64 MiB */
  readonly maxBytes?: number;
}

/** Result of an atomic write. */
export interface WriteResult {
  /** System path of the backup of the previous content, if there was one. */
  readonly backup?: string;
  /** False when the file already had exactly this content, mode and owner (nothing was written). */
  readonly changed: boolean;
}

/** What {@link FileSystem.withDirReader} found under one name: the bytes of a regular file, or what it is. */
export type DirEntryRead =
  | { readonly kind: 'file'; readonly data: Uint8Array }
  | { readonly kind: 'missing' }
  | { readonly kind: 'symlink' }
  | { readonly kind: 'other' }
  | { readonly kind: 'too-large'; readonly size: number };

/** Reads `name` (one path component) of the pinned directory, at most `maxBytes`. */
export type DirEntryReader = (name: string, maxBytes: number) => Promise<DirEntryRead>;

/** A root-prefixed file system. Every method takes absolute system paths. */
export interface FileSystem {
  /** Host directory that stands for "/". */
  readonly root: string;
  /** Map a system path to the host path under root; refuses paths and symlinks that leave root. */
  resolve(path: string): Promise<string>;
  /**
   * A regular file's content, bounded: `FS_TOO_LARGE` above `maxBytes`, `FS_IS_A_DIRECTORY` /
   * `FS_NOT_A_FILE` (UsageError) for a directory, FIFO or device, `FS_NOT_FOUND` (NotFoundError) when missing.
   */
  readFile(path: string, options?: ReadOptions): Promise<Uint8Array>;
  readText(path: string, options?: ReadOptions): Promise<string>;
  /** Like readText, but `undefined` for a missing file. */
  readTextIfExists(path: string, options?: ReadOptions): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  /** lstat; `undefined` when missing. */
  stat(path: string): Promise<FileStat | undefined>;
  /** Names in a directory, sorted. */
  readdir(path: string): Promise<string[]>;
  mkdir(
    path: string,
    options?: { readonly mode?: number; readonly uid?: number; readonly gid?: number },
  ): Promise<void>;
  /** Temp file in the same directory, fsync, rename, fsync of the directory; keeps a backup. */
  writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    options?: WriteOptions,
  ): Promise<WriteResult>;
  /** Create or atomically replace a symlink `path` -> `target` (target kept verbatim). */
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string | undefined>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string, options?: { readonly recursive?: boolean }): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  /** lchown: never follows the last component (or any link in a directory another user can write). */
  chown(path: string, uid: number, gid: number): Promise<void>;
  /**
   * Recursive chown by descriptor: links are lchown'd, never followed; other devices and files with
   * foreign hard links are left alone; the walk never leaves the tree.
   */
  chownTree(path: string, uid: number, gid: number): Promise<void>;
  /**
   * Opens directory `path` by descriptor (the same no-follow walk) and hands `fn` a host path that stays
   * bound to exactly that directory, `/proc/<pid>/fd/<n>`, while `fn` runs: the working directory of a
   * tool that must act on it (`chattr +i .`) even if its parent is writable by another user.
   */
  withDir<T>(path: string, fn: (pinned: string) => Promise<T>): Promise<T>;
  /**
   * Pins the object at `path` (any kind: file, directory, socket) by the same no-follow walk and hands `fn`
   * `/proc/self/fd/<n>` of an `O_PATH` descriptor, valid while `fn` runs: connect to a unix socket or reopen
   * a file in a directory another user controls without the kernel resolving the name again. A symlink in
   * such a directory is refused (`FS_UNSAFE_PATH`), a missing path is `FS_NOT_FOUND`.
   */
  withPinned<T>(path: string, fn: (pinned: PinnedEntry) => Promise<T>): Promise<T>;
  /**
   * Opens directory `path` once by descriptor (the same no-follow walk) and hands `fn` a reader of the names
   * directly in it: each read is one open relative to that descriptor that never follows a link (a link is
   * reported, not read), bounded by `maxBytes`. For many small files of one directory (lookaside signatures):
   * no walk from the root per file. Missing directory: `FS_NOT_FOUND` (NotFoundError) before `fn` runs.
   */
  withDirReader?<T>(path: string, fn: (read: DirEntryReader) => Promise<T>): Promise<T>;
  /** Run `fn` holding an exclusive advisory lock on `<path>.lock` (read-modify-write of shared files). */
  withLock<T>(
    path: string,
    fn: () => Promise<T>,
    options?: { readonly timeoutMs?: number },
  ): Promise<T>;
  /** A private temporary directory (0700) on the host, outside root; returns a host path. */
  makeTempDir(prefix: string): Promise<string>;
}

/** Result of a finished process. */
export interface ProcessResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the process was killed by a signal or a timeout. */
  readonly signal?: string;
  readonly timedOut?: boolean;
}

/** Options of {@link ProcessRunner.run}. */
export interface RunOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Data written to stdin. */
  readonly input?: string | Uint8Array;
  /** @default 600000 */
  readonly timeoutMs?: number;
  /** Stream the child's stderr to ours (progress of long tools). @default false */
  readonly inheritStderr?: boolean;
  /** Return stdout as raw bytes in `stdoutBytes`. */
  readonly binary?: boolean;
  /**
   * Run as this user (through `setpriv --reuid --regid`, supplementary groups given or cleared, no new
   * privileges): for tools that read a user's own configuration (gpg on `~/.gnupg`), which must never run
   * as root. The working directory defaults to "/" then.
   */
  readonly runAs?: RunAs;
}

/** Credentials a child process drops to (numbers: under --root the user is not in the host's passwd). */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups. @default none */
  readonly groups?: readonly number[];
}

/** Runs external programs with argument arrays only; never through a shell. */
export interface ProcessRunner {
  run(
    file: string,
    args: readonly string[],
    options?: RunOptions,
  ): Promise<ProcessResult & { readonly stdoutBytes?: Uint8Array }>;
}

/** Priority of a log record (syslog names, as `logger -p`). */
export type LogPriority =
  'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug';

/** Sends records to syslog/journal, as `logger -p <facility>.<prio> -t <tag>` does. */
export interface Logger {
  log(
    priority: LogPriority,
    message: string,
    options?: { readonly tag?: string; readonly facility?: string },
  ): Promise<void>;
}

/** The only way a library talks to the user. */
export interface Reporter {
  info(message: string): void;
  warn(message: string): void;
  /** Progress of long work, e.g. "3/20 pushed registry.local/c10f/pause:3.9". */
  progress(message: string): void;
  /** The command's result: text for humans, or data for `--json`. */
  result(text: string, data?: unknown): void;
  debug(message: string): void;
}

/** Facts about the host that are not files. */
export interface HostInfo {
  /** Every address configured on a local interface (IPv4 and IPv6, without prefix length). */
  localAddresses(): Promise<string[]>;
}

/** Everything that touches the host. */
export interface System {
  /** Directory that stands for "/". "/" in production, a temp dir in tests. */
  readonly root: string;
  readonly fs: FileSystem;
  /**
   * The host's own file system ("/" whatever --root says), for files the user names on the command line
   * (keys, passphrase files, archives, bundles). CLIs make such paths absolute against the working directory.
   */
  readonly hostFs: FileSystem;
  readonly proc: ProcessRunner;
  /** HTTP(S) and unix-socket requests with deadlines, bounded bodies and pinned trust. */
  readonly http: HttpClient;
  /** Long-running processes: run-as-user, readiness, restart, clean stop of the process group. */
  readonly daemons: DaemonLauncher;
  readonly users: UserDatabase;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock: { now(): Date };
  readonly report: Reporter;
  readonly log: Logger;
  /** Effective uid and gid of the process. */
  readonly identity: { readonly uid: number; readonly gid: number; readonly user?: string };
  /** Facts about this host's network. */
  readonly host: HostInfo;
  /** Plan only: mutating helpers report what they would do and change nothing. */
  readonly dryRun: boolean;
}
