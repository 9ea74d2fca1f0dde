/** Entering a RootlessKit namespace with nsenter, always with the namespace user's own credentials. */
import { planRunAs, type RunAsUser } from '../system/daemon.ts';
import type { System } from '../system/types.ts';

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

/**
 * The working directory a command entered on behalf of `user` starts in: `cwd` when the user can open it (nsenter
 * opens `--wd` with the user's credentials, before entering), else the user's home (root's cwd, say a clone under
 * /root 0700, is out of its reach). The user's own call keeps its cwd. Asked of the kernel as the user (`test -r -x`
 * through setpriv), not guessed from modes: ACLs, supplementary groups and every directory above count.
 */
export async function enterCwd(
  sys: Pick<System, 'identity' | 'proc'>,
  user: RunAsUser & { readonly home: string },
  cwd: string,
): Promise<string> {
  if (sys.identity.uid === user.uid) return cwd;
  if (!cwd.startsWith('/')) return user.home;
  const argv = planRunAs(sys.identity, user, 'test', ['-d', cwd, '-a', '-r', cwd, '-a', '-x', cwd]);
  const r = await sys.proc
    .run(argv.file, argv.args, { timeoutMs: 5000 })
    .catch(() => ({ exitCode: 1 }));
  return r.exitCode === 0 ? cwd : user.home;
}
