import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { isPodsecError } from '../errors.ts';
import { manifestDigest } from './digest.ts';
import { generateKey, readPrivateKey, readPublicKeys } from './keys.ts';
import {
  checkSignatureDigest,
  formatSimpleSigningPayload,
  parseSimpleSigningPayload,
  parseStoredSignature,
  signSimpleSigning,
  verifySimpleSigning,
  verifyWithOpenpgp,
} from './simple-signing.ts';

const REF = 'registry.local/c10f/pause:3.9';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

interface Signer {
  priv: openpgp.PrivateKey;
  pub: openpgp.PublicKey[];
}

async function makeSigner(
  name: string,
  type: 'rsa' | 'ed25519' = 'ed25519',
  expiresInDays?: number,
): Promise<Signer> {
  const k = await generateKey({
    name,
    email: `${name}@example.org`,
    type,
    rsaBits: 2048,
    ...(expiresInDays !== undefined ? { expiresInDays } : {}),
  });
  return {
    priv: await readPrivateKey(k.privateKeyArmored),
    pub: await readPublicKeys(k.publicKeyBinary),
  };
}

/** Sign arbitrary bytes as a simple-signing blob would be (uncompressed unless asked). */
async function signRaw(
  priv: openpgp.PrivateKey | openpgp.PrivateKey[],
  data: Uint8Array,
): Promise<Uint8Array> {
  const message = await openpgp.createMessage({ binary: data });
  return openpgp.sign({ message, signingKeys: priv, format: 'binary' });
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPodsecError(e), `not a PodsecError: ${String(e)}`);
    assert.equal(e.name, 'VerificationError');
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

let alice: Signer;
let mallory: Signer;
let good: Uint8Array;

before(async () => {
  alice = await makeSigner('alice');
  mallory = await makeSigner('mallory');
  good = await signSimpleSigning({
    privateKey: alice.priv,
    dockerReference: REF,
    manifestDigest: DIGEST,
    timestamp: 1722500000,
  });
});

describe('formatSimpleSigningPayload', () => {
  it('writes the compact, key-sorted JSON containers/image writes', () => {
    const bytes = formatSimpleSigningPayload({
      dockerReference: REF,
      manifestDigest: DIGEST,
      creator: 'podsec-ts 0.1.0',
      timestamp: 1722500000,
    });
    assert.equal(
      new TextDecoder().decode(bytes),
      `{"critical":{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature"},"optional":{"creator":"podsec-ts 0.1.0","timestamp":1722500000}}`,
    );
  });
});

describe('signSimpleSigning', () => {
  it('produces a binary compressed OpenPGP message (gpg layout)', () => {
    assert.equal((good[0] as number) & 0x80, 0x80);
    assert.equal(good[0], 0xc8); // new-format Compressed Data packet
  });

  it('refuses to sign a malformed digest', async () => {
    await rejects(
      signSimpleSigning({
        privateKey: alice.priv,
        dockerReference: REF,
        manifestDigest: 'sha256:xyz',
      }),
      'SIGNATURE_PAYLOAD_INVALID',
    );
  });

  it('signs with an RSA key and the result verifies', async () => {
    const rsa = await makeSigner('rsa', 'rsa');
    const blob = await signSimpleSigning({
      privateKey: rsa.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
    });
    const v = await verifySimpleSigning(blob, rsa.pub);
    assert.equal(v.payload.dockerReference, REF);
  });
});

describe('signSimpleSigning with a signing subkey', () => {
  it('signs with the primary key, whose signature containers/image accepts', async () => {
    const { privateKey } = await openpgp.generateKey({
      userIDs: [{ name: 'sub', email: 'sub@example.org' }],
      type: 'ecc',
      curve: 'ed25519Legacy',
      subkeys: [{ sign: true }],
      format: 'object',
    });
    const blob = await signSimpleSigning({
      privateKey,
      dockerReference: REF,
      manifestDigest: DIGEST,
    });
    const v = await verifySimpleSigning(blob, [privateKey.toPublic()]);
    assert.equal(v.signingKeyFingerprint, privateKey.getFingerprint().toUpperCase());
    // the same key signing with its subkey: refused, as containers/image trusts primary fingerprints only
    const bySubkey = await openpgp.sign({
      message: await openpgp.createMessage({
        binary: formatSimpleSigningPayload({ dockerReference: REF, manifestDigest: DIGEST }),
      }),
      signingKeys: privateKey,
      signingKeyIDs: privateKey.subkeys[0]?.getKeyID(),
      format: 'binary',
    });
    await rejects(
      verifySimpleSigning(bySubkey, [privateKey.toPublic()]),
      'SIGNATURE_UNTRUSTED_KEY',
    );
  });
});

