/**
 * Long-running child processes for podsec-serve (docker-registry and nginx in the foreground).
 *
 * Why not `System.proc`: its `run()` models a program that finishes and returns its output; a server that
 * runs until it is told to stop, whose pid must be known while it runs and which must be signalled, does not
 * fit that contract, and widening the shared System interface for one command is not worth it. So this one
 * module talks to execa directly (same argument-array, no-shell rules); everything else in services/ goes
 * through System.
 */
// long-running servers: System.proc.run only models processes that finish, hence this named adapter
import { execa } from 'execa';

/** How a service process ended. */
export interface ServiceExit {
  readonly name: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The last few KiB of its stderr. */
  readonly stderr: string;
}

/** A running child. */
export interface ServiceProcess {
  readonly name: string;
  /** Undefined when the program could not be started. */
  readonly pid: number | undefined;
  /** Settles when the process has ended, for whatever reason. */
  readonly exited: Promise<ServiceExit>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<ServiceExit>;
}

const TAIL = 8192;

/** Starts `file args` (no shell) with stdin closed, stdout discarded and stderr kept (tail). */
export function spawnService(
  name: string,
  file: string,
  args: readonly string[],
  o: { readonly env?: Readonly<Record<string, string | undefined>> } = {},
): ServiceProcess {
  const child = execa(file, [...args], {
    reject: false,
    shell: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    buffer: false,
    cleanup: true,
    ...(o.env ? { env: o.env, extendEnv: false } : {}),
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-TAIL);
  });
  let running = child.pid !== undefined;
  const exited: Promise<ServiceExit> = child.then((r) => {
    running = false;
    const extra =
      r.failed && r.exitCode === undefined && r.signal === undefined ? r.shortMessage : '';
    return {
      name,
      exitCode: r.exitCode,
      signal: r.signal,
      stderr: extra ? `${tail}${extra}\n` : tail,
    };
  });
  return {
    name,
    pid: child.pid,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      if (running) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          if (running) child.kill('SIGKILL');
        }, graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      return exited;
    },
  };
}
