/**
 * The host side of the archive code (archive.ts): streaming `xz` processes (stream.ts) and plain file operations on
 * host paths: private temporary directories outside --root, the archive and the output directory the user names.
 */
import {
  closeSync,
  constants,
  fsync,
  createReadStream,
  lstatSync,
  mkdirSync,
  openSync,
  statfsSync,
  statSync,
  writevSync,
} from 'node:fs';
import path from 'node:path';
import type { ArchiveHost, HostEntry, OutputFile, XzReader, XzWriter } from './archive.ts';
import { settled } from '../util.ts';
import { fsPromises } from './fs-promises.ts';
import { startStreamingProcess } from './stream.ts';
import { makeTempDir, type TempDir } from './temp.ts';

/** Uncompressed size of an xz block when compressing with several threads: each block is one unit of work. */
const XZ_BLOCK_SIZE = '16MiB';

/** Bytes gathered before a write: a few large writes instead of one per 64 KiB pipe read. */
const WRITE_BATCH = 1024 * 1024;

/**
 * A new file written synchronously in large batches, as tar does: a write into the page cache takes far less than
 * the round trip through the thread pool that an asynchronous write costs per chunk, and xz keeps decompressing
 * into the pipe meanwhile.
 */
function openFile(file: string, flags: number, mode: number): Promise<OutputFile> {
  // opened and closed synchronously too (the many small files of a layout: two thread-pool round trips each)
  return settled(() => openedFile(file, openSync(file, flags, mode)));
}

function openedFile(file: string, fd: number): OutputFile {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pendingBytes === 0) return;
    // one writev of the gathered chunks (no copy); a short write continues from where it stopped
    let parts = pending;
    pending = [];
    pendingBytes = 0;
    while (parts.length > 0) {
      let done = writevSync(fd, parts);
      if (done === 0) throw new Error(`${file}: write made no progress`);
      let i = 0;
      while (i < parts.length && done >= (parts[i] as Uint8Array).length)
        done -= (parts[i++] as Uint8Array).length;
      parts = parts.slice(i);
      if (done > 0) parts[0] = (parts[0] as Uint8Array).subarray(done);
    }
  };
  return {
    write(chunk) {
      try {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH || pending.length >= 256) flush();
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
    async close(sync = false) {
      try {
        flush();
        if (sync)
          await new Promise<void>((resolve, reject) =>
            fsync(fd, (e) => (e ? reject(e) : resolve())),
          );
      } finally {
        closeSync(fd);
      }
    },
  };
}

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The real {@link ArchiveHost}. `env` is the environment of the xz processes (PATH). */
export function createArchiveHost(env: Readonly<Record<string, string | undefined>>): ArchiveHost {
  const xz = env['PODSEC_XZ'] ?? 'xz';
  const temps = new Map<string, TempDir>();
  return {
    resolve: (p) => path.resolve(p),
    // the metadata calls are synchronous: each is far less than a thread-pool round trip
    kind: (p) =>
      settled(() => {
        const st = statSync(p);
        return st.isFile()
          ? ('file' as const)
          : st.isDirectory()
            ? ('dir' as const)
            : ('other' as const);
      }).catch(() => undefined),
    sizeOf: (p) => settled(() => statSync(p).size),
    freeSpace: (dir) =>
      settled(() => {
        const st = statfsSync(dir);
        return st.bavail * st.bsize;
      }),
    async makeTempDir(parent, prefix) {
      const dir = await makeTempDir(parent, prefix);
      temps.set(dir.path, dir);
      return dir.path;
    },
    async removeTree(p) {
      const temp = temps.get(p);
      temps.delete(p);
      await (temp ? temp.remove() : fsPromises().rm(p, { recursive: true, force: true }));
    },
    forget(p) {
      temps.get(p)?.forget();
      temps.delete(p);
    },
    chmod: (p, mode) => fsPromises().chmod(p, mode),
    mkdir: (p, mode) =>
      settled(() => {
        try {
          mkdirSync(p, { mode });
          return 'created' as const;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const st = lstatSync(p);
          if (!st.isDirectory())
            throw new Error(`${p} exists and is not a directory`, { cause: e });
          return 'exists' as const;
        }
      }),
    createFile: (p, mode) => openFile(p, CREATE_FLAGS, mode),
    async readFile(p, maxBytes) {
      const fh = await fsPromises().open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new Error(`${p} is not a regular file`);
        if (st.size > maxBytes) throw new Error(`${p} is larger than ${maxBytes} bytes`);
        return new Uint8Array(await fh.readFile());
      } finally {
        await fh.close();
      }
    },
    readStream: (p) => createReadStream(p, { highWaterMark: 256 * 1024, flags: 'r' }),
    async list(dir) {
      const names = (await fsPromises().readdir(dir)).sort();
      const out: HostEntry[] = [];
      for (const name of names) {
        const st = await fsPromises().lstat(path.join(dir, name));
        out.push({
          name,
          kind: st.isFile()
            ? 'file'
            : st.isDirectory()
              ? 'dir'
              : st.isSymbolicLink()
                ? 'symlink'
                : 'other',
          size: st.size,
          mode: st.mode & 0o7777,
        });
      }
      return out;
    },
    rename: (from, to) => fsPromises().rename(from, to),
    async syncDir(dir) {
      const fh = await fsPromises().open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    },
    async xzDecompress(file, memlimitMiB, maxBytes): Promise<XzReader> {
      // one thread, as plain `xz -dc`: the layers in an image archive are compressed already, so xz mostly copies
      // stored chunks, and its threaded decoder only adds work (26 MiB of image layers: 0.07 s with -T1 against
      // 0.18 s and five times the CPU time with -T0, on two cores)
      const p = await startStreamingProcess(
        xz,
        ['-dc', '-T1', `--memlimit-decompress=${memlimitMiB}MiB`],
        {
          env,
          stdin: { file },
          stdout: 'pipe',
          ...(maxBytes === undefined ? {} : { maxStdoutBytes: maxBytes }),
        },
      );
      return {
        chunks: p.stdout,
        finish: () => p.finish(),
        kill: () => p.kill(),
      };
    },
    async xzCompress(outFile, level, threads): Promise<XzWriter> {
      const args = [
        `-${level}`,
        `-T${threads}`,
        ...(threads === 1 ? [] : [`--block-size=${XZ_BLOCK_SIZE}`]),
        '-c',
      ];
      const p = await startStreamingProcess(xz, args, {
        env,
        stdin: 'pipe',
        stdout: { createFile: outFile, mode: 0o644 },
      });
      return {
        write: (chunk) => p.write(chunk),
        finish: () => p.finish({ sync: true }),
        kill: () => p.kill(),
      };
    },
  };
}