describe('parseStoredSignature', () => {
  const formatError = (f: () => unknown, pattern: RegExp) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(isPodsecError(e));
      assert.equal(e.code, 'SIGNATURE_FORMAT_INVALID');
      assert.match(e.message, pattern);
      return true;
    });

  it('takes a bare OpenPGP message as simple signing, as containers/image does', () => {
    assert.deepEqual(parseStoredSignature(good), { format: 'simple-signing', data: good });
    for (const first of [0xa3, 0x90, 0xc4, 0x89, 0xc2]) {
      assert.equal(parseStoredSignature(new Uint8Array([first, 1])).format, 'simple-signing');
    }
  });

  it('unwraps the prefixed format: a zero octet, the format name and a newline', () => {
    const prefixed = new Uint8Array([...enc('\0simple-signing\n'), ...good]);
    assert.deepEqual([...parseStoredSignature(prefixed).data], [...good]);
    const sigstore = enc(
      '\0sigstore-json\n{"mimeType":"a","payload":"AAAA","annotations":{"k":"v"}}',
    );
    assert.equal(parseStoredSignature(sigstore).format, 'sigstore-json');
  });

  it('refuses what containers/image refuses, naming the first octet', () => {
    formatError(() => parseStoredSignature(new Uint8Array()), /^empty signature blob$/);
    formatError(() => parseStoredSignature(enc('garbage')), /starting with binary 0x67$/);
    // an OpenPGP marker packet, a literal data packet, an old-format one-pass packet of indeterminate length
    for (const first of [0xa8, 0xcb, 0x93])
      formatError(
        () => parseStoredSignature(new Uint8Array([first, 3])),
        /unrecognized signature format/,
      );
    formatError(() => parseStoredSignature(enc('\0simple-signing')), /missing newline/);
    formatError(() => parseStoredSignature(enc('\0simple\x01\nx')), /non-ASCII byte 0x1/);
    formatError(
      () => parseStoredSignature(enc('\0cosign\nx')),
      /unrecognized signature format "cosign"/,
    );
    formatError(() => parseStoredSignature(enc('\0sigstore-json\n[1]')), /invalid sigstore/);
    formatError(
      () => parseStoredSignature(enc('\0sigstore-json\n{"payload":"not base64!"}')),
      /invalid sigstore/,
    );
  });
});

