/** System paths and fixed names of podsec-k8s (the original's, kept for compatibility). */

/** The unprivileged account every Kubernetes process of a rootless node runs as. */
export const U7S_USER = 'u7s-admin';
/** Its home (`H`). */
export const U7S_HOME = '/var/lib/u7s-admin';
/** Root-owned helpers (the namespace child phase, PATH-shadowing wrappers). */
export const U7S_LIBEXEC = '/usr/libexec/podsec/u7s/bin';
/** Root-owned configuration (never writable by u7s-admin). */
export const ETC_U7S = '/etc/podsec/u7s';
/** Root-owned runtime state of the supervisor (pid, status). */
export const U7S_RUN = '/run/podsec/u7s';
/** etcd data and logs of a rootless control plane. */
export const U7S_VARLIB = '/var/lib/podsec/u7s';
/** Ready marker written by the child phase into the RootlessKit state dir. */
export const READY_MARKER = '_child_pid.u7s-ready';
/** The child-phase script's file name in the libexec dir. */
export const CHILD_SCRIPT = 'rootlesskit.sh';

/** Per-user paths derived from the uid and home. */
export function userPaths(uid: number, home = U7S_HOME) {
  const runtime = `/run/user/${uid}`;
  const data = `${home}/.local/share`;
  const config = `${home}/.config`;
  return {
    home,
    runtime,
    data,
    config,
    usernetesData: `${data}/usernetes`,
    stateDir: `${runtime}/usernetes/rootlesskit`,
    crioSocket: `${runtime}/usernetes/crio/crio.sock`,
  } as const;
}

/** Supplementary groups of u7s-admin (created when missing). */
export const U7S_GROUPS = ['podman', 'systemd-journal'] as const;

/** Backing dirs bind-mounted over these paths inside the namespace. */
export const BIND_DIRS = [
  '/var/lib/kubelet',
  '/var/lib/cni',
  '/var/log',
  '/var/lib/containers',
  '/var/cache',
] as const;
