/**
 * The foreground supervisor of the u7s namespace (what `u7s.service` runs) and its root-owned status file;
 * `start` runs it in the background, `stop` signals it and waits until no process of u7s-admin is left.
 */
import { ExternalCommandError, NotFoundError, PodsecError } from '@podsec/core';
import { waitUntil, type System } from '@podsec/core/system';
import type { UserNamespace } from '@podsec/core/userns';
import { U7S_RUN } from '../paths.ts';
import { isLiveProcess } from './proc.ts';
import { readU7sUser, startU7sNamespace, type StartU7sOptions } from './namespace.ts';

/** What the supervisor records while it runs. */
export interface SupervisorStatus {
  readonly pid: number;
  readonly user: string;
  readonly uid: number;
  readonly state: string;
  readonly childPid?: number;
  readonly restarts: number;
  readonly since: string;
}

export const STATUS_FILE = `${U7S_RUN}/supervisor.json`;
/** Held by the supervisor for its whole life (`supervisor.lock`): one namespace, whoever starts it. */
export const SUPERVISOR_LOCK = `${U7S_RUN}/supervisor`;
/** Held by `start` from "is one running?" until it is ready (`start.lock`): two starts at once make one. */
export const START_LOCK = `${U7S_RUN}/start`;

/** Root's runtime directory of u7s (status file and locks), 0700 root. */
export async function ensureRunDir(sys: System): Promise<void> {
  await sys.hostFs.mkdir('/run/podsec', { mode: 0o755 });
  await sys.hostFs.mkdir(U7S_RUN, { mode: 0o700, uid: 0, gid: 0 });
}

/** Reads the status file (root-owned dir); undefined when absent or when its supervisor is gone. */
export async function readSupervisorStatus(sys: System): Promise<SupervisorStatus | undefined> {
  const text = await sys.hostFs.readTextIfExists(STATUS_FILE);
  if (text === undefined || text.length > 65536) return undefined;
  let s: SupervisorStatus;
  try {
    s = JSON.parse(text) as SupervisorStatus;
  } catch {
    return undefined;
  }
  if (!(await isLiveProcess(sys, s.pid))) return undefined;
  return s;
}

async function writeStatus(
  sys: System,
  ns: UserNamespace,
  user: { name: string; uid: number },
  since: Date,
) {
  const state = await ns.state().catch(() => undefined);
  const status: SupervisorStatus = {
    pid: process.pid,
    user: user.name,
    uid: user.uid,
    state: ns.daemon.state(),
    ...(state?.ready && state.childPid !== undefined ? { childPid: state.childPid } : {}),
    restarts: ns.daemon.restarts(),
    since: since.toISOString(),
  };
  await ensureRunDir(sys);
  await sys.hostFs.writeFileAtomic(STATUS_FILE, `${JSON.stringify(status)}\n`, {
    mode: 0o600,
    backup: false,
  });
}

/**
 * Runs the namespace until `until` settles (a signal) or supervision gives up; then stops it and removes
 * the status file. Returns 0 after a requested stop, 1 when the namespace failed for good.
 */
export async function runSupervisor(
  sys: System,
  o: StartU7sOptions & { readonly until: Promise<unknown> },
): Promise<number> {
  await ensureRunDir(sys);
  try {
    // a dead holder's lock (a supervisor killed with SIGKILL) is taken over; a live one's is refused at once
    return await sys.hostFs.withLock(SUPERVISOR_LOCK, () => supervise(sys, o), { timeoutMs: 200 });
  } catch (e) {
    if (!(e instanceof PodsecError) || e.code !== 'FS_LOCK_TIMEOUT') throw e;
    const holder = e.details?.['pid'];
    const pid = typeof holder === 'number' ? String(holder) : '?';
    throw new PodsecError(
      'U7S_ALREADY_RUNNING',
      `another supervisor of the u7s namespace runs (pid ${pid})`,
      { details: { pid } },
    );
  }
}

async function supervise(
  sys: System,
  o: StartU7sOptions & { readonly until: Promise<unknown> },
): Promise<number> {
  const since = sys.clock.now();
  const user = await readU7sUser(sys, o.user);
  let ns: UserNamespace | undefined = undefined;
  let pending = Promise.resolve();
  const update = () => {
    if (ns) {
      const n = ns;
      pending = pending.then(() => writeStatus(sys, n, user, since)).catch(() => undefined);
    }
  };
  ns = await startU7sNamespace(sys, {
    ...o,
    onEvent: (e) => {
      sys.report.progress(
        `rootlesskit ${e.type}${e.pid ? ` pid ${e.pid}` : ''}${e.restarts ? ` (restarts ${e.restarts})` : ''}`,
      );
      if (e.type === 'ready' || e.type === 'restarting') update();
      o.onEvent?.(e);
    },
  });
  update();
  const outcome = await Promise.race([
    o.until.then(() => 'stop' as const),
    ns.daemon.done.then(() => 'died' as const),
  ]);
  await ns.stop(10_000);
  await pending;
  await sys.hostFs.remove(STATUS_FILE).catch(() => undefined);
  return outcome === 'stop' ? 0 : 1;
}

/** Signals the running supervisor and waits (bounded) until no process of the user is left. */
export async function stopSupervisor(
  sys: System,
  o: { readonly timeoutMs?: number; readonly user?: string } = {},
) {
  const user = await readU7sUser(sys, o.user);
  const status = await readSupervisorStatus(sys);
  if (status) process.kill(status.pid, 'SIGTERM');
  const timeoutMs = o.timeoutMs ?? 30_000;
  const gone = await waitUntil(
    async () =>
      !(status && (await isLiveProcess(sys, status.pid))) &&
      (await sys.daemons.userProcesses(user.uid)).length === 0,
    { timeoutMs, intervalMs: 50 },
  );
  if (!gone) {
    const left = await sys.daemons.userProcesses(user.uid);
    throw new ExternalCommandError(
      'U7S_STOP_TIMEOUT',
      `processes of ${user.name} still running after ${timeoutMs} ms: ${left.join(' ')}`,
      { details: { user: user.name, pids: left.join(' '), ms: timeoutMs } },
    );
  }
  return { wasRunning: status !== undefined };
}

/** Throws `U7S_NOT_RUNNING` unless a supervisor runs. */
export async function requireSupervisor(sys: System): Promise<SupervisorStatus> {
  const s = await readSupervisorStatus(sys);
  if (!s)
    throw new NotFoundError(
      'U7S_NOT_RUNNING',
      'the u7s namespace is not running (podsec-u7s start)',
    );
  return s;
}
