/**
 * The PATH-shadowing wrappers of the u7s helper directory besides `kubeadm`: `systemctl` (kubeadm inside the
 * namespace manages the kubelet, which is a unit of u7s-admin's user manager) and `rootlessctl` (always talks to
 * u7s-admin's RootlessKit API socket). Installed as `libexec/systemctl` and `libexec/rootlessctl`, small POSIX sh
 * scripts that hand their arguments (after `--`, verbatim) to `podsec-u7s wrap <tool>`.
 */
import { UsageError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { U7S_HOME, U7S_USER, userPaths } from '../paths.ts';
import { checkTrustedBinary } from './binary.ts';

/** The tools with a PATH shadow. */
export const SHADOWED_TOOLS = ['systemctl', 'rootlessctl'] as const;
/** One of {@link SHADOWED_TOOLS}. */
export type ShadowedTool = (typeof SHADOWED_TOOLS)[number];

/** Default locations of the real tools (`/bin/systemctl` exists on merged-/usr Debian and ALT alike). */
export const REAL_TOOLS: Readonly<Record<ShadowedTool, { path: string; env: string }>> = {
  systemctl: { path: '/bin/systemctl', env: 'U7S_SYSTEMCTL' },
  rootlessctl: { path: '/usr/bin/rootlessctl', env: 'U7S_ROOTLESSCTL' },
};

/** Pure: the real tool: `$U7S_SYSTEMCTL` / `$U7S_ROOTLESSCTL`, else the default. Never a PATH lookup. */
export function planRealToolPath(
  tool: ShadowedTool,
  env: Readonly<Record<string, string | undefined>>,
): string {
  return env[REAL_TOOLS[tool].env] || REAL_TOOLS[tool].path;
}

/**
 * Pure: the real systemctl's argv. As u7s-admin (`USER`, what the namespace's processes have) the user manager of
 * u7s-admin through machined, showing the job transaction; for anyone else the arguments unchanged.
 */
export function planSystemctlArgs(
  env: Readonly<Record<string, string | undefined>>,
  args: readonly string[],
  user = U7S_USER,
): string[] {
  return env['USER'] === user ? ['--user', '-M', `${user}@`, '-T', ...args] : [...args];
}

/** Pure: the real rootlessctl's argv: the API socket of RootlessKit's state dir in `runtimeDir`, then the args. */
export function planRootlessctlArgs(runtimeDir: string, args: readonly string[]): string[] {
  return ['--socket', `${runtimeDir}/usernetes/rootlesskit/api.sock`, ...args];
}

/** Pure: parses /proc/self/uid_map: the uid here that stands for host uid 0, undefined when it is not mapped. */
export function parseHostRootUid(uidMap: string): number | undefined {
  for (const line of uidMap.split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside === undefined || outside === undefined || count === undefined) continue;
    if (outside <= 0 && 0 < outside + count) return inside - outside;
  }
  return undefined;
}

/** Where we run: on the host (host root is uid 0 here) or in a user namespace (host root unmapped). */
async function readRootView(sys: System): Promise<{ initialNs: boolean; rootUid: number }> {
  // /proc/self is a link the rooted fs does not follow inside the namespace (there /proc is not root's): its pid
  const self = await sys.hostFs.readlink('/proc/self');
  const map = /^\d+$/.test(self ?? '')
    ? await sys.hostFs.readTextIfExists(`/proc/${self}/uid_map`, { maxBytes: 64 << 10 })
    : undefined;
  const mapped = map === undefined ? 0 : parseHostRootUid(map);
  if (mapped !== undefined)
    return { initialNs: mapped === 0 && sys.identity.uid === 0, rootUid: mapped };
  // inside u7s-admin's namespace: files of the host's root show with the overflow uid
  const overflow = await sys.hostFs.readTextIfExists('/proc/sys/kernel/overflowuid', {
    maxBytes: 64,
  });
  return { initialNs: false, rootUid: Number(overflow?.trim() ?? '65534') };
}

/**
 * Runs the real tool for a PATH shadow with our stdio; resolves with its exit status. The real binary must belong
 * to root and be writable by nobody else all the way up (`KUBEADM_BINARY_*`). Root on the host never talks to
 * u7s-admin's socket itself: rootlessctl then runs as u7s-admin, with u7s-admin's runtime dir.
 */
export async function runShadowedTool(
  sys: System,
  tool: string,
  args: readonly string[],
): Promise<number> {
  if (!(SHADOWED_TOOLS as readonly string[]).includes(tool))
    throw new UsageError(
      'U7S_WRAP_UNKNOWN',
      `no PATH shadow for "${tool}" (systemctl, rootlessctl)`,
      {
        details: { tool },
      },
    );
  const t = tool as ShadowedTool;
  const view = await readRootView(sys);
  const real = await checkTrustedBinary(sys.hostFs, planRealToolPath(t, sys.env), undefined, {
    name: t,
    rootUid: view.rootUid,
  });
  const env = { ...sys.env };
  if (t === 'systemctl') {
    return sys.daemons.exec({ file: real, args: planSystemctlArgs(sys.env, args), env });
  }
  const { readU7sUser } = await import('../u7s/namespace.ts');
  if (view.initialNs) {
    const user = await readU7sUser(sys);
    const runtime = userPaths(user.uid, user.home).runtime;
    return sys.daemons.exec({
      file: real,
      args: planRootlessctlArgs(runtime, args),
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: user.home, XDG_RUNTIME_DIR: runtime },
      user: { uid: user.uid, gid: user.gid, name: user.name },
      cwd: '/',
    });
  }
  // u7s-admin on the host or inside its namespace (where it is uid 0): its own runtime dir
  const runtime =
    sys.env['XDG_RUNTIME_DIR'] || userPaths((await readU7sUser(sys)).uid, U7S_HOME).runtime;
  return sys.daemons.exec({ file: real, args: planRootlessctlArgs(runtime, args), env });
}
