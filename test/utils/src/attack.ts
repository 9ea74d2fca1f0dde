/**
 * A real unprivileged attacker for the privilege-safety tests: a tiny C program, compiled here with gcc and
 * run as another user through setpriv, that swaps two names (a directory and a symlink) with
 * renameat2(RENAME_EXCHANGE) in a tight loop; and a way to run the victim (our code, as root) in a private
 * mount namespace where the host is read-only, so that a won race can never damage the machine.
 */
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { lchown, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runNodeInPrivateMountNs } from './mount-ns.ts';
import { requireCommands } from './requires.ts';

const SWAPPER_C = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
static volatile sig_atomic_t stop = 0;
static void on_term(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
  if (argc != 3) return 2;
  signal(SIGTERM, on_term);
  long n = 0, fails = 0;
  while (!stop) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0) n++;
    else fails++;
  }
  /* leave the names as they were found when the count is odd */
  if (n % 2) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);
  printf("%ld %ld\\n", n, fails);
  return 0;
}
`;

let compiled: Promise<string> | undefined;

/** Compiles the swapper once per test process; the binary lives in a temp dir removed at exit. */
function compileSwapper(): Promise<string> {
  compiled ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-swapper-'));
    process.once('exit', () => void rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'swapper.c'), SWAPPER_C);
    await execa('gcc', ['-O2', '-o', path.join(dir, 'swapper'), path.join(dir, 'swapper.c')]);
    // the attacker runs as another user: it must be able to execute the binary
    await execa('chmod', ['0755', dir, path.join(dir, 'swapper')]);
    return path.join(dir, 'swapper');
  })();
  return compiled;
}

/** A running attacker. */
export interface Swapper {
  /** Stops the loop; resolves with the number of successful exchanges. */
  stop(): Promise<number>;
}

/**
 * Starts the attacker as `uid:gid`: exchanges `a` and `b` (absolute host paths the user may rename) until
 * stopped; stopped after the test in any case.
 */
export async function startSwapper(
  t: TestContext,
  o: { readonly uid: number; readonly gid: number; readonly a: string; readonly b: string },
): Promise<Swapper> {
  const bin = await compileSwapper();
  const child: ResultPromise = execa(
    'setpriv',
    [`--reuid=${o.uid}`, `--regid=${o.gid}`, '--clear-groups', '--', bin, o.a, o.b],
    { reject: false, stdout: 'pipe', stderr: 'pipe' },
  );
  let done: Promise<number> | undefined;
  const stop = () =>
    (done ??= (async () => {
      child.kill('SIGTERM');
      const r = await child;
      const swaps = Number(String(r.stdout).trim().split(' ')[0]);
      if (!Number.isFinite(swaps))
        throw new Error(`attacker failed: ${String(r.stderr)} ${String(r.stdout)}`);
      return swaps;
    })());
  t.after(async () => {
    await stop().catch(() => undefined);
  });
  // let it get going
  await new Promise((r) => setTimeout(r, 50));
  return { stop };
}

const CONFINE = fileURLToPath(new URL('./confine.mjs', import.meta.url));

/**
 * Runs `file args` as root in a private mount namespace where "/" is read-only and only `writable`
 * (host directories, e.g. the scratch root) can be written.
 */
export function runConfined(
  writable: readonly string[],
  file: string,
  args: readonly string[],
  options: { readonly env?: Record<string, string | undefined>; readonly timeoutMs?: number } = {},
) {
  return runNodeInPrivateMountNs(CONFINE, [String(writable.length), ...writable, file, ...args], {
    ...(options.env ? { env: options.env } : {}),
    timeoutMs: options.timeoutMs ?? 300_000,
  });
}

/**
 * The tools an attack test needs (gcc, setpriv, unshare, mount) and root; undefined after a visible skip
 * (a failure under CI=true).
 */
export function requireAttackTools(t: TestContext): boolean {
  if (requireCommands(t, ['gcc', 'setpriv', 'unshare', 'mount']) === undefined) return false;
  if (process.geteuid?.() !== 0) {
    if (process.env['CI'] === 'true') throw new Error('attack tests must run as root in CI');
    t.skip('needs root (the victim runs as root, the attacker as another user)');
    return false;
  }
  return true;
}

/** What one confined victim process reports: exit codes of its runs, refusals, read-only failures. */
export interface RaceStats {
  readonly exit: Record<string, number>;
  readonly refused: number;
  readonly readOnly: number;
}

/** Options of {@link raceConfigSwap}. */
export interface RaceConfigSwapOptions {
  /** The scratch root (the only writable place of the confined victims). */
  readonly root: string;
  /** The user's home (host path) and ids: the attacker swaps `<home>/.config` with a link to the tree's /etc. */
  readonly home: string;
  readonly uid: number;
  readonly gid: number;
  /** The victim script (run with node as root, confined) and its arguments for process `p`. */
  readonly victim: string;
  readonly args: (p: number) => readonly string[];
  readonly processes: number;
  readonly rounds: number;
  /** The tree outside what the command may change: must be the same before and after. */
  readonly outside: (root: string) => Promise<Record<string, string>>;
}

/**
 * The attack of the privilege-safety tests: `<home>/etc-link` -> `../../etc` (relative, so that a raw kernel
 * walk lands in the scratch root's /etc, never the machine's), the user exchanges it with `~/.config` in a
 * tight loop while `processes` confined victims run `rounds` times each. Asserts the user really raced,
 * nothing outside changed, no run failed read-only (a follow to the machine's files), and every failed run
 * was a refusal. Returns the stats for the caller's own checks.
 */
export async function raceConfigSwap(
  t: TestContext,
  o: RaceConfigSwapOptions,
): Promise<{
  readonly stats: readonly RaceStats[];
  readonly swaps: number;
  readonly failed: number;
}> {
  const link = path.join(o.home, 'etc-link');
  await symlink('../../etc', link);
  await lchown(link, o.uid, o.gid);
  const before = await o.outside(o.root);
  const swapper = await startSwapper(t, {
    uid: o.uid,
    gid: o.gid,
    a: path.join(o.home, '.config'),
    b: link,
  });
  const results = await Promise.all(
    Array.from({ length: o.processes }, (_, p) =>
      runConfined([o.root], process.execPath, [
        '--conditions=podsec-source',
        o.victim,
        ...o.args(p),
      ]),
    ),
  );
  const swaps = await swapper.stop();
  const stats = results.map((r) => {
    assert.equal(r.exitCode, 0, String(r.stderr));
    return JSON.parse(String(r.stdout)) as RaceStats;
  });
  t.diagnostic(`${o.processes * o.rounds} runs, ${swaps} swaps: ${JSON.stringify(stats)}`);
  assert.ok(swaps > 1000, `the user really raced (${swaps} swaps)`);
  assert.deepEqual(await o.outside(o.root), before, 'nothing outside the user’s tree changed');
  assert.equal(
    stats.reduce((n, s) => n + s.readOnly, 0),
    0,
    JSON.stringify(stats),
  );
  const failed = stats.reduce((n, s) => n + (o.rounds - (s.exit['0'] ?? 0)), 0);
  assert.equal(
    stats.reduce((n, s) => n + s.refused, 0),
    failed,
    JSON.stringify(stats),
  );
  return { stats, swaps, failed };
}
