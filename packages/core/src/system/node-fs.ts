import { constants as C, promises as fsp, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NotFoundError, PodsecError, UsageError } from '../errors.ts';
import type { FileStat, FileSystem, WriteOptions, WriteResult } from './types.ts';

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

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
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

/**
 * A file system whose "/" is `root`. System paths are resolved segment by segment; symlinks are
 * followed inside the root (absolute targets are taken relative to the root, as in a chroot) and a
 * `..` that would climb above the root is refused with `FS_ROOT_ESCAPE`.
 */
export function createRootFs(root: string, options: RootFsOptions = {}): FileSystem {
  const hostRoot = path.resolve(root);
  const now = options.now ?? (() => new Date());

  async function walk(p: string, followLast: boolean): Promise<string> {
    const pending = segmentsOf(p);
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const seg = pending.shift()!;
      if (seg === '..') {
        if (done.length === 0) {
          throw new UsageError('FS_ROOT_ESCAPE', `path leaves the root ${hostRoot}: ${p}`, {
            details: { path: p },
          });
        }
        done.pop();
        continue;
      }
      done.push(seg);
      if (pending.length === 0 && !followLast) break;
      const host = path.join(hostRoot, ...done);
      let target: string;
      try {
        target = await fsp.readlink(host);
      } catch (e) {
        const code = errno(e);
        if (code === 'EINVAL' || code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw e;
      }
      if (++links > MAX_SYMLINKS)
        throw new UsageError('FS_SYMLINK_LOOP', `too many symlinks: ${p}`);
      done.pop();
      const tsegs = target.split('/').filter((s) => s !== '' && s !== '.');
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...tsegs);
    }
    return path.join(hostRoot, ...done);
  }

  async function lstatOrUndef(host: string) {
    try {
      return await fsp.lstat(host);
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw e;
    }
  }

  async function fsyncDir(dir: string): Promise<void> {
    const h = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY);
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }

  async function uniqueBackupName(hostPath: string): Promise<string> {
    const base = `${hostPath}.${formatBackupStamp(now())}`;
    for (let i = 0; ; i++) {
      const candidate = i === 0 ? `${base}.bak` : `${base}.${i}.bak`;
      if ((await lstatOrUndef(candidate)) === undefined) return candidate;
    }
  }

  const toSystem = (host: string) => '/' + path.relative(hostRoot, host).split(path.sep).join('/');

  const fs: FileSystem = {
    root: hostRoot,
    resolve: (p) => walk(p, true),

    async readFile(p) {
      try {
        return new Uint8Array(await fsp.readFile(await walk(p, true)));
      } catch (e) {
        if (errno(e) === 'ENOENT')
          throw new NotFoundError('FS_NOT_FOUND', `no such file: ${p}`, { cause: e });
        throw e;
      }
    },
    async readText(p) {
      return Buffer.from(await fs.readFile(p)).toString('utf8');
    },
    async readTextIfExists(p) {
      try {
        return await fs.readText(p);
      } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }
    },
    async exists(p) {
      return (await lstatOrUndef(await walk(p, true))) !== undefined;
    },
    async stat(p) {
      const s = await lstatOrUndef(await walk(p, false));
      return s && toStat(s);
    },
    async readdir(p) {
      try {
        return (await fsp.readdir(await walk(p, true))).sort();
      } catch (e) {
        if (errno(e) === 'ENOENT')
          throw new NotFoundError('FS_NOT_FOUND', `no such directory: ${p}`, { cause: e });
        throw e;
      }
    },
    async mkdir(p, o = {}) {
      const segs = segmentsOf(p);
      for (let i = 1; i <= segs.length; i++) {
        const sys = '/' + segs.slice(0, i).join('/');
        const host = await walk(sys, true);
        const last = i === segs.length;
        try {
          await fsp.mkdir(host, last && o.mode !== undefined ? { mode: o.mode } : {});
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
          const s = await fsp.stat(host);
          if (!s.isDirectory())
            throw new UsageError('FS_NOT_A_DIRECTORY', `not a directory: ${sys}`);
          if (!last) continue;
        }
        if (last) {
          if (o.mode !== undefined) await fsp.chmod(host, o.mode);
          if (o.uid !== undefined || o.gid !== undefined)
            await fsp.chown(host, o.uid ?? -1, o.gid ?? -1);
        }
      }
    },

    async writeFileAtomic(p, data, o: WriteOptions = {}): Promise<WriteResult> {
      const host = await walk(p, false);
      const dir = path.dirname(host);
      const old = await lstatOrUndef(host);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
      const mode = o.mode ?? (old?.isFile() ? old.mode & 0o7777 : 0o644);
      const uid = o.uid ?? (old?.isFile() ? old.uid : undefined);
      const gid = o.gid ?? (old?.isFile() ? old.gid : undefined);
      if (
        old?.isFile() &&
        (old.mode & 0o7777) === mode &&
        (uid === undefined || uid === old.uid) &&
        (gid === undefined || gid === old.gid)
      ) {
        const cur = await fsp.readFile(host);
        if (cur.equals(bytes)) return { changed: false };
      }
      if (old?.isDirectory()) throw new UsageError('FS_IS_A_DIRECTORY', `is a directory: ${p}`);
      const tmp = path.join(dir, `.${path.basename(host)}.tmp-${randomBytes(6).toString('hex')}`);
      const h = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
      try {
        try {
          await h.writeFile(bytes);
          if (uid !== undefined || gid !== undefined) await h.chown(uid ?? -1, gid ?? -1);
          await h.chmod(mode);
          await h.sync();
        } finally {
          await h.close();
        }
        let backup: string | undefined;
        if (old && (o.backup ?? true) && !old.isDirectory()) {
          const b = await uniqueBackupName(host);
          // A hard link keeps the old content exactly, at no copy cost, before the rename replaces the name.
          try {
            await fsp.link(host, b);
          } catch {
            await fsp.copyFile(host, b, C.COPYFILE_EXCL);
          }
          backup = toSystem(b);
        }
        if (options.beforeRename) await options.beforeRename(tmp);
        await fsp.rename(tmp, host);
        await fsyncDir(dir);
        return backup === undefined ? { changed: true } : { changed: true, backup };
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        throw e;
      }
    },

    async symlink(target, p) {
      const host = await walk(p, false);
      const tmp = path.join(
        path.dirname(host),
        `.${path.basename(host)}.lnk-${randomBytes(6).toString('hex')}`,
      );
      await fsp.symlink(target, tmp);
      try {
        await fsp.rename(tmp, host);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        throw e;
      }
      await fsyncDir(path.dirname(host));
    },
    async readlink(p) {
      try {
        return await fsp.readlink(await walk(p, false));
      } catch (e) {
        if (errno(e) === 'EINVAL' || errno(e) === 'ENOENT') return undefined;
        throw e;
      }
    },
    async rename(from, to) {
      await fsp.rename(await walk(from, false), await walk(to, false));
    },
    async remove(p, o = {}) {
      await fsp.rm(await walk(p, false), { force: true, recursive: o.recursive ?? false });
    },
    async chmod(p, mode) {
      await fsp.chmod(await walk(p, true), mode);
    },
    async chown(p, uid, gid) {
      await fsp.lchown(await walk(p, false), uid, gid);
    },

    async withLock(p, fn, o = {}) {
      // The lock protocol of shadow-utils (commonio_lock): `<file>.lock` holds the owner's pid and is
      // created with link(2), so useradd/groupadd and podsec exclude each other on /etc/group etc.
      const host = await walk(p, false);
      const lock = `${host}.lock`;
      const mine = `${host}.${process.pid}.${randomBytes(4).toString('hex')}`;
      // the lock may live in a directory a fresh root does not have yet (/run)
      await fsp.mkdir(path.dirname(host), { recursive: true, mode: 0o755 });
      await fsp.writeFile(mine, `${process.pid}`, { mode: 0o600 });
      const deadline = Date.now() + (o.timeoutMs ?? 30_000);
      let delay = 2;
      try {
        for (;;) {
          try {
            await fsp.link(mine, lock);
            break;
          } catch (e) {
            if (errno(e) !== 'EEXIST') throw e;
          }
          const holder = Number.parseInt(
            (await fsp.readFile(lock, 'utf8').catch(() => '')).trim(),
            10,
          );
          if (!Number.isNaN(holder) && !isAlive(holder)) {
            // stale lock of a dead process: take it over
            await fsp.rm(lock, { force: true });
            continue;
          }
          if (Date.now() > deadline) {
            throw new PodsecError('FS_LOCK_TIMEOUT', `could not lock ${p}: held by pid ${holder}`);
          }
          await sleep(delay);
          delay = Math.min(delay * 2, 50);
        }
      } finally {
        await fsp.rm(mine, { force: true });
      }
      try {
        return await fn();
      } finally {
        await fsp.rm(lock, { force: true });
      }
    },

    async makeTempDir(prefix) {
      return fsp.mkdtemp(path.join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
    },
  };
  return fs;
}
