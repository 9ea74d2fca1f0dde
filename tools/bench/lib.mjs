// Shared helpers for the benchmarks in tools/bench (not part of the test run).
//
// Every benchmark runs ours and the real reference interleaved in the same run (ours, ref, ours, ref, ...), so that
// a change of machine load hits both sides alike, and reports median/min/max of each side and of the per-pair ratio
// ours/ref. It ends with one summary JSON line per comparison, which `npm run bench` (tools/bench/run.mjs) collects
// into its table:
//
//   {"bench":"name","ours_ms":12.3,"ref_ms":10.1,"ratio_median":1.2,"ratio_min":1.1,"ratio_max":1.4,...}
//
// Usage:
//   import { compare, spawnTimer, runsFromEnv } from './lib.mjs';
//   await compare({
//     bench: 'podsec-trust verify (1 signature)',
//     ours: spawnTimer(process.execPath, ['bundle.mjs', '--json']),
//     ref: spawnTimer('skopeo', ['copy', ...]),
//     runs: runsFromEnv(15, 3),
//   });
//
// Environment: BENCH_QUICK=1 asks for a quick run (fewer repetitions, smaller inputs: each bench decides what that
// means); BENCH_RUNS=N overrides the repetition count of every comparison.
import { spawn } from 'node:child_process';

/** True when BENCH_QUICK=1 (or any non-empty value but 0): run fewer repetitions and smaller inputs. */
export const quick = !['', '0', 'false', undefined].includes(process.env.BENCH_QUICK);

/** Repetitions: BENCH_RUNS if set, else `quickRuns` in quick mode, else `runs`. */
export function runsFromEnv(runs, quickRuns = Math.max(3, Math.ceil(runs / 5))) {
  const n = Number(process.env.BENCH_RUNS);
  if (Number.isInteger(n) && n > 0) return n;
  return quick ? quickRuns : runs;
}

/** median, min and max of a list of numbers. */
export function stats(values) {
  if (values.length === 0) throw new Error('stats of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

/** Milliseconds since `t0` (from performance.now()). */
const since = (t0) => performance.now() - t0;

/**
 * A timer that runs `cmd args` once per call and resolves to its wall time in ms. It rejects when the command
 * exits with another code than `expectCode` (default 0), with the tail of its stderr, so that a benchmark never
 * times a failure. `options`: env, cwd, input (string/Buffer written to stdin), expectCode.
 */
export function spawnTimer(cmd, args = [], options = {}) {
  const { env = process.env, cwd, input, expectCode = 0 } = options;
  return () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const child = spawn(cmd, args, {
        env,
        cwd,
        stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d) => {
        err = (err + d).slice(-2000);
      });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        const ms = since(t0);
        if (code === expectCode) resolve(ms);
        else
          reject(
            new Error(
              `${[cmd, ...args].join(' ')} exited ${signal ?? code} (expected ${expectCode})${err ? `: ${err.trim()}` : ''}`,
            ),
          );
      });
      if (input !== undefined) child.stdin.end(input);
    });
}

/** A timer for an in-process async function: resolves to its wall time in ms. */
export function fnTimer(fn) {
  return async () => {
    const t0 = performance.now();
    await fn();
    return since(t0);
  };
}

const round = (x, digits = 2) => Number(x.toFixed(digits));

/**
 * Run `ours` and `ref` interleaved `runs` times after `warmup` unmeasured pairs. Each is a function resolving to
 * milliseconds (spawnTimer, fnTimer, or your own: it may time only part of its work). `setup` (optional, awaited
 * before every measured call of either side, not timed) prepares a fresh state, e.g. removes a previous output.
 * Prints a human line and the summary JSON line; returns the summary object.
 */
export async function compare({
  bench,
  ours,
  ref,
  runs = runsFromEnv(15),
  warmup = 1,
  setup,
  refName,
  note,
  print = true,
}) {
  for (let i = 0; i < warmup; i++) {
    if (setup) await setup('ours');
    await ours();
    if (setup) await setup('ref');
    await ref();
  }
  const o = [];
  const r = [];
  const ratio = [];
  for (let i = 0; i < runs; i++) {
    // alternate which side goes first, so that neither always profits from the other's warm caches
    const order = i % 2 === 0 ? ['ours', 'ref'] : ['ref', 'ours'];
    const t = {};
    for (const side of order) {
      if (setup) await setup(side);
      t[side] = await (side === 'ours' ? ours : ref)();
    }
    o.push(t.ours);
    r.push(t.ref);
    ratio.push(t.ours / t.ref);
  }
  const so = stats(o);
  const sr = stats(r);
  const sq = stats(ratio);
  const summary = {
    bench,
    ours_ms: round(so.median, 1),
    ref_ms: round(sr.median, 1),
    ratio_median: round(sq.median),
    ratio_min: round(sq.min),
    ratio_max: round(sq.max),
    ours_min_ms: round(so.min, 1),
    ours_max_ms: round(so.max, 1),
    ref_min_ms: round(sr.min, 1),
    ref_max_ms: round(sr.max, 1),
    runs,
    ...(refName ? { ref: refName } : {}),
    ...(note ? { note } : {}),
  };
  if (print) printSummary(summary);
  return summary;
}

/** Print a human-readable line and then the summary JSON line the runner collects. */
export function printSummary(summary) {
  const s = summary;
  const range = (min, max) => (min !== undefined ? ` [${min}..${max}]` : '');
  if (s.ratio_median === undefined) console.log(`${s.bench}: ${s.note ?? 'no figures'}`);
  else
    console.log(
      `${s.bench}: ours ${s.ours_ms} ms${range(s.ours_min_ms, s.ours_max_ms)}, ` +
        `${s.ref ?? 'ref'} ${s.ref_ms} ms${range(s.ref_min_ms, s.ref_max_ms)}, ` +
        `ratio ${s.ratio_median}x [${s.ratio_min}..${s.ratio_max}]${s.runs ? ` (${s.runs} interleaved runs)` : ''}`,
    );
  console.log(JSON.stringify(s));
}

/** Parse summary lines out of a bench's output: every line that is a JSON object with a `bench` field. */
export function parseSummaries(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{"bench"') && !(t.startsWith('{') && t.includes('"bench"'))) continue;
    try {
      const v = JSON.parse(t);
      if (v && typeof v === 'object' && typeof v.bench === 'string') out.push(v);
    } catch {
      // not a summary line
    }
  }
  return out;
}
