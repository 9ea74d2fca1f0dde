// Benchmark: podsec-load-sign-oci and podsec-save-oci (the bundled binaries) against the direct pipelines a user
// would type instead:
//   load: `xz -dc <archive> | tar -x -C <dir>`, then `skopeo copy --sign-by <fingerprint> oci:<dir>/<arch>:<ref>
//         docker://<registry>/<ref>` (gpg signs, the signature goes to a file:// lookaside-staging), then `rm -rf <dir>`;
//   save: `skopeo copy docker://<src>/<ref> oci:<dir>/<arch>:<ref>`, then `tar -C <dir> -cf - <arch> | xz -T0 -9`.
// Ours and the reference run interleaved (ours, ref, ours, ref ...), each push into a fresh registry, so that a change
// of machine load or a registry that already holds the blobs favours neither side. Prints median/min/max of each side
// and of the per-round ratio ours/ref (target <= 1.0) and ends with one JSON summary line per comparison.
// Run: npm run build && node --conditions=podsec-source tools/bench/load-sign-oci.mjs [ROUNDS=5] [BIG_MB=100]
// (BENCH_QUICK=1: 3 rounds, 20 MB; BENCH_RUNS=N overrides the rounds; BENCH_ONLY=load or save, and
// BENCH_VARIANTS=tiny or big, run only that part; BENCH_PHASES=1 runs ours with --verbose and prints its phase
// timings, and times the two steps of the reference.)
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// BENCH_BUNDLE_DIR: a copy of packages/podsec/bundle, so that a rebuild during a long run changes nothing
const bundleDir = process.env.BENCH_BUNDLE_DIR ?? path.join(repo, 'packages/podsec/bundle');
// the launcher bundle/<bin>.cjs, or bundle/<bin>.mjs of a build from before it existed (to compare with one)
const bundle = (bin) => {
  const cjs = path.join(bundleDir, `${bin}.cjs`);
  return existsSync(cjs) ? cjs : path.join(bundleDir, `${bin}.mjs`);
};
const quick = !['', '0', 'false', undefined].includes(process.env.BENCH_QUICK);
const ROUNDS = Number(process.env.BENCH_RUNS || process.argv[2] || (quick ? 3 : 5));
const BIG_MB = Number(process.argv[3] ?? (quick ? 20 : 100));
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : ['save', 'load'];
const PHASES = !['', '0', 'false', undefined].includes(process.env.BENCH_PHASES);
const VARIANTS = process.env.BENCH_VARIANTS
  ? process.env.BENCH_VARIANTS.split(',')
  : ['tiny', 'big'];

for (const bin of ['podsec-load-sign-oci', 'podsec-save-oci']) {
  if (!(await stat(bundle(bin)).catch(() => undefined)))
    throw new Error(`${bundle(bin)} is missing: run npm run build first`);
}

const { startRegistry } = await import('../../test/utils/src/registry.ts');
const { buildTinyImage } = await import('../../test/utils/src/image.ts');
const { generateKey } = await import('../../packages/core/src/trust/keys.ts');

/** Run a program; resolves to its wall time in ms, rejects with the tail of its stderr when it fails. */
function timed(file, args, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, {
      env: { ...process.env, LANG: 'C', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-3000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      if (PHASES) process.stdout.write(`    ${path.basename(file)}: ${Math.round(ms)} ms\n`);
      if (PHASES)
        for (const line of err.split('\n'))
          if (line.startsWith('time: ')) process.stdout.write(`    ${line}\n`);
      if (code === 0) resolve(ms);
      else reject(new Error(`${file} ${args.join(' ')}: ${signal ?? code}\n${err.trim()}`));
    });
  });
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return {
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    min: s[0],
    max: s[s.length - 1],
  };
}

const summaries = [];
/** Interleave `ours` and `ref` (each: async () => ms, with an untimed `prepare` before each run). */
async function compare(bench, { prepare, ours, ref }) {
  const o = [];
  const r = [];
  const ratio = [];
  for (let i = 0; i < ROUNDS; i++) {
    // alternate who goes first, so that neither side always meets a warmer cache
    const order = i % 2 === 0 ? ['ours', 'ref'] : ['ref', 'ours'];
    const got = {};
    for (const side of order) {
      const ctx = await prepare(side, i);
      try {
        got[side] = await (side === 'ours' ? ours : ref)(ctx);
      } finally {
        await ctx.cleanup?.();
      }
    }
    o.push(got.ours);
    r.push(got.ref);
    ratio.push(got.ours / got.ref);
    process.stdout.write(
      `  round ${i + 1}: ours ${(got.ours / 1000).toFixed(2)} s, ref ${(got.ref / 1000).toFixed(2)} s\n`,
    );
  }
  const so = stats(o);
  const sr = stats(r);
  const sq = stats(ratio);
  const f = (s) =>
    `median ${(s.median / 1000).toFixed(2)} s (min ${(s.min / 1000).toFixed(2)}, max ${(s.max / 1000).toFixed(2)})`;
  console.log(`${bench}\n  ours: ${f(so)}\n  ref:  ${f(sr)}`);
  console.log(
    `  ratio ours/ref: median ${sq.median.toFixed(2)} (min ${sq.min.toFixed(2)}, max ${sq.max.toFixed(2)}; target <= 1.0)`,
  );
  summaries.push({
    bench,
    ours_ms: Math.round(so.median),
    ref_ms: Math.round(sr.median),
    ratio_median: Number(sq.median.toFixed(3)),
    ratio_min: Number(sq.min.toFixed(3)),
    ratio_max: Number(sq.max.toFixed(3)),
    runs: ROUNDS,
  });
}

