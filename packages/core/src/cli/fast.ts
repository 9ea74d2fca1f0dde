/**
 * The fast path of a binary: a hand-written parser for the few everyday read-only invocations
 * (`podsec-get-platform --json`, `podsec-trust show`) that runs them without loading commander, so that they start
 * about as fast as Node itself. Any argument it does not know exactly makes it step aside (`undefined`), and the
 * binary's commander program takes the same argv; both share the context, the System and the error reporting
 * (context.ts), so the output is the same bytes.
 */
import { createCliSession, reportCliError, type CliContext, type CliIdentity } from './context.ts';
import type { CommonOptions, RunCliOptions } from './context.ts';
// loaded at once: a fast invocation always needs the System
import { createNodeSystem } from '../system/node-system.ts';
import { installSignalCleanup } from '../system/temp.ts';

export type { CliContext, CommonOptions, RunCliOptions } from './context.ts';

/** A parsed fast invocation: its common options and the command to run. */
export interface FastInvocation {
  readonly options: CommonOptions;
  readonly run: (ctx: CliContext) => Promise<void>;
}

/** A binary's fast path. */
export interface FastCliDefinition extends CliIdentity {
  /** The invocation, or `undefined` for anything not handled here (then commander parses it). */
  readonly parse: (argv: readonly string[]) => FastInvocation | undefined;
}

/** Common options of a fast invocation: everything off, root `/`. */
export const FAST_DEFAULTS: CommonOptions = {
  root: '/',
  json: false,
  dryRun: false,
  verbose: false,
  debug: false,
};

/**
 * Runs `argv` through the fast path: the exit status, or `undefined` (nothing run, nothing printed) when the
 * arguments are not the fast path's to handle.
 */
export async function runFastCli(
  def: FastCliDefinition,
  argv: readonly string[],
  inject: RunCliOptions = {},
): Promise<number | undefined> {
  const invocation = def.parse(argv);
  if (invocation === undefined) return undefined;
  const o = invocation.options;
  const session = createCliSession(def, inject, () => o);
  const uninstallSignalCleanup = installSignalCleanup();
  try {
    await session.startSystem(o, createNodeSystem);
    await invocation.run(session.ctx);
    return 0;
  } catch (e) {
    return reportCliError(e, def, {
      err: session.err,
      out: session.out,
      t: session.t,
      debug: o.debug,
      json: o.json && !session.wroteOut(),
    });
  } finally {
    uninstallSignalCleanup();
  }
}

/**
 * Reads the common flags (`--json`, `-v`/`--verbose`, `--debug`) out of `argv`: the options and the other
 * arguments, in order.
 */
export function takeCommonFlags(argv: readonly string[]): {
  options: CommonOptions;
  rest: string[];
} {
  let json = false;
  let verbose = false;
  let debug = false;
  const rest: string[] = [];
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '-v' || a === '--verbose') verbose = true;
    else if (a === '--debug') debug = true;
    else rest.push(a);
  }
  return { options: { ...FAST_DEFAULTS, json, verbose, debug }, rest };
}

/**
 * The value of the option `name` at `args[i]`, spelled `--name value` or `--name=value`, and the index of the last
 * argument it used; undefined when the value is missing, empty or looks like an option (commander's to judge).
 */
export function optionValue(
  args: readonly string[],
  i: number,
  name: string,
): { value: string; i: number } | undefined {
  const a = args[i] as string;
  const value = a === name ? args[i + 1] : a.slice(name.length + 1);
  if (value === undefined || value === '' || value.startsWith('-')) return undefined;
  return { value, i: a === name ? i + 1 : i };
}

/** The option name of `arg`: `--name` of `--name=value`, else `arg` itself. */
export function optionName(arg: string): string {
  const eq = arg.indexOf('=');
  return arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
}
