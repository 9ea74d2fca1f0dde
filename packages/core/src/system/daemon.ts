/**
 * Long-running processes (daemons) for the System boundary: start with an argument array, optionally as
 * another user, signal, wait for readiness with a bounded timeout, restart a crashed child, and stop the
 * whole process group so that no process is left behind.
 *
 * Every daemon is started in a new session (`setsid`), so its pid is also its process group and session
 * id; stopping signals the group, then sweeps `/proc` for any process still in that session.
 */
import type { ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, openSync } from 'node:fs';
import { ExternalCommandError, UsageError } from '../errors.ts';
import { fsPromises } from './fs-promises.ts';

/** node:child_process is loaded on the first spawn, not when a binary creates its System. */
const spawn: typeof nodeSpawn = ((...args: Parameters<typeof nodeSpawn>) =>
  process.getBuiltinModule('node:child_process').spawn(...args)) as typeof nodeSpawn;

/** Credentials a daemon runs with, when they differ from ours. */
export interface RunAsUser {
  readonly uid: number;
  readonly gid: number;
  /** For messages only. */
  readonly name?: string;
}

/** When a daemon that ended by itself is started again. */
export type RestartPolicy = 'never' | 'on-failure' | 'always';

/** What to start and how to supervise it. */
export interface DaemonSpec {
  /** For messages and events. */
  readonly name: string;
  readonly file: string;
  readonly args: readonly string[];
  /** The complete environment (nothing is inherited). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /**
   * Run as this user: when we are root, through `setpriv --reuid --regid --init-groups` (capabilities are
   * dropped by the uid change). Refused when we are neither root nor that user.
   */
  readonly user?: RunAsUser;
  /**
   * Readiness probe, polled every `intervalMs` until it returns true, for at most `timeoutMs`.
   * A daemon without a probe is ready once spawned.
   */
  readonly ready?: {
    readonly probe: () => Promise<boolean>;
    /** @default 30000 */
    readonly timeoutMs?: number;
    /** @default 100 */
    readonly intervalMs?: number;
  };
  readonly restart?: {
    /** @default 'never' */
    readonly policy: RestartPolicy;
    /** Give up after this many restarts in a row that never became ready. @default 5 */
    readonly maxRestarts?: number;
    /** Wait before a restart. @default 200 */
    readonly delayMs?: number;
  };
  /** Called for every state change (started, ready, exited, restarting, failed, stopped). */
  readonly onEvent?: (event: DaemonEvent) => void;
}

/** Something that happened to a daemon. */
export interface DaemonEvent {
  readonly name: string;
  readonly type: 'started' | 'ready' | 'exited' | 'restarting' | 'failed' | 'stopped';
  readonly pid?: number;
  readonly exitCode?: number | null;
  readonly signal?: string | null;
  /** Number of restarts so far. */
  readonly restarts: number;
}

/** How one run of a daemon ended. */
export interface DaemonExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last few KiB of its stdout and stderr, interleaved. */
  readonly output: string;
}

/** A supervised daemon. */
export interface Daemon {
  readonly name: string;
  /** Pid (= process group = session id) of the current run; undefined once stopped. */
  pid(): number | undefined;
  /** How many times it was restarted. */
  restarts(): number;
  state(): 'starting' | 'ready' | 'restarting' | 'failed' | 'stopped';
  /** Settles when the current (or next, while restarting) run is ready; rejects when it cannot become ready. */
  whenReady(): Promise<void>;
  /** Signals the current run's main process (not the group). */
  signal(sig: NodeJS.Signals): void;
  /**
   * Stops supervision: SIGTERM to the whole process group, SIGKILL after `graceMs`, then SIGKILL to any
   * process left in the session. Resolves when none is left.
   */
  stop(graceMs?: number): Promise<DaemonExit | undefined>;
  /** Settles when supervision ended (stopped or failed for good). */
  readonly done: Promise<DaemonExit | undefined>;
  /** Output tail of the current run. */
  output(): string;
}

