#!/usr/bin/env node
// Cold start of a CLI against the bare Node start (`node -e 0`): median of N interleaved runs each.
// Usage: node tools/bench/startup.mjs [--runs N] [bin.mjs args...]   (default: podsec-get-platform --json)
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
let runs = 15;
if (argv[0] === '--runs') {
  runs = Number(argv[1]);
  argv.splice(0, 2);
}
const target =
  argv.length > 0
    ? argv
    : [path.join(repo, 'packages/podsec/bundle/podsec-get-platform.mjs'), '--json'];
const env = { ...process.env, U7S_PLATFORM: process.env.U7S_PLATFORM ?? 'p10' };

function time(args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'ignore'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return ms;
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// warm the page cache (and Node's compile cache) once, then interleave
time(['-e', '0']);
time(target);
const bare = [];
const cli = [];
for (let i = 0; i < runs; i++) {
  bare.push(time(['-e', '0']));
  cli.push(time(target));
}
const b = median(bare);
const c = median(cli);
console.log(`node ${process.version}, ${runs} interleaved runs each`);
console.log(`node -e 0                       median ${b.toFixed(1)} ms`);
console.log(
  `${path.basename(target[0])} ${target.slice(1).join(' ')}`.padEnd(32) +
    ` median ${c.toFixed(1)} ms`,
);
console.log(`ratio ${(c / b).toFixed(2)}x (target <= 2.00x)`);
