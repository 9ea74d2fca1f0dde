/**
 * Preflight: what this machine offers a rootless Kubernetes node, each finding with how to fix it.
 * Facts are gathered from the host ({@link readPreflightFacts}); the verdicts are pure ({@link planPreflight}).
 */
import type { FileSystem, System } from '@podsec/core/system';
import { parseCgroupMode, type CgroupMode } from '@podsec/core/userns';
import { U7S_USER } from '../paths.ts';

/** Modules the namespace cannot load itself (modules-load list). */
export const U7S_MODULES = [
  'fuse',
  'tun',
  'bridge',
  'br_netfilter',
  'veth',
  'ip_tables',
  'ip6_tables',
  'iptable_nat',
  'ip6table_nat',
  'iptable_filter',
  'ip6table_filter',
  'nf_tables',
  'x_tables',
  'xt_MASQUERADE',
  'xt_addrtype',
  'xt_comment',
  'xt_conntrack',
  'xt_mark',
  'xt_multiport',
  'xt_nat',
  'xt_tcpudp',
] as const;

/** Programs a node needs. */
export const U7S_BINARIES = [
  'rootlesskit',
  'rootlessctl',
  'slirp4netns',
  'nsenter',
  'setpriv',
  'kubeadm',
  'kubelet',
  'kube-apiserver',
  'crio',
] as const;

/** The kubelet's own refusal on a cgroup v1 host (Kubernetes >= 1.35, `failCgroupV1` defaults to true). */
export const KUBELET_CGROUP_V1_REFUSAL =
  'kubelet is configured to not run on a host using cgroup v1';
/** How far the kubelet gets on cgroup v1 without that guard: its container manager cannot create kubepods. */
export const KUBELET_CGROUP_V1_NO_DELEGATION = 'Failed to start ContainerManager';

/** Everything preflight looks at. */
export interface PreflightFacts {
  readonly kernel: string;
  readonly cgroup: CgroupMode;
  /** cgroup v2: controllers enabled for children of the root (`cgroup.subtree_control`). */
  readonly cgroupRootControllers?: readonly string[];
  /** cgroup v2: controllers available in `user@UID.service` (undefined: no user manager running). */
  readonly cgroupUserControllers?: readonly string[];
  readonly pid1: string;
  readonly user: string;
  readonly userExists: boolean;
  readonly subuid: number;
  readonly subgid: number;
  /** Permission bits and owner of /dev/net/tun; undefined when missing. */
  readonly tun?: { readonly mode: number; readonly uid: number };
  readonly userUid?: number;
  readonly inotifyInstances?: number;
  readonly inotifyWatches?: number;
  readonly maxUserNamespaces?: number;
  readonly ipForward?: number;
  readonly unprivilegedPortStart?: number;
  /** Modules loaded or built in. */
  readonly modules: ReadonlySet<string>;
  /** name → version text, or undefined when not found. */
  readonly binaries: Readonly<Record<string, string | undefined>>;
}

/** One finding. */
export interface PreflightCheck {
  readonly id: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  readonly fix?: string;
}

function minorOf(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /v?1\.(\d+)\./.exec(v);
  return m ? Number(m[1]) : undefined;
}

