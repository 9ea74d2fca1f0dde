/**
 * A RootlessKit user namespace supervised from the host: started as its user, ready when the state
 * directory's marker matches `child_pid` and the API answers, port forwards (re-)added on every start,
 * restarted when it dies, stopped with no process of it left.
 */
import { NotFoundError, UsageError } from '../errors.ts';
import type { Daemon, DaemonEvent, RunAsUser } from '../system/daemon.ts';
import type { ProcessResult, System } from '../system/types.ts';
import { detectCgroupMode } from './cgroup.ts';
import { planEnter } from './enter.ts';
import { createPortApi, type PortApi, type PortSpec } from './ports.ts';
import {
  DEFAULT_COPY_UP,
  planRootlesskitArgs,
  type RootlesskitOptions,
  type RootlesskitPlan,
} from './rootlesskit.ts';
import { readNamespaceState, STATE_FILES, type NamespaceState } from './state.ts';

/** The user a namespace belongs to. */
export interface NamespaceUser extends RunAsUser {
  readonly name: string;
  readonly home: string;
}

/** What to start. */
export interface UserNamespaceSpec {
  readonly user: NamespaceUser;
  /** RootlessKit's state directory (host path, inside the user's runtime dir). */
  readonly stateDir: string;
  readonly rootlesskit: Omit<RootlesskitOptions, 'stateDir'>;
  /** Environment of RootlessKit and the payload (complete; nothing inherited). */
  readonly env: Readonly<Record<string, string>>;
  /** File name of the ready marker the payload writes into the state dir (content = its pid). */
  readonly readyMarker?: string;
  /** Forwards added once ready, after every (re)start. */
  readonly ports?: readonly PortSpec[];
  /** @default 30000 */
  readonly readyTimeoutMs?: number;
  /** Restart when the namespace dies. @default true */
  readonly restart?: boolean;
  /** @default 'rootlesskit' */
  readonly rootlesskitPath?: string;
  readonly onEvent?: (e: DaemonEvent) => void;
}

/** A running namespace. */
export interface UserNamespace {
  readonly daemon: Daemon;
  readonly plan: RootlesskitPlan;
  readonly ports: PortApi;
  state(): Promise<NamespaceState>;
  /** PID 1 of the namespace; throws `USERNS_NOT_RUNNING` when not ready. */
  childPid(): Promise<number>;
  /** Runs a command inside as pseudo-root, output captured. */
  run(
    command: readonly string[],
    options?: { readonly cwd?: string; readonly input?: string; readonly timeoutMs?: number },
  ): Promise<ProcessResult>;
  stop(graceMs?: number): Promise<void>;
}

async function isDir(sys: System, path: string): Promise<boolean> {
  return (await sys.hostFs.stat(path).catch(() => undefined))?.kind === 'dir';
}

async function cgroup2Delegated(sys: System, uid: number): Promise<boolean> {
  const own = await sys.hostFs.readTextIfExists('/proc/self/cgroup');
  const m = own === undefined ? null : /^0::(\/.*)$/m.exec(own);
  if (!m) return false;
  const st = await sys.hostFs
    .stat(`/sys/fs/cgroup${m[1] === '/' ? '' : m[1]}`)
    .catch(() => undefined);
  return st?.uid === uid;
}

/** Facts the RootlessKit plan needs, read from the host. */
export async function readRootlesskitHostFacts(
  sys: System,
  uid: number,
  copyUp: readonly string[] = DEFAULT_COPY_UP,
) {
  const existingDirs = new Set<string>();
  for (const d of copyUp) if (await isDir(sys, d)) existingDirs.add(d);
  const cgroup = await detectCgroupMode(sys);
  return {
    existingDirs,
    cgroup,
    cgroup2Delegated: cgroup === 'v2' && (await cgroup2Delegated(sys, uid)),
  };
}

