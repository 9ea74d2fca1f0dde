/**
 * The native signer against the real tools: secret keys made and exported by the real gpg (RSA 2048 and 4096,
 * Ed25519; unprotected and passphrase-protected) and by openpgp.js are unlocked with node:crypto, and the signatures
 * made with them verify with `gpg --verify`, with openpgp.js and are accepted by `skopeo copy` under a signedBy
 * policy. Keys the native signer does not decide (a wrong or missing passphrase, an expired key, a primary key that
 * only certifies) are left to openpgp.js, whose error stays the error given.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { execBytes, requireCommands, writeSignedByPolicy } from '@podsec/test-utils';
import { buildTinyImage, type TinyImage } from '../../../../test/utils/src/image.ts';
import { startRegistry, type TestRegistry } from '../../../../test/utils/src/registry.ts';
import { createRootFs } from '../system/node-fs.ts';
import { generateKey, readPrivateKey, readPublicKeys } from './keys.ts';
import { writeSignature } from './lookaside.ts';
import { readNativeSigningKey, signSimpleSigningNatively } from './native-sign.ts';
import { verifyNatively, verifySimpleSigning, verifyWithOpenpgp } from './simple-signing.ts';

const PASSPHRASE = 'correct horse battery staple';

let work: string;
let gnupg: string;
before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'podsec-native-sign-'));
  gnupg = path.join(work, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  await writeFile(path.join(work, 'pass'), `${PASSPHRASE}\n`, { mode: 0o600 });
});
after(async () => {
  if (work === undefined) return;
  await execa('gpgconf', ['--kill', 'gpg-agent'], {
    env: { GNUPGHOME: gnupg },
    reject: false,
  }).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
});

/** The real gpg in the test's GNUPGHOME, batch mode, passphrases only from the test's file. */
const gpg = (args: readonly string[], options: { protect?: boolean } = {}) =>
  execa(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      ...(options.protect === true
        ? ['--passphrase-file', path.join(work, 'pass')]
        : ['--passphrase', '']),
      ...args,
    ],
    { env: { GNUPGHOME: gnupg, LANG: 'C' }, stripFinalNewline: false },
  );

interface GpgKey {
  readonly email: string;
  readonly secret: Uint8Array;
  readonly publicRing: Uint8Array;
  readonly fingerprint: string;
}

/** A key made with `gpg --quick-gen-key`, exported (secret: armoured) as an image maker would. */
async function gpgKey(
  name: string,
  algo: string,
  protect: boolean,
  usage = 'sign',
  expire = 'never',
): Promise<GpgKey> {
  const email = `${name}@podsec.test`;
  await gpg(['--quick-gen-key', `${name} <${email}>`, algo, usage, expire], { protect });
  const colons = (await gpg(['--with-colons', '--list-keys', `<${email}>`])).stdout;
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1] as string;
  // gpg's exports byte for byte (execBytes: execa would strip a final 0x0a, and one export in 256 ends in it)
  const secret = new Uint8Array(
    await execBytes(
      'gpg',
      [
        '--batch',
        '--pinentry-mode',
        'loopback',
        ...(protect ? ['--passphrase-file', path.join(work, 'pass')] : ['--passphrase', '']),
        '--armor',
        '--export-secret-keys',
        fingerprint,
      ],
      { env: { GNUPGHOME: gnupg } },
    ),
  );
  const publicRing = new Uint8Array(
    await execBytes('gpg', ['--batch', '--export', fingerprint], { env: { GNUPGHOME: gnupg } }),
  );
  return { email, secret, publicRing, fingerprint };
}

const DIGEST = `sha256:${'5'.repeat(64)}`;

