/** Helpers of the crash tests: the child-process runner and a view of a tree that ignores version names. */
import { deepStrictEqual, equal, ok } from 'node:assert/strict';
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

/** One run of the command under test: with a fault at write step `failAt`, or clean when undefined. */
export type CrashRun<S> = (
  prepared: S,
  failAt: number | undefined,
) => Promise<{ readonly code: number | undefined; readonly fired: boolean }>;

/** Options of {@link crashEveryStep}. */
export interface CrashEveryStepOptions<S> {
  /** A fresh tree in the "old" state (a new temp root each call). */
  readonly prepare: () => Promise<S>;
  readonly rootOf: (prepared: S) => string;
  readonly run: CrashRun<S>;
  /** Checked after every interrupted run, e.g. "policy.json exists and parses". */
  readonly invariant?: (root: string, step: number) => Promise<void>;
  /** Entries whose content is random per run (keys): compared by kind, mode and owner only. */
  readonly random?: (rel: string) => boolean;
  /**
   * The part of a file's text that is the same in every run, for files whose text carries the day of the run:
   * compared by that instead of the whole content; undefined for the other files. @default {@link shadowWithoutDay}
   */
  readonly normalise?: (rel: string, text: string) => string | undefined;
  /** A stable name for an entry whose name is random per run (a key's fingerprint in it). @default the name */
  readonly stableName?: (rel: string) => string;
  /** The clean re-run after an interruption. @default `run(prepared, undefined)` */
  readonly rerun?: (prepared: S) => Promise<{ readonly code: number | undefined }>;
  /** Interrupted runs in flight at once (child processes mostly wait). @default 1 */
  readonly concurrency?: number;
  /** Safety stop. @default 200 */
  readonly maxSteps?: number;
}

/**
 * `etc/shadow` and its backup without the day of the last password change (field 3): useradd writes today's day,
 * so a clean run and an interrupted one on each side of midnight UTC would differ there and nowhere else.
 */
export const shadowWithoutDay = (rel: string, text: string): string | undefined =>
  /^etc\/shadow-?$/.test(rel) ? text.replace(/^([^:\n]*:[^:\n]*:)\d*:/gm, '$1<day>:') : undefined;

/**
 * The tree as {@link crashEveryStep} compares it: {@link liveView}, random entries by kind, mode and owner, random
 * names made stable, day-stamped files normalised.
 */
export async function crashView(
  root: string,
  o: Pick<CrashEveryStepOptions<unknown>, 'random' | 'stableName' | 'normalise'> = {},
): Promise<Record<string, string>> {
  const normalise = o.normalise ?? shadowWithoutDay;
  const v = await liveView(root);
  for (const [rel, entry] of Object.entries(v)) {
    if (o.random?.(rel)) v[rel] = entry.replace(/ [0-9a-f]{64}$/, ' <random>');
    else if (entry.startsWith('file ')) {
      const text = normalise(rel, await readFile(path.join(root, rel), 'utf8'));
      if (text !== undefined)
        v[rel] = entry.replace(
          / [0-9a-f]{64}$/,
          ` normalised ${createHash('sha256').update(text).digest('hex')}`,
        );
    }
  }
  if (o.stableName === undefined) return v;
  const named: typeof v = {};
  for (const [rel, entry] of Object.entries(v)) named[o.stableName(rel)] = entry;
  return named;
}

/** What {@link crashEveryStep} saw. */
export interface CrashEveryStepResult {
  /** Write steps of a clean run. */
  readonly steps: number;
  /** After the interruption at step N: the tree was the old one, the new one, or a re-run converged. */
  readonly old: number;
  readonly new: number;
  readonly converged: number;
}

/**
 * The deterministic crash test: interrupts the command at write step 1, 2, ... until a run completes, and
 * after each checks the invariant and that the tree is the old one or the new one ({@link liveView}), or
 * that a clean re-run succeeds and reaches the new one.
 */
export async function crashEveryStep<S>(
  o: CrashEveryStepOptions<S>,
): Promise<CrashEveryStepResult> {
  const isDeepEqual = (a: unknown, b: unknown) => {
    try {
      deepStrictEqual(a, b);
      return true;
    } catch {
      return false;
    }
  };
  const view = (root: string) => crashView(root, o);
  const clean = await o.prepare();
  const oldView = await view(o.rootOf(clean));
  const full = await o.run(clean, undefined);
  equal(full.code, 0, 'the clean run must succeed');
  const newView = await view(o.rootOf(clean));
  const seen = { old: 0, new: 0, converged: 0 };
  const rerun = o.rerun ?? ((p: S) => o.run(p, undefined));
  // one interrupted run and its checks; false when the run had fewer than n steps (it completed)
  const one = async (n: number): Promise<boolean> => {
    const s = await o.prepare();
    const root = o.rootOf(s);
    const r = await o.run(s, n);
    if (!r.fired) {
      equal(r.code, 0, `a run without a fault at step ${n} must succeed`);
      deepStrictEqual(await view(root), newView);
      return false;
    }
    ok(r.code !== 0, `step ${n}: an interrupted run must not report success`);
    await o.invariant?.(root, n);
    const v = await view(root);
    if (isDeepEqual(v, oldView)) seen.old++;
    else if (isDeepEqual(v, newView)) seen.new++;
    else {
      const again = await rerun(s);
      equal(again.code, 0, `step ${n}: the re-run after the interruption must succeed`);
      deepStrictEqual(await view(root), newView, `step ${n}: the re-run must reach the new tree`);
      seen.converged++;
    }
    return true;
  };
  const width = Math.max(1, o.concurrency ?? 1);
  for (let n = 1; n <= (o.maxSteps ?? 200); n += width) {
    const batch = Array.from({ length: width }, (_, i) => n + i);
    const fired = await Promise.all(batch.map(one));
    const first = fired.indexOf(false);
    if (first !== -1) return { steps: batch[first]! - 1, ...seen };
  }
  throw new Error(`more than ${o.maxSteps ?? 200} write steps`);
}