describe('verifySimpleSigning', () => {
  it('reports no weakness for a sound signature', async () => {
    assert.deepEqual((await verifySimpleSigning(good, alice.pub)).warnings, []);
  });

  it('returns the payload, signer fingerprint, user ids and signing time of a good signature', async () => {
    const v = await verifySimpleSigning(good, [...mallory.pub, ...alice.pub]);
    assert.deepEqual(v.payload, {
      dockerReference: REF,
      manifestDigest: DIGEST,
      creator: 'podsec-ts 0.1.0',
      timestamp: 1722500000,
    });
    assert.equal(v.keyFingerprint, alice.pub[0]?.getFingerprint().toUpperCase());
    assert.deepEqual(v.userIds, ['alice <alice@example.org>']);
    assert.ok(v.signedAt instanceof Date);
  });

  it('accepts an uncompressed signed message', async () => {
    const blob = await signSimpleSigning({
      privateKey: alice.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      compress: false,
    });
    assert.equal((await verifySimpleSigning(blob, alice.pub)).payload.manifestDigest, DIGEST);
  });

  it('refuses an empty blob', async () => {
    await rejects(verifySimpleSigning(new Uint8Array(), alice.pub), 'SIGNATURE_NOT_OPENPGP');
  });

  it('refuses data that is not OpenPGP', async () => {
    await rejects(verifySimpleSigning(enc('{"critical":{}}'), alice.pub), 'SIGNATURE_NOT_OPENPGP');
  });

  it('refuses an ASCII-armoured message', async () => {
    const message = await openpgp.createMessage({
      binary: formatSimpleSigningPayload({ dockerReference: REF, manifestDigest: DIGEST }),
    });
    const armored = await openpgp.sign({ message, signingKeys: alice.priv, format: 'armored' });
    await rejects(verifySimpleSigning(enc(armored), alice.pub), 'SIGNATURE_NOT_OPENPGP');
  });

  it('refuses a truncated signature', async () => {
    for (const cut of [1, 10, good.length - 20, good.length - 1]) {
      await assert.rejects(
        verifySimpleSigning(good.subarray(0, cut), alice.pub),
        (e: unknown) => isPodsecError(e) && e.name === 'VerificationError',
      );
    }
    const plain = await signSimpleSigning({
      privateKey: alice.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      compress: false,
    });
    await assert.rejects(
      verifySimpleSigning(plain.subarray(0, plain.length - 5), alice.pub),
      (e: unknown) => isPodsecError(e) && e.name === 'VerificationError',
    );
  });

  it('refuses a blob larger than maxSize', async () => {
    await rejects(
      verifySimpleSigning(good, alice.pub, { maxSize: good.length - 1 }),
      'SIGNATURE_TOO_LARGE',
    );
    await rejects(
      verifySimpleSigning(new Uint8Array(4 * 1024 * 1024 + 1).fill(0xc8), alice.pub),
      'SIGNATURE_TOO_LARGE',
    );
  });

  it('refuses a compressed signature that inflates beyond the limit', async () => {
    const big = await signRaw(alice.priv, new Uint8Array(6 * 1024 * 1024).fill(0x20));
    const message = await openpgp.readMessage({ binaryMessage: big });
    const packet = new openpgp.CompressedDataPacket();
    // NOTE: these fields exist at runtime but are not in openpgp's type declarations.
    Object.assign(packet, {
      algorithm: openpgp.enums.compression.zlib,
      packets: await allPackets(message).then((p) => {
        const l = new openpgp.PacketList();
        l.push(...p);
        return l;
      }),
    });
    const list = new openpgp.PacketList();
    list.push(packet);
    const bomb = await readAll(list.write());
    assert.ok(bomb.length < 1024 * 1024);
    await assert.rejects(
      verifySimpleSigning(bomb, alice.pub),
      (e: unknown) => isPodsecError(e) && /SIGNATURE_(TOO_LARGE|NOT_OPENPGP)/.test(e.code),
    );
  });

  it('refuses bare literal data without a signature', async () => {
    const message = await openpgp.createMessage({
      binary: formatSimpleSigningPayload({ dockerReference: REF, manifestDigest: DIGEST }),
    });
    await rejects(
      verifySimpleSigning(message.write() as Uint8Array, alice.pub),
      'SIGNATURE_NOT_SIGNED',
    );
  });

  it('refuses a detached signature without the signed data', async () => {
    const message = await openpgp.createMessage({
      binary: formatSimpleSigningPayload({ dockerReference: REF, manifestDigest: DIGEST }),
    });
    const detached = await openpgp.sign({
      message,
      signingKeys: alice.priv,
      format: 'binary',
      detached: true,
    });
    await rejects(verifySimpleSigning(detached, alice.pub), 'SIGNATURE_NOT_SIGNED');
  });

  it('refuses a signature by a key that is not trusted', async () => {
    await rejects(verifySimpleSigning(good, mallory.pub), 'SIGNATURE_UNTRUSTED_KEY');
    await rejects(verifySimpleSigning(good, []), 'SIGNATURE_UNTRUSTED_KEY');
  });

  it('refuses a message with the payload altered after signing', async () => {
    const plain = await signSimpleSigning({
      privateKey: alice.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      compress: false,
    });
    const at = findBytes(plain, enc('c10f'));
    const tampered = plain.slice();
    tampered[at] = 'x'.charCodeAt(0);
    await rejects(verifySimpleSigning(tampered, alice.pub), 'SIGNATURE_INVALID');
  });

  it('refuses a message whose signature packet was corrupted', async () => {
    const plain = await signSimpleSigning({
      privateKey: alice.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      compress: false,
    });
    const tampered = plain.slice();
    tampered[tampered.length - 3] = (tampered[tampered.length - 3] as number) ^ 0x01;
    await assert.rejects(
      verifySimpleSigning(tampered, alice.pub),
      (e: unknown) => isPodsecError(e) && e.name === 'VerificationError',
    );
  });

  it('refuses a signature copied onto another payload', async () => {
    const plain = await signSimpleSigning({
      privateKey: alice.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      compress: false,
    });
    const other = await signSimpleSigning({
      privateKey: mallory.priv,
      dockerReference: 'evil.local/x:1',
      manifestDigest: DIGEST,
      compress: false,
    });
    // Mallory's one-pass + literal with Alice's trailing signature packet.
    const a = await openpgp.readMessage({ binaryMessage: plain });
    const m = await openpgp.readMessage({ binaryMessage: other });
    const aPackets = await allPackets(a);
    const mPackets = await allPackets(m);
    const list = new openpgp.PacketList<openpgp.AnyPacket>();
    list.push(
      aPackets[0] as openpgp.AnyPacket,
      mPackets[1] as openpgp.AnyPacket,
      aPackets[2] as openpgp.AnyPacket,
    );
    await rejects(verifySimpleSigning(await readAll(list.write()), alice.pub), 'SIGNATURE_INVALID');
  });

  it('refuses a message with two signatures even if one is trusted', async () => {
    const blob = await signRaw(
      [alice.priv, mallory.priv],
      formatSimpleSigningPayload({ dockerReference: REF, manifestDigest: DIGEST }),
    );
    await rejects(verifySimpleSigning(blob, [...alice.pub, ...mallory.pub]), 'SIGNATURE_INVALID');
  });

  it('refuses a signature by a key that has expired since signing', async () => {
    const short = await makeSigner('short', 'ed25519', 1);
    const blob = await signSimpleSigning({
      privateKey: short.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
    });
    await verifySimpleSigning(blob, short.pub);
    await rejects(
      verifySimpleSigning(blob, short.pub, { now: new Date(Date.now() + 3 * 86400_000) }),
      'SIGNATURE_KEY_EXPIRED',
    );
  });

  it('refuses a signature by a revoked key', async () => {
    const gone = await makeSigner('gone');
    const blob = await signSimpleSigning({
      privateKey: gone.priv,
      dockerReference: REF,
      manifestDigest: DIGEST,
      timestamp: 1,
    });
    const { publicKey } = await openpgp.revokeKey({
      key: gone.priv,
      format: 'object',
      date: new Date(Date.now() + 1000),
    });
    await rejects(
      verifySimpleSigning(blob, [publicKey], { now: new Date(Date.now() + 5000) }),
      'SIGNATURE_KEY_REVOKED',
    );
  });

  it('parses the payload only after the signature verified', async () => {
    const blob = await signRaw(mallory.priv, enc('not json'));
    await rejects(verifySimpleSigning(blob, alice.pub), 'SIGNATURE_UNTRUSTED_KEY');
    await rejects(
      verifySimpleSigning(await signRaw(alice.priv, enc('not json')), alice.pub),
      'SIGNATURE_PAYLOAD_INVALID',
    );
  });

  it('refuses a validly signed payload with an unknown critical member', async () => {
    const json = `{"critical":{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${DIGEST}"},"type":"atomic container signature","extra":1},"optional":{}}`;
    await rejects(
      verifySimpleSigning(await signRaw(alice.priv, enc(json)), alice.pub),
      'SIGNATURE_PAYLOAD_INVALID',
    );
  });
});

