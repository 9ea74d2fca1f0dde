/**
 * systemd units of a rootless node, rendered for this host (the uid and gid of u7s-admin, the RootlessKit
 * flags that fit it) by a pure function and written by `podsec-u7s units` through the changes engine.
 *
 * Ordering without sleeps: `u7s.service` (system) requires and follows `user@UID.service` and starts the
 * user unit `kubelet.service` as u7s-admin; `kubelet.service` is bound to and ordered after
 * `rootlesskit.service`, whose start job ends only when the namespace is ready (its `ExecStartPost` waits,
 * bounded, for the ready marker and adds the node's forwards). Root runs nothing u7s-admin can change.
 */
import type { Change } from '@podsec/core/changes';
import type { PortSpec } from '@podsec/core/userns';
import { formatPortSpec } from '@podsec/core/userns';
import { CHILD_SCRIPT, U7S_LIBEXEC, userPaths } from '../paths.ts';
import { U7S_MODULES } from './preflight.ts';

/** Where the units go (the original's paths; `/lib` is `/usr/lib` on merged-/usr systems). */
export const UNIT_PATHS = {
  system: '/usr/lib/systemd/system',
  user: '/usr/lib/systemd/user',
  modulesLoad: '/usr/lib/modules-load.d/u7s.conf',
  linger: '/var/lib/systemd/linger',
} as const;

/** Seconds the namespace may take to become ready under systemd, unless told otherwise. */
export const UNIT_READY_TIMEOUT_SEC = 60;

/** Programs the units run, by absolute path. */
export interface UnitBinaries {
  /** @default '/usr/bin/podsec-u7s' */
  readonly podsecU7s?: string;
  /** @default '/usr/bin/rootlesskit' */
  readonly rootlesskit?: string;
  /** @default '/usr/bin/kubelet' */
  readonly kubelet?: string;
  /** @default '/usr/bin/systemctl' */
  readonly systemctl?: string;
  /** @default '/usr/sbin/sysctl' */
  readonly sysctl?: string;
}

/** Inputs of {@link planU7sUnits}. */
export interface U7sUnitsOptions {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** RootlessKit's flags for this host (`planRootlesskitArgs(...).args` without the payload). */
  readonly rootlesskitArgs: readonly string[];
  /** Environment of the namespace (`planU7sEnv`). */
  readonly env: Readonly<Record<string, string>>;
  /** Forwards added once the namespace is ready. */
  readonly ports: readonly PortSpec[];
  /** Node IP for the kubelet's `--node-ip`. */
  readonly nodeIP?: string;
  /** Payload of the namespace after the child phase (the CRI launcher). */
  readonly payload?: readonly string[];
  /** @default '/usr/libexec/podsec/u7s/bin' */
  readonly libexec?: string;
  readonly bin?: UnitBinaries;
  /** Seconds the namespace may take to become ready. @default 60 */
  readonly readyTimeoutSec?: number;
}

/** One rendered file. */
export interface RenderedUnit {
  readonly path: string;
  readonly content: string;
}

// systemd's own quoting: double quotes around words with blanks or quotes; % and $ doubled/escaped
function q(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"'\\;]/.test(escaped)
    ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    : escaped;
}
const cmd = (argv: readonly string[]) => argv.map(q).join(' ');

function envLines(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env)
    .sort()
    .map((k) => `Environment=${q(`${k}=${env[k]}`)}`);
}

