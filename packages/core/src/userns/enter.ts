/** Entering a RootlessKit namespace with nsenter, always with the namespace user's own credentials. */
import { planRunAs, type RunAsUser } from '../system/daemon.ts';

/** The seven namespaces of a RootlessKit child. */
export const NSENTER_NAMESPACES = [
  '--user',
  '--mount',
  '--net',
  '--cgroup',
  '--pid',
  '--ipc',
  '--uts',
] as const;

/** Options of {@link planEnter}. */
export interface EnterPlanOptions {
  /** PID 1 of the namespace (from the state dir). */
  readonly pid: number;
  /** Working directory inside (`--wd`). */
  readonly cwd?: string;
  /** The namespace's owner: root drops to it before nsenter (root never enters with its own ids). */
  readonly user: RunAsUser;
  /** Our effective uid. */
  readonly self: { readonly uid: number };
}

/**
 * Pure: argv that runs `command` inside the namespace as its pseudo-root:
 * `[setpriv --reuid … --] nsenter --user --preserve-credentials --mount … -t PID --wd=DIR -- setpriv
 * --pdeathsig=KILL -- command`. nsenter forks the command (it enters a pid namespace) and forwards no signal: the
 * parent-death signal ends the command when nsenter is killed (a timeout, a stop), so nothing is left running
 * inside, orphaned and still holding our pipes.
 */
export function planEnter(
  o: EnterPlanOptions,
  command: readonly string[],
): { file: string; args: string[] } {
  const args = [
    NSENTER_NAMESPACES[0],
    '--preserve-credentials',
    ...NSENTER_NAMESPACES.slice(1),
    '-t',
    String(o.pid),
    // always a directory: nsenter otherwise reopens the caller's cwd as the user, which fails from /root
    `--wd=${o.cwd ?? '/'}`,
    '--',
    'setpriv',
    '--pdeathsig=KILL',
    '--',
    ...command,
  ];
  return planRunAs(o.self, o.user, 'nsenter', args);
}
