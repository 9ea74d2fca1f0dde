import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import {
  createHttpClient,
  createDaemonLauncher,
  createMemoryLogger,
  createMemoryReporter,
  createProcessRunner,
  createRootFs,
  createUserDatabase,
  type ProcessRunner,
  type System,
} from '@podsec/core/system';

/** Files to write: system path without leading slash -> content (a string, or `{ mode, content }`). */
export type Tree = Readonly<
  Record<string, string | { readonly content: string; readonly mode?: number }>
>;

/** A minimal root with the account files the shadow tools need. */
export const baseTree: Tree = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
  'etc/group': 'root:x:0:\n',
  'etc/shadow': { content: 'root:*::0:99999:7:::\n', mode: 0o640 },
  'etc/gshadow': { content: 'root:*::\n', mode: 0o640 },
};

/** Options of {@link createTestSystem}. */
export interface TestSystemOptions {
  readonly tree?: Tree;
  /** @default the real process runner */
  readonly proc?: ProcessRunner;
  readonly env?: Record<string, string | undefined>;
  /** @default 2025-08-01T12:00:00 local time */
  readonly now?: Date;
  readonly uid?: number;
  readonly dryRun?: boolean;
  /** Addresses of the local interfaces. @default ['127.0.0.1', '::1'] */
  readonly localAddresses?: readonly string[];
}

/** A System over a fresh temp root, with memory reporter and logger. */
export type TestSystem = System & {
  readonly report: ReturnType<typeof createMemoryReporter>;
  readonly log: ReturnType<typeof createMemoryLogger>;
};

/** Writes a tree of files under `root`. */
export async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [rel, v] of Object.entries(tree)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    const { content, mode } = typeof v === 'string' ? { content: v, mode: undefined } : v;
    await writeFile(file, content, mode === undefined ? {} : { mode });
  }
}

/** Creates a temp root (deleted after the test) and a System over it. */
export async function createTestSystem(
  t: TestContext | undefined,
  o: TestSystemOptions = {},
): Promise<TestSystem> {
  const root = await mkdtemp(path.join(tmpdir(), 'podsec-test-'));
  t?.after(() => rm(root, { recursive: true, force: true }));
  // traversable like a real "/": tools that run as a user of the tree (gpg as the maker) must reach its home
  await chmod(root, 0o755);
  await writeTree(root, o.tree ?? baseTree);
  const now = o.now ?? new Date(2025, 7, 1, 12, 0, 0);
  const fs = createRootFs(root, { now: () => now });
  const env = o.env ?? { PATH: process.env['PATH'] };
  const proc = o.proc ?? createProcessRunner(env);
  return {
    root,
    fs,
    hostFs: createRootFs('/'),
    proc,
    http: createHttpClient(),
    daemons: createDaemonLauncher({ uid: process.geteuid?.() ?? 0 }),
    users: createUserDatabase(fs, proc),
    env,
    clock: { now: () => now },
    report: createMemoryReporter(),
    log: createMemoryLogger(),
    host: {
      localAddresses: () => Promise.resolve([...(o.localAddresses ?? ['127.0.0.1', '::1'])]),
    },
    identity: { uid: o.uid ?? 0, gid: 0, user: 'root' },
    dryRun: o.dryRun ?? false,
  };
}
