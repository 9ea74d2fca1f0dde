import os from 'node:os';
import { createHttpClient } from './http.ts';
import { createDaemonLauncher } from './daemon.ts';
import { createSyslogLogger } from './logger.ts';
import { createRootFs } from './node-fs.ts';
import { createProcessRunner } from './process.ts';
import { createUserDatabase } from './users.ts';
import type { Reporter, System } from './types.ts';

/** Options of {@link createNodeSystem}. */
export interface NodeSystemOptions {
  /** @default '/' */
  readonly root?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly report: Reporter;
  readonly dryRun?: boolean;
  /** syslog tag. */
  readonly tag: string;
}

/** The production System: real files under root, real processes, syslog. */
export function createNodeSystem(o: NodeSystemOptions): System {
  const fs = createRootFs(o.root ?? '/');
  const proc = createProcessRunner(o.env);
  let user: string | undefined;
  try {
    user = os.userInfo().username;
  } catch {
    user = undefined;
  }
  const hostFs = fs.root === '/' ? fs : createRootFs('/');
  return {
    root: fs.root,
    fs,
    hostFs,
    proc,
    http: createHttpClient(hostFs),
    daemons: createDaemonLauncher({ uid: process.geteuid?.() ?? 0 }),
    users: createUserDatabase(fs, proc),
    env: o.env,
    clock: { now: () => new Date() },
    report: o.report,
    log: createSyslogLogger(proc, o.tag),
    host: {
      localAddresses: () =>
        Promise.resolve(
          Object.values(os.networkInterfaces())
            .flatMap((l) => l ?? [])
            .map((a) => a.address),
        ),
    },
    identity: {
      uid: process.geteuid?.() ?? 0,
      gid: process.getegid?.() ?? 0,
      ...(user ? { user } : {}),
    },
    dryRun: o.dryRun ?? false,
  };
}
