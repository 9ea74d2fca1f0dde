/** The u7s namespace: RootlessKit as u7s-admin with the spec's flags, the child phase, the node's forwards. */
import { NotFoundError } from '@podsec/core';
import type { DaemonEvent, System } from '@podsec/core/system';
import {
  DEFAULT_COPY_UP,
  readNamespaceState,
  startUserNamespace,
  type NamespaceState,
  type NamespaceUser,
  type PortSpec,
  type UserNamespace,
} from '@podsec/core/userns';
import {
  CHILD_SCRIPT,
  READY_MARKER,
  U7S_HOME,
  U7S_LIBEXEC,
  U7S_USER,
  userPaths,
} from '../paths.ts';
import { planPorts, type U7sNode } from './node-config.ts';

/** Options of {@link startU7sNamespace}. */
export interface StartU7sOptions {
  readonly node: U7sNode;
  /** @default 'u7s-admin' */
  readonly user?: string;
  /** @default '/usr/libexec/podsec/u7s/bin' */
  readonly libexec?: string;
  /** Payload of the namespace (CRI-O's launcher); `sleep infinity` without. */
  readonly payload?: readonly string[];
  /** Host CNI plugin dir bind-mounted on /opt/cni/bin. @default '/usr/lib/cni' */
  readonly cniDir?: string;
  /** Forwards instead of the node's default set. */
  readonly ports?: readonly PortSpec[];
  /**
   * How long the namespace may take to become ready: what is left of the caller's budget. The child phase gets it
   * too, less a second (so that its own message beats the supervisor's timeout), at least one second.
   * @default 30000
   */
  readonly readyTimeoutMs?: number;
  /** @default true */
  readonly restart?: boolean;
  readonly onEvent?: (e: DaemonEvent) => void;
}

/** Looks up the account; `U7S_NO_USER` when missing. */
export async function readU7sUser(sys: System, name = U7S_USER): Promise<NamespaceUser> {
  const u = await sys.users.getUser(name);
  if (!u)
    throw new NotFoundError(
      'U7S_NO_USER',
      `user ${name} does not exist (run podsec-u7s provision)`,
      {
        details: { user: name },
      },
    );
  return { name, uid: u.uid, gid: u.gid, home: u.home || U7S_HOME };
}

/** Pure: the child phase's budget for its waits (`U7S_WAIT_SECONDS`) within a ready timeout of `readyTimeoutMs`. */
export function childWaitSeconds(readyTimeoutMs: number): number {
  return Math.max(1, Math.floor(readyTimeoutMs / 1000) - 1);
}

/** Pure: the environment of RootlessKit, the child phase and the processes in the namespace. */
export function planU7sEnv(
  user: NamespaceUser,
  node: U7sNode,
  o: {
    readonly libexec: string;
    readonly cniDir: string;
    /** Budget of the child phase's waits (node address, child_pid, CRI socket). @default 30 */
    readonly waitSeconds?: number;
  },
): Record<string, string> {
  const p = userPaths(user.uid, user.home);
  return {
    PATH: `${o.libexec}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    XDG_RUNTIME_DIR: p.runtime,
    XDG_DATA_HOME: p.data,
    XDG_CONFIG_HOME: p.config,
    U7S_UID: String(user.uid),
    U7S_READY_MARKER: READY_MARKER,
    U7S_SERVICEMASK: String(node.serviceMask),
    U7S_SLIRP4IP: node.slirp4IP,
    U7S_CNI_DIR: o.cniDir,
    U7S_WAIT_SECONDS: String(o.waitSeconds ?? 30),
    // the payload (the CRI launcher) is ready when this socket exists
    U7S_CRI_SOCKET: p.crioSocket,
    ...(node.extIP ? { U7S_EXTIP: node.extIP, U7S_PARENT_IP: node.extIP } : {}),
    _CONTAINERS_USERNS_CONFIGURED: '1',
    _CONTAINERS_ROOTLESS_UID: String(user.uid),
  };
}

/** Starts the namespace of u7s-admin and waits until it is ready and its forwards exist. */
export async function startU7sNamespace(sys: System, o: StartU7sOptions): Promise<UserNamespace> {
  const user = await readU7sUser(sys, o.user);
  const libexec = o.libexec ?? U7S_LIBEXEC;
  const p = userPaths(user.uid, user.home);
  const readyTimeoutMs = o.readyTimeoutMs ?? 30_000;
  const env = planU7sEnv(user, o.node, {
    libexec,
    cniDir: o.cniDir ?? '/usr/lib/cni',
    waitSeconds: childWaitSeconds(readyTimeoutMs),
  });
  return startUserNamespace(sys, {
    user,
    stateDir: p.stateDir,
    env,
    readyMarker: READY_MARKER,
    rootlesskit: {
      cidr: o.node.serviceCidr,
      copyUp: DEFAULT_COPY_UP,
      payload: [`${libexec}/${CHILD_SCRIPT}`, ...(o.payload ?? [])],
    },
    ports: o.ports ?? planPorts(o.node),
    readyTimeoutMs,
    ...(o.restart === undefined ? {} : { restart: o.restart }),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
  });
}

/** State of u7s-admin's namespace, read from its state dir (for status and enter). */
export async function readU7sState(sys: System, user: NamespaceUser): Promise<NamespaceState> {
  return readNamespaceState(sys, {
    stateDir: userPaths(user.uid, user.home).stateDir,
    uid: user.uid,
    marker: READY_MARKER,
  });
}
