import type { spawn as nodeSpawn } from 'node:child_process';
import { ExternalCommandError } from '../errors.ts';
import { onSignalCleanup } from './temp.ts';
import type { ProcessResult, ProcessRunner, RunAs, RunOptions } from './types.ts';

/**
 * The boundary's one way to start a child: node:child_process is loaded on the first spawn, not when a binary
 * creates its System. The process runner and the streaming processes of stream.ts use it.
 */
export const spawn: typeof nodeSpawn = ((...args: Parameters<typeof nodeSpawn>) =>
  process.getBuiltinModule('node:child_process').spawn(...args)) as typeof nodeSpawn;

/** Most bytes kept of a child's stdout and of its stderr; more and the child is killed. */
const MAX_OUTPUT = 100_000_000;
/** After a timeout: SIGTERM, then SIGKILL this much later if the child is still there. */
const KILL_GRACE_MS = 5_000;

/** Collects a stream's bytes up to {@link MAX_OUTPUT}; `onOverflow` runs once when more arrive. */
function collect(stream: NodeJS.ReadableStream | null, onOverflow: () => void): () => Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  stream?.on('data', (d: Buffer) => {
    if (size + d.length > MAX_OUTPUT) {
      onOverflow();
      return;
    }
    size += d.length;
    parts.push(d);
  });
  return () => Buffer.concat(parts, size);
}

/**
 * The real process runner over node:child_process: argument arrays only, never a shell; no rejection on exit codes;
 * the environment is exactly the one given. A timeout sends SIGTERM, then SIGKILL; a signal that ends the command
 * kills the child first. (No execa: loading it cost a command more time than many of the tools it runs.)
 */
export function createProcessRunner(
  baseEnv: Readonly<Record<string, string | undefined>> = {},
): ProcessRunner {
  return {
    async run(file0, args0, o: RunOptions = {}) {
      const [file, args] = o.runAs ? setprivArgs(o.runAs, file0, args0) : [file0, [...args0]];
      const cwd = o.cwd ?? (o.runAs ? '/' : undefined);
      const env = Object.fromEntries(
        Object.entries({ ...baseEnv, ...o.env }).filter(
          (e): e is [string, string] => e[1] !== undefined,
        ),
      );
      const child = spawn(file, args, {
        shell: false,
        env,
        ...(cwd === undefined ? {} : { cwd }),
        stdio: [
          o.input === undefined ? 'ignore' : 'pipe',
          'pipe',
          o.inheritStderr ? 'inherit' : 'pipe',
        ],
      });
      const kill = (signal: NodeJS.Signals) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      };
      const forget = onSignalCleanup(() => kill('SIGKILL'));
      const stdout = collect(child.stdout, () => kill('SIGKILL'));
      const stderr = collect(child.stderr, () => kill('SIGKILL'));
      if (o.input !== undefined && child.stdin) {
        // a child that exits without reading its input is not an error of ours
        child.stdin.on('error', () => {});
        child.stdin.end(typeof o.input === 'string' ? o.input : Buffer.from(o.input));
      }
      let timedOut = false;
      let force: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        kill('SIGTERM');
        force = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
      }, o.timeoutMs ?? 600_000);
      const ended = await new Promise<
        { code: number | null; signal: NodeJS.Signals | null } | { error: Error }
      >((resolve) => {
        child.once('error', (error) => resolve({ error }));
        child.once('close', (code, signal) => resolve({ code, signal }));
      }).finally(() => {
        clearTimeout(timer);
        clearTimeout(force);
        forget();
      });
      if ('error' in ended) {
        // the program could not be started at all (ENOENT, EACCES)
        throw new ExternalCommandError(
          'PROC_SPAWN_FAILED',
          `cannot run ${file0}: ${ended.error.message}`,
          { cause: ended.error },
        );
      }
      const out = stdout();
      return {
        exitCode: ended.code ?? 128,
        stdout: o.binary ? '' : out.toString('utf8'),
        stderr: stderr().toString('utf8'),
        ...(ended.signal ? { signal: ended.signal } : {}),
        ...(timedOut ? { timedOut: true } : {}),
        ...(o.binary ? { stdoutBytes: new Uint8Array(out) } : {}),
      };
    },
  };
}

function setprivArgs(who: RunAs, file: string, args: readonly string[]): [string, string[]] {
  for (const n of [who.uid, who.gid, ...(who.groups ?? [])])
    if (!Number.isInteger(n) || n < 0 || n >= 0xffffffff)
      throw new ExternalCommandError(
        'PROC_BAD_CREDENTIALS',
        `cannot run ${file} as uid ${who.uid}`,
        {
          details: { uid: who.uid, gid: who.gid },
        },
      );
  // root stays root only by asking; refuse to "drop" to uid 0 by accident (a missing user is -1/undefined)
  if (who.uid === 0)
    throw new ExternalCommandError(
      'PROC_BAD_CREDENTIALS',
      `refusing to run ${file} as root for a user`,
      {
        details: { uid: who.uid, gid: who.gid },
      },
    );
  const groups =
    who.groups && who.groups.length > 0 ? [`--groups=${who.groups.join(',')}`] : ['--clear-groups'];
  return [
    'setpriv',
    [`--reuid=${who.uid}`, `--regid=${who.gid}`, ...groups, '--no-new-privs', '--', file, ...args],
  ];
}

/** Runs a program and throws {@link ExternalCommandError} (code `PROC_FAILED`) with its stderr when it exits non-zero. */
export async function runOrThrow(
  runner: ProcessRunner,
  file: string,
  args: readonly string[],
  options?: RunOptions,
): Promise<ProcessResult & { readonly stdoutBytes?: Uint8Array }> {
  const r = await runner.run(file, args, options);
  if (r.exitCode !== 0 || r.signal) {
    const why = r.timedOut
      ? 'timed out'
      : r.signal
        ? `killed by ${r.signal}`
        : `exit code ${r.exitCode}`;
    const tail = r.stderr.trim().split('\n').slice(-5).join('\n');
    throw new ExternalCommandError(
      'PROC_FAILED',
      `${file} ${args.join(' ')}: ${why}${tail ? `\n${tail}` : ''}`,
      {
        details: { file, args: [...args], exitCode: r.exitCode, stderr: r.stderr },
      },
    );
  }
  return r;
}
