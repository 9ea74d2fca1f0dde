import {
  CommanderError,
  InvalidArgumentError,
  Option,
  type CommandUnknownOpts,
} from '@commander-js/extra-typings';
import {
  createCliSession,
  reportCliError,
  type CliContext,
  type CommonOptions,
  type ExitCodeMap,
  type RunCliOptions,
} from './context.ts';
import { PodsecError } from '../errors.ts';
import type { Catalog } from '../i18n.ts';
import { installSignalCleanup } from '../system/temp.ts';
import { normalizeContainersFlags } from './containers-flags.ts';
import { configureHelpLayout } from './help-layout.ts';

export { EXIT_INTERNAL } from './context.ts';
export type { CliContext, CommonOptions, ExitCodeMap, RunCliOptions } from './context.ts';

/** One binary: its name, factory, exit-code table and messages. */
export interface CliDefinition {
  readonly name: string;
  readonly create: (ctx: CliContext) => CommandUnknownOpts;
  readonly exitCodes?: ExitCodeMap;
  readonly messages?: Catalog;
  /** Commands that change nothing hide `--dry-run`. @default true */
  readonly mutates?: boolean;
}

/**
 * The single place where a process meets a program: parses `argv` with commander (which never exits
 * the process), creates the System lazily, runs the action and maps errors to the binary's exit codes.
 */
export async function runCli(
  def: CliDefinition,
  argv: readonly string[],
  inject: RunCliOptions = {},
): Promise<number> {
  let program: CommandUnknownOpts | undefined;
  const readOptions = (): CommonOptions => {
    const o = (program?.opts() ?? {}) as Record<string, unknown>;
    return {
      root: typeof o['root'] === 'string' ? o['root'] : '/',
      json: o['json'] === true,
      dryRun: o['dryRun'] === true,
      verbose: o['verbose'] === true,
      debug: o['debug'] === true,
    };
  };
  const session = createCliSession(def, inject, readOptions);
  const { ctx, out, err, t } = session;
  const env = ctx.env;

  // temporary paths registered by the command are removed if SIGINT/SIGTERM/SIGHUP ends it
  const uninstallSignalCleanup = installSignalCleanup();
  try {
    program = def.create(ctx);
    program
      .addOption(
        new Option('--root <dir>', 'apply to the tree under <dir> instead of /')
          .default('/')
          .argParser(parseRootArgument),
      )
      .option('--json', 'machine-readable output on stdout')
      .option('-v, --verbose', 'more messages on stderr')
      .addOption(new Option('--debug', 'show error causes and stack traces').hideHelp());
    if (def.mutates ?? true)
      program.option('--dry-run', 'print the planned changes, change nothing');
    program.exitOverride().configureOutput({ writeOut: out, writeErr: err });
    configureHelpLayout(program, env);
    program.hook('preAction', () => session.startSystem(readOptions()));
    await program.parseAsync(normalizeContainersFlags(argv), { from: 'user' });
    return 0;
  } catch (e) {
    // with --json, a command that already printed its result (e.g. a rejecting verdict) prints no second document
    return reportError(e, def, {
      err,
      t,
      debug: readOptions().debug,
      json: readOptions().json && !session.wroteOut(),
      out,
    });
  } finally {
    uninstallSignalCleanup();
  }
}

function reportError(
  e: unknown,
  def: CliDefinition,
  io: Parameters<typeof reportCliError>[2],
): number {
  if (e instanceof CommanderError) {
    if (
      e.code === 'commander.helpDisplayed' ||
      e.code === 'commander.version' ||
      e.code === 'commander.help'
    )
      return 0;
    // commander has already printed its message
    return e.exitCode === 0 ? 0 : e.exitCode;
  }
  return reportCliError(e, def, io);
}

/** `--root`: an empty value would silently mean the working directory. */
export function parseRootArgument(v: string): string {
  if (v === '') throw new InvalidArgumentError('the root directory must not be empty');
  if (v.includes('\0')) throw new InvalidArgumentError('the root directory contains a NUL byte');
  return v;
}

/** Throws `NOT_ROOT` unless the effective uid is 0 (the originals rely on file modes; we check). */
export function requireRoot(ctx: CliContext): void {
  if (ctx.system.identity.uid !== 0) {
    throw new PodsecError('NOT_ROOT', `${ctx.name} must be run by a user with root rights`, {
      details: { command: ctx.name },
    });
  }
}

/** Option parser for `--flag <true|false>` (skopeo's style, e.g. `--tls-verify=false`). */
export function parseBooleanArgument(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
}
