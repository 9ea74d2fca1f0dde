import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  fsync,
  linkSync,
  mkdirSync,
  rmSync,
  writeFileSync,
  writeSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NotFoundError, PodsecError, UsageError } from '../errors.ts';
import { errno, settled } from '../util.ts';
import { fsPromises } from './fs-promises.ts';
import type { DirEntryRead, FileStat, FileSystem, WriteOptions, WriteResult } from './types.ts';

/** Random hex for temporary names; node:crypto is loaded on the first write, not when a binary starts. */
const randomHex = (bytes: number): string =>
  process.getBuiltinModule('node:crypto').randomBytes(bytes).toString('hex');

const MAX_SYMLINKS = 40;

/** Options of {@link createRootFs}. */
export interface RootFsOptions {
  /** Clock for backup names. @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Test seam: awaited after the temp file is written and synced, before the rename.
   * Lets a test kill the writer at the most dangerous moment.
   */
  readonly beforeRename?: (tempHostPath: string) => Promise<void>;
}

/** Splits an absolute system path into segments, refusing relative paths and NUL bytes. */
function segmentsOf(p: string): string[] {
  if (typeof p !== 'string' || !p.startsWith('/')) {
    throw new UsageError('FS_RELATIVE_PATH', `not an absolute system path: ${JSON.stringify(p)}`);
  }
  if (p.includes('\0')) throw new UsageError('FS_BAD_PATH', 'path contains a NUL byte');
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `YYYYmmdd-HHMMSS` in local time. */
export function formatBackupStamp(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

function toStat(s: Stats): FileStat {
  const kind = s.isSymbolicLink()
    ? 'symlink'
    : s.isDirectory()
      ? 'dir'
      : s.isFile()
        ? 'file'
        : 'other';
  return { kind, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, size: s.size, mtimeMs: s.mtimeMs };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Default bound of {@link FileSystem.readFile}: no configuration file podsec reads comes near it. */
export const DEFAULT_MAX_READ = 64 * 1024 * 1024;

const NOFOLLOW_DIR = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const NOFOLLOW_FILE = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
// not exported by node: the Linux value on every architecture podsec supports
const O_PATH = 0o10000000;

/** What the walk and the readers need of an open descriptor: a FileHandle, or a {@link syncHandle}. */
interface Handle {
  readonly fd: number;
  stat(): Promise<Stats>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A descriptor opened with a synchronous call, behind the {@link Handle} methods. The walk and the reads are done
 * with synchronous system calls: each path is a few opens and stats of local directories, and a thread pool round
 * trip per call was most of the time a read-only command spent in the file system (and fs/promises' FileHandle
 * machinery with it). Closing twice closes once: the number may already belong to another file.
 */
function syncHandle(fd: number): Handle {
  let open = true;
  return {
    fd,
    stat: () => settle(() => fstatSync(fd)),
    chmod: (mode) => settle(() => fchmodSync(fd, mode)),
    sync: () => settle(() => fsyncSync(fd)),
    close: () =>
      settle(() => {
        if (!open) return;
        open = false;
        closeSync(fd);
      }),
  };
}

/** The result of a synchronous call as a promise: what it throws is a rejection, as for the fs/promises call. */
const settle = <T>(f: () => T): Promise<T> => new Promise((resolve) => resolve(f()));

/** An opened directory on the walk: operations go through `/proc/self/fd/<fd>/<name>`. */
interface DirRef {
  readonly h: Handle;
  /** Nobody but root (or we) can change its entries: symlinks in it may be followed. */
  readonly trusted: boolean;
  readonly dev: number;
}

/** Where a system path ended: its parent directory, opened, and the last name (none for the root). */
interface Located {
  readonly dir: DirRef;
  readonly name: string | undefined;
  /** `/proc/self/fd/N/<name>`: a path the kernel resolves from the opened directory. */
  readonly at: string;
  release(): Promise<void>;
}

function unsafe(p: string, why: string): UsageError {
  return new UsageError('FS_UNSAFE_PATH', `refusing ${p}: ${why}`, {
    details: { path: p, reason: why },
  });
}

/**
 * A file system whose "/" is `root`. Every operation walks the path by descriptor, one component at a time
 * (`O_NOFOLLOW | O_DIRECTORY` opens, then `/proc/self/fd/N/<name>`), so a directory swapped for a symlink
 * after a check can never redirect it. Symlinks are followed only out of *trusted* directories (owned by
 * root or by us and writable by nobody else), with absolute targets taken relative to the root as in a
 * chroot; a symlink in a directory another user can write is refused (`FS_UNSAFE_PATH`), and a `..` that
 * would climb above the root is refused (`FS_ROOT_ESCAPE`). The final component of chown, chmod, rename,
 * remove, symlink and writes is never followed.
 */
export function createRootFs(root: string, options: RootFsOptions = {}): FileSystem {
  const hostRoot = path.resolve(root);
  const now = options.now ?? (() => new Date());
  const euid = process.geteuid?.() ?? 0;

  const isTrusted = (s: Stats) => (s.uid === 0 || s.uid === euid) && (s.mode & 0o022) === 0;
  const procPath = (d: DirRef, name?: string) =>
    name === undefined ? `/proc/self/fd/${d.h.fd}` : `/proc/self/fd/${d.h.fd}/${name}`;

  async function openRoot(): Promise<DirRef> {
    let h: Handle;
    try {
      h = syncHandle(openSync(hostRoot, C.O_RDONLY | C.O_DIRECTORY));
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT')
        throw new UsageError('FS_ROOT_MISSING', `the root directory ${hostRoot} does not exist`, {
          details: { root: hostRoot },
          cause: e,
        });
      if (code === 'ENOTDIR')
        throw new UsageError('FS_ROOT_NOT_DIR', `the root ${hostRoot} is not a directory`, {
          details: { root: hostRoot },
          cause: e,
        });
      throw e;
    }
    const st = await h.stat();
    return { h, trusted: isTrusted(st), dev: st.dev };
  }

  /**
   * Walks `p` by descriptor. With `followLast` a final symlink is resolved too (same rules). Missing
   * intermediate directories fail with FS_NOT_FOUND; a missing last name is returned as is.
   */
  async function locate(p: string, followLast: boolean): Promise<Located> {
    const pending = segmentsOf(p);
    let depth = 0;
    for (const seg of pending) {
      depth += seg === '..' ? -1 : 1;
      if (depth < 0)
        throw new UsageError('FS_ROOT_ESCAPE', `path leaves the root ${hostRoot}: ${p}`, {
          details: { path: p },
        });
    }
    const stack: DirRef[] = [await openRoot()];
    const closeAll = async (from = 0) => {
      for (const d of stack.splice(from)) await d.h.close().catch(() => undefined);
    };
    let links = 0;
    try {
      while (pending.length > 0) {
        const seg = pending.shift()!;
        const top = stack[stack.length - 1]!;
        if (seg === '..') {
          if (stack.length === 1) {
            throw new UsageError('FS_ROOT_ESCAPE', `path leaves the root ${hostRoot}: ${p}`, {
              details: { path: p },
            });
          }
          await closeAll(stack.length - 1);
          continue;
        }
        const last = pending.length === 0;
        let st: Stats | undefined;
        try {
          st = lstatSync(procPath(top, seg));
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw e;
          st = undefined;
        }
        if (st === undefined) {
          if (last) return located(top, seg);
          throw new NotFoundError('FS_NOT_FOUND', `no such file or directory: ${p}`, {
            details: { path: p },
          });
        }
        if (st.isSymbolicLink() && (!last || followLast)) {
          if (!top.trusted)
            throw unsafe(p, `a symbolic link in a directory another user can write`);
          if (++links > MAX_SYMLINKS)
            throw new UsageError('FS_SYMLINK_LOOP', `too many symlinks: ${p}`, {
              details: { path: p },
            });
          const target = readlinkSync(procPath(top, seg));
          if (target.startsWith('/')) await closeAll(1);
          pending.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
          continue;
        }
        if (last) return located(top, seg);
        if (!st.isDirectory())
          throw new UsageError('FS_NOT_A_DIRECTORY', `not a directory: ${p}`, {
            details: { path: p },
          });
        let h: Handle;
        try {
          h = syncHandle(openSync(procPath(top, seg), NOFOLLOW_DIR));
        } catch (e) {
          // swapped for a link (ELOOP) or a file (ENOTDIR) since the lstat
          if (errno(e) === 'ELOOP' || errno(e) === 'ENOTDIR')
            throw unsafe(p, 'a directory changed while it was walked');
          throw e;
        }
        const ds = await h.stat();
        stack.push({ h, trusted: isTrusted(ds), dev: ds.dev });
      }
      return located(stack[stack.length - 1]!, undefined);
    } catch (e) {
      await closeAll();
      throw e;
    }

    function located(dir: DirRef, name: string | undefined): Located {
      // keep only the directory the caller works in
      const keep = stack.indexOf(dir);
      const others = stack.filter((_, i) => i !== keep);
      stack.length = 0;
      void Promise.all(others.map((d) => d.h.close().catch(() => undefined)));
      return {
        dir,
        name,
        // `.` for the root itself: O_NOFOLLOW would refuse the /proc magic link
        at: procPath(dir, name ?? '.'),
        release: () => dir.h.close().catch(() => undefined),
      };
    }
  }

  async function withLocated<T>(
    p: string,
    followLast: boolean,
    fn: (l: Located) => Promise<T>,
  ): Promise<T> {
    const l = await locate(p, followLast);
    try {
      return await fn(l);
    } finally {
      await l.release();
    }
  }

  /** Host path of a located name, for messages and external tools. */
  async function hostPathOf(l: Located): Promise<string> {
    const dir = await fsPromises().readlink(procPath(l.dir));
    return l.name === undefined ? dir : path.join(dir, l.name);
  }

  function lstatAt(at: string): Promise<Stats | undefined> {
    return settle(() => {
      try {
        return lstatSync(at);
      } catch (e) {
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
        throw e;
      }
    });
  }

  /** lstat of the located name; the opened directory itself for the root. */
  async function statLocated(l: Located): Promise<Stats | undefined> {
    return l.name === undefined ? l.dir.h.stat() : lstatAt(l.at);
  }

  /** Opens a located non-link for fchown/fchmod/reading; refuses a link swapped in after the walk. */
  function openNoFollow(l: Located, p: string, flags = NOFOLLOW_FILE): Promise<Handle> {
    return settle(() => {
      try {
        return syncHandle(openSync(l.at, flags));
      } catch (e) {
        if (errno(e) === 'ELOOP') throw unsafe(p, 'it is a symbolic link');
        if (errno(e) === 'ENOENT')
          throw new NotFoundError('FS_NOT_FOUND', `no such file: ${p}`, {
            details: { path: p },
            cause: e,
          });
        throw e;
      }
    });
  }

  /** {@link openNoFollow} of a directory: something else at `p` is `FS_NOT_A_DIRECTORY`. */
  async function openDirNoFollow(l: Located, p: string): Promise<Handle> {
    return openNoFollow(l, p, NOFOLLOW_DIR).catch((e: unknown) => {
      if (errno(e) === 'ENOTDIR')
        throw new UsageError('FS_NOT_A_DIRECTORY', `not a directory: ${p}`, {
          details: { path: p },
        });
      throw e;
    });
  }

  /** A hard link planted by another user would make root act on a file elsewhere. */
  function refuseForeignHardLink(l: Located, s: Stats, p: string): void {
    if (!l.dir.trusted && !s.isDirectory() && s.nlink > 1 && s.uid !== euid)
      throw unsafe(p, 'a file with several hard links in a directory another user can write');
  }

  async function uniqueBackupName(l: Located): Promise<string> {
    const base = `${l.name!}.${formatBackupStamp(now())}`;
    for (let i = 0; ; i++) {
      const candidate = i === 0 ? `${base}.bak` : `${base}.${i}.bak`;
      if ((await lstatAt(procPath(l.dir, candidate))) === undefined) return candidate;
    }
  }

  const toSystem = (host: string) => '/' + path.relative(hostRoot, host).split(path.sep).join('/');

  /** Recursive removal by descriptor: never follows a link, never leaves the tree or its device. */
  async function removeTree(dir: DirRef, name: string, dev: number): Promise<void> {
    const at = procPath(dir, name);
    try {
      await fsPromises().unlink(at);
      return;
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOENT') return;
      if (code !== 'EISDIR' && code !== 'EPERM') throw e;
    }
    let h: FileHandle;
    try {
      h = await fsPromises().open(at, NOFOLLOW_DIR);
    } catch (e) {
      if (errno(e) === 'ENOENT') return;
      throw e;
    }
    try {
      const st = await h.stat();
      if (st.dev !== dev) throw unsafe(at, 'a mount point inside the tree');
      const sub: DirRef = { h, trusted: isTrusted(st), dev: st.dev };
      for (const n of await fsPromises().readdir(procPath(sub))) await removeTree(sub, n, dev);
    } finally {
      await h.close();
    }
    await fsPromises()
      .rmdir(at)
      .catch((e: unknown) => {
        if (errno(e) !== 'ENOENT') throw e;
      });
  }

  /** Recursive chown (and chmod of directories/files) by descriptor: links get lchown, never followed. */
  async function chownTreeAt(
    dir: DirRef,
    name: string,
    o: { uid: number; gid: number; dev: number; p: string },
  ): Promise<void> {
    const at = procPath(dir, name);
    const st = await lstatAt(at);
    if (st === undefined) return;
    if (st.isSymbolicLink()) {
      await fsPromises().lchown(at, o.uid, o.gid);
      return;
    }
    if (!st.isDirectory() && !st.isFile()) return;
    if (st.dev !== o.dev) return;
    let h: FileHandle;
    try {
      h = await fsPromises().open(at, st.isDirectory() ? NOFOLLOW_DIR : NOFOLLOW_FILE);
    } catch (e) {
      if (errno(e) === 'ELOOP' || errno(e) === 'ENOENT') return; // swapped meanwhile: not ours to touch
      throw e;
    }
    try {
      const hs = await h.stat();
      if (hs.ino !== st.ino) return;
      if (hs.isFile() && hs.nlink > 1 && hs.uid !== o.uid) return;
      await h.chown(o.uid, o.gid);
      if (hs.isDirectory()) {
        const sub: DirRef = { h, trusted: isTrusted(hs), dev: hs.dev };
        for (const n of await fsPromises().readdir(procPath(sub))) await chownTreeAt(sub, n, o);
      }
    } finally {
      await h.close();
    }
  }

  const fs: FileSystem = {
    root: hostRoot,
    async resolve(p) {
      try {
        return await withLocated(p, true, hostPathOf);
      } catch (e) {
        // a path that does not exist yet: where it would be (nothing to follow on the missing part)
        if (e instanceof NotFoundError) return path.join(hostRoot, ...lexical(p));
        throw e;
      }
    },

    async readFile(p, o = {}) {
      const max = o.maxBytes ?? DEFAULT_MAX_READ;
      return withLocated(p, true, async (l) => {
        let h: Handle;
        try {
          h = await openNoFollow(l, p);
        } catch (e) {
          if (e instanceof NotFoundError) throw e;
          if (errno(e) === 'ENOTDIR') throw e;
          throw e;
        }
        try {
          const st = await h.stat();
          if (st.isDirectory())
            throw new UsageError('FS_IS_A_DIRECTORY', `${p} is a directory, not a file`, {
              details: { path: p },
            });
          if (!st.isFile())
            throw new UsageError('FS_NOT_A_FILE', `${p} is not a regular file`, {
              details: { path: p },
            });
          if (st.size > max)
            throw new UsageError('FS_TOO_LARGE', `${p} is larger than ${max} bytes`, {
              details: { path: p, maxBytes: max },
            });
          const data = await readBounded(h.fd, st.size, max);
          if (data === undefined)
            throw new UsageError('FS_TOO_LARGE', `${p} is larger than ${max} bytes`, {
              details: { path: p, maxBytes: max },
            });
          return data;
        } finally {
          await h.close();
        }
      });
    },
    async readText(p, o) {
      return Buffer.from(await fs.readFile(p, o)).toString('utf8');
    },
    async readTextIfExists(p, o) {
      try {
        return await fs.readText(p, o);
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    },
    async exists(p) {
      try {
        return await withLocated(p, true, async (l) => (await statLocated(l)) !== undefined);
      } catch (e) {
        if (e instanceof NotFoundError || errno(e) === 'ENOTDIR') return false;
        throw e;
      }
    },
    async stat(p) {
      try {
        return await withLocated(p, false, async (l) => {
          const s = await statLocated(l);
          return s && toStat(s);
        });
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        if (isUsage(e, 'FS_NOT_A_DIRECTORY') || isUsage(e, 'FS_ROOT_MISSING')) return undefined;
        throw e;
      }
    },
    async readdir(p) {
      return withLocated(p, true, async (l) => {
        const h = await openDirNoFollow(l, p).catch((e: unknown) => {
          if (e instanceof NotFoundError)
            throw new NotFoundError('FS_NOT_FOUND', `no such directory: ${p}`, {
              details: { path: p },
              cause: e,
            });
          throw e;
        });
        try {
          return readdirSync(`/proc/self/fd/${h.fd}`).sort();
        } finally {
          await h.close();
        }
      });
    },
    async mkdir(p, o = {}) {
      const segs = segmentsOf(p);
      for (let i = 1; i <= segs.length; i++) {
        const sys = '/' + segs.slice(0, i).join('/');
        const last = i === segs.length;
        await withLocated(sys, true, (l) =>
          settled(() => {
            if (l.name === undefined) return;
            // synchronous calls: each is one system call, far less than a thread-pool round trip (a signature's
            // directory is eight levels deep)
            let created = false;
            try {
              mkdirSync(l.at, last && o.mode !== undefined ? { mode: o.mode } : {});
              created = true;
            } catch (e) {
              if (errno(e) !== 'EEXIST') throw e;
            }
            let fd: number;
            try {
              fd = openSync(l.at, NOFOLLOW_DIR);
            } catch (e) {
              if (errno(e) === 'ENOTDIR')
                throw new UsageError('FS_NOT_A_DIRECTORY', `not a directory: ${sys}`, {
                  details: { path: sys },
                });
              if (errno(e) === 'ELOOP') throw unsafe(sys, 'it is a symbolic link');
              throw e;
            }
            try {
              if (!last && !created) return;
              if (last && o.mode !== undefined) fchmodSync(fd, o.mode);
              if (last && (o.uid !== undefined || o.gid !== undefined))
                fchownSync(fd, o.uid ?? -1, o.gid ?? -1);
            } finally {
              closeSync(fd);
            }
          }),
        );
      }
    },

    async writeFileAtomic(p, data, o: WriteOptions = {}): Promise<WriteResult> {
      return withLocated(p, false, async (l) => {
        if (l.name === undefined) throw new UsageError('FS_IS_A_DIRECTORY', `is a directory: ${p}`);
        const old = await lstatAt(l.at);
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
        const mode = o.mode ?? (old?.isFile() ? old.mode & 0o7777 : 0o644);
        const uid = o.uid ?? (old?.isFile() ? old.uid : undefined);
        const gid = o.gid ?? (old?.isFile() ? old.gid : undefined);
        if (old?.isDirectory())
          throw new UsageError('FS_IS_A_DIRECTORY', `${p} is a directory, not a file`, {
            details: { path: p },
          });
        if (
          old?.isFile() &&
          (old.mode & 0o7777) === mode &&
          (uid === undefined || uid === old.uid) &&
          (gid === undefined || gid === old.gid)
        ) {
          const cur = await fsPromises()
            .open(l.at, NOFOLLOW_FILE)
            .catch(() => undefined);
          if (cur) {
            try {
              if ((await cur.stat()).size === bytes.length && (await cur.readFile()).equals(bytes))
                return { changed: false };
            } finally {
              await cur.close();
            }
          }
        }
        const tmpName = `.${l.name}.tmp-${randomHex(6)}`;
        const tmp = procPath(l.dir, tmpName);
        // the temporary file is created, written and given its owner and mode with synchronous calls (a few system
        // calls on a small file, far less than their thread-pool round trips); only the fsync, which waits for the
        // disk, is left to the thread pool
        const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          try {
            for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
            if (uid !== undefined || gid !== undefined) fchownSync(fd, uid ?? -1, gid ?? -1);
            fchmodSync(fd, mode);
            await new Promise<void>((resolve, reject) =>
              fsync(fd, (e) => (e ? reject(e) : resolve())),
            );
          } finally {
            closeSync(fd);
          }
          if (o.gate) await o.gate();
          let backup: string | undefined;
          if (old && (o.backup ?? true)) {
            const b = await uniqueBackupName(l);
            // A hard link keeps the old content exactly, at no copy cost, before the rename replaces the
            // name; link(2) never follows a symlink.
            await fsPromises().link(l.at, procPath(l.dir, b));
            backup = toSystem(path.join(await fsPromises().readlink(procPath(l.dir)), b));
          }
          if (options.beforeRename) await options.beforeRename(tmp);
          await fsPromises().rename(tmp, l.at);
          await l.dir.h.sync();
          return backup === undefined ? { changed: true } : { changed: true, backup };
        } catch (e) {
          await fsPromises().rm(tmp, { force: true });
          throw e;
        }
      });
    },

    async symlink(target, p) {
      await withLocated(p, false, async (l) => {
        if (l.name === undefined) throw new UsageError('FS_IS_A_DIRECTORY', `is a directory: ${p}`);
        const tmp = procPath(l.dir, `.${l.name}.lnk-${randomHex(6)}`);
        await fsPromises().symlink(target, tmp);
        try {
          await fsPromises().rename(tmp, l.at);
        } catch (e) {
          await fsPromises().rm(tmp, { force: true });
          throw e;
        }
        await l.dir.h.sync();
      });
    },
    async readlink(p) {
      try {
        return await withLocated(p, false, (l) => fsPromises().readlink(l.at));
      } catch (e) {
        if (errno(e) === 'EINVAL' || errno(e) === 'ENOENT' || e instanceof NotFoundError)
          return undefined;
        throw e;
      }
    },
    async rename(from, to) {
      await withLocated(from, false, (a) =>
        withLocated(to, false, (b) => fsPromises().rename(a.at, b.at)),
      );
    },
    async remove(p, o = {}) {
      try {
        await withLocated(p, false, async (l) => {
          if (l.name === undefined) throw unsafe(p, 'the root itself');
          const st = await lstatAt(l.at);
          if (st === undefined) return;
          if (st.isDirectory() && !st.isSymbolicLink()) {
            if (!o.recursive)
              throw new UsageError('FS_IS_A_DIRECTORY', `${p} is a directory`, {
                details: { path: p },
              });
            await removeTree(l.dir, l.name, st.dev);
            return;
          }
          await fsPromises()
            .unlink(l.at)
            .catch((e: unknown) => {
              if (errno(e) !== 'ENOENT') throw e;
            });
        });
      } catch (e) {
        if (e instanceof NotFoundError) return;
        throw e;
      }
    },
    async chmod(p, mode) {
      await withLocated(p, true, async (l) => {
        const h = await openNoFollow(l, p).catch(async (e: unknown) => {
          // non-root without read permission on its own file: the parent is pinned, the name is not a link
          if (errno(e) === 'EACCES' && euid !== 0) {
            await fsPromises().chmod(l.at, mode);
            return undefined;
          }
          throw e;
        });
        if (!h) return;
        try {
          refuseForeignHardLink(l, await h.stat(), p);
          await h.chmod(mode);
        } finally {
          await h.close();
        }
      });
    },
    async chown(p, uid, gid) {
      await withLocated(p, false, async (l) => {
        const st = await lstatAt(l.at);
        if (st === undefined)
          throw new NotFoundError('FS_NOT_FOUND', `no such file: ${p}`, { details: { path: p } });
        refuseForeignHardLink(l, st, p);
        // lchown: the parent is pinned by descriptor and the last name is never followed
        await fsPromises().lchown(l.at, uid, gid);
      });
    },
    async chownTree(p, uid, gid) {
      await withLocated(p, false, async (l) => {
        if (l.name === undefined) throw unsafe(p, 'the root itself');
        const st = await lstatAt(l.at);
        if (st === undefined) return;
        await chownTreeAt(l.dir, l.name, { uid, gid, dev: st.dev, p });
      });
    },

    async withDir(p, fn) {
      return withLocated(p, true, async (l) => {
        const h = await openDirNoFollow(l, p);
        try {
          return await fn(`/proc/${process.pid}/fd/${h.fd}`);
        } finally {
          await h.close();
        }
      });
    },

    async withPinned(p, fn) {
      return withLocated(p, true, async (l) => {
        // O_PATH pins any kind of object (a socket cannot be opened for reading); O_NOFOLLOW keeps a link
        // swapped in after the walk from being followed: the descriptor would name the link itself
        const h = await fsPromises()
          .open(l.at, O_PATH | C.O_NOFOLLOW)
          .catch((e: unknown) => {
            if (errno(e) === 'ENOENT')
              throw new NotFoundError('FS_NOT_FOUND', `no such file or directory: ${p}`, {
                details: { path: p },
                cause: e,
              });
            throw e;
          });
        try {
          const st = await h.stat();
          if (st.isSymbolicLink()) throw unsafe(p, 'it is a symbolic link');
          refuseForeignHardLink(l, st, p);
          const kind = st.isFile()
            ? 'file'
            : st.isDirectory()
              ? 'dir'
              : st.isSocket()
                ? 'socket'
                : 'other';
          return await fn({
            path: `/proc/self/fd/${h.fd}`,
            kind,
            mode: st.mode & 0o7777,
            uid: st.uid,
            gid: st.gid,
          });
        } finally {
          await h.close();
        }
      });
    },

    async withDirReader(p, fn) {
      return withLocated(p, true, async (l) => {
        const h = await openDirNoFollow(l, p);
        // Synchronous system calls: the files are small and local, and four thread pool round trips per file were
        // most of the cost of reading a hundred signatures. O_NONBLOCK: a FIFO never blocks the open.
        const read = async (name: string, max: number): Promise<DirEntryRead> => {
          if (name === '' || name === '.' || name === '..' || name.includes('/'))
            throw unsafe(`${p}/${name}`, 'not a name in the directory');
          let fd: number;
          try {
            fd = openSync(`/proc/self/fd/${h.fd}/${name}`, NOFOLLOW_FILE);
          } catch (e) {
            if (errno(e) === 'ENOENT') return { kind: 'missing' };
            if (errno(e) === 'ELOOP') return { kind: 'symlink' };
            throw e;
          }
          try {
            const st = fstatSync(fd);
            if (!st.isFile()) return { kind: 'other' };
            if (st.size > max) return { kind: 'too-large', size: st.size };
            const data = await readBounded(fd, st.size, max);
            return data === undefined
              ? { kind: 'too-large', size: max + 1 }
              : { kind: 'file', data };
          } finally {
            closeSync(fd);
          }
        };
        try {
          return await fn(read);
        } finally {
          await h.close();
        }
      });
    },

    async withLock(p, fn, o = {}) {
      // The lock protocol of shadow-utils (commonio_lock): `<file>.lock` holds the owner's pid and is
      // created with link(2), so useradd/groupadd and podsec exclude each other on /etc/group etc.
      const dirPath = p.slice(0, p.lastIndexOf('/')) || '/';
      // the lock may live in a directory a fresh root does not have yet (/run)
      await fs.mkdir(dirPath);
      const l = await locate(p, false);
      try {
        const lock = procPath(l.dir, `${l.name!}.lock`);
        const mine = procPath(l.dir, `${l.name!}.${process.pid}.${randomHex(4)}`);
        // (the lock's few system calls are synchronous: see mkdir)
        writeFileSync(mine, `${process.pid}`, { mode: 0o600, flag: 'wx' });
        const deadline = Date.now() + (o.timeoutMs ?? 30_000);
        let delay = 2;
        try {
          for (;;) {
            try {
              linkSync(mine, lock);
              break;
            } catch (e) {
              if (errno(e) !== 'EEXIST') throw e;
            }
            const raw = await readSmall(lock);
            if (raw === undefined) continue; // released meanwhile
            const text = raw.trim();
            const holder = /^[0-9]{1,10}$/.test(text) ? Number(text) : NaN;
            if (Number.isNaN(holder)) {
              // not a pid: nobody will ever release it, so waiting would only hide the problem
              throw new PodsecError(
                'FS_LOCK_GARBAGE',
                `the lock file ${p}.lock holds no process id; remove it if no podsec or shadow tool is running`,
                { details: { path: `${p}.lock` } },
              );
            }
            if (!isAlive(holder)) {
              // stale lock of a dead process: take it over
              await fsPromises().rm(lock, { force: true });
              continue;
            }
            if (Date.now() > deadline) {
              throw new PodsecError(
                'FS_LOCK_TIMEOUT',
                `could not lock ${p}: held by pid ${holder}`,
                {
                  details: { path: p, pid: holder },
                },
              );
            }
            await sleep(delay);
            delay = Math.min(delay * 2, 50);
          }
        } finally {
          rmSync(mine, { force: true });
        }
        try {
          return await fn();
        } finally {
          rmSync(lock, { force: true });
        }
      } finally {
        await l.release();
      }
    },

    async makeTempDir(prefix) {
      return fsPromises().mkdtemp(
        path.join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9_.-]/g, '_')}-`),
      );
    },
  };
  return fs;
}

/**
 * The rest of an opened file, at most `max` bytes (`undefined` beyond). The first buffer fits the size fstat
 * reported (+1 to see a file that grew), later ones up to 1 MiB: a 1 MiB zeroed buffer per small file was most of
 * the cost of reading a hundred signatures (after a short read, the one that sees the end of the file is small
 * too); only bytes read are returned. At least a page: procfs reports size 0, and an integer sysctl
 * (/proc/sys/fs/inotify/...) answers only the first read of a file, at offset 0 (a 1-byte first read gave "1"
 * for 128 and nothing after it).
 */
function readBounded(fd: number, size: number, max: number): Promise<Uint8Array | undefined> {
  return settle(() => {
    const chunks: Buffer[] = [];
    let total = 0;
    for (let want = Math.max(size + 1, 4096); ;) {
      const buf = Buffer.allocUnsafe(Math.min(want, max + 1 - total));
      // read synchronously (small local files: no thread pool round trip per read)
      const bytesRead = readSync(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      want = bytesRead < buf.length ? 8192 : 1024 * 1024;
      total += bytesRead;
      if (total > max) return undefined;
      chunks.push(buf.subarray(0, bytesRead));
    }
    return new Uint8Array(Buffer.concat(chunks));
  });
}

/** A lock file's content (at most 64 bytes); `undefined` when it is gone. */
async function readSmall(at: string): Promise<string | undefined> {
  let h: FileHandle;
  try {
    h = await fsPromises().open(at, NOFOLLOW_FILE);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    if (errno(e) === 'ELOOP') return 'symlink';
    throw e;
  }
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await h.read(buf, 0, 64, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await h.close();
  }
}

/** Segments of an absolute path with `..` applied lexically (callers checked it stays in the root). */
function lexical(p: string): string[] {
  const out: string[] = [];
  for (const seg of segmentsOf(p))
    if (seg === '..') out.pop();
    else out.push(seg);
  return out;
}

function isUsage(e: unknown, code: string): boolean {
  return e instanceof UsageError && e.code === code;
}
