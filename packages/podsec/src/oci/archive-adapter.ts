/**
 * Host adapter of the OCI archive code: streaming `xz` processes and plain file operations on host paths
 * (private temp directories outside --root, the archive and the output directory the user names).
 * System.proc cannot stream a child's stdout/stdin, so this is the one place that spawns directly.
 */
import { spawn } from 'node:child_process';
import { constants, createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, onSignalCleanup, removeOnSignal, type TempDir } from '@podsec/core/system';
import type { ArchiveHost, HostEntry, OutputFile, XzReader, XzWriter } from './archive.ts';

/** Uncompressed size of an xz block when compressing with several threads: each block is one unit of work. */
const XZ_BLOCK_SIZE = '16MiB';

const STDERR_LIMIT = 64 * 1024;

function collectStderr(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    if (text.length < STDERR_LIMIT) text += d;
  });
  return () => text;
}

/** Exit status of a child; while it runs, a signal that ends the command kills it first. */
function exitOf(child: ReturnType<typeof spawn>): Promise<number> {
  const forget = onSignalCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  }).finally(forget);
}

async function openFile(file: string, flags: number, mode: number): Promise<OutputFile> {
  const fh = await fsp.open(file, flags, mode);
  return {
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
    },
    async close(sync = false) {
      try {
        if (sync) await fh.sync();
      } finally {
        await fh.close();
      }
    },
  };
}

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The real {@link ArchiveHost}. `env` is the environment of the xz processes (PATH). */
export function createArchiveHost(env: Readonly<Record<string, string | undefined>>): ArchiveHost {
  const childEnv = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const xz = env['PODSEC_XZ'] ?? 'xz';
  const temps = new Map<string, TempDir>();
  return {
    resolve: (p) => path.resolve(p),
    async kind(p) {
      try {
        const st = await fsp.stat(p);
        return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
      } catch {
        return undefined;
      }
    },
    async sizeOf(p) {
      return (await fsp.stat(p)).size;
    },
    async freeSpace(dir) {
      const st = await fsp.statfs(dir);
      return st.bavail * st.bsize;
    },
    async makeTempDir(parent, prefix) {
      const dir = await makeTempDir(parent, prefix);
      temps.set(dir.path, dir);
      return dir.path;
    },
    async removeTree(p) {
      const temp = temps.get(p);
      temps.delete(p);
      await (temp ? temp.remove() : fsp.rm(p, { recursive: true, force: true }));
    },
    forget(p) {
      temps.get(p)?.forget();
      temps.delete(p);
    },
    chmod: (p, mode) => fsp.chmod(p, mode),
    async mkdir(p, mode) {
      try {
        await fsp.mkdir(p, { mode });
        return 'created';
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const st = await fsp.lstat(p);
        if (!st.isDirectory()) throw new Error(`${p} exists and is not a directory`, { cause: e });
        return 'exists';
      }
    },
    createFile: (p, mode) => openFile(p, CREATE_FLAGS, mode),
    async readFile(p, maxBytes) {
      const fh = await fsp.open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
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
      const names = (await fsp.readdir(dir)).sort();
      const out: HostEntry[] = [];
      for (const name of names) {
        const st = await fsp.lstat(path.join(dir, name));
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
    rename: (from, to) => fsp.rename(from, to),
    async syncDir(dir) {
      const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    },
    async xzDecompress(file, memlimitMiB): Promise<XzReader> {
      const input = await fsp.open(file, constants.O_RDONLY);
      // -T0: the blocks of an archive written with several threads are decompressed in parallel (xz >= 5.4)
      const child = spawn(xz, ['-dc', '-T0', `--memlimit-decompress=${memlimitMiB}MiB`], {
        stdio: [input.fd, 'pipe', 'pipe'],
        env: childEnv,
      });
      const exit = exitOf(child);
      // the child has its own copy of the descriptor
      void exit.finally(() => input.close().catch(() => {}));
      const stderr = collectStderr(child.stderr);
      const stdout = child.stdout as NodeJS.ReadableStream & AsyncIterable<Uint8Array>;
      return {
        chunks: stdout,
        async finish() {
          const exitCode = await exit;
          return { exitCode, stderr: stderr() };
        },
        kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          (stdout as unknown as { destroy?: () => void }).destroy?.();
        },
      };
    },
    async xzCompress(outFile, level, threads): Promise<XzWriter> {
      const out = await fsp.open(outFile, CREATE_FLAGS, 0o644);
      const forget = removeOnSignal(outFile);
      const args = [
        `-${level}`,
        `-T${threads}`,
        ...(threads === 1 ? [] : [`--block-size=${XZ_BLOCK_SIZE}`]),
        '-c',
      ];
      const child = spawn(xz, args, {
        stdio: ['pipe', out.fd, 'pipe'],
        env: childEnv,
      });
      const exit = exitOf(child);
      const stderr = collectStderr(child.stderr);
      const stdin = child.stdin as NodeJS.WritableStream & {
        off: NodeJS.WritableStream['removeListener'];
      };
      const state: { broken?: Error } = {};
      stdin.on('error', (e: Error) => {
        state.broken = e;
      });
      const check = (): void => {
        if (state.broken) throw state.broken;
      };
      return {
        async write(chunk) {
          check();
          if (!stdin.write(chunk)) {
            await new Promise<void>((resolve) => {
              const done = () => {
                stdin.off('drain', done);
                stdin.off('close', done);
                resolve();
              };
              stdin.on('drain', done);
              stdin.on('close', done);
            });
          }
          check();
        },
        async finish() {
          stdin.end();
          const exitCode = await exit;
          try {
            if (exitCode === 0) await out.sync();
          } finally {
            await out.close();
            forget();
          }
          return { exitCode, stderr: stderr() };
        },
        kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          void exit.finally(() => out.close().catch(() => {}));
        },
      };
    },
  };
}