describe('parseSimpleSigningPayload', () => {
  const ok = (critical: string, optional = '{}'): string =>
    `{"critical":${critical},"optional":${optional}}`;
  const crit = (
    type = '"atomic container signature"',
    image = `{"docker-manifest-digest":"${DIGEST}"}`,
    identity = `{"docker-reference":"${REF}"}`,
  ): string => `{"type":${type},"image":${image},"identity":${identity}}`;
  const bad = (text: string): void => {
    assert.throws(
      () => parseSimpleSigningPayload(enc(text)),
      (e: unknown) => isPodsecError(e) && e.code === 'SIGNATURE_PAYLOAD_INVALID',
      text,
    );
  };

  it('accepts a minimal payload and ignores unknown optional members', () => {
    assert.deepEqual(
      parseSimpleSigningPayload(
        enc(ok(crit(), '{"creator":"atomic 2.0.0","timestamp":5,"whatever":[1]}')),
      ),
      {
        dockerReference: REF,
        manifestDigest: DIGEST,
        creator: 'atomic 2.0.0',
        timestamp: 5,
      },
    );
  });

  it('refuses unknown or missing top-level members', () => {
    bad(`{"critical":${crit()}}`);
    bad(`{"critical":${crit()},"optional":{},"more":1}`);
    bad('[]');
    bad('null');
  });

  it('refuses a wrong signature type', () => {
    bad(ok(crit('"cosign container image signature"')));
    bad(ok(crit('1')));
  });

  it('refuses unknown or missing members of critical, image and identity', () => {
    bad(ok(`{"type":"atomic container signature","image":{"docker-manifest-digest":"${DIGEST}"}}`));
    bad(
      ok(
        `{"type":"atomic container signature","image":{"docker-manifest-digest":"${DIGEST}"},"identity":{"docker-reference":"${REF}"},"x":null}`,
      ),
    );
    bad(ok(crit(undefined, `{"docker-manifest-digest":"${DIGEST}","x":1}`)));
    bad(ok(crit(undefined, '{}')));
    bad(ok(crit(undefined, undefined, `{"docker-reference":"${REF}","x":1}`)));
    bad(ok(crit(undefined, undefined, '{}')));
  });

  it('refuses non-string digests and references', () => {
    bad(ok(crit(undefined, '{"docker-manifest-digest":1}')));
    bad(ok(crit(undefined, undefined, '{"docker-reference":null}')));
    bad(ok(crit(undefined, '"sha256:x"')));
  });

  it('refuses a non-integral or non-numeric timestamp and a non-string creator', () => {
    bad(ok(crit(), '{"timestamp":1.5}'));
    bad(ok(crit(), '{"timestamp":"1"}'));
    bad(ok(crit(), '{"creator":5}'));
    bad(ok(crit(), '[]'));
  });

  it('refuses duplicate members', () => {
    bad(`{"critical":${crit()},"optional":{},"critical":${crit()}}`);
    bad(
      ok(
        crit(
          undefined,
          undefined,
          `{"docker-reference":"${REF}","docker-reference":"evil.local/x:1"}`,
        ),
      ),
    );
  });

  it('refuses invalid UTF-8 and trailing data', () => {
    bad(`${ok(crit())} x`);
    assert.throws(
      () => parseSimpleSigningPayload(new Uint8Array([0x7b, 0xff, 0x7d])),
      /not valid JSON/,
    );
  });
});

