import {
  CommanderError,
  InvalidArgumentError,
  Option,
  type CommandUnknownOpts,
} from '@commander-js/extra-typings';
import { isPodsecError, PodsecError, UsageError } from '../errors.ts';
import {
  createTranslator,
  detectLanguage,
  type Catalog,
  type Language,
  type Translator,
} from '../i18n.ts';
import { coreMessages } from '../messages.ts';
import { escapeForTerminal } from '../util.ts';
import { createStreamReporter } from '../system/reporter.ts';
import { installSignalCleanup } from '../system/temp.ts';
import { normalizeContainersFlags } from './containers-flags.ts';
import { configureHelpLayout } from './help-layout.ts';
import type { Reporter, System } from '../system/types.ts';

/** Maps error codes to a binary's exit statuses (the legacy per-script exit codes). */
export type ExitCodeMap = Readonly<Record<string, number>>;

/** Options every podsec binary understands. */
export interface CommonOptions {
  /** Directory that stands for "/". */
  readonly root: string;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly verbose: boolean;
  readonly debug: boolean;
}

/** What a program factory gets. `system` is created on first use, after the arguments are parsed. */
export interface CliContext {
  readonly name: string;
  readonly system: System;
  readonly options: CommonOptions;
  readonly lang: Language;
  /** Translate a key of the binary's or core's catalogue. */
  readonly t: (key: string, params?: Readonly<Record<string, unknown>>) => string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Standard input (prompts): the injected stream, else the process's. */
  readonly stdin: NodeJS.ReadableStream;
  readonly isTTY: boolean;
}

/** One binary: its name, factory, exit-code table and messages. */
export interface CliDefinition {
  readonly name: string;
  readonly create: (ctx: CliContext) => CommandUnknownOpts;
  readonly exitCodes?: ExitCodeMap;
  readonly messages?: Catalog;
  /** Commands that change nothing hide `--dry-run`. @default true */
  readonly mutates?: boolean;
}

/** What tests (and embedders) may inject instead of the real process. */
export interface RunCliOptions {
  readonly system?: System | ((o: CommonOptions, report: Reporter) => System);
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  readonly stdin?: NodeJS.ReadableStream;
  readonly isTTY?: boolean;
}

/** EX_SOFTWARE: an unexpected error (a bug). */
export const EXIT_INTERNAL = 70;

/**
 * The single place where a process meets a program: parses `argv` with commander (which never exits
 * the process), creates the System lazily, runs the action and maps errors to the binary's exit codes.
 */
export async function runCli(
  def: CliDefinition,
  argv: readonly string[],
  inject: RunCliOptions = {},
): Promise<number> {
  const env = inject.env ?? process.env;
  const rawOut = inject.stdout ?? ((s: string) => void process.stdout.write(s));
  let wroteOut = false;
  const out = (s: string) => {
    wroteOut = true;
    rawOut(s);
  };
  const err = inject.stderr ?? ((s: string) => void process.stderr.write(s));
  const lang = detectLanguage(env);
  const translate: Translator = createTranslator(
    lang,
    ...(def.messages ? [def.messages] : []),
    coreMessages,
  );
  const t = (key: string, params?: Readonly<Record<string, unknown>>) =>
    translate(key, params) ?? key;

  let program: CommandUnknownOpts | undefined;
  let system: System | undefined;
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
  const ctx: CliContext = {
    name: def.name,
    get system(): System {
      if (!system) throw new Error('system used before the arguments were parsed');
      return system;
    },
    get options() {
      return readOptions();
    },
    lang,
    t,
    env,
    stdout: out,
    stderr: err,
    // process.stdin is created on first use only: most commands never prompt
    get stdin(): NodeJS.ReadableStream {
      return inject.stdin ?? process.stdin;
    },
    isTTY: inject.isTTY ?? Boolean(process.stdin.isTTY),
  };

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
    program.hook('preAction', async () => {
      const o = readOptions();
      const report = createStreamReporter({ out, err }, { json: o.json, verbose: o.verbose });
      if (typeof inject.system === 'function') system = inject.system(o, report);
      else if (inject.system) system = inject.system;
      else {
        const { createNodeSystem } = await import('../system/node-system.ts');
        system = createNodeSystem({ root: o.root, env, report, dryRun: o.dryRun, tag: def.name });
        // a missing root, or a file given as the root, is bad input: say so before anything runs
        if ((await system.fs.stat('/')) === undefined)
          throw new UsageError('FS_ROOT_MISSING', `the root directory ${o.root} does not exist`, {
            details: { root: o.root },
          });
      }
    });
    await program.parseAsync(normalizeContainersFlags(argv), { from: 'user' });
    return 0;
  } catch (e) {
    // with --json, a command that already printed its result (e.g. a rejecting verdict) prints no second document
    return reportError(e, def, {
      err,
      t,
      debug: readOptions().debug,
      json: readOptions().json && !wroteOut,
      out,
    });
  } finally {
    uninstallSignalCleanup();
  }
}

function reportError(
  e: unknown,
  def: CliDefinition,
  io: {
    err: (s: string) => void;
    out: (s: string) => void;
    t: (k: string, p?: Readonly<Record<string, unknown>>) => string;
    debug: boolean;
    json: boolean;
  },
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
  if (isPodsecError(e)) {
    const pe: PodsecError = e;
    const code = def.exitCodes?.[pe.code] ?? 1;
    const localized = pe.details ? io.t(pe.code, pe.details) : undefined;
    const message = localized !== undefined && localized !== pe.code ? localized : pe.message;
    if (io.json)
      io.out(
        `${JSON.stringify({ error: { code: pe.code, message, exitCode: code, ...(pe.details ? { details: pe.details } : {}) } }, null, 2)}\n`,
      );
    io.err(`${def.name}: ${escapeTerminal(message)}\n`);
    if (io.debug) {
      let c: unknown = pe.cause;
      while (c) {
        io.err(`  caused by: ${c instanceof Error ? (c.stack ?? c.message) : JSON.stringify(c)}\n`);
        c = c instanceof Error ? c.cause : undefined;
      }
    }
    return code;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (isSystemError(e)) {
    // the host refused (permission, full disk, read-only file system ...): not a bug of ours
    if (io.json)
      io.out(
        `${JSON.stringify({ error: { code: e.code, message: msg, exitCode: 1 } }, null, 2)}\n`,
      );
    io.err(`${def.name}: ${escapeTerminal(msg)}\n`);
    if (io.debug && e.stack) io.err(`${e.stack}\n`);
    return 1;
  }
  io.err(`${def.name}: ${io.t('cli.internal', { message: msg })}\n`);
  if (e instanceof Error && e.stack) io.err(`${e.stack}\n`);
  io.err(`${io.t('cli.report')}\n`);
  return EXIT_INTERNAL;
}

/** Untrusted text in a message (names, answers) may not drive the terminal; lines stay lines. */
function escapeTerminal(text: string): string {
  return text
    .split('\n')
    .map((l) => l.split('\t').map(escapeForTerminal).join('\t'))
    .join('\n');
}

/** Errors of a system call (`ENOENT`, `EACCES`, `ENOSPC`, `EROFS` ...), as Node reports them. */
function isSystemError(e: unknown): e is Error & { code: string } {
  if (!(e instanceof Error)) return false;
  const { code, syscall } = e as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && typeof syscall === 'string';
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