/** `gpg --verify` of a signed message: the VALIDSIG fingerprint (of the primary key) and the signed payload. */
async function gpgVerify(blob: Uint8Array): Promise<{ fingerprint: string; payload: string }> {
  const file = path.join(work, `sig-${Math.random().toString(16).slice(2)}`);
  await writeFile(file, blob);
  const r = await execa(
    'gpg',
    ['--batch', '--status-fd', '2', '--output', '-', '--decrypt', file],
    { env: { GNUPGHOME: gnupg, LANG: 'C' }, reject: false },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const valid = /^\[GNUPG:\] VALIDSIG ([0-9A-F]{40}) .* ([0-9A-F]{40})$/m.exec(r.stderr);
  assert.ok(valid, r.stderr);
  assert.equal(valid[2], valid[1], 'made by the primary key');
  return { fingerprint: valid[1] as string, payload: r.stdout };
}

const CASES = [
  { name: 'rsa2048', algo: 'rsa2048', protect: false },
  { name: 'rsa2048p', algo: 'rsa2048', protect: true },
  { name: 'rsa4096', algo: 'rsa4096', protect: false },
  { name: 'rsa4096p', algo: 'rsa4096', protect: true },
  { name: 'ed25519', algo: 'ed25519', protect: false },
  { name: 'ed25519p', algo: 'ed25519', protect: true },
] as const;

describe('native signing with keys of the real gpg', () => {
  let registry: TestRegistry | undefined;
  let image: TinyImage;
  const keys = new Map<string, Promise<GpgKey>>();
  const keyOf = (c: (typeof CASES)[number]) => {
    let k = keys.get(c.name);
    if (k === undefined) keys.set(c.name, (k = gpgKey(c.name, c.algo, c.protect)));
    return k;
  };
  after(async () => {
    await registry?.stop();
  });

  for (const c of CASES) {
    it(
      `${c.name}${c.protect ? ' (protected)' : ''}: unlocked natively, verified by gpg, openpgp.js and skopeo`,
      { timeout: 300_000 },
      async (t: TestContext) => {
        if (requireCommands(t, ['gpg', 'gpgconf', 'skopeo']) === undefined) return;
        const k = await keyOf(c);
        const now = new Date();
        const key = await readNativeSigningKey(k.secret, c.protect ? PASSPHRASE : undefined, now);
        assert.ok(key, 'read natively');
        assert.equal(key.fingerprint, k.fingerprint);
        assert.deepEqual(key.userIds, [`${c.name} <${k.email}>`]);
        const reference = 'registry.example/app:1';
        const ts = Math.floor(now.getTime() / 1000);
        const blob = signSimpleSigningNatively(key, {
          dockerReference: reference,
          manifestDigest: DIGEST,
          timestamp: ts,
        });
        // the real gpg: a good signature by the primary key over our payload
        const g = await gpgVerify(blob);
        assert.equal(g.fingerprint, k.fingerprint);
        assert.deepEqual(JSON.parse(g.payload), {
          critical: {
            identity: { 'docker-reference': reference },
            image: { 'docker-manifest-digest': DIGEST },
            type: 'atomic container signature',
          },
          optional: { creator: 'podsec-ts 0.1.0', timestamp: ts },
        });
        // openpgp.js alone, and the native verifier, accept it
        const openpgpKeys = await readPublicKeys(k.publicRing);
        const v = await verifyWithOpenpgp(blob, openpgpKeys);
        assert.equal(v.keyFingerprint, k.fingerprint);
        assert.equal(v.payload.dockerReference, reference);
        assert.equal((await verifyNatively(blob, [key.publicKey]))?.keyFingerprint, k.fingerprint);

        // skopeo copy under a signedBy policy with gpg's exported public key
        registry ??= await startRegistry();
        image ??= await buildTinyImage(registry.host, 'nsign/app', 'v1');
        const dir = await mkdtemp(path.join(work, `${c.name}-`));
        const lookaside = path.join(dir, 'sigstore');
        const signed = signSimpleSigningNatively(key, {
          dockerReference: image.reference,
          manifestDigest: image.digest,
        });
        await writeSignature(`file://${lookaside}`, image.reference, image.digest, signed, {
          fs: createRootFs('/'),
        });
        const keyPath = path.join(dir, 'key.gpg');
        await writeFile(keyPath, k.publicRing);
        const policy = await writeSignedByPolicy(
          path.join(dir, 'policy.json'),
          registry.host,
          keyPath,
        );
        const regd = path.join(dir, 'registries.d');
        await mkdir(regd);
        await writeFile(
          path.join(regd, 'test.yaml'),
          `docker:\n  ${JSON.stringify(registry.host)}:\n    lookaside: file://${lookaside}\n`,
        );
        const copy = (p: string) =>
          execa(
            'skopeo',
            [
              '--policy',
              p,
              '--registries.d',
              regd,
              'copy',
              '--src-tls-verify=false',
              `docker://${image.reference}`,
              `dir:${path.join(dir, `pulled-${Math.random().toString(16).slice(2)}`)}`,
            ],
            { reject: false, env: { HOME: dir } },
          );
        const ok = await copy(policy);
        assert.equal(ok.exitCode, 0, ok.stderr);
        // the same policy refuses the image once the signature is gone: the acceptance was the signature's
        await rm(lookaside, { recursive: true, force: true });
        const refused = await copy(policy);
        assert.notEqual(refused.exitCode, 0);
      },
    );
  }

  it('a wrong or missing passphrase is left to openpgp.js, which gives its clear error', async (t) => {
    if (requireCommands(t, ['gpg', 'gpgconf']) === undefined) return;
    for (const c of CASES.filter((x) => x.protect)) {
      const k = await keyOf(c);
      assert.equal(await readNativeSigningKey(k.secret, 'wrong words', new Date()), undefined);
      assert.equal(await readNativeSigningKey(k.secret, undefined, new Date()), undefined);
      await assert.rejects(readPrivateKey(k.secret, 'wrong words'), {
        code: 'KEY_PASSPHRASE_WRONG',
        message: new RegExp(`^cannot unlock private key ${k.fingerprint}: `),
      });
      await assert.rejects(readPrivateKey(k.secret), { code: 'KEY_PASSPHRASE_REQUIRED' });
    }
  });

  it('an expired key and a primary key that only certifies are left to openpgp.js', async (t) => {
    if (requireCommands(t, ['gpg', 'gpgconf']) === undefined) return;
    const certifyOnly = await gpgKey('certonly', 'rsa2048', false, 'cert');
    assert.equal(await readNativeSigningKey(certifyOnly.secret, undefined, new Date()), undefined);
    const expiring = await gpgKey('expiring', 'ed25519', false, 'sign', '1d');
    assert.ok(await readNativeSigningKey(expiring.secret, undefined, new Date()));
    const later = new Date(Date.now() + 3 * 86400e3);
    assert.equal(await readNativeSigningKey(expiring.secret, undefined, later), undefined);
  });
});

describe('native signing with keys of openpgp.js (podsec-create-imagemakeruser)', () => {
  for (const type of ['rsa', 'ed25519'] as const)
    for (const passphrase of [undefined, PASSPHRASE]) {
      it(`${type}${passphrase ? ', protected' : ''}`, async () => {
        const g = await generateKey({
          type,
          rsaBits: 2048,
          name: 'Maker',
          email: 'maker@podsec.test',
          ...(passphrase ? { passphrase } : {}),
        });
        const key = await readNativeSigningKey(g.privateKeyArmored, passphrase, new Date());
        assert.ok(key, 'read natively');
        assert.equal(key.fingerprint, g.fingerprint);
        const blob = signSimpleSigningNatively(key, {
          dockerReference: 'registry.example/app:2',
          manifestDigest: DIGEST,
        });
        const v = await verifyWithOpenpgp(blob, await readPublicKeys(g.publicKeyArmored));
        assert.equal(v.keyFingerprint, g.fingerprint);
        assert.equal(v.payload.manifestDigest, DIGEST);
        // the signatures of both signers are accepted alike
        const same = await verifySimpleSigning(blob, [key.publicKey]);
        assert.equal(same.payload.dockerReference, 'registry.example/app:2');
        if (passphrase)
          assert.equal(
            await readNativeSigningKey(g.privateKeyArmored, 'nope', new Date()),
            undefined,
          );
      });
    }

  it('refuses a bad payload with the codes of signSimpleSigning', async () => {
    const g = await generateKey({ type: 'ed25519', name: 'M', email: 'm@podsec.test' });
    const key = await readNativeSigningKey(g.privateKeyArmored, undefined, new Date());
    assert.ok(key);
    assert.throws(
      () =>
        signSimpleSigningNatively(key, { dockerReference: 'a/b:1', manifestDigest: 'sha256:1' }),
      { code: 'SIGNATURE_PAYLOAD_INVALID' },
    );
    assert.throws(
      () => signSimpleSigningNatively(key, { dockerReference: '', manifestDigest: DIGEST }),
      { code: 'SIGNATURE_PAYLOAD_INVALID' },
    );
  });

  it('leaves public keys, garbage and two keys in one file to openpgp.js', async () => {
    const a = await generateKey({ type: 'ed25519', name: 'A', email: 'a@podsec.test' });
    const b = await generateKey({ type: 'ed25519', name: 'B', email: 'b@podsec.test' });
    const now = new Date();
    assert.equal(await readNativeSigningKey(a.publicKeyArmored, undefined, now), undefined);
    assert.equal(await readNativeSigningKey(new Uint8Array([1, 2, 3]), undefined, now), undefined);
    assert.equal(
      await readNativeSigningKey(`${a.privateKeyArmored}\n${b.privateKeyArmored}`, undefined, now),
      undefined,
    );
  });
});
