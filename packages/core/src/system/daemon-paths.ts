/**
 * Reaching files and sockets that live in directories another user controls (a daemon's state dir such as
 * `/run/user/<uid>/…`) without following any symlink: every component is opened with
 * `O_PATH | O_NOFOLLOW` relative to the previous one through `/proc/self/fd/N/<name>`, so a user who swaps
 * a directory for a symlink cannot redirect root. The final object is then used through its descriptor.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { UsageError } from '../errors.ts';

// not exported by node: the Linux value on every architecture podsec supports
const O_PATH = 0o10000000;

/** What a no-follow walk found. */
export interface PinnedPath {
  /** `/proc/self/fd/N`: names the pinned object for connect()/open() while the pin is held. */
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'socket' | 'other';
  readonly uid: number;
  close(): void;
}

/** Pins an absolute host path without following symlinks in any component. Throws `PATH_SYMLINK` etc. */
export function pinPathNoFollow(hostPath: string): PinnedPath {
  if (!hostPath.startsWith('/'))
    throw new UsageError('PATH_NOT_ABSOLUTE', `not an absolute path: ${hostPath}`);
  const parts = hostPath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UsageError('PATH_DOTDOT', `path contains "..": ${hostPath}`);
  let fd = openSync('/', O_PATH | constants.O_DIRECTORY);
  try {
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      let next: number;
      try {
        next = openSync(
          `/proc/self/fd/${fd}/${parts[i]}`,
          O_PATH | constants.O_NOFOLLOW | (last ? 0 : constants.O_DIRECTORY),
        );
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOTDIR' || code === 'ELOOP')
          throw new UsageError(
            'PATH_SYMLINK',
            `${hostPath}: ${parts.slice(0, i + 1).join('/')} is not a directory (symlink?)`,
          );
        throw e;
      }
      closeSync(fd);
      fd = next;
    }
    const st = fstatSync(fd);
    if (st.isSymbolicLink())
      throw new UsageError('PATH_SYMLINK', `${hostPath} is a symlink, not followed`);
    const kind = st.isFile()
      ? 'file'
      : st.isDirectory()
        ? 'dir'
        : st.isSocket()
          ? 'socket'
          : 'other';
    const pinned = fd;
    let open = true;
    return {
      path: `/proc/self/fd/${pinned}`,
      kind,
      uid: st.uid,
      close() {
        if (open) closeSync(pinned);
        open = false;
      },
    };
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    throw e;
  }
}

/**
 * Reads a small regular file reached without following symlinks; `undefined` when it does not exist.
 * Throws `FILE_TOO_LARGE` beyond `maxBytes`, `PATH_SYMLINK`/`FILE_NOT_REGULAR` for anything else.
 */
export function readFileNoFollow(hostPath: string, maxBytes: number): string | undefined {
  let pin: PinnedPath;
  try {
    pin = pinPathNoFollow(hostPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    if (pin.kind !== 'file')
      throw new UsageError('FILE_NOT_REGULAR', `${hostPath} is not a regular file`);
    // reopening the magic link opens exactly the pinned inode
    const fd = openSync(pin.path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(maxBytes + 1);
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
        if (n > maxBytes)
          throw new UsageError('FILE_TOO_LARGE', `${hostPath} is larger than ${maxBytes} bytes`);
      }
      return buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } finally {
    pin.close();
  }
}