/** Fails fast, with the file named, when the user has no subordinate ids (RootlessKit needs them). */
export async function checkSubIds(sys: System, user: string, minCount = 65536): Promise<void> {
  for (const [file, ranges] of [
    ['/etc/subuid', await sys.users.subuids()],
    ['/etc/subgid', await sys.users.subgids()],
  ] as const) {
    const mine = ranges.filter((r) => r.owner === user);
    const total = mine.reduce((n, r) => n + r.count, 0);
    if (total === 0)
      throw new NotFoundError('USERNS_NO_SUBIDS', `${file} has no range for ${user}`);
    if (total < minCount)
      throw new UsageError(
        'USERNS_SUBIDS_TOO_FEW',
        `${file} gives ${user} only ${total} ids (${minCount} needed)`,
      );
  }
}

/** Starts the namespace and waits until it is ready (bounded). */
export async function startUserNamespace(
  sys: System,
  spec: UserNamespaceSpec,
): Promise<UserNamespace> {
  await checkSubIds(sys, spec.user.name);
  const facts = await readRootlesskitHostFacts(sys, spec.user.uid, spec.rootlesskit.copyUp);
  const plan = planRootlesskitArgs({ ...spec.rootlesskit, stateDir: spec.stateDir }, facts);
  const apiSocket = `${spec.stateDir}/${STATE_FILES.apiSocket}`;
  const ports = createPortApi(sys.http, apiSocket);
  const readyTimeoutMs = spec.readyTimeoutMs ?? 30_000;
  // the readiness probe's requests share the run's budget: an API socket that accepts and never answers must not
  // hold the probe (and so the start) beyond the ready timeout
  let runDeadline = 0;
  const probePorts = createPortApi(sys.http, apiSocket, {
    timeoutMs: () => Math.min(10_000, Math.max(100, runDeadline - sys.clock.now().getTime())),
  });
  const stateOf = () =>
    readNamespaceState(sys, {
      stateDir: spec.stateDir,
      uid: spec.user.uid,
      ...(spec.readyMarker === undefined ? {} : { marker: spec.readyMarker }),
    });
  const probe = async () => {
    if (!(await stateOf()).ready) return false;
    await probePorts.info();
    if (spec.ports?.length) await probePorts.ensure(spec.ports);
    return true;
  };
  const daemon = await sys.daemons.start({
    name: 'rootlesskit',
    // RootlessKit dies with its supervisor (the parent-death signal, set after the uid change, survives the exec),
    // and its child and slirp4netns die with it: a supervisor killed with SIGKILL leaves no namespace behind that
    // holds the state dir's lock and the forwarded ports, so the next start succeeds
    file: 'setpriv',
    args: ['--pdeathsig=KILL', '--', spec.rootlesskitPath ?? 'rootlesskit', ...plan.args],
    env: spec.env,
    cwd: spec.user.home,
    user: spec.user,
    ready: { probe, timeoutMs: readyTimeoutMs, intervalMs: 50 },
    restart: { policy: spec.restart === false ? 'never' : 'on-failure', delayMs: 200 },
    onEvent: (e) => {
      // every (re)start has its own ready timeout
      if (e.type === 'started') runDeadline = sys.clock.now().getTime() + readyTimeoutMs;
      spec.onEvent?.(e);
    },
  });
  const childPid = async () => {
    const s = await stateOf();
    if (!s.ready || s.childPid === undefined)
      throw new NotFoundError(
        'USERNS_NOT_RUNNING',
        `the namespace of ${spec.user.name} is not running (${s.reason ?? 'not ready'})`,
      );
    return s.childPid;
  };
  return {
    daemon,
    plan,
    ports,
    state: stateOf,
    childPid,
    async run(command, o = {}) {
      const argv = planEnter(
        {
          pid: await childPid(),
          user: spec.user,
          self: sys.identity,
          ...(o.cwd ? { cwd: o.cwd } : {}),
        },
        command,
      );
      return sys.proc.run(argv.file, argv.args, {
        env: spec.env,
        ...(o.input === undefined ? {} : { input: o.input }),
        timeoutMs: o.timeoutMs ?? 60_000,
      });
    },
    async stop(graceMs) {
      await daemon.stop(graceMs);
    },
  };
}
