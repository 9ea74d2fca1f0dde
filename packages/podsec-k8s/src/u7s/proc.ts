/** Whether a supervisor recorded in a status file still runs, read from the host's /proc. */
import type { System } from '@podsec/core/system';

/**
 * True when `pid` exists and is not a zombie. A detached supervisor whose parent (`podsec-u7s start`) exited
 * belongs to PID 1; until PID 1 reaps it, a dead one stays in /proc as a zombie, which must not count as running
 * (`stop` would wait for it, `start` would think one runs). Most inits reap at once; a container's PID 1 that is
 * not an init (node, a shell that execs) never does.
 */
export async function isLiveProcess(sys: System, pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = await sys.hostFs
    .readTextIfExists(`/proc/${pid}/stat`, { maxBytes: 4096 })
    .catch(() => undefined);
  if (stat === undefined) return false;
  // comm may hold spaces and parentheses: the state is the field after the last ')'
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
