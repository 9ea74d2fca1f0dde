// Shared by the trust benchmarks: run our command and the reference interleaved, report the ratio.
import { spawnSync } from 'node:child_process';

/** `--runs 9 --signatures 1,100` style options over defaults (numbers stay numbers). */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i] ?? '');
    if (m === null || !(m[1] in defaults)) throw new Error(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    out[m[1]] = typeof defaults[m[1]] === 'number' ? Number(v) : v;
  }
  return out;
}

export const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Wall-clock milliseconds of one process run; throws when it fails. */
export function timeCommand(argv, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`${argv.join(' ')} exited ${r.status}: ${String(r.stderr).slice(0, 2000)}`);
  return ms;
}

/**
 * One warm-up of each, then `runs` rounds of (ours, reference) alternating which goes first.
 * The ratio of a round is ours / reference; median, min and max are over the rounds.
 */
export async function compare({ name, label, refLabel, runs, ours, ref, env }) {
  timeCommand(ours(), env);
  timeCommand(ref(), env);
  const o = [];
  const r = [];
  const ratios = [];
  for (let i = 0; i < runs; i++) {
    let a;
    let b;
    if (i % 2 === 0) {
      a = timeCommand(ours(), env);
      b = timeCommand(ref(), env);
    } else {
      b = timeCommand(ref(), env);
      a = timeCommand(ours(), env);
    }
    o.push(a);
    r.push(b);
    ratios.push(a / b);
  }
  const round = (x, d = 2) => Number(x.toFixed(d));
  return {
    label,
    refLabel,
    runs,
    summary: {
      bench: name,
      ours_ms: round(median(o), 1),
      ref_ms: round(median(r), 1),
      ratio_median: round(median(ratios)),
      ratio_min: round(Math.min(...ratios)),
      ratio_max: round(Math.max(...ratios)),
    },
  };
}

/** A plain table of compare() results. */
export function printTable(rows) {
  const head = ['bench', 'ours (median ms)', 'reference', 'ref (median ms)', 'ratio med [min-max]'];
  const body = rows.map((x) => [
    x.label,
    x.summary.ours_ms.toFixed(1),
    x.refLabel,
    x.summary.ref_ms.toFixed(1),
    `${x.summary.ratio_median.toFixed(2)}x [${x.summary.ratio_min.toFixed(2)}-${x.summary.ratio_max.toFixed(2)}]`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(line(head));
  for (const b of body) console.log(line(b));
  console.log(
    `(${rows[0]?.runs ?? 0} interleaved runs each; ratio = ours / reference, lower is better)`,
  );
}