describe('checkSignatureDigest', () => {
  it('accepts the matching digest or manifest bytes', () => {
    const manifest = enc('{"schemaVersion":2}');
    checkSignatureDigest(
      { dockerReference: REF, manifestDigest: manifestDigest(manifest) },
      manifest,
    );
    checkSignatureDigest({ dockerReference: REF, manifestDigest: DIGEST }, DIGEST);
  });

  it('refuses another digest, other bytes and malformed digests', () => {
    const code = (e: unknown): boolean =>
      isPodsecError(e) && e.code === 'SIGNATURE_DIGEST_MISMATCH';
    assert.throws(
      () =>
        checkSignatureDigest(
          { dockerReference: REF, manifestDigest: DIGEST },
          `sha256:${'cd'.repeat(32)}`,
        ),
      code,
    );
    assert.throws(
      () => checkSignatureDigest({ dockerReference: REF, manifestDigest: DIGEST }, enc('{}')),
      code,
    );
    assert.throws(
      () =>
        checkSignatureDigest(
          { dockerReference: REF, manifestDigest: DIGEST.toUpperCase() },
          DIGEST.toUpperCase(),
        ),
      code,
    );
    assert.throws(
      () => checkSignatureDigest({ dockerReference: REF, manifestDigest: 'sha256:' }, 'sha256:'),
      code,
    );
  });
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('needle not found');
}

async function readAll(data: unknown): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const reader = (data as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function allPackets(msg: openpgp.Message<Uint8Array>): Promise<openpgp.AnyPacket[]> {
  const rest = (
    msg.packets as unknown as {
      stream?: { readToEnd(join: (c: unknown[]) => unknown[]): Promise<unknown[]> };
    }
  ).stream;
  const tail = rest !== undefined ? await rest.readToEnd((c) => c) : [];
  return [...msg.packets, ...(tail as openpgp.AnyPacket[])];
}

describe('verifySimpleSigning with many signatures by one key', () => {
  // the openpgp.js path (the native verifier checks a key's self-signatures once, when it reads the key)
  it('checks the key once per signing time, not once per signature', async () => {
    const s = await makeSigner('many');
    const key = s.pub[0] as openpgp.PublicKey;
    const digest = manifestDigest(enc('{"schemaVersion":2}'));
    const when = Math.floor(Date.now() / 1000) - 60;
    const blobs = await Promise.all(
      ['a', 'b', 'c', 'd'].map((creator) =>
        signSimpleSigning({
          privateKey: s.priv,
          dockerReference: 'registry.local/x:1',
          manifestDigest: digest,
          creator,
          timestamp: when,
        }),
      ),
    );
    let calls = 0;
    const original = key.getSigningKey.bind(key);
    key.getSigningKey = (...args: Parameters<typeof original>) => {
      calls++;
      return original(...args);
    };
    const now = new Date();
    const verified = await Promise.all(blobs.map((b) => verifyWithOpenpgp(b, [key], { now })));
    assert.deepEqual(
      verified.map((v) => v.payload.creator),
      ['a', 'b', 'c', 'd'],
    );
    // the OpenPGP creation times are the seconds of signing: at most two of them here, and "now" once
    assert.ok(calls >= 2 && calls <= 3, `getSigningKey called ${calls} times for 4 signatures`);
  });
});