/** Starts daemons and runs interactive programs; part of the System boundary. */
export interface DaemonLauncher {
  /** Starts and supervises; resolves once the first run is ready (rejects, with nothing left running, when not). */
  start(spec: DaemonSpec): Promise<Daemon>;
  /**
   * Runs a program in the foreground with our stdin/stdout/stderr (an interactive shell, `enter -- cmd`),
   * optionally as another user; resolves with its exit status (128+n for a signal).
   */
  exec(spec: Omit<DaemonSpec, 'ready' | 'restart' | 'onEvent' | 'name'>): Promise<number>;
  /**
   * Replaces this process with the program (execve, as ourselves): its output, exit status and signals are the
   * program's, and no child is forked. For a pass-through with nothing left to do afterwards; nothing written to
   * stdout before may still be buffered. Does not return; throws `PROC_SPAWN_FAILED` when the exec fails.
   */
  replace(spec: Pick<DaemonSpec, 'file' | 'args' | 'env'>): never;
  /**
   * Starts a program in a new session with stdin closed and does not supervise it (a background
   * supervisor that must outlive us); returns its pid and a probe telling whether it still runs.
   * Its stdout and stderr go to `logFile` (created or truncated, 0600, the last component not followed: the
   * caller puts it in a directory only root can write) or nowhere.
   */
  spawnDetached(
    spec: Omit<DaemonSpec, 'ready' | 'restart' | 'onEvent'> & { readonly logFile?: string },
  ): {
    readonly pid: number | undefined;
    running(): boolean;
  };
  /** Pids of the processes of a session (for "no process left" checks). */
  sessionProcesses(sid: number): Promise<number[]>;
  /** Pids of the processes whose real uid is `uid`. */
  userProcesses(uid: number): Promise<number[]>;
}

const TAIL = 16384;
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * The argument vector that runs `file args` as `user`: unchanged when we already are that user,
 * through setpriv when we are root. Pure.
 */
export function planRunAs(
  self: { readonly uid: number },
  user: RunAsUser | undefined,
  file: string,
  args: readonly string[],
): { file: string; args: string[] } {
  if (!user || user.uid === self.uid) return { file, args: [...args] };
  if (!Number.isInteger(user.uid) || !Number.isInteger(user.gid) || user.uid < 0 || user.gid < 0)
    throw new UsageError('DAEMON_BAD_USER', `bad user ids ${user.uid}:${user.gid}`);
  if (self.uid !== 0)
    throw new UsageError(
      'DAEMON_NOT_ROOT',
      `only root can run a program as ${user.name ?? `uid ${user.uid}`}`,
    );
  return {
    file: 'setpriv',
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', file, ...args],
  };
}

function cleanEnv(env: Readonly<Record<string, string | undefined>> | undefined) {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

async function procStat(pid: number): Promise<{ uid: number; sid: number } | undefined> {
  try {
    const stat = await fsPromises().readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = await fsPromises().readFile(`/proc/${pid}/status`, 'utf8');
    const uidLine = /^Uid:\s+(\d+)/m.exec(status);
    if (rest[0] === 'Z') return undefined; // zombies are gone for our purposes
    return { sid: Number(rest[3]), uid: uidLine ? Number(uidLine[1]) : -1 };
  } catch {
    return undefined;
  }
}

async function scanProc(match: (s: { uid: number; sid: number }) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fsPromises().readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const s = await procStat(pid);
    if (s && match(s)) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

/** Opens a log file for a detached child: created or truncated, 0600, the last component not followed. */
function openLog(file: string): number {
  try {
    return openSync(
      file,
      fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, // libuv adds O_CLOEXEC
      0o600,
    );
  } catch (e) {
    throw new ExternalCommandError(
      'PROC_SPAWN_FAILED',
      `cannot open the log file ${file}: ${(e as Error).message}`,
    );
  }
}

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true or `timeoutMs` passed; `abort` ends the wait early (returns false). */
export async function waitUntil(
  probe: () => Promise<boolean>,
  o: {
    readonly timeoutMs: number;
    readonly intervalMs?: number;
    readonly abort?: () => boolean;
    /** Receives the error of a probe that threw (the wait goes on). */
    readonly onError?: (e: unknown) => void;
  },
): Promise<boolean> {
  const end = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.abort?.()) return false;
    try {
      if (await probe()) return true;
    } catch (e) {
      // a probe that throws is "not yet"
      o.onError?.(e);
    }
    if (Date.now() >= end) return false;
    await sleep(Math.min(o.intervalMs ?? 100, Math.max(1, end - Date.now())));
  }
}

