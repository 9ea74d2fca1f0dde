/** Which cgroup hierarchy a host runs, from `/proc/self/mountinfo` (pure parser + reader). */
import type { System } from '../system/types.ts';

/** `v2`: unified only; `hybrid`: v1 controllers plus a cgroup2 mount; `v1`: legacy only. */
export type CgroupMode = 'v1' | 'hybrid' | 'v2';

/** Pure: the cgroup mode from mountinfo text. */
export function parseCgroupMode(mountinfo: string): CgroupMode {
  let v1 = false;
  let unifiedRoot = false;
  let v2 = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    const target = fields[4];
    if (fstype === 'cgroup2') {
      v2 = true;
      if (target === '/sys/fs/cgroup') unifiedRoot = true;
    } else if (fstype === 'cgroup') v1 = true;
  }
  if (unifiedRoot && !v1) return 'v2';
  if (v1 && v2) return 'hybrid';
  return v1 ? 'v1' : v2 ? 'v2' : 'v1';
}

/** The host's cgroup mode (reads `/proc/self/mountinfo` of the host, whatever --root says). */
export async function detectCgroupMode(sys: System): Promise<CgroupMode> {
  return parseCgroupMode(await sys.hostFs.readText('/proc/self/mountinfo'));
}
