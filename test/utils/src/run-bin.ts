import { execa } from 'execa';
import { runCli, type CliDefinition, type RunCliOptions } from '@podsec/core/cli';
import { runFastCli, type FastCliDefinition } from '@podsec/core/cli/fast';
import type { System } from '@podsec/core/system';

/** Runs a CLI definition in-process; returns exit code and captured output. */
export async function runProgram(
  def: CliDefinition,
  args: readonly string[],
  o: InProcessOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = captured(o);
  const code = await runCli(def, args, c.options);
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

type InProcessOptions = Omit<RunCliOptions, 'stdout' | 'stderr' | 'system'> & {
  readonly system?: System;
};

/** The options of an in-process run whose output is captured, with the test's System (if any). */
function captured(o: InProcessOptions) {
  let stdout = '';
  let stderr = '';
  const { system, ...rest } = o;
  const options: RunCliOptions = {
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
  };
  return { options, stdout: () => stdout, stderr: () => stderr };
}

/**
 * Runs `args` through a binary's fast path (runFastCli) and through its commander program (runCli) with the same
 * System and environment: both results, `fast` undefined when the fast path stepped aside. A run that changes its
 * System (a push, a signature) gives the commander program `fullSystem`, an identical fresh one, so that it does not
 * see what the fast path did.
 */
export async function runBothPaths(
  fast: FastCliDefinition,
  def: CliDefinition,
  args: readonly string[],
  o: InProcessOptions & { readonly fullSystem?: System } = {},
): Promise<{
  fast: { code: number; stdout: string; stderr: string } | undefined;
  full: { code: number; stdout: string; stderr: string };
}> {
  const { fullSystem, ...common } = o;
  const c = captured(common);
  const code = await runFastCli(fast, args, c.options);
  const full = await runProgram(
    def,
    args,
    fullSystem === undefined ? common : { ...common, system: fullSystem },
  );
  return {
    fast: code === undefined ? undefined : { code, stdout: c.stdout(), stderr: c.stderr() },
    full,
  };
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
