/**
 * Interoperability with the real tools: signatures we make are accepted (and forgeries refused) by
 * skopeo's signedBy policy; signatures skopeo makes with GnuPG verify with our library.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { execBytes } from '../../../../test/utils/src/exec-bytes.ts';
import { buildTinyImage, fetchManifest } from '../../../../test/utils/src/image.ts';
import type { TinyImage } from '../../../../test/utils/src/image.ts';
import { startRegistry, writeSignedByPolicy } from '../../../../test/utils/src/registry.ts';
import type { TestRegistry } from '../../../../test/utils/src/registry.ts';
import { isPodsecError } from '../errors.ts';
import { createRootFs } from '../system/node-fs.ts';
import { generateKey, readPrivateKey, readPublicKeys } from './keys.ts';
import { readSignatures, writeSignature } from './lookaside.ts';
import { checkSignatureDigest, signSimpleSigning, verifySimpleSigning } from './simple-signing.ts';

const hostFs = createRootFs('/');

let registry: TestRegistry;
let image: TinyImage;
let work: string;

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'podsec-interop-'));
  registry = await startRegistry();
  image = await buildTinyImage(registry.host, 'interop/app', 'v1');
});

after(async () => {
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

let counter = 0;
/** A fresh directory under the test's temp dir. */
async function freshDir(name: string): Promise<string> {
  const dir = path.join(work, `${name}-${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** registries.d with one yaml mapping the test registry to a file:// lookaside (and staging). */
async function registriesD(lookaside: string): Promise<string> {
  const dir = await freshDir('registries.d');
  await writeFile(
    path.join(dir, 'test.yaml'),
    `docker:\n  ${JSON.stringify(registry.host)}:\n    lookaside: file://${lookaside}\n    lookaside-staging: file://${lookaside}\n`,
  );
  return dir;
}

/** policy.json requiring a signature by the binary keyring `keyPath` for the test registry. */
async function signedByPolicy(keyPath: string): Promise<string> {
  return writeSignedByPolicy(
    path.join(await freshDir('policy'), 'policy.json'),
    registry.host,
    keyPath,
  );
}

/** `skopeo copy` of the test image to a dir: destination under the given policy and lookaside. */
async function skopeoPull(policy: string, lookaside: string, reference = image.reference) {
  const dest = await freshDir('pulled');
  return execa(
    'skopeo',
    [
      '--policy',
      policy,
      '--registries.d',
      await registriesD(lookaside),
      'copy',
      '--src-tls-verify=false',
      `docker://${reference}`,
      `dir:${dest}`,
    ],
    { reject: false, env: { HOME: work }, extendEnv: true },
  );
}

describe('interop: our signatures verified by skopeo', () => {
  let keyPath: string;
  let ours: Awaited<ReturnType<typeof readPrivateKey>>;
  let other: Awaited<ReturnType<typeof readPrivateKey>>;
  let policy: string;

  before(async () => {
    const k = await generateKey({
      name: 'Podsec Test',
      email: 'podsec@example.org',
      rsaBits: 2048,
    });
    ours = await readPrivateKey(k.privateKeyArmored);
    keyPath = path.join(await freshDir('keys'), 'ours.pgp');
    await writeFile(keyPath, k.publicKeyBinary);
    other = await readPrivateKey(
      (await generateKey({ name: 'Other', email: 'other@example.org', type: 'ed25519' }))
        .privateKeyArmored,
    );
    policy = await signedByPolicy(keyPath);
  });

  /** Sign `identity` with `key`, optionally mangle the blob, store it in a fresh lookaside. */
  async function lookasideWith(
    key: typeof ours,
    identity: string,
    mangle?: (b: Uint8Array) => Uint8Array,
  ): Promise<string> {
    const dir = await freshDir('sigstore');
    let blob = await signSimpleSigning({
      privateKey: key,
      dockerReference: identity,
      manifestDigest: image.digest,
    });
    if (mangle !== undefined) blob = mangle(blob);
    await writeSignature(`file://${dir}/`, image.reference, image.digest, blob, { fs: hostFs });
    return dir;
  }

  it('skopeo refuses the image while it has no signature', async () => {
    const r = await skopeoPull(policy, await freshDir('empty-sigstore'));
    assert.notEqual(r.exitCode, 0);
  });

  it('skopeo accepts the image with our signature', async () => {
    const dir = await lookasideWith(ours, image.reference);
    const r = await skopeoPull(policy, dir);
    assert.equal(r.exitCode, 0, r.stderr);
  });

  it('skopeo accepts our uncompressed and ed25519 signatures', async () => {
    const ed = await generateKey({ name: 'Ed', email: 'ed@example.org', type: 'ed25519' });
    const edKey = path.join(await freshDir('keys'), 'ed.pgp');
    await writeFile(edKey, ed.publicKeyArmored);
    const dir = await freshDir('sigstore');
    const blob = await signSimpleSigning({
      privateKey: await readPrivateKey(ed.privateKeyArmored),
      dockerReference: image.reference,
      manifestDigest: image.digest,
      compress: false,
    });
    await writeSignature(`file://${dir}`, image.reference, image.digest, blob, { fs: hostFs });
    const r = await skopeoPull(await signedByPolicy(edKey), dir);
    assert.equal(r.exitCode, 0, r.stderr);
  });

  it('skopeo refuses our signature with one byte flipped', async () => {
    const dir = await lookasideWith(ours, image.reference, (b) => {
      const c = b.slice();
      c[c.length - 10] = (c[c.length - 10] as number) ^ 0x40;
      return c;
    });
    const r = await skopeoPull(policy, dir);
    assert.notEqual(r.exitCode, 0);
    // depending on where the flip lands, the signature check or the decompression of the packet fails (gpgme: "No data")
    assert.match(r.stderr, /signature|flate|zlib|corrupt|checksum|openpgp|invalid|no data/i);
  });

  it('skopeo refuses a signature made by another key', async () => {
    const r = await skopeoPull(policy, await lookasideWith(other, image.reference));
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /signature|key/i);
  });

  it('skopeo refuses a signature made for another identity', async () => {
    const r = await skopeoPull(
      policy,
      await lookasideWith(ours, `${registry.host}/interop/other:v1`),
    );
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /identity|reference|not match/i);
  });
});

