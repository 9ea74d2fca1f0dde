#!/usr/bin/env node
// Benchmark: `podsec-trust verify` against `skopeo copy docker://… dir:` under the same policy.json and
// registries.d, for an image with 1 and with 100 signatures in a file:// lookaside. Both commands fetch the
// manifest from a real docker-registry on 127.0.0.1 and judge the signatures with the signedBy policy; the two
// run interleaved (ours, skopeo, ours, skopeo, …) so that load on the machine hits both alike.
// Signatures are made by the real gpg (RSA 4096, gpg's defaults: SHA-256, compressed), as podman push would.
// Usage: npm run bench -- verify   (BENCH_RUNS=N, BENCH_QUICK=1 as for every bench; BENCH_SIGNATURES=1,100)
// Needs: a built bundle (npm run build), docker-registry, buildah, skopeo, gpg.
import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildTinyImage } from '../../test/utils/src/image.ts';
import { startRegistry } from '../../test/utils/src/registry.ts';
import { formatSimpleSigningPayload } from '../../packages/core/src/trust/simple-signing.ts';
import { signatureLocation } from '../../packages/core/src/trust/lookaside.ts';
import { compare, runsFromEnv, spawnTimer } from './lib.mjs';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// the launcher the RPM installs as /usr/bin/podsec-trust (bundle/<bin>.mjs is the same behind an ES module entry)
const bundle = path.join(repo, 'packages/podsec/bundle/podsec-trust.cjs');
const counts = (process.env.BENCH_SIGNATURES ?? '1,100').split(',').map(Number);
const runs = runsFromEnv(15, 5);
await access(bundle).catch(() => {
  throw new Error(`${bundle} is missing: run npm run build first`);
});

const work = await mkdtemp(path.join(tmpdir(), 'podsec-bench-verify-'));
const gnupg = path.join(work, 'gnupg');
const env = { ...process.env, GNUPGHOME: gnupg, LANG: 'C' };
const registry = await startRegistry();
try {
  await mkdir(gnupg, { mode: 0o700 });
  const uid = 'Bench Maker <maker@bench.test>';
  await run(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--quick-generate-key',
      uid,
      'rsa4096',
      'sign',
      'never',
    ],
    { env },
  );
  const keyPath = path.join(work, 'maker.pgp');
  await run('gpg', ['--batch', '--output', keyPath, '--export', 'maker@bench.test'], { env });

  for (const n of counts) {
    const image = await buildTinyImage(registry.host, `bench/app${n}`, '1', {
      contents: `bench ${n}\n`,
    });
    const dir = path.join(work, `case-${n}`);
    const sigstore = path.join(dir, 'sigstore');
    const regd = path.join(dir, 'registries.d');
    await mkdir(regd, { recursive: true });
    await writeFile(
      path.join(regd, 'default.yaml'),
      `default-docker:\n  lookaside: file://${sigstore}\n`,
    );
    const policy = path.join(dir, 'policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: { [registry.host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }] },
        },
      }),
    );
    const payload = path.join(dir, 'payload.json');
    await writeFile(
      payload,
      formatSimpleSigningPayload({
        dockerReference: image.reference,
        manifestDigest: image.digest,
        creator: 'bench',
        timestamp: Math.floor(Date.now() / 1000),
      }),
    );
    for (let i = 1; i <= n; i++) {
      const out = fileURLToPath(
        signatureLocation(`file://${sigstore}`, image.reference, image.digest, i),
      );
      await mkdir(path.dirname(out), { recursive: true });
      await run(
        'gpg',
        [
          '--batch',
          '--yes',
          '--local-user',
          'maker@bench.test',
          '--output',
          out,
          '--sign',
          payload,
        ],
        { env },
      );
    }
    const pulled = path.join(dir, 'pulled');
    await compare({
      bench: `podsec-trust verify, ${n} signature${n === 1 ? '' : 's'}`,
      refName: 'skopeo copy docker:// dir:',
      runs,
      ours: spawnTimer(
        process.execPath,
        [
          bundle,
          'verify',
          image.reference,
          '--insecure',
          '--json',
          '--policy',
          policy,
          '--registries-d',
          regd,
        ],
        { env },
      ),
      ref: spawnTimer(
        'skopeo',
        [
          '--policy',
          policy,
          '--registries.d',
          regd,
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${image.reference}`,
          `dir:${pulled}`,
        ],
        { env },
      ),
      // skopeo writes a fresh directory each time (not timed)
      setup: (side) => (side === 'ref' ? rm(pulled, { recursive: true, force: true }) : undefined),
    });
  }
} finally {
  await registry.stop();
  await run('gpgconf', ['--kill', 'gpg-agent'], { env }).catch(() => {});
  await rm(work, { recursive: true, force: true });
}
