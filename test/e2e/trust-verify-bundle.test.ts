// `podsec-trust verify` through the shipped launcher (bundle/podsec-trust.cjs): its fast path is one CommonJS file
// that loads openpgp and yaml from their own files on first use (lib/podsec-trust/vendor-*.cjs). A tampered
// signature is one the native verifier leaves to openpgp, and a registries.d in YAML flow style is one the plain
// reader leaves to the yaml library: both run the vendored code. Real docker-registry and buildah.
// Needs `npm run build` (npm test builds first).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as openpgp from 'openpgp';
import { formatSimpleSigningPayload, generateKey, signatureLocation } from '@podsec/core/trust';
import {
  buildTinyImage,
  startRegistry,
  type TestRegistry,
  type TinyImage,
  writeSignedByPolicy,
} from '@podsec/test-utils';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const launcher = path.join(repo, 'packages/podsec/bundle/podsec-trust.cjs');

describe('podsec-trust verify through the bundle', () => {
  let registry: TestRegistry;
  let image: TinyImage;
  let dir: string;
  before(async () => {
    registry = await startRegistry();
    image = await buildTinyImage(registry.host, 'podsec/bundled', '1', { contents: 'bundled' });
    dir = await mkdtemp(path.join(tmpdir(), 'podsec-trust-bundle-'));
  });
  after(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('judges a sound and a tampered signature with the vendored openpgp and yaml', async () => {
    const key = await generateKey({ type: 'ed25519', name: 'Maker', email: 'maker@example.org' });
    const keyPath = path.join(dir, 'maker.asc');
    await writeFile(keyPath, key.publicKeyArmored);
    // uncompressed, so that a flipped byte of the signature value reaches the signature check
    const blob = await openpgp.sign({
      message: await openpgp.createMessage({
        binary: formatSimpleSigningPayload({
          dockerReference: image.reference,
          manifestDigest: image.digest,
        }),
      }),
      signingKeys: await openpgp.readPrivateKey({ armoredKey: key.privateKeyArmored }),
      format: 'binary',
      config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
    });
    const tampered = Uint8Array.from(blob);
    tampered[tampered.length - 8]! ^= 0xff;
    const stores: Record<string, Uint8Array> = { good: blob, bad: tampered };
    for (const [name, bytes] of Object.entries(stores)) {
      const file = fileURLToPath(
        signatureLocation(`file://${dir}/${name}`, image.reference, image.digest, 1),
      );
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
      // flow style: not the plain form, so the yaml library reads it
      await mkdir(path.join(dir, `${name}.d`));
      await writeFile(
        path.join(dir, `${name}.d`, 'default.yaml'),
        `{default-docker: {lookaside: "file://${dir}/${name}"}}\n`,
      );
    }
    const policy = await writeSignedByPolicy(path.join(dir, 'policy.json'), registry.host, keyPath);
    const verify = (name: string) =>
      execa(
        process.execPath,
        [
          launcher,
          'verify',
          image.reference,
          '--insecure',
          '--json',
          '--policy',
          policy,
          '--registries-d',
          path.join(dir, `${name}.d`),
        ],
        { reject: false, env: { LANG: 'C' } },
      );
    const good = await verify('good');
    assert.equal(good.exitCode, 0, good.stderr);
    const g = JSON.parse(good.stdout);
    assert.equal(g.lookaside, `file://${dir}/good`);
    assert.equal(g.signatures[0].valid, true);
    assert.equal(g.verdict.accepted, true);
    const bad = await verify('bad');
    assert.equal(bad.exitCode, 3, bad.stderr);
    const b = JSON.parse(bad.stdout);
    assert.equal(b.signatures[0].valid, false);
    // openpgp's own words: the native verifier never refuses a signature that way
    assert.match(
      b.signatures[0].reason,
      /signature verification failed: Signature verification failed/,
    );
    assert.equal(b.verdict.accepted, false);
  });
});
