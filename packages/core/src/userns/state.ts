/**
 * The RootlessKit state directory as seen from outside: `child_pid` (written by RootlessKit), the
 * ready marker (written by the payload once the namespace is set up), `api.sock` and `lock`.
 * The directory belongs to the namespace's user, so it is read without following symlinks.
 */
import type { System } from '../system/types.ts';

/** What the state directory says. */
export interface NamespaceState {
  /** Pid of the namespace's PID 1 as RootlessKit recorded it. */
  readonly childPid?: number;
  /** Pid in the ready marker (undefined: no marker). */
  readonly readyPid?: number;
  /** True when the marker equals child_pid and that process is alive and belongs to `uid`. */
  readonly ready: boolean;
  /** Why it is not ready (for messages). */
  readonly reason?: string;
}

/** File names inside the state directory. */
export const STATE_FILES = {
  childPid: 'child_pid',
  apiSocket: 'api.sock',
  lock: 'lock',
} as const;

function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^[1-9][0-9]{0,9}$/.test(t)) return undefined;
  return Number(t);
}

/** The real uid of a live process; undefined when it is gone, a zombie or dead (a zombie keeps its /proc entry
 * until its parent reaps it, and a namespace whose PID 1 is a zombie can no longer be entered). */
async function ownerOf(sys: System, pid: number): Promise<number | undefined> {
  const status = await sys.hostFs.readTextIfExists(`/proc/${pid}/status`).catch(() => undefined);
  if (status === undefined || /^State:\s+[ZX]/m.test(status)) return undefined;
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/**
 * Reads the state of a namespace whose state dir is `stateDir` (host path) and whose user has `uid`.
 * `marker` is the ready-marker file name; without one, a live `child_pid` counts as ready.
 */
export async function readNamespaceState(
  sys: System,
  o: { readonly stateDir: string; readonly uid: number; readonly marker?: string },
): Promise<NamespaceState> {
  // the directory is the user's: the host file system's no-follow walk refuses a link planted in it
  const read = (name: string) =>
    sys.hostFs.readTextIfExists(`${o.stateDir}/${name}`, { maxBytes: 64 }).catch(() => undefined);
  const childPid = parsePid(await read(STATE_FILES.childPid));
  const readyPid = o.marker === undefined ? childPid : parsePid(await read(o.marker));
  const base = {
    ...(childPid === undefined ? {} : { childPid }),
    ...(readyPid === undefined ? {} : { readyPid }),
  };
  if (childPid === undefined) return { ...base, ready: false, reason: 'no child_pid' };
  if (readyPid !== childPid)
    return { ...base, ready: false, reason: 'ready marker missing or different from child_pid' };
  if ((await ownerOf(sys, childPid)) !== o.uid)
    return { ...base, ready: false, reason: `process ${childPid} is gone or not the user's` };
  return { ...base, ready: true };
}
