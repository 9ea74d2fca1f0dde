import { execa } from 'execa';
import { runCli, type CliDefinition, type RunCliOptions } from '@podsec/core/cli';
import { runFastCli, type FastCliDefinition } from '@podsec/core/cli/fast';
import type { System } from '@podsec/core/system';

/** Runs a CLI definition in-process; returns exit code and captured output. */
export async function runProgram(
  def: CliDefinition,
  args: readonly string[],
  o: Omit<RunCliOptions, 'stdout' | 'stderr' | 'system'> & { readonly system?: System } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const { system, ...rest } = o;
  const code = await runCli(def, args, {
    ...rest,
    // the test's System, with the CLI's own reporter so that stdout/stderr are captured
    ...(system ? { system: (opts, report) => ({ ...system, report, dryRun: opts.dryRun }) } : {}),
    env: o.env ?? { LANG: 'C' },
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  return { code, stdout, stderr };
}

/**
 * Runs `args` through a binary's fast path (runFastCli) and through its commander program (runCli) with the same
 * System and environment: both results, `fast` undefined when the fast path stepped aside.
 */
export async function runBothPaths(
  fast: FastCliDefinition,
  def: CliDefinition,
  args: readonly string[],
  o: Omit<RunCliOptions, 'stdout' | 'stderr' | 'system'> & { readonly system?: System } = {},
): Promise<{
  fast: { code: number; stdout: string; stderr: string } | undefined;
  full: { code: number; stdout: string; stderr: string };
}> {
  let stdout = '';
  let stderr = '';
  const { system, ...rest } = o;
  const code = await runFastCli(fast, args, {
    ...rest,
    ...(system ? { system: (opts, report) => ({ ...system, report, dryRun: opts.dryRun }) } : {}),
    env: o.env ?? { LANG: 'C' },
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
  });
  const full = await runProgram(def, args, o);
  return { fast: code === undefined ? undefined : { code, stdout, stderr }, full };
}

/** Spawns a built binary (`packages/<pkg>/bin/<name>.js`) with the repo's Node. */
export async function runBin(
  binPath: string,
  args: readonly string[],
  o: {
    readonly env?: Record<string, string>;
    readonly input?: string;
    readonly timeoutMs?: number;
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [binPath, ...args], {
    reject: false,
    env: { LANG: 'C', ...o.env },
    timeout: o.timeoutMs ?? 120_000,
    ...(o.input === undefined ? { stdin: 'ignore' as const } : { input: o.input }),
  });
  return { code: r.exitCode ?? 128, stdout: String(r.stdout), stderr: String(r.stderr) };
}
