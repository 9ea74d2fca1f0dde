#!/usr/bin/env node
// Start-up of every binary of every product package against the bare Node start (`node -e 0`, same Node), ours and
// the reference interleaved. The binaries are read from the `bin` fields of packages/*/package.json, so a binary
// added later is measured without touching this file. For each binary:
//   - `<bin> --help` through the bundle launcher (packages/<pkg>/bundle/<bin>.cjs, what the RPM installs), and
//   - `<bin> --help` through its node_modules/.bin entry, run with a PATH that has no node_modules/.bin in it (as a
//     user's shell has: the system Node, 20 on this machine, comes first), so the launcher has to pick Node 22 itself;
// plus the everyday read-only commands `podsec-get-platform --json` and `podsec-trust show` both ways.
// Target: ratio <= 1.5. Needs `npm run build` first. Usage: node tools/bench/startup.mjs [name-filter ...]
// BENCH_QUICK=1: 5 runs each; BENCH_RUNS=N: N runs each (default 15).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, printSummary, runsFromEnv, spawnTimer } from './lib.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const filters = process.argv.slice(2);
const runs = runsFromEnv(15, 5);

// Extra invocations measured beside --help (read-only, exit 0 on this machine).
const EXTRA = {
  'podsec-get-platform': [['--json']],
  'podsec-trust': [['show']],
};

const env = {
  ...process.env,
  // get-platform exits 2 on a machine that is not ALT (no ALT_BRANCH_ID); the override is what u7s sets anyway
  U7S_PLATFORM: process.env.U7S_PLATFORM ?? 'p10',
  LANG: 'C.UTF-8',
};
const userPath = (process.env.PATH ?? '')
  .split(':')
  .filter((d) => d && !d.endsWith(`${path.sep}node_modules${path.sep}.bin`))
  .join(':');
const userEnv = { ...env, PATH: userPath || '/usr/local/bin:/usr/bin:/bin' };

const bins = [];
for (const pkg of readdirSync(path.join(repo, 'packages')).sort()) {
  const file = path.join(repo, 'packages', pkg, 'package.json');
  if (!existsSync(file)) continue;
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  for (const name of Object.keys(manifest.bin ?? {}).sort()) bins.push({ pkg, name });
}

const cases = [];
for (const { pkg, name } of bins) {
  for (const args of [['--help'], ...(EXTRA[name] ?? [])]) {
    const label = `${name} ${args.join(' ')}`;
    if (filters.length > 0 && !filters.some((f) => label.includes(f))) continue;
    const bundle = path.join(repo, 'packages', pkg, 'bundle', `${name}.cjs`);
    cases.push({
      bench: `start-up: ${label} (bundle)`,
      file: bundle,
      timer: spawnTimer(process.execPath, [bundle, ...args], { env }),
    });
    const entry = path.join(repo, 'node_modules', '.bin', name);
    cases.push({
      bench: `start-up: ${label} (node_modules/.bin)`,
      file: entry,
      timer: spawnTimer(entry, args, { env: userEnv }),
    });
  }
}

console.log(
  `start-up of ${bins.length} binaries vs node -e 0 (node ${process.version}), ${runs} interleaved runs each; ` +
    `node_modules/.bin entries run with PATH=${userEnv.PATH}`,
);
const ref = spawnTimer(process.execPath, ['-e', '0'], { env });
let failed = 0;
for (const c of cases) {
  if (!existsSync(c.file)) {
    console.log(`${c.bench}: ${path.relative(repo, c.file)} missing (npm run build first)`);
    failed++;
    continue;
  }
  try {
    await compare({ bench: c.bench, ours: c.timer, ref, runs, refName: 'node -e 0', print: true });
  } catch (e) {
    failed++;
    printSummary({ bench: c.bench, note: `failed: ${e.message.split('\n')[0]}` });
  }
}
process.exitCode = failed === 0 ? 0 : 1;
