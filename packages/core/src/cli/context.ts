/**
 * What every way of running a binary shares, without commander: the context a command gets, the lazy System and the
 * mapping of errors to exit codes and messages. runCli (commander) and runFastCli (a hand-written argv parser for
 * a few read-only invocations) both use it, so that the two print the same bytes.
 */
import { isPodsecError, UsageError, type PodsecError } from '../errors.ts';
import { createTranslator, detectLanguage, type Catalog, type Language } from '../i18n.ts';
import { coreMessages } from '../messages.ts';
import { escapeForTerminal } from '../util.ts';
import { createStreamReporter } from '../system/reporter.ts';
import { writeStderr, writeStdout } from '../system/stderr.ts';
import type { createNodeSystem } from '../system/node-system.ts';
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

/** What tests (and embedders) may inject instead of the real process. */
export interface RunCliOptions {
  readonly system?: System | ((o: CommonOptions, report: Reporter) => System);
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
  readonly stdin?: NodeJS.ReadableStream;
  readonly isTTY?: boolean;
}

/** The part of a binary's definition the shared code needs. */
export interface CliIdentity {
  readonly name: string;
  readonly exitCodes?: ExitCodeMap;
  readonly messages?: Catalog;
}

/** EX_SOFTWARE: an unexpected error (a bug). */
export const EXIT_INTERNAL = 70;

/** A command's session: output streams, language, context and the System once the options are known. */
export interface CliSession {
  readonly ctx: CliContext;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly t: CliContext['t'];
  /** Whether anything was written to stdout yet. */
  wroteOut(): boolean;
  /**
   * Creates the System for these options: the injected one, else the real one under `root` (from `create` when
   * given, else loaded on first use).
   */
  startSystem(o: CommonOptions, create?: typeof createNodeSystem): Promise<void>;
}

/** Builds the context of one run; `options` is read when a command asks for it. */
export function createCliSession(
  def: CliIdentity,
  inject: RunCliOptions,
  options: () => CommonOptions,
): CliSession {
  const env = inject.env ?? process.env;
  // blocking writes to the descriptors, not process.stdout/stderr: creating those streams loads the stream
  // machinery (and on a pipe node:net), a measurable part of a short command's start
  const rawOut = inject.stdout ?? writeStdout;
  let wrote = false;
  const out = (s: string) => {
    wrote = true;
    rawOut(s);
  };
  const err = inject.stderr ?? writeStderr;
  const lang = detectLanguage(env);
  const translate = createTranslator(lang, ...(def.messages ? [def.messages] : []), coreMessages);
  const t = (key: string, params?: Readonly<Record<string, unknown>>) =>
    translate(key, params) ?? key;
  let system: System | undefined;
  const ctx: CliContext = {
    name: def.name,
    get system(): System {
      if (!system) throw new Error('system used before the arguments were parsed');
      return system;
    },
    get options() {
      return options();
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
    // a getter: reading process.stdin creates the stream (and loads the stream machinery) at every start
    get isTTY(): boolean {
      return inject.isTTY ?? Boolean(process.stdin.isTTY);
    },
  };
  return {
    ctx,
    out,
    err,
    t,
    wroteOut: () => wrote,
    async startSystem(o, create) {
      const report = createStreamReporter({ out, err }, { json: o.json, verbose: o.verbose });
      if (typeof inject.system === 'function') system = inject.system(o, report);
      else if (inject.system) system = inject.system;
      else {
        const createSystem = create ?? (await import('../system/node-system.ts')).createNodeSystem;
        const real = createSystem({
          root: o.root,
          env,
          report,
          dryRun: o.dryRun,
          tag: def.name,
        });
        // a missing root, or a file given as the root, is bad input: say so before anything runs
        if ((await real.fs.stat('/')) === undefined)
          throw new UsageError('FS_ROOT_MISSING', `the root directory ${o.root} does not exist`, {
            details: { root: o.root },
          });
        system = real;
      }
    },
  };
}

/**
 * Prints an error the way every binary does and returns its exit status: a PodsecError with the binary's exit code
 * (localised, `{"error": ...}` on stdout with `json`), a refusal of the host (ENOENT, EACCES ...) with 1, anything
 * else as an internal error (70) with its stack.
 */
export function reportCliError(
  e: unknown,
  def: CliIdentity,
  io: {
    err: (s: string) => void;
    out: (s: string) => void;
    t: (k: string, p?: Readonly<Record<string, unknown>>) => string;
    debug: boolean;
    json: boolean;
  },
): number {
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
