#!/usr/bin/env node
// Why does a binary load a package at start? Prints the chain of static imports from a CLI source file to the first
// module whose path contains <what>: `node tools/scripts/why-loaded.mjs packages/podsec/src/cli/podsec-trust.ts
// node_modules/openpgp`. Break the chain with a dynamic import() in the action (see docs/architecture.md). The
// start-up closure of every built binary is in packages/<pkg>/bundle/lib/<bin>/startup.json
// (`node tools/scripts/bundle.mjs --report` prints it).
import { build } from 'esbuild';
import path from 'node:path';

const [src, what] = process.argv.slice(2);
if (!src || !what) {
  console.error('usage: why-loaded.mjs <src/cli/file.ts> <path fragment, e.g. node_modules/yaml>');
  process.exitCode = 2;
} else {
  const r = await build({
    entryPoints: [src],
    bundle: true,
    platform: 'node',
    format: 'esm',
    conditions: ['podsec-source'],
    metafile: true,
    write: false,
    logLevel: 'error',
    outdir: '/nonexistent',
  });
  const inputs = r.metafile.inputs;
  const start = Object.keys(inputs).find((k) => path.resolve(k) === path.resolve(src));
  const prev = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const current = queue.shift();
    for (const i of inputs[current]?.imports ?? []) {
      if (i.kind !== 'import-statement' || prev.has(i.path)) continue;
      prev.set(i.path, current);
      queue.push(i.path);
    }
  }
  const hit = [...prev.keys()].find((k) => k?.includes(what));
  if (hit === undefined) console.log(`${src} does not load ${what} through static imports`);
  else {
    const chain = [];
    for (let p = hit; p !== undefined; p = prev.get(p)) chain.push(p);
    console.log(chain.reverse().join('\n  -> '));
  }
}
