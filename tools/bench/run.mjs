#!/usr/bin/env node
// `npm run bench [-- name ...]`: runs every tools/bench/*.mjs benchmark one after the other (never two at once: they
// would measure each other), shows their output as it comes, and ends with one table built from the summary JSON
// lines they print (see lib.mjs). Names filter the benchmarks (`npm run bench -- startup verify`).
// BENCH_QUICK=1 asks every benchmark for a quick run; BENCH_JSON=<file> also writes all summaries to <file>.
// Exit code: 0 when every benchmark exited 0 and printed at least one summary, 1 otherwise.
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSummaries } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const NOT_BENCHES = new Set(['lib.mjs', 'run.mjs']);
const filters = process.argv.slice(2);

const files = (await readdir(here))
  .filter((f) => f.endsWith('.mjs') && !NOT_BENCHES.has(f))
  .filter((f) => filters.length === 0 || filters.some((n) => f.includes(n)))
  .sort();
if (files.length === 0) {
  console.error(`bench: no benchmark matches ${filters.join(' ')}`);
  process.exitCode = 1;
}

function runOne(file) {
  return new Promise((resolve) => {
    const name = file.replace(/\.mjs$/, '');
    const t0 = performance.now();
    // the benches may import the TypeScript sources (`podsec-source` condition, type stripping of Node 22)
    const child = spawn(process.execPath, ['--conditions=podsec-source', path.join(here, file)], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    let pending = '';
    const show = (chunk, stream) => {
      const text = pending + chunk;
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) stream.write(`[${name}] ${l}\n`);
    };
    child.stdout.on('data', (d) => {
      out += d;
      show(String(d), process.stdout);
    });
    child.stderr.on('data', (d) => process.stderr.write(`[${name}] ${d}`));
    child.on('error', (e) =>
      resolve({ name, code: -1, summaries: [], error: e.message, seconds: 0 }),
    );
    child.on('close', (code, signal) => {
      if (pending) process.stdout.write(`[${name}] ${pending}\n`);
      resolve({
        name,
        code: signal ?? code,
        summaries: parseSummaries(out),
        seconds: (performance.now() - t0) / 1000,
      });
    });
  });
}

console.log(
  `bench: ${files.length} benchmark(s) on node ${process.version}${process.env.BENCH_QUICK ? ' (quick)' : ''}: ${files.join(', ')}`,
);
const results = [];
for (const f of files) results.push(await runOne(f));

const rows = [['bench', 'ours ms', 'reference', 'ref ms', 'ratio', 'min', 'max', 'runs']];
for (const r of results) {
  for (const s of r.summaries)
    rows.push([
      s.ratio_median === undefined && s.note ? `${s.bench}: ${s.note.slice(0, 60)}` : s.bench,
      String(s.ours_ms ?? ''),
      String(s.ref ?? ''),
      String(s.ref_ms ?? ''),
      s.ratio_median === undefined ? '' : `${s.ratio_median}x`,
      String(s.ratio_min ?? ''),
      String(s.ratio_max ?? ''),
      String(s.runs ?? ''),
    ]);
  if (r.code !== 0 || r.summaries.length === 0)
    rows.push([
      `${r.name}: ${r.code !== 0 ? `FAILED (exit ${r.code})` : 'no summary line'}`,
      '',
      '',
      '',
      '',
      '',
      '',
      '',
    ]);
}
const width = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
const fmt = (row) =>
  `| ${row.map((c, i) => (i === 0 || i === 2 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(' | ')} |`;
console.log('');
console.log(fmt(rows[0]));
console.log(
  `|${width.map((w, i) => (i === 0 || i === 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
);
for (const row of rows.slice(1)) console.log(fmt(row));
console.log(
  `\nratio = ours / reference per interleaved pair (median [min..max]); < 1 means ours is faster. ${results
    .map((r) => `${r.name} ${r.seconds.toFixed(0)} s`)
    .join(', ')}`,
);
if (process.env.BENCH_JSON)
  await writeFile(
    process.env.BENCH_JSON,
    `${JSON.stringify(
      results.flatMap((r) => r.summaries),
      null,
      2,
    )}\n`,
  );
process.exitCode =
  results.length > 0 && results.every((r) => r.code === 0 && r.summaries.length > 0) ? 0 : 1;