const work = await mkdtemp(path.join(process.env.BENCH_TMPDIR ?? tmpdir(), 'podsec-bench-oci-'));
const registries = new Set();
const startReg = async () => {
  const r = await startRegistry();
  registries.add(r);
  return {
    ...r,
    stop: async () => {
      registries.delete(r);
      await r.stop();
    },
  };
};
const gnupg = path.join(work, 'gnupg');
try {
  const key = await generateKey({
    type: 'rsa',
    rsaBits: 3072,
    name: 'Bench Maker',
    email: 'maker@example.org',
    date: new Date(Date.now() - 86400e3),
  });
  const keyFile = path.join(work, 'key.asc');
  await writeFile(keyFile, key.privateKeyArmored, { mode: 0o600 });
  await mkdir(gnupg, { mode: 0o700 });
  await run('gpg', ['--batch', '--quiet', '--import', keyFile], {
    env: { ...process.env, GNUPGHOME: gnupg },
  });
  // the maker's root for ours: group membership only; the reference's registries.d: a lookaside-staging
  const root = path.join(work, 'root');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\npodman_dev:x:991:root\n');
  const regd = path.join(work, 'registries.d');
  await mkdir(regd);
  await writeFile(
    path.join(regd, 'default.yaml'),
    `default-docker:\n  lookaside-staging: file://${path.join(work, 'ref-sigs')}\n`,
  );

  const source = await startReg();
  const variants = [
    { name: 'tiny', image: 'bench/tiny:1', contents: `bench ${Math.random()}\n` },
    {
      kind: 'big',
      name: `${BIG_MB} MB`,
      image: 'bench/big:1',
      // random hex: a layer that gzip halves and xz does not shrink further, like the compressed layers of real images
      contents: randomBytes((BIG_MB * 1e6) / 2).toString('hex'),
    },
  ];
  for (let i = variants.length - 1; i >= 0; i--)
    if (!VARIANTS.includes(variants[i].kind ?? variants[i].name)) variants.splice(i, 1);
  console.log(`building ${variants.map((v) => v.image).join(', ')} ...`);
  for (const v of variants) {
    const [name, tag] = v.image.split(':');
    await buildTinyImage(source.host, name, tag, { contents: v.contents });
    v.contents = undefined;
  }

  let n = 0;
  const fresh = () => path.join(work, `run-${++n}`);
  for (const v of variants) {
    // save-oci: ours against skopeo copy + tar | xz -T0 -9
    if (ONLY.includes('save'))
      await compare(`save-1 (${v.name})`, {
        prepare: async () => ({ dir: fresh() }),
        ours: ({ dir }) =>
          timed(process.execPath, [
            bundle('podsec-save-oci'),
            dir,
            'amd64',
            v.image,
            '--registry',
            source.host,
            '--tmpdir',
            work,
          ]),
        ref: async ({ dir }) => {
          await mkdir(dir);
          const t0 = performance.now();
          await timed('skopeo', [
            '--override-arch',
            'amd64',
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            '--remove-signatures',
            '--dest-oci-accept-uncompressed-layers',
            `docker://${source.host}/${v.image}`,
            `oci:${dir}/amd64:${v.image}`,
          ]);
          await timed('sh', [
            '-c',
            'tar -C "$1" -cf - amd64 | xz -T0 -9 > "$1/amd64.tar.xz" && rm -rf "$1/amd64"',
            'sh',
            dir,
          ]);
          return performance.now() - t0;
        },
      });
    // the archive of both load runs: written by our save-oci
    const out = fresh();
    await run(process.execPath, [
      bundle('podsec-save-oci'),
      out,
      'amd64',
      v.image,
      '--registry',
      source.host,
      '--tmpdir',
      work,
    ]);
    const archive = path.join(out, 'amd64.tar.xz');
    console.log(`  archive ${((await stat(archive)).size / 2 ** 20).toFixed(1)} MiB`);
    if (ONLY.includes('load'))
      await compare(`load-1 (${v.name})`, {
        prepare: async () => {
          const target = await startReg();
          return { target, dir: fresh(), cleanup: () => target.stop() };
        },
        ours: ({ target, dir }) =>
          timed(process.execPath, [
            bundle('podsec-load-sign-oci'),
            archive,
            'amd64',
            'maker@example.org',
            '--root',
            root,
            '--registry-host',
            target.host,
            '--key',
            keyFile,
            '--lookaside',
            `file://${dir}-sigs`,
            '--tmpdir',
            work,
            '--platform',
            'bench',
            ...(PHASES ? ['--verbose'] : []),
          ]),
        ref: async ({ target, dir }) => {
          const t0 = performance.now();
          await mkdir(dir);
          await timed('sh', ['-c', 'xz -dc "$1" | tar -x -C "$2"', 'sh', archive, dir]);
          await timed(
            'skopeo',
            [
              '--override-arch',
              'amd64',
              'copy',
              '--quiet',
              '--dest-tls-verify=false',
              '--registries.d',
              regd,
              '--sign-by',
              key.fingerprint,
              `oci:${dir}/amd64:${v.image}`,
              `docker://${target.host}/${v.image}`,
            ],
            { GNUPGHOME: gnupg },
          );
          await rm(dir, { recursive: true, force: true });
          return performance.now() - t0;
        },
      });
  }
  console.log('');
  for (const s of summaries) console.log(JSON.stringify(s));
} finally {
  await Promise.all([...registries].map((r) => r.stop()));
  await run('gpgconf', ['--kill', 'gpg-agent'], {
    env: { ...process.env, GNUPGHOME: gnupg },
  }).catch(() => {});
  await run('rm', ['-rf', work]).catch(() => {});
}
