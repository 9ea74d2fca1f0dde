/**
 * Streaming processes for the System boundary: a child whose stdin comes from a file or from our writes and whose
 * stdout goes to us as a bounded, counted chunk stream or straight into a new file (`xz -dc < archive | <reader>`,
 * `<writer> | xz -9 > file`). Argument arrays only, never a shell; stderr is kept up to a limit for the message.
 * While the child runs, a SIGINT/SIGTERM/SIGHUP that ends the command kills it first (see temp.ts), so a killed
 * command leaves no process writing into a directory that is being removed.
 */
import { closeSync, constants, openSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ExternalCommandError } from '../errors.ts';
import { drained } from './drain.ts';
import { fsPromises } from './fs-promises.ts';
import { spawn } from './process.ts';
import { onSignalCleanup, removeOnSignal } from './temp.ts';

/** stderr kept for the error message. */
const DEFAULT_STDERR_LIMIT = 64 * 1024;

/** Options of {@link startStreamingProcess}. */
export interface StreamingOptions {
  /** The complete environment (nothing is inherited). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * stdin: `{ file }` is opened read-only (as `< file` would: a file the caller named) and handed to the child;
   * `'pipe'` takes {@link StreamingProcess.write}. @default 'ignore'
   */
  readonly stdin?: { readonly file: string } | 'pipe' | 'ignore';
  /**
   * stdout: `'pipe'` is read through {@link StreamingProcess.stdout}; `{ createFile, mode }` is a new file
   * (O_EXCL | O_NOFOLLOW), removed if a signal ends the command before {@link StreamingProcess.finish}.
   * @default 'ignore'
   */
  readonly stdout?: 'pipe' | { readonly createFile: string; readonly mode: number } | 'ignore';
  /**
   * Most bytes read from a piped stdout: one more and the child is killed and the stream fails with
   * `PROC_OUTPUT_LIMIT`. @default unlimited
   */
  readonly maxStdoutBytes?: number;
  /** stderr kept. @default 64 KiB */
  readonly stderrLimit?: number;
}

/** How a streaming process ended. */
export interface StreamingExit {
  /** Exit code; 128 + n is not used: a signal gives `signal` and exit code 128. 127 = could not start. */
  readonly exitCode: number;
  readonly signal?: string;
  readonly stderr: string;
}

/** A running streaming process. */
export interface StreamingProcess {
  /** Chunks of a piped stdout (empty for another stdout). Iterate once. */
  readonly stdout: AsyncIterable<Uint8Array>;
  /** Bytes read from stdout so far. */
  readonly bytesOut: number;
  /** Write to a piped stdin, waiting while the pipe is full; throws when the child closed it. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Close stdin (if piped), wait for the exit and close the stdout file, fsynced first with `sync` and a zero exit.
   * Idempotent.
   */
  finish(options?: { readonly sync?: boolean }): Promise<StreamingExit>;
  /** Kill the child (SIGKILL) and stop reading its stdout. */
  kill(): void;
}

const CREATE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Start `file args` with the given stdin and stdout.
 * @throws ExternalCommandError `PROC_SPAWN_FAILED` when the stdin file cannot be opened or the stdout file created
 */
