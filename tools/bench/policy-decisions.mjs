#!/usr/bin/env node
// Benchmark: showing the trust policy, `podsec-trust show --json` against `podman image trust show --json`, on
// the same policy.json (a reject default, 40 docker scopes: signedBy with real exported gpg keys, and
// insecureAcceptAnything), interleaved. podman resolves every keyPath to its key identity with gpg2 (here a
// gpg2 link to the real gpg in a temp PATH, as ALT ships it); podsec-trust names the key files.
// After the comparison, the in-process throughput of requirementsFor (the scope decision `podsec-trust show
// IMAGE` and the policy engine make) is printed for information: no tool offers that decision alone to compare.
// Usage: npm run bench -- policy   (BENCH_RUNS=N, BENCH_QUICK=1 as for every bench)
// Needs: a built bundle (npm run build), podman, gpg.
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parsePolicy } from '../../packages/core/src/config/policy.ts';
import { requirementsFor } from '../../packages/core/src/trust/requirements.ts';
import { compare, quick, runsFromEnv, spawnTimer } from './lib.mjs';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundle = path.join(repo, 'packages/podsec/bundle/podsec-trust.mjs');
await access(bundle).catch(() => {
  throw new Error(`${bundle} is missing: run npm run build first`);
});
const SCOPES = 40;
const KEYS = 4;

const work = await mkdtemp(path.join(tmpdir(), 'podsec-bench-policy-'));
const gnupg = path.join(work, 'gnupg');
const bin = path.join(work, 'bin');
const env = {
  ...process.env,
  GNUPGHOME: gnupg,
  LANG: 'C',
  PATH: `${bin}:${process.env.PATH ?? ''}`,
};
try {
  await mkdir(gnupg, { mode: 0o700 });
  await mkdir(bin);
  await symlink('/usr/bin/gpg', path.join(bin, 'gpg2'));
  const keyFiles = [];
  for (let k = 0; k < KEYS; k++) {
    const email = `maker${k}@bench.test`;
    await run(
      'gpg',
      [
        '--batch',
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        '',
        '--quick-generate-key',
        `Maker ${k} <${email}>`,
        'ed25519',
        'sign',
        'never',
      ],
      { env },
    );
    const file = path.join(work, `maker${k}.pgp`);
    await run('gpg', ['--batch', '--output', file, '--export', email], { env });
    keyFiles.push(file);
  }
  const docker = {};
  for (let i = 0; i < SCOPES; i++) {
    docker[i % 2 === 0 ? `registry${i}.example.com` : `registry${i - 1}.example.com/ns${i}`] =
      i % 5 === 4
        ? [{ type: 'insecureAcceptAnything' }]
        : [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: keyFiles[i % KEYS] }];
  }
  const policyText = JSON.stringify({ default: [{ type: 'reject' }], transports: { docker } });
  const policyFile = path.join(work, 'policy.json');
  await writeFile(policyFile, policyText);
  const registriesD = path.join(work, 'registries.d');
  await mkdir(registriesD);

  await compare({
    bench: `podsec-trust show, ${SCOPES} scopes`,
    refName: 'podman image trust show',
    runs: runsFromEnv(15, 5),
    ours: spawnTimer(
      process.execPath,
      [bundle, 'show', '--json', '--policy', policyFile, '--registries-d', registriesD],
      { env },
    ),
    ref: spawnTimer(
      'podman',
      [
        '--root',
        path.join(work, 'storage'),
        '--runroot',
        path.join(work, 'run'),
        'image',
        'trust',
        'show',
        '--json',
        '--policypath',
        policyFile,
      ],
      { env },
    ),
  });

  // in-process scope decisions, for information (no reference tool makes this decision alone)
  const policy = parsePolicy(policyText);
  const refs = [];
  for (let i = 0; i < (quick ? 2000 : 20000); i++) {
    const s = (i * 7) % SCOPES;
    refs.push(
      i % 3 === 0
        ? `registry${s - (s % 2)}.example.com/ns${s - (s % 2) + 1}/app${i}:1`
        : i % 3 === 1
          ? `registry${s - (s % 2)}.example.com/other/app${i}@sha256:${i.toString(16).padStart(64, '0')}`
          : `unknown${i}.example.net/library/app${i}`,
    );
  }
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (const r of refs) requirementsFor(policy, 'docker', r);
    best = Math.min(best, performance.now() - t0);
  }
  console.log(
    `requirementsFor in-process: ${refs.length} references in ${best.toFixed(1)} ms (best of 5), ` +
      `${Math.round((refs.length / best) * 1000).toLocaleString('en-US')} decisions/s (information, no reference)`,
  );
} finally {
  await run('gpgconf', ['--kill', 'gpg-agent'], { env }).catch(() => {});
  await rm(work, { recursive: true, force: true });
}
