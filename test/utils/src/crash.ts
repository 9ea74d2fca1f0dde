/** Helpers of the crash tests: the child-process runner and a view of a tree that ignores version names. */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { snapshotTree } from './snapshot.ts';

const RUNNER = fileURLToPath(new URL('./crash-runner.ts', import.meta.url));

/** Options of {@link runCrashChild}. */
export interface CrashChildOptions {
  /** Kill before this write step; run to the end when undefined. */
  readonly at?: number;
  /** Interface addresses the child sees. */
  readonly localAddresses?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs a CLI module's `cli` in a child process that SIGKILLs itself before write step `at`. */
export async function runCrashChild(
  cliModule: string,
  args: readonly string[],
  o: CrashChildOptions = {},
): Promise<{ code: number | undefined; signal: string | undefined; stderr: string }> {
  const r = await execa(
    process.execPath,
    ['--conditions=podsec-source', RUNNER, cliModule, ...args],
    {
      env: {
        LANG: 'C',
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        ...(o.at === undefined ? {} : { PODSEC_CRASH_AT: String(o.at) }),
        ...(o.localAddresses ? { PODSEC_CRASH_LOCAL_ADDRESSES: o.localAddresses.join(',') } : {}),
        ...o.env,
      },
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      timeout: 120_000,
    },
  );
  return { code: r.exitCode, signal: r.signal, stderr: String(r.stderr) };
}

/** Options of {@link liveView}. */
export interface LiveViewOptions {
  /** Entries to leave out (relative paths): versions, backups, locks. */
  readonly ignore?: (rel: string) => boolean;
}

/** Versions (`policy_<stamp>`, `default_<stamp>`, `registries_<stamp>`), backups, locks and temp files. */
export const VERSIONED_NOISE = (rel: string): boolean => {
  const base = path.basename(rel);
  return (
    /^(policy|default|registries)_\d{8}-\d{6}(\.\d+)?$/.test(base) ||
    /\.\d{8}-\d{6}(\.\d+)?\.bak$/.test(base) ||
    base.endsWith('.lock') ||
    /^\..*\.(tmp|lnk)-[0-9a-f]+$/.test(base) ||
    rel === 'run' ||
    rel.startsWith('run/')
  );
};

/**
 * {@link snapshotTree} as a user of the tree sees it: a symlink to a file counts as that file's content
 * (so `policy.json -> policy_A` equals `policy.json -> policy_B` with the same text), and names that only
 * differ between runs (versions, backups, locks, temp files) are left out.
 */
export async function liveView(
  root: string,
  o: LiveViewOptions = {},
): Promise<Record<string, string>> {
  const ignore = o.ignore ?? VERSIONED_NOISE;
  const snap = await snapshotTree(root);
  const out: Record<string, string> = {};
  for (const [rel, v] of Object.entries(snap)) {
    if (ignore(rel)) continue;
    if (v.startsWith('link ')) {
      const p = path.join(root, rel);
      const st = await stat(p).catch(() => undefined);
      out[rel] = st?.isFile()
        ? `linked file ${createHash('sha256')
            .update(await readFile(p))
            .digest('hex')}`
        : v;
    } else out[rel] = v;
  }
  return out;
}