/** Pure: every unit file, the delegate drop-in and the modules-load list. */
export function planU7sUnits(o: U7sUnitsOptions): RenderedUnit[] {
  const libexec = o.libexec ?? U7S_LIBEXEC;
  const bin = {
    podsecU7s: o.bin?.podsecU7s ?? '/usr/bin/podsec-u7s',
    rootlesskit: o.bin?.rootlesskit ?? '/usr/bin/rootlesskit',
    kubelet: o.bin?.kubelet ?? '/usr/bin/kubelet',
    systemctl: o.bin?.systemctl ?? '/usr/bin/systemctl',
    sysctl: o.bin?.sysctl ?? '/usr/sbin/sysctl',
  };
  const ready = o.readyTimeoutSec ?? UNIT_READY_TIMEOUT_SEC;
  const p = userPaths(o.uid, o.home);
  const userManager = `user@${o.uid}.service`;

  const u7s = [
    '[Unit]',
    'Description=Usernet (rootless kubernetes) U7S Service',
    `Requires=${userManager}`,
    `After=${userManager} network-online.target`,
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `User=${o.user}`,
    `Environment=XDG_RUNTIME_DIR=${p.runtime}`,
    `WorkingDirectory=${o.home}`,
    // as root ("+"), only the gid of u7s-admin: slirp4netns relays ICMP echo for the namespace
    `ExecStartPre=+${cmd([bin.sysctl, '-w', `net.ipv4.ping_group_range=${o.gid} ${o.gid}`])}`,
    `ExecStart=${cmd([bin.systemctl, '--user', 'start', 'kubelet.service'])}`,
    `ExecStop=${cmd([bin.systemctl, '--user', 'stop', 'kubelet.service', 'rootlesskit.service'])}`,
    `TimeoutStartSec=${ready + 60}`,
    'SyslogIdentifier=u7s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];

  const rootlesskit = [
    '[Unit]',
    'Description=RootlessKit namespace of the rootless Kubernetes node (u7s)',
    '',
    '[Service]',
    'Type=simple',
    ...envLines(o.env),
    `Environment=${q(`ROOTLESSKIT_STATE_DIR=${p.stateDir}`)}`,
    `ExecStart=${cmd([bin.rootlesskit, ...o.rootlesskitArgs, `${libexec}/${CHILD_SCRIPT}`, ...(o.payload ?? [])])}`,
    // the start job ends when the child phase wrote its ready marker (bounded), then the forwards exist
    `ExecStartPost=${cmd([bin.podsecU7s, 'enter', '--wait', String(ready), '--', '/bin/true'])}`,
    ...(o.ports.length
      ? [`ExecStartPost=${cmd([bin.podsecU7s, 'ports', 'add', ...o.ports.map(formatPortSpec)])}`]
      : []),
    `TimeoutStartSec=${ready + 30}`,
    'Delegate=yes',
    'KillMode=mixed',
    'Restart=on-failure',
    'RestartSec=2',
    'LimitNOFILE=65536',
    'WorkingDirectory=%h',
    'SyslogIdentifier=rootlesskit',
    '',
  ];

  const kubeletArgs = [
    bin.kubelet,
    '--cert-dir=/etc/kubernetes/pki',
    `--root-dir=${p.usernetesData}/kubelet`,
    '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
    '--kubeconfig=/etc/kubernetes/kubelet.conf',
    '--config=/var/lib/kubelet/config.yaml',
    `--container-runtime-endpoint=unix://${p.crioSocket}`,
    ...(o.nodeIP ? [`--node-ip=${o.nodeIP}`] : []),
  ];
  const kubelet = [
    '[Unit]',
    'Description=kubelet of the rootless Kubernetes node (u7s), inside the namespace',
    'BindsTo=rootlesskit.service',
    'After=rootlesskit.service',
    '',
    '[Service]',
    // kubelet sends READY=1 itself; it runs under nsenter, still in this unit's cgroup
    'Type=notify',
    'NotifyAccess=all',
    `Environment=XDG_RUNTIME_DIR=${p.runtime}`,
    // on a join kubeadm wrote the cluster's (rootful) kubelet configuration: the node's own settings over it, as
    // u7s-admin on its own file, before every start
    `ExecStartPre=${cmd([bin.podsecU7s, 'kubelet-config', '--user', o.user])}`,
    `ExecStart=${cmd([bin.podsecU7s, 'enter', '--wait', '10', '--', ...kubeletArgs])}`,
    'TimeoutStartSec=120',
    'Restart=on-failure',
    'RestartSec=5',
    'LimitNOFILE=65536',
    'WorkingDirectory=%h',
    'SyslogIdentifier=kubelet',
    '',
  ];

  // only this user's manager, only the controllers a kubelet needs (not every user@ of the host)
  const delegate = ['[Service]', 'Delegate=cpu cpuset io memory pids', ''];
  const modules = [
    '# Kernel modules a rootless Kubernetes node needs: they cannot be loaded from inside a user namespace.',
    ...U7S_MODULES,
    '',
  ];
  return [
    { path: `${UNIT_PATHS.system}/u7s.service`, content: u7s.join('\n') },
    {
      path: `${UNIT_PATHS.system}/${userManager}.d/delegate.conf`,
      content: delegate.join('\n'),
    },
    { path: `${UNIT_PATHS.user}/rootlesskit.service`, content: rootlesskit.join('\n') },
    { path: `${UNIT_PATHS.user}/kubelet.service`, content: kubelet.join('\n') },
    { path: UNIT_PATHS.modulesLoad, content: modules.join('\n') },
  ];
}

/**
 * Pure: the changes that install the units: root-owned 0644 files, and lingering for the user (the empty
 * file `loginctl enable-linger` makes), so its manager runs without a login session.
 */
export function planU7sUnitChanges(o: U7sUnitsOptions): Change[] {
  return [
    ...planU7sUnits(o).map((u): Change => ({
      kind: 'file',
      path: u.path,
      content: u.content,
      mode: 0o644,
      uid: 0,
      gid: 0,
    })),
    { kind: 'dir', path: UNIT_PATHS.linger, mode: 0o755, uid: 0, gid: 0 },
    {
      kind: 'file',
      path: `${UNIT_PATHS.linger}/${o.user}`,
      content: '',
      mode: 0o644,
      uid: 0,
      gid: 0,
    },
  ];
}
