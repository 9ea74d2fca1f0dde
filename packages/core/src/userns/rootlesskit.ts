/**
 * Pure planning of a RootlessKit command line: the flags that fit this host (copy-up only of directories
 * that exist, cgroup v2 evacuation only where the host has a delegated unified hierarchy).
 */
import { UsageError } from '../errors.ts';
import type { CgroupMode } from './cgroup.ts';

/** What the namespace should look like. */
export interface RootlesskitOptions {
  readonly stateDir: string;
  /** @default 65520 */
  readonly mtu?: number;
  /** Network of slirp4netns (`--cidr`), e.g. the service CIDR. */
  readonly cidr?: string;
  /** @default true */
  readonly disableHostLoopback?: boolean;
  /** Directories to copy up (tmpfs + symlinks); those missing on the host are left out. */
  readonly copyUp?: readonly string[];
  /** @default 'rslave' */
  readonly propagation?: 'rslave' | 'rshared' | 'rprivate' | 'private' | 'slave' | 'shared';
  /** Name of the sub-cgroup RootlessKit evacuates itself to on cgroup v2. @default 'rootlesskit_evac' */
  readonly evacuateCgroup2?: string;
  /** Extra flags, verbatim (e.g. from the environment file). */
  readonly extraFlags?: readonly string[];
  /** Program (and arguments) run as PID 1 of the namespace. */
  readonly payload: readonly string[];
}

/** Facts about the host the plan depends on. */
export interface RootlesskitHostFacts {
  readonly existingDirs: ReadonlySet<string>;
  readonly cgroup: CgroupMode;
  /** Whether our cgroup v2 subtree is delegated (writable) to the user. */
  readonly cgroup2Delegated: boolean;
}

/** The planned command and why some wanted flags were left out. */
export interface RootlesskitPlan {
  readonly args: string[];
  readonly omitted: readonly { readonly flag: string; readonly reason: string }[];
}

/** Default copy-up set of u7s (the original's list; missing ones are dropped at plan time). */
export const DEFAULT_COPY_UP = [
  '/etc',
  '/etc/sysconfig',
  '/run',
  '/var/lib',
  '/opt',
  '/var/lib/crio',
  '/usr/libexec',
] as const;

/** Pure: the `rootlesskit` argument vector for these options on this host. */
export function planRootlesskitArgs(
  o: RootlesskitOptions,
  host: RootlesskitHostFacts,
): RootlesskitPlan {
  if (!o.stateDir.startsWith('/'))
    throw new UsageError('USERNS_BAD_STATE_DIR', `state dir must be absolute: ${o.stateDir}`);
  if (o.payload.length === 0) throw new UsageError('USERNS_NO_PAYLOAD', 'no payload command');
  const mtu = o.mtu ?? 65520;
  if (!Number.isInteger(mtu) || mtu < 1280 || mtu > 65521)
    throw new UsageError('USERNS_BAD_MTU', `bad MTU ${mtu}`);
  const omitted: { flag: string; reason: string }[] = [];
  const args = [
    `--state-dir=${o.stateDir}`,
    '--net=slirp4netns',
    `--mtu=${mtu}`,
    ...(o.disableHostLoopback === false ? [] : ['--disable-host-loopback']),
    '--slirp4netns-sandbox=true',
    '--slirp4netns-seccomp=true',
    '--port-driver=builtin',
  ];
  const seen = new Set<string>();
  for (const dir of o.copyUp ?? DEFAULT_COPY_UP) {
    const flag = `--copy-up=${dir}`;
    if (seen.has(dir)) continue;
    seen.add(dir);
    if (!host.existingDirs.has(dir)) {
      omitted.push({ flag, reason: `${dir} does not exist on this host` });
      continue;
    }
    args.push(flag);
  }
  args.push(
    '--cgroupns',
    '--pidns',
    '--ipcns',
    '--utsns',
    `--propagation=${o.propagation ?? 'rslave'}`,
  );
  const evac = `--evacuate-cgroup2=${o.evacuateCgroup2 ?? 'rootlesskit_evac'}`;
  if (host.cgroup === 'v2' && host.cgroup2Delegated) args.push(evac);
  else
    omitted.push({
      flag: evac,
      reason:
        host.cgroup === 'v2'
          ? 'the cgroup v2 subtree is not delegated to the user'
          : `the host runs cgroup ${host.cgroup} (no unified hierarchy to evacuate in)`,
    });
  if (o.cidr !== undefined) args.push(`--cidr=${o.cidr}`);
  args.push(...(o.extraFlags ?? []), '--', ...o.payload);
  return { args, omitted };
}
