import { ExternalCommandError } from '../errors.ts';
import type { ProcessResult, ProcessRunner, RunAs, RunOptions } from './types.ts';

/** The real process runner over execa: argument arrays only, never a shell; no rejection on exit codes. */
export function createProcessRunner(
  baseEnv: Readonly<Record<string, string | undefined>> = {},
): ProcessRunner {
  return {
    async run(file0, args0, o: RunOptions = {}) {
      // loaded on first use: most CLI runs start no process, and execa costs start-up time
      const { execa } = await import('execa');
      const [file, args] = o.runAs ? setprivArgs(o.runAs, file0, args0) : [file0, [...args0]];
      const cwd = o.cwd ?? (o.runAs ? '/' : undefined);
      const r = await execa(file, args, {
        reject: false,
        shell: false,
        stripFinalNewline: false,
        timeout: o.timeoutMs ?? 600_000,
        ...(cwd === undefined ? {} : { cwd }),
        env: { ...baseEnv, ...o.env },
        extendEnv: false,
        ...(o.input === undefined
          ? { stdin: 'ignore' as const }
          : { input: typeof o.input === 'string' ? o.input : Buffer.from(o.input) }),
        stderr: o.inheritStderr ? 'inherit' : 'pipe',
        encoding: o.binary ? 'buffer' : 'utf8',
      });
      if (r.failed && r.exitCode === undefined && r.signal === undefined && !r.timedOut) {
        // the program could not be started at all (ENOENT, EACCES)
        throw new ExternalCommandError(
          'PROC_SPAWN_FAILED',
          `cannot run ${file0}: ${r.shortMessage}`,
          { cause: r },
        );
      }
      const stdoutBytes = o.binary ? new Uint8Array(r.stdout as unknown as Uint8Array) : undefined;
      const stdout = o.binary ? '' : String(r.stdout ?? '');
      const rawErr: unknown = r.stderr;
      const stderr =
        typeof rawErr === 'string'
          ? rawErr
          : rawErr instanceof Uint8Array
            ? Buffer.from(rawErr).toString('utf8')
            : '';
      return {
        exitCode: r.exitCode ?? 128,
        stdout,
        stderr,
        ...(r.signal ? { signal: r.signal } : {}),
        ...(r.timedOut ? { timedOut: true } : {}),
        ...(stdoutBytes ? { stdoutBytes } : {}),
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