/** Pure: the verdicts. */
export function planPreflight(f: PreflightFacts): PreflightCheck[] {
  const out: PreflightCheck[] = [];
  const add = (id: string, ok: boolean | 'warn', message: string, fix: string) =>
    out.push(
      ok === true
        ? { id, status: 'ok', message }
        : { id, status: ok === 'warn' ? 'warn' : 'fail', message, fix },
    );
  const [maj, min] = f.kernel.split('.').map((x) => parseInt(x, 10));
  add(
    'kernel',
    (maj ?? 0) > 5 || ((maj ?? 0) === 5 && (min ?? 0) >= 15),
    `kernel ${f.kernel}`,
    'boot a kernel >= 5.15',
  );
  add(
    'cgroup',
    f.cgroup === 'v2',
    f.cgroup === 'v2'
      ? 'cgroup v2 (unified)'
      : `cgroup ${f.cgroup === 'hybrid' ? 'v1 (hybrid: v1 controllers, an empty cgroup2 beside them)' : 'v1'}: ` +
          `the kubelet refuses ("${KUBELET_CGROUP_V1_REFUSAL}"), and without that guard it stops at ` +
          `"${KUBELET_CGROUP_V1_NO_DELEGATION}" (mkdir of kubepods in a v1 hierarchy is denied: v1 has no delegation)`,
    'boot with the unified cgroup v2 hierarchy (systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all) and systemd as PID 1',
  );
  if (f.cgroup === 'v2') {
    const need = ['cpu', 'memory', 'pids'];
    const root = need.filter((c) => !(f.cgroupRootControllers ?? []).includes(c));
    const user = f.cgroupUserControllers;
    const missing = user === undefined ? need : need.filter((c) => !user.includes(c));
    add(
      'cgroup-delegation',
      root.length === 0 && missing.length === 0,
      user === undefined
        ? `no user manager of ${f.user} runs (user@${f.userUid ?? 'UID'}.service): nothing is delegated`
        : missing.length
          ? `controllers not delegated to user@${f.userUid}.service: ${missing.join(' ')}`
          : `user@${f.userUid}.service has ${need.join(' ')} delegated`,
      'podsec-u7s units (installs user@UID.service.d/delegate.conf and lingering), then systemctl daemon-reload and systemctl restart user@UID.service',
    );
  }
  add(
    'systemd',
    f.pid1 === 'systemd' ? true : 'warn',
    `PID 1 is ${f.pid1}`,
    'without systemd as PID 1 there is no user manager or cgroup delegation: start the namespace with podsec-u7s start (no u7s.service)',
  );
  add(
    'user',
    f.userExists ? true : 'warn',
    `${f.user} ${f.userExists ? 'exists' : 'does not exist'}`,
    'podsec-u7s provision',
  );
  if (f.userExists) {
    add(
      'subuid',
      f.subuid >= 65536,
      `/etc/subuid gives ${f.user} ${f.subuid} ids`,
      'podsec-u7s provision (allocates 65536 subordinate uids)',
    );
    add(
      'subgid',
      f.subgid >= 65536,
      `/etc/subgid gives ${f.user} ${f.subgid} ids`,
      'podsec-u7s provision (allocates 65536 subordinate gids)',
    );
  }
  const tunOk =
    f.tun !== undefined &&
    ((f.tun.mode & 0o006) === 0o006 || (f.userUid !== undefined && f.tun.uid === f.userUid));
  add(
    'tun',
    tunOk,
    f.tun === undefined
      ? '/dev/net/tun is missing'
      : `/dev/net/tun mode ${f.tun.mode.toString(8).padStart(4, '0')}`,
    f.tun === undefined
      ? 'modprobe tun'
      : 'slirp4netns opens /dev/net/tun as the user: chmod 0666 /dev/net/tun (udev: KERNEL=="tun", MODE="0666")',
  );
  add(
    'inotify-instances',
    (f.inotifyInstances ?? 0) >= 8192,
    `fs.inotify.max_user_instances = ${f.inotifyInstances}`,
    'sysctl -w fs.inotify.max_user_instances=8192',
  );
  add(
    'inotify-watches',
    (f.inotifyWatches ?? 0) >= 524288,
    `fs.inotify.max_user_watches = ${f.inotifyWatches}`,
    'sysctl -w fs.inotify.max_user_watches=524288',
  );
  add(
    'userns',
    (f.maxUserNamespaces ?? 0) > 0,
    `user.max_user_namespaces = ${f.maxUserNamespaces}`,
    'sysctl -w user.max_user_namespaces=28633',
  );
  add(
    'ip-forward',
    f.ipForward === 1 ? true : 'warn',
    `net.ipv4.ip_forward = ${f.ipForward}`,
    'sysctl -w net.ipv4.ip_forward=1 (the namespace sets its own)',
  );
  const missing = U7S_MODULES.filter(
    (m) => !f.modules.has(m) && !f.modules.has(m.replace(/-/g, '_')),
  );
  add(
    'modules',
    missing.length === 0 ? true : 'warn',
    missing.length ? `modules not loaded: ${missing.join(' ')}` : 'all modules loaded',
    `modprobe -a ${missing.join(' ')} (or install /lib/modules-load.d/u7s.conf)`,
  );
  for (const b of U7S_BINARIES) {
    const v = f.binaries[b];
    add(
      `bin-${b}`,
      v !== undefined,
      v === undefined ? `${b} not found` : `${b} ${v}`,
      `install ${b}`,
    );
  }
  const kubeadm = minorOf(f.binaries['kubeadm']);
  const kubelet = minorOf(f.binaries['kubelet']);
  const apiserver = minorOf(f.binaries['kube-apiserver']);
  if (kubeadm !== undefined && kubelet !== undefined)
    add(
      'skew-kubelet',
      kubeadm - kubelet >= 0 && kubeadm - kubelet <= 1,
      `kubeadm 1.${kubeadm}, kubelet 1.${kubelet}`,
      'kubelet may be at most one minor older than kubeadm, never newer',
    );
  if (kubeadm !== undefined && apiserver !== undefined)
    add(
      'skew-apiserver',
      kubeadm === apiserver,
      `kubeadm 1.${kubeadm}, kube-apiserver 1.${apiserver}`,
      'use the kube-apiserver of the same minor as kubeadm',
    );
  return out;
}