export async function startStreamingProcess(
  file: string,
  args: readonly string[],
  o: StreamingOptions = {},
): Promise<StreamingProcess> {
  const env = Object.fromEntries(
    Object.entries(o.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined),
  );
  // the stdin file is opened synchronously: one open() is far less than the thread-pool round trip of an
  // asynchronous one, and the child starts sooner (xz of a small archive is on the critical path of a load)
  const handles: number[] = [];
  const closeHandles = () => {
    for (const fd of handles.splice(0)) {
      try {
        closeSync(fd);
      } catch {
        // already closed: nothing to release
      }
    }
  };
  let stdinFd: number | 'pipe' | 'ignore' = o.stdin === 'pipe' ? 'pipe' : 'ignore';
  let stdoutFd: number | 'pipe' | 'ignore' = o.stdout === 'pipe' ? 'pipe' : 'ignore';
  let outFile: FileHandle | undefined;
  let forgetOut: (() => void) | undefined;
  try {
    if (typeof o.stdin === 'object') {
      const fd = openSync(o.stdin.file, constants.O_RDONLY);
      handles.push(fd);
      stdinFd = fd;
    }
    if (typeof o.stdout === 'object') {
      outFile = await fsPromises().open(o.stdout.createFile, CREATE_FLAGS, o.stdout.mode);
      forgetOut = removeOnSignal(o.stdout.createFile);
      stdoutFd = outFile.fd;
    }
  } catch (e) {
    closeHandles();
    await outFile?.close().catch(() => {});
    throw new ExternalCommandError(
      'PROC_SPAWN_FAILED',
      `cannot run ${file}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  const child = spawn(file, [...args], {
    stdio: [stdinFd, stdoutFd, 'pipe'],
    env,
    shell: false,
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const killChild = () => {
    if (alive()) child.kill('SIGKILL');
  };
  const forgetHook = onSignalCleanup(killChild);
  const exited = new Promise<{ code: number; signal?: string }>((resolve) => {
    child.once('error', () => resolve({ code: 127 }));
    child.once('close', (code, signal) =>
      resolve(signal ? { code: 128, signal } : { code: code ?? 1 }),
    );
  }).finally(forgetHook);
  // the child has its own copies of the descriptors
  void exited.finally(closeHandles);

  let stderr = '';
  const stderrLimit = o.stderrLimit ?? DEFAULT_STDERR_LIMIT;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (stderr.length < stderrLimit) stderr += d.slice(0, stderrLimit - stderr.length);
  });

  const stdin = child.stdin;
  // set by the 'error' listener, also while a write waits for the pipe
  const pipeState: { broken?: Error } = {};
  stdin?.on('error', (e: Error) => {
    pipeState.broken = e;
  });
  const checkPipe = (): void => {
    if (pipeState.broken) throw pipeState.broken;
  };

  let bytesOut = 0;
  let stopped = false;
  const max = o.maxStdoutBytes ?? Infinity;
  const readable = child.stdout;
  const stdout: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      if (!readable) return;
      try {
        for await (const chunk of readable as AsyncIterable<Buffer>) {
          bytesOut += chunk.length;
          if (bytesOut > max) {
            killChild();
            throw new ExternalCommandError(
              'PROC_OUTPUT_LIMIT',
              `${file} wrote more than ${max} bytes`,
              { details: { file, limit: max } },
            );
          }
          yield chunk;
          if (stopped) return;
        }
      } finally {
        if (!readable.destroyed) readable.destroy();
      }
    },
  };

  let outClosed: Promise<void> | undefined;
  const closeOut = (sync: boolean): Promise<void> =>
    (outClosed ??= (async () => {
      if (!outFile) return;
      try {
        if (sync) await outFile.sync();
      } finally {
        await outFile.close();
        forgetOut?.();
      }
    })());
  let finished: Promise<StreamingExit> | undefined;
  return {
    stdout,
    get bytesOut() {
      return bytesOut;
    },
    async write(chunk) {
      if (!stdin) throw new Error(`${file}: stdin is not a pipe`);
      checkPipe();
      if (!stdin.write(chunk)) await drained(stdin);
      checkPipe();
    },
    finish(options = {}) {
      finished ??= (async () => {
        stdin?.end();
        const r = await exited;
        await closeOut(r.code === 0 && options.sync === true);
        return { exitCode: r.code, ...(r.signal ? { signal: r.signal } : {}), stderr };
      })();
      return finished;
    },
    kill() {
      stopped = true;
      killChild();
      readable?.destroy();
      stdin?.destroy();
      void exited.then(() => closeOut(false)).catch(() => {});
    },
  };
}