/** The real launcher over node:child_process. */
export function createDaemonLauncher(self: { readonly uid: number }): DaemonLauncher {
  const launcher: DaemonLauncher = {
    sessionProcesses: (sid) => scanProc((s) => s.sid === sid),
    userProcesses: (uid) => scanProc((s) => s.uid === uid),

    spawnDetached(spec) {
      const argv = planRunAs(self, spec.user, spec.file, spec.args);
      const log = spec.logFile === undefined ? undefined : openLog(spec.logFile);
      let c: ChildProcess;
      try {
        c = spawn(argv.file, argv.args, {
          detached: true,
          stdio: log === undefined ? 'ignore' : ['ignore', log, log],
          env: cleanEnv(spec.env),
          ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        });
      } finally {
        // the child has its own copy
        if (log !== undefined) closeSync(log);
      }
      let running = c.pid !== undefined;
      c.on('exit', () => (running = false));
      c.on('error', () => (running = false));
      c.unref();
      return { pid: c.pid, running: () => running };
    },

    exec(spec) {
      const argv = planRunAs(self, spec.user, spec.file, spec.args);
      return new Promise((resolve, reject) => {
        const child = spawn(argv.file, argv.args, {
          stdio: 'inherit',
          env: cleanEnv(spec.env),
          ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        });
        child.on('error', (e) =>
          reject(
            new ExternalCommandError('PROC_SPAWN_FAILED', `cannot run ${argv.file}: ${e.message}`),
          ),
        );
        child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? (SIGNALS[sig] ?? 1) : 1)));
      });
    },

    replace(spec) {
      if (!process.execve)
        throw new ExternalCommandError('PROC_SPAWN_FAILED', `cannot exec ${spec.file}: no execve`);
      try {
        // a failing execve ends the process with Node's own message: check what can be checked first
        accessSync(spec.file, fsConstants.X_OK);
        return process.execve(spec.file, [spec.file, ...spec.args], cleanEnv(spec.env));
      } catch (e) {
        throw new ExternalCommandError(
          'PROC_SPAWN_FAILED',
          `cannot exec ${spec.file}: ${(e as Error).message}`,
        );
      }
    },

    async start(spec) {
      const argv = planRunAs(self, spec.user, spec.file, spec.args);
      const policy = spec.restart?.policy ?? 'never';
      const maxRestarts = spec.restart?.maxRestarts ?? 5;
      let child: ChildProcess | undefined;
      let tail = '';
      let restarts = 0;
      let failedInARow = 0;
      let everReady = false;
      let state: ReturnType<Daemon['state']> = 'starting';
      let stopping = false;
      let lastExit: DaemonExit | undefined;
      let readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
      let resolveDone!: (x: DaemonExit | undefined) => void;
      const done = new Promise<DaemonExit | undefined>((r) => (resolveDone = r));
      let currentExit: Promise<DaemonExit> = Promise.resolve({
        exitCode: null,
        signal: null,
        output: '',
      });
      const emit = (e: Omit<DaemonEvent, 'name' | 'restarts'>) =>
        spec.onEvent?.({ name: spec.name, restarts, ...e });
      const settleReady = (err?: Error) => {
        const w = readyWaiters;
        readyWaiters = [];
        for (const x of w)
          if (err) x.reject(err);
          else x.resolve();
      };

      const spawnOnce = (): ChildProcess => {
        tail = '';
        const c = spawn(argv.file, argv.args, {
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: cleanEnv(spec.env),
          ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        });
        const keep = (b: Buffer) => {
          tail = (tail + b.toString('utf8')).slice(-TAIL);
        };
        c.stdout?.on('data', keep);
        c.stderr?.on('data', keep);
        currentExit = new Promise<DaemonExit>((resolve) => {
          c.on('error', (e) => {
            tail += `${e.message}\n`;
          });
          c.on('close', (code, sig) => resolve({ exitCode: code, signal: sig, output: tail }));
        });
        const myExit = currentExit;
        void myExit.then((x) => onExit(c, x));
        emit(
          c.pid === undefined
            ? { type: 'exited', exitCode: null }
            : { type: 'started', pid: c.pid },
        );
        return c;
      };

      const sweep = async (sid: number | undefined) => {
        if (sid === undefined) return;
        for (let i = 0; i < 50; i++) {
          const left = await launcher.sessionProcesses(sid);
          if (left.length === 0) return;
          for (const p of left) killQuietly(p, 'SIGKILL');
          await sleep(20);
        }
      };

      const runReadiness = async (c: ChildProcess): Promise<void> => {
        const r = spec.ready;
        const exited = () =>
          c.exitCode !== null || c.signalCode !== null || stopping || child !== c;
        let probeError = '';
        const ok = r
          ? await waitUntil(r.probe, {
              onError: (e) => {
                probeError = e instanceof Error ? e.message : String(e);
              },
              timeoutMs: r.timeoutMs ?? 30_000,
              intervalMs: r.intervalMs ?? 100,
              abort: exited,
            })
          : c.pid !== undefined;
        if (child !== c || stopping) return;
        if (ok && !exited()) {
          state = 'ready';
          everReady = true;
          failedInARow = 0;
          emit({ type: 'ready', ...(c.pid === undefined ? {} : { pid: c.pid }) });
          settleReady();
          return;
        }
        if (!exited()) {
          // not ready in time: treat as a failed run
          killQuietly(-(c.pid ?? 0), 'SIGKILL');
          tail += `\nnot ready after ${r?.timeoutMs ?? 30_000} ms${probeError ? ` (last check: ${probeError})` : ''}\n`;
        }
      };

      const onExit = async (c: ChildProcess, x: DaemonExit) => {
        if (child !== c) return;
        lastExit = x;
        emit({ type: 'exited', exitCode: x.exitCode, signal: x.signal });
        if (stopping) return;
        await sweep(c.pid);
        const wasReady = state === 'ready';
        if (wasReady) everReady = true;
        else failedInARow++;
        const crashed = x.exitCode !== 0 || x.signal !== null;
        const wanted = policy === 'always' || (policy === 'on-failure' && crashed);
        // a first run that never became ready is a start failure, not a crash to restart
        if (!wanted || !everReady || failedInARow > maxRestarts) {
          state = 'failed';
          child = undefined;
          emit({ type: 'failed', exitCode: x.exitCode, signal: x.signal });
          settleReady(exitError(spec.name, x));
          resolveDone(x);
          return;
        }
        state = 'restarting';
        restarts++;
        emit({ type: 'restarting' });
        await sleep(spec.restart?.delayMs ?? 200);
        if (stopping) return;
        child = spawnOnce();
        state = 'starting';
        void runReadiness(child);
      };

      child = spawnOnce();
      const first = child;
      const daemon: Daemon = {
        name: spec.name,
        pid: () => child?.pid,
        restarts: () => restarts,
        state: () => state,
        output: () => tail,
        done,
        whenReady() {
          if (state === 'ready') return Promise.resolve();
          if (state === 'failed' || state === 'stopped')
            return Promise.reject(
              exitError(spec.name, lastExit ?? { exitCode: null, signal: null, output: tail }),
            );
          return new Promise((resolve, reject) => readyWaiters.push({ resolve, reject }));
        },
        signal(sig) {
          if (child?.pid !== undefined) killQuietly(child.pid, sig);
        },
        async stop(graceMs = 10_000) {
          if (state === 'stopped') return lastExit;
          stopping = true;
          const c = child;
          if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
            killQuietly(-c.pid, 'SIGTERM');
            const timer = setTimeout(() => killQuietly(-(c.pid ?? 0), 'SIGKILL'), graceMs);
            lastExit = await currentExit;
            clearTimeout(timer);
          }
          await sweep(c?.pid);
          child = undefined;
          state = 'stopped';
          emit({ type: 'stopped' });
          settleReady(new ExternalCommandError('DAEMON_STOPPED', `${spec.name} was stopped`));
          resolveDone(lastExit);
          return lastExit;
        },
      };
      void runReadiness(first);
      try {
        await daemon.whenReady();
      } catch (e) {
        await daemon.stop(1000);
        throw e;
      }
      return daemon;
    },
  };
  return launcher;
}

function exitError(name: string, x: DaemonExit): ExternalCommandError {
  const why = x.signal ? `killed by ${x.signal}` : `exit code ${x.exitCode}`;
  const out = x.output.trim().split('\n').slice(-8).join('\n');
  return new ExternalCommandError(
    'DAEMON_FAILED',
    `${name} did not become ready (${why})${out ? `:\n${out}` : ''}`,
    { details: { exitCode: x.exitCode, signal: x.signal, output: x.output } },
  );
}
