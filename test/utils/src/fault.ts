/**
 * A fault-injecting System for crash tests: every write step (a changing FileSystem call, or a run of a
 * program that changes the host) is counted, and step N fails (`throw`) or kills the process (`kill`)
 * before it happens. Everything else goes to the wrapped real System.
 */
import {
  createUserDatabase,
  type FileSystem,
  type ProcessRunner,
  type System,
} from '@podsec/core/system';

/** One counted write step. */
export interface FaultStep {
  readonly n: number;
  /** `fs.writeFileAtomic`, `run groupadd` ... */
  readonly op: string;
  /** Path or argument list. */
  readonly target: string;
}

/** Options of {@link withFaults}. */
export interface FaultOptions {
  /** 1-based step that fails; never when undefined. */
  readonly failAt?: number;
  /** Throw an error at the step, or SIGKILL the own process (child-process variant). @default 'throw' */
  readonly mode?: 'throw' | 'kill';
  /** Called before every step (after the fault decision), e.g. to check an invariant. */
  readonly onStep?: (step: FaultStep) => void | Promise<void>;
  /** Which program runs are write steps. @default {@link isMutatingRun} */
  readonly mutating?: (file: string, args: readonly string[]) => boolean;
}

/** The wrapped System and what happened. */
export interface FaultSystem {
  readonly system: System;
  /** Steps seen so far (the failing one included). */
  readonly steps: FaultStep[];
  /** True once the fault was injected. */
  readonly fired: () => boolean;
}

/** Thrown at the failing step. */
export class InjectedFault extends Error {
  readonly step: FaultStep;
  constructor(step: FaultStep) {
    super(`injected fault at write step ${step.n}: ${step.op} ${step.target}`);
    this.step = step;
  }
}

const SHADOW = new Set(['groupadd', 'groupmod', 'groupdel', 'useradd', 'usermod', 'userdel']);
const HOST = new Set(['gpasswd', 'chpasswd', 'passwd', 'sysctl', 'control', 'chattr', 'setfacl']);
const SYSTEMCTL_CHANGING = new Set([
  'enable',
  'disable',
  'start',
  'stop',
  'restart',
  'reload',
  'reload-or-restart',
  'daemon-reload',
]);

/** Programs that change the host or the tree: shadow-utils, sysctl, control, systemctl actions, openssl key and certificate making, podman volume create. */
export function isMutatingRun(file: string, args: readonly string[]): boolean {
  const base = file.slice(file.lastIndexOf('/') + 1);
  if (SHADOW.has(base) || HOST.has(base)) return true;
  if (base === 'systemctl') return args.some((a) => SYSTEMCTL_CHANGING.has(a));
  if (base === 'openssl') return args[0] === 'req' || (args[0] === 'x509' && args.includes('-req'));
  if (base === 'podman') return args[0] === 'volume' && args[1] === 'create';
  return false;
}

const FS_WRITES = [
  'mkdir',
  'writeFileAtomic',
  'symlink',
  'rename',
  'remove',
  'chmod',
  'chown',
] as const;

/** Wraps `sys` so that its write steps are counted and step `failAt` fails. */
export function withFaults(sys: System, o: FaultOptions = {}): FaultSystem {
  const steps: FaultStep[] = [];
  let fired = false;
  const step = async (op: string, target: string) => {
    const s: FaultStep = { n: steps.length + 1, op, target };
    steps.push(s);
    if (o.failAt === s.n) {
      fired = true;
      if (o.mode === 'kill') process.kill(process.pid, 'SIGKILL');
      throw new InjectedFault(s);
    }
    await o.onStep?.(s);
  };
  const fs: FileSystem = { ...sys.fs };
  for (const name of FS_WRITES) {
    const real = sys.fs as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    (fs as unknown as Record<string, unknown>)[name] = async (...a: unknown[]) => {
      await step(`fs.${name}`, String(name === 'symlink' ? a[1] : a[0]));
      return real[name]!(...a);
    };
  }
  const mutating = o.mutating ?? isMutatingRun;
  const proc: ProcessRunner = {
    async run(file, args, options) {
      if (mutating(file, args)) await step(`run ${file}`, args.join(' '));
      return sys.proc.run(file, args, options);
    },
  };
  const system: System = { ...sys, fs, proc, users: createUserDatabase(fs, proc) };
  return { system, steps, fired: () => fired };
}