async function readInt(fs: FileSystem, path: string): Promise<number | undefined> {
  const t = await fs.readTextIfExists(path).catch(() => undefined);
  const n = t === undefined ? NaN : parseInt(t.trim(), 10);
  return Number.isFinite(n) ? n : undefined;
}

async function versionOf(
  sys: System,
  name: string,
  bins: Readonly<Record<string, string>>,
): Promise<string | undefined> {
  const file = bins[name] ?? name;
  const args =
    name === 'kubeadm' ? ['version', '-o', 'short'] : name === 'crio' ? ['version'] : ['--version'];
  try {
    const r = await sys.proc.run(file, args, { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`;
    const m = /v?\d+\.\d+\.\d+[^\s,]*/.exec(text);
    return m ? m[0] : r.exitCode === 0 ? 'present' : undefined;
  } catch {
    return undefined;
  }
}

/** Options of {@link readPreflightFacts}. */
export interface ReadPreflightOptions {
  /** @default 'u7s-admin' */
  readonly user?: string;
  /** Program name → path, for programs not on PATH. */
  readonly binaries?: Readonly<Record<string, string>>;
  /** Where /proc, /sys and /dev are read. @default the host's (`sys.hostFs`) */
  readonly hostFs?: FileSystem;
}

const words = (t: string | undefined) => (t ?? '').split(/\s+/).filter((w) => w !== '');

/** Gathers the facts of this host (the account and its subordinate ids from the tree of `sys`). */
export async function readPreflightFacts(
  sys: System,
  o: ReadPreflightOptions = {},
): Promise<PreflightFacts> {
  const host = o.hostFs ?? sys.hostFs;
  const user = o.user ?? U7S_USER;
  const pw = await sys.users.getUser(user);
  const sum = (r: { owner: string; count: number }[]) =>
    r.filter((x) => x.owner === user).reduce((n, x) => n + x.count, 0);
  const tun = await host.stat('/dev/net/tun');
  const modules = new Set<string>();
  for (const line of ((await host.readTextIfExists('/proc/modules')) ?? '').split('\n')) {
    const m = line.split(' ')[0];
    if (m) modules.add(m);
  }
  for (const m of U7S_MODULES) if (await host.exists(`/sys/module/${m}`)) modules.add(m);
  const binaries: Record<string, string | undefined> = {};
  for (const b of U7S_BINARIES) binaries[b] = await versionOf(sys, b, o.binaries ?? {});
  const cgroup = parseCgroupMode((await host.readTextIfExists('/proc/self/mountinfo')) ?? '');
  const read = (p: string) => host.readTextIfExists(p).catch(() => undefined);
  const userCg = pw
    ? await read(
        `/sys/fs/cgroup/user.slice/user-${pw.uid}.slice/user@${pw.uid}.service/cgroup.controllers`,
      )
    : undefined;
  return {
    kernel: ((await read('/proc/sys/kernel/osrelease')) ?? '0.0').trim(),
    cgroup,
    ...(cgroup === 'v2'
      ? {
          cgroupRootControllers: words(await read('/sys/fs/cgroup/cgroup.subtree_control')),
          ...(userCg === undefined ? {} : { cgroupUserControllers: words(userCg) }),
        }
      : {}),
    pid1: ((await read('/proc/1/comm')) ?? '?').trim(),
    user,
    userExists: pw !== undefined,
    ...(pw ? { userUid: pw.uid } : {}),
    subuid: sum(await sys.users.subuids()),
    subgid: sum(await sys.users.subgids()),
    ...(tun ? { tun: { mode: tun.mode, uid: tun.uid } } : {}),
    inotifyInstances: await readInt(host, '/proc/sys/fs/inotify/max_user_instances'),
    inotifyWatches: await readInt(host, '/proc/sys/fs/inotify/max_user_watches'),
    maxUserNamespaces: await readInt(host, '/proc/sys/user/max_user_namespaces'),
    ipForward: await readInt(host, '/proc/sys/net/ipv4/ip_forward'),
    unprivilegedPortStart: await readInt(host, '/proc/sys/net/ipv4/ip_unprivileged_port_start'),
    modules,
    binaries,
  };
}
