/**
 * `podsec-u7s static-pods run|stop`: the static pods of {@link startStaticPods} in a foreground supervisor with a
 * root-owned status file, and the stop that signals it and waits until none of their processes is left.
 */
import { ExternalCommandError, NotFoundError, UsageError } from '@podsec/core';
import { waitUntil, type System } from '@podsec/core/system';
import { U7S_RUN } from '../paths.ts';
import { readU7sState, readU7sUser } from './namespace.ts';
import { isLiveProcess } from './proc.ts';
import {
  readStaticPods,
  startStaticPods,
  type StaticPod,
  type StaticPodNamespace,
} from './static-pods.ts';

/** Status file of the running static-pod supervisor (root-owned directory). */
export const STATIC_PODS_STATUS = `${U7S_RUN}/static-pods.json`;

/** What the status file holds. */
export interface StaticPodsStatus {
  readonly pid: number;
  readonly pods: readonly { readonly name: string; readonly pid: number | undefined }[];
  readonly since: string;
}

/** The status of a supervisor that still runs; undefined otherwise. */
export async function readStaticPodsStatus(sys: System): Promise<StaticPodsStatus | undefined> {
  const text = await sys.hostFs.readTextIfExists(STATIC_PODS_STATUS, { maxBytes: 65536 });
  if (text === undefined) return undefined;
  let s: StaticPodsStatus;
  try {
    s = JSON.parse(text) as StaticPodsStatus;
  } catch {
    return undefined;
  }
  if (!(await isLiveProcess(sys, s.pid))) return undefined;
  return s;
}

/** The running namespace of the user (its PID 1); `U7S_NOT_RUNNING` when it is down. */
export async function readStaticPodNamespace(
  sys: System,
  user?: string,
): Promise<StaticPodNamespace> {
  const u = await readU7sUser(sys, user);
  const state = await readU7sState(sys, u);
  if (!state.ready || state.childPid === undefined)
    throw new NotFoundError('U7S_NOT_RUNNING', `the u7s namespace is not running`, {
      details: { reason: state.reason ?? 'not ready' },
    });
  return { pid: state.childPid, user: u };
}

/** Options of {@link runStaticPods}. */
export interface RunStaticPodsOptions {
  readonly binDir: string;
  readonly manifestDir?: string;
  readonly readyTimeoutMs?: number;
  readonly user?: string;
  /** Settles when the supervisor is asked to stop (a signal). */
  readonly until: Promise<unknown>;
  /** Called once every pod is ready. */
  readonly onReady?: (pods: readonly { name: string; pid: number | undefined }[]) => void;
}

/** Pure-ish plan for --dry-run: the pods and the argv each one would run with. */
export async function planStaticPodsRun(
  sys: System,
  o: { readonly manifestDir?: string; readonly user?: string },
): Promise<StaticPod[]> {
  return readStaticPods(sys, await readStaticPodNamespace(sys, o.user), o.manifestDir);
}

/**
 * Starts the static pods and supervises them until `until` settles or a pod fails for good; then stops them
 * all. Returns 0 after a requested stop; throws `U7S_STATIC_POD_FAILED` when a pod could not be kept running.
 */
export async function runStaticPods(sys: System, o: RunStaticPodsOptions): Promise<number> {
  const other = await readStaticPodsStatus(sys);
  if (other)
    throw new UsageError(
      'U7S_STATIC_PODS_RUNNING',
      `the static pods already run (pid ${other.pid})`,
      {
        details: { pid: other.pid },
      },
    );
  const ns = await readStaticPodNamespace(sys, o.user);
  const pods = await startStaticPods(sys, {
    namespace: ns,
    binDir: o.binDir,
    ...(o.manifestDir ? { manifestDir: o.manifestDir } : {}),
    ...(o.readyTimeoutMs ? { readyTimeoutMs: o.readyTimeoutMs } : {}),
    onEvent: (pod, event) => sys.report.progress(`static pod ${pod}: ${event}`),
  });
  try {
    const list = pods.pods.map((p) => ({ name: p.pod.name, pid: p.daemon.pid() }));
    await sys.hostFs.mkdir('/run/podsec', { mode: 0o755 });
    await sys.hostFs.mkdir(U7S_RUN, { mode: 0o700, uid: 0, gid: 0 });
    const status: StaticPodsStatus = {
      pid: process.pid,
      pods: list,
      since: sys.clock.now().toISOString(),
    };
    await sys.hostFs.writeFileAtomic(STATIC_PODS_STATUS, `${JSON.stringify(status)}\n`, {
      mode: 0o600,
      backup: false,
    });
    o.onReady?.(list);
    const failed = await Promise.race([
      o.until.then(() => undefined),
      ...pods.pods.map((p) => p.daemon.done.then(() => p)),
    ]);
    if (failed)
      throw new ExternalCommandError(
        'U7S_STATIC_POD_FAILED',
        `static pod ${failed.pod.name} failed for good: ${failed.daemon.output().trim().split('\n').slice(-5).join('\n')}`,
        { details: { pod: failed.pod.name, why: 'failed for good' } },
      );
    return 0;
  } finally {
    await pods.stop();
    await sys.hostFs.remove(STATIC_PODS_STATUS).catch(() => undefined);
  }
}

/** Signals the running static-pod supervisor and waits (bounded) until it and every pod process are gone. */
export async function stopStaticPods(
  sys: System,
  o: { readonly timeoutMs?: number } = {},
): Promise<{ wasRunning: boolean }> {
  const s = await readStaticPodsStatus(sys);
  if (!s) return { wasRunning: false };
  process.kill(s.pid, 'SIGTERM');
  const timeoutMs = o.timeoutMs ?? 30_000;
  const pids = [s.pid, ...s.pods.flatMap((p) => (p.pid === undefined ? [] : [p.pid]))];
  const alive = async () => {
    const left: number[] = [];
    // a zombie is gone for our purposes
    for (const p of pids) if (await isLiveProcess(sys, p)) left.push(p);
    return left;
  };
  if (!(await waitUntil(async () => (await alive()).length === 0, { timeoutMs, intervalMs: 50 })))
    throw new ExternalCommandError(
      'U7S_STOP_TIMEOUT',
      `static pod processes still running after ${timeoutMs} ms`,
      { details: { user: 'static pods', ms: timeoutMs, pids: (await alive()).join(' ') } },
    );
  return { wasRunning: true };
}
