/**
 * Reading `signature-<n>` files of one lookaside directory that the rooted file system has already resolved
 * (symlinks followed inside the root, `..` refused): one open per file instead of one readlink per path segment,
 * which made an image with a hundred signatures cost thousands of system calls.
 * The last component is opened with O_NOFOLLOW and O_NONBLOCK (a symlink is left to the rooted file system, a
 * FIFO never blocks), checked to be a regular file with fstat, and read to at most `limit` bytes.
 */
import { constants as C, promises as fsp } from 'node:fs';

/** What one signature file turned out to be. */
export type SignatureFileRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'symlink' }
  | { readonly kind: 'not-file' }
  | { readonly kind: 'too-large'; readonly size: number }
  | { readonly kind: 'file'; readonly body: Uint8Array };

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/** Read `hostPath` (a file in a resolved directory) if it is a regular file of at most `limit` bytes. */
export async function readSignatureFile(
  hostPath: string,
  limit: number,
): Promise<SignatureFileRead> {
  let handle;
  try {
    handle = await fsp.open(hostPath, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'ELOOP') return { kind: 'symlink' };
    throw e;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { kind: 'not-file' };
    if (st.size > limit) return { kind: 'too-large', size: st.size };
    // the file may change between fstat and read: read at most limit + 1 bytes and judge what arrived
    let buf = new Uint8Array(Math.min(limit + 1, st.size + 1));
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > limit) return { kind: 'too-large', size: total };
        const bigger = new Uint8Array(Math.min(limit + 1, buf.length * 2));
        bigger.set(buf);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return { kind: 'file', body: buf.subarray(0, total) };
  } finally {
    await handle.close();
  }
}
