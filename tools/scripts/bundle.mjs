#!/usr/bin/env node
// Bundles every binary of every product package into one file: packages/<pkg>/bundle/<bin>.mjs.
// These single files are what the RPMs install as /usr/bin/<bin> (design decision 4: start-up speed).
import { build } from 'esbuild';
import { access, chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const products = ['podsec', 'podsec-k8s', 'podsec-k8s-rbac', 'podsec-inotify'];
const only = process.argv.slice(2);
let count = 0;
for (const pkg of products) {
  const dir = path.join(repo, 'packages', pkg);
  const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
  const bins = [];
  for (const b of Object.keys(manifest.bin ?? {})) {
    if (only.length > 0 && !only.includes(b)) continue;
    const src = path.join(dir, 'src/cli', `${b}.ts`);
    if (
      await access(src).then(
        () => true,
        () => false,
      )
    )
      bins.push(b);
    else console.warn(`bundle: ${b} has no ${path.relative(repo, src)} yet, skipped`);
  }
  if (bins.length === 0) continue;
  const out = path.join(dir, 'bundle');
  const entries = path.join(out, '.entries');
  // a full build starts clean; a build of named binaries replaces only theirs
  if (only.length === 0) await rm(out, { recursive: true, force: true });
  for (const bin of bins) {
    await rm(path.join(out, 'lib', bin), { recursive: true, force: true });
    await rm(path.join(out, `${bin}.mjs`), { force: true });
  }
  await mkdir(entries, { recursive: true });
  for (const bin of bins) {
    const file = path.join(entries, `${bin}.ts`);
    await writeFile(
      file,
      `import { runCli } from '@podsec/core/cli';\nimport { cli } from ${JSON.stringify(path.join(dir, 'src/cli', `${bin}.ts`))};\nprocess.exitCode = await runCli(cli, process.argv.slice(2));\n`,
    );
    // One build per binary: esbuild assigns split chunks by reachability before tree shaking, so a build of all
    // binaries together would make every binary load openpgp and yaml. Splitting within a binary keeps what a run
    // may never need (execa, the Node system adapter) in chunks loaded on first use.
    await build({
      entryPoints: { [`lib/${bin}/main`]: file },
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      conditions: ['podsec-source'],
      minify: true,
      legalComments: 'none',
      outdir: out,
      outExtension: { '.js': '.mjs' },
      chunkNames: `lib/${bin}/[name]-[hash]`,
      nodePaths: [path.join(repo, 'node_modules')],
      banner: {
        // ESM bundles of CommonJS dependencies need require()
        js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);",
      },
      logLevel: 'warning',
    });
  }
  await rm(entries, { recursive: true, force: true });
  for (const bin of bins) {
    // The launcher turns on V8's compile cache before the code is loaded: most of a cold start is compiling.
    const file = path.join(out, `${bin}.mjs`);
    await writeFile(
      file,
      `#!/usr/bin/env node\nimport m from 'node:module';\nm.enableCompileCache?.();\nawait import('./lib/${bin}/main.mjs');\n`,
    );
    await chmod(file, 0o755);
    count++;
  }
}
console.log(`bundled ${count} binaries`);