describe('interop: skopeo (GnuPG) signatures verified by us', () => {
  let gnupgHome: string;
  let fingerprint: string;
  let lookaside: string;
  let signedRef: string;
  let signedDigest: string;
  let signedManifest: Uint8Array;

  before(async () => {
    gnupgHome = await freshDir('gnupg');
    const env = { GNUPGHOME: gnupgHome };
    await execa(
      'gpg',
      [
        '--batch',
        '--passphrase',
        '',
        '--quick-gen-key',
        'Skopeo Signer <signer@example.org>',
        'default',
        'default',
        'never',
      ],
      { env },
    );
    const { stdout } = await execa('gpg', ['--batch', '--with-colons', '--list-secret-keys'], {
      env,
    });
    fingerprint = (/^fpr:+([0-9A-F]{40}):/m.exec(stdout) as RegExpExecArray)[1] as string;
    lookaside = await freshDir('staging');
    const insecure = path.join(await freshDir('policy'), 'policy.json');
    await writeFile(insecure, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    signedRef = `${registry.host}/interop/signed:v1`;
    const r = await execa(
      'skopeo',
      [
        '--policy',
        insecure,
        '--registries.d',
        await registriesD(lookaside),
        'copy',
        '--sign-by',
        fingerprint,
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${image.reference}`,
        `docker://${signedRef}`,
      ],
      { env: { GNUPGHOME: gnupgHome, HOME: work }, reject: false },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const fetched = await fetchManifest(registry.host, 'interop/signed', 'v1');
    signedDigest = fetched.digest;
    signedManifest = fetched.manifest;
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false });
  });

  // byte for byte: execa's default strips a final 0x0a, and a binary key ends in random MPI bytes
  const exported = (armor: boolean): Promise<Uint8Array> =>
    execBytes('gpg', ['--batch', ...(armor ? ['--armor'] : []), '--export', fingerprint], {
      env: { GNUPGHOME: gnupgHome },
    });

  it("verifies skopeo's signature with the key from gpg --export and matches the registry digest", async () => {
    const blobs = await readSignatures(`file://${lookaside}`, signedRef, signedDigest, {
      fs: hostFs,
    });
    assert.equal(blobs.length, 1);
    const keys = await readPublicKeys(await exported(false));
    const v = await verifySimpleSigning(blobs[0] as Uint8Array, keys);
    assert.equal(v.keyFingerprint, fingerprint);
    assert.equal(v.payload.dockerReference, signedRef);
    assert.equal(v.payload.manifestDigest, signedDigest);
    checkSignatureDigest(v.payload, signedManifest);
    assert.deepEqual(v.userIds, ['Skopeo Signer <signer@example.org>']);
  });

  it('verifies it with the key from gpg --armor --export too', async () => {
    const [blob] = await readSignatures(`file://${lookaside}/`, signedRef, signedDigest, {
      fs: hostFs,
    });
    const v = await verifySimpleSigning(
      blob as Uint8Array,
      await readPublicKeys(await exported(true)),
    );
    assert.equal(v.payload.manifestDigest, signedDigest);
  });

  it("refuses a tampered copy of skopeo's signature", async () => {
    const [blob] = await readSignatures(`file://${lookaside}`, signedRef, signedDigest, {
      fs: hostFs,
    });
    const keys = await readPublicKeys(await exported(false));
    let refused = 0;
    for (const at of [
      20,
      Math.floor((blob as Uint8Array).length / 2),
      (blob as Uint8Array).length - 5,
    ]) {
      const c = (blob as Uint8Array).slice();
      c[at] = (c[at] as number) ^ 0x04;
      await assert.rejects(
        verifySimpleSigning(c, keys),
        (e: unknown) => isPodsecError(e) && e.name === 'VerificationError',
      );
      refused++;
    }
    assert.equal(refused, 3);
  });

  it("refuses skopeo's signature against another trusted key", async () => {
    const [blob] = await readSignatures(`file://${lookaside}`, signedRef, signedDigest, {
      fs: hostFs,
    });
    const k = await generateKey({ name: 'Someone', email: 'someone@example.org', type: 'ed25519' });
    await assert.rejects(
      verifySimpleSigning(blob as Uint8Array, await readPublicKeys(k.publicKeyBinary)),
      (e: unknown) => isPodsecError(e) && e.code === 'SIGNATURE_UNTRUSTED_KEY',
    );
  });

  it('lays the signature out where containers/image puts it', async () => {
    const hex = signedDigest.slice('sha256:'.length);
    const file = path.join(lookaside, 'interop', `signed@sha256=${hex}`, 'signature-1');
    assert.ok((await readFile(file)).length > 0);
  });
});
