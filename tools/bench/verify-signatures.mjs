// Benchmark: verify N simple-signing signatures in one process with @podsec/core vs `gpg --verify` processes.
// Run: node --conditions=podsec-source tools/bench/verify-signatures.mjs [N=1000] [GPG_SAMPLE=100]
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { generateKey, readPrivateKey, readPublicKeys } from '../../packages/core/src/trust/keys.ts';
import {
  signSimpleSigning,
  verifySimpleSigning,
} from '../../packages/core/src/trust/simple-signing.ts';

const run = promisify(execFile);
const N = Number(process.argv[2] ?? 1000);
const GPG_SAMPLE = Math.min(N, Number(process.argv[3] ?? 100));
const work = await mkdtemp(path.join(tmpdir(), 'podsec-bench-'));
try {
  const gnupg = path.join(work, 'gnupg');
  await run('mkdir', ['-m', '700', gnupg]);
  const env = { ...process.env, GNUPGHOME: gnupg };
  const key = await generateKey({ name: 'Bench', email: 'bench@example.org' }); // RSA 4096, the default
  const priv = await readPrivateKey(key.privateKeyArmored);
  await writeFile(path.join(work, 'pub.pgp'), key.publicKeyBinary);
  await run('gpg', ['--batch', '--quiet', '--import', path.join(work, 'pub.pgp')], { env });

  console.log(`signing ${N} payloads (RSA 4096, gpg-style compressed) ...`);
  const blobs = [];
  for (let i = 0; i < N; i++) {
    blobs.push(
      await signSimpleSigning({
        privateKey: priv,
        dockerReference: `registry.local/bench/app:${i}`,
        manifestDigest: `sha256:${i.toString(16).padStart(64, '0')}`,
      }),
    );
  }

  // podsec: keys parsed once, every signature verified in this process.
  const keys = await readPublicKeys(key.publicKeyBinary);
  await verifySimpleSigning(blobs[0], keys); // warm-up
  let t0 = performance.now();
  for (const b of blobs) await verifySimpleSigning(b, keys);
  const oursSeq = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < blobs.length; i += 32)
    await Promise.all(blobs.slice(i, i + 32).map((b) => verifySimpleSigning(b, keys)));
  const oursPar = performance.now() - t0;

  // gpg: one process per signature, as a shell script would do it (sample, extrapolated to N).
  const files = [];
  for (let i = 0; i < GPG_SAMPLE; i++) {
    const f = path.join(work, `signature-${i + 1}`);
    await writeFile(f, blobs[i]);
    files.push(f);
  }
  await run('gpg', ['--batch', '--quiet', '--verify', files[0]], { env }); // warm-up, also proves gpg accepts it
  t0 = performance.now();
  for (const f of files) await run('gpg', ['--batch', '--quiet', '--verify', f], { env });
  const gpgSample = performance.now() - t0;
  const gpgTotal = (gpgSample / GPG_SAMPLE) * N;

  const fmt = (ms) => `${ms.toFixed(0)} ms (${(ms / N).toFixed(3)} ms/signature)`;
  console.log(`podsec, ${N} signatures, sequential:       ${fmt(oursSeq)}`);
  console.log(`podsec, ${N} signatures, 32 in flight:     ${fmt(oursPar)}`);
  console.log(
    `gpg --verify, ${GPG_SAMPLE} processes measured, extrapolated to ${N}: ${fmt(gpgTotal)}`,
  );
  console.log(
    `speed-up: sequential ${(gpgTotal / oursSeq).toFixed(1)}x, concurrent ${(gpgTotal / oursPar).toFixed(1)}x`,
  );
} finally {
  await run('gpgconf', ['--kill', 'gpg-agent'], {
    env: { ...process.env, GNUPGHOME: path.join(work, 'gnupg') },
  }).catch(() => {});
  await rm(work, { recursive: true, force: true });
}
