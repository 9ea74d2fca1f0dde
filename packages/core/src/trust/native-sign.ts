/**
 * The native signer of simple-signing signatures: the image maker's secret key read with pgp-packets.ts, unlocked
 * and used with node:crypto, so that the everyday load never loads openpgp.js. It handles a v4 RSA or Ed25519
 * (EdDSA legacy, as GnuPG 2.2 and openpgp.js write it) primary key, unprotected or protected by an iterated and
 * salted (or salted, or simple) S2K with SHA-1, SHA-224/256/384/512 and AES-128/192/256 in CFB mode, with the SHA-1
 * or the two-octet checksum. It answers `undefined` for anything else — another algorithm or version, an AEAD or
 * Argon2 protection, a stub key, an unusual armour, a wrong passphrase, a key the native verifier cannot prove usable
 * for signing now (expired, revoked, certification only, ...) — and the caller then uses openpgp.js, whose
 * messages stay the messages given.
 *
 * The message is laid out as `gpg --sign` and containers/image write it: a one-pass signature, the literal data and
 * a v4 binary signature by the primary key (SHA-256, issuer fingerprint and creation time hashed, issuer key id
 * unhashed), wrapped in a ZLIB compressed data packet.
 */
import {
  createDecipheriv,
  createHash,
  createPrivateKey,
  sign as cryptoSign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { errorMessage } from '../errors.ts';
import { judgeNative, readNativeKeys, readNativeMessage, type NativeKey } from './native-verify.ts';
import { dearmor, readPackets, TAG, type Packet } from './pgp-packets.ts';
import { signingPayload, type SigningRequest } from './simple-signing.ts';
import type { TrustedKey } from './trusted-keys.ts';

/** Secret key packet tags (RFC 4880 section 5.5.1). */
const SECRET_KEY = 5;
const SECRET_SUBKEY = 7;

/** Public key algorithms signed with here. */
const RSA = 1;
const EDDSA_LEGACY = 22;
/** The OID of Ed25519 in its EdDSA legacy form (1.3.6.1.4.1.11591.15.1). */
const ED25519_OID = '2b06010401da470f01';

/** S2K hash ids (RFC 4880 section 9.4) -> node names and digest sizes. */
const S2K_HASHES: Readonly<Record<number, { name: string; size: number }>> = {
  2: { name: 'sha1', size: 20 },
  8: { name: 'sha256', size: 32 },
  9: { name: 'sha384', size: 48 },
  10: { name: 'sha512', size: 64 },
  11: { name: 'sha224', size: 28 },
};
/** Symmetric algorithm ids (RFC 4880 section 9.2) -> node CFB ciphers and key sizes; CAST5, 3DES ... are left out. */
const CIPHERS: Readonly<Record<number, { name: string; keySize: number }>> = {
  7: { name: 'aes-128-cfb', keySize: 16 },
  8: { name: 'aes-192-cfb', keySize: 24 },
  9: { name: 'aes-256-cfb', keySize: 32 },
};
/** SHA-256, the hash of every signature made here (RFC 4880 id 8). */
const SIGNATURE_HASH = 8;

/** The most octets an iterated S2K may hash (the largest count the one-octet coding gives). */
const MAX_S2K_COUNT = 65_011_712;

/** A primary secret key unlocked natively (see {@link readNativeSigningKey}). */
export interface NativeSigningKey {
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  /** Lower-case 16-digit key id of the primary key. */
  readonly keyId: string;
  readonly userIds: readonly string[];
  /** The public key, as the verifiers take it (for the signatures already in the store). */
  readonly publicKey: TrustedKey;
  /** Internal: the key material. */
  readonly secret: { readonly algorithm: 1 | 22; readonly key: KeyObject; readonly fpr: Buffer };
}

/** Options of {@link signSimpleSigningNatively}: those of signSimpleSigning without the key. */
/** What the native signer signs (the same request as the openpgp.js signer's). */
export type NativeSignOptions = SigningRequest;

/** Thrown inside this module for anything not handled here; never leaves it. */
class Unhandled extends Error {}

/** A reader over a packet body that refuses to read past its end. */
class Reader {
  at = 0;
  readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  u8(): number {
    if (this.at >= this.b.length) throw new Unhandled('truncated');
    return this.b[this.at++] as number;
  }
  bytes(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.b.length) throw new Unhandled('truncated');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  /** An MPI's value octets (bit count checked against the leading octet). */
  mpi(): Uint8Array {
    const bits = (this.u8() << 8) + this.u8();
    const v = this.bytes((bits + 7) >> 3);
    if (bits === 0 || (v[0] as number) >> ((bits - 1) % 8) !== 1) throw new Unhandled('bad MPI');
    return v;
  }
  get done(): boolean {
    return this.at === this.b.length;
  }
}

/**
 * The length of the public part of a v4 secret (sub)key body, for the algorithms whose public material is read
 * here: RSA, DSA, ElGamal, ECDSA, EdDSA legacy, ECDH.
 */
function publicPartLength(body: Uint8Array): number {
  const r = new Reader(body);
  if (r.u8() !== 4) throw new Unhandled('not a v4 key');
  r.bytes(4);
  const algorithm = r.u8();
  const mpis = (n: number) => {
    for (let i = 0; i < n; i++) r.mpi();
  };
  if (algorithm === 1 || algorithm === 2 || algorithm === 3) mpis(2);
  else if (algorithm === 17) mpis(4);
  else if (algorithm === 16 || algorithm === 20) mpis(3);
  else if (algorithm === 19 || algorithm === 22 || algorithm === 18) {
    const n = r.u8();
    if (n === 0 || n === 0xff) throw new Unhandled('reserved curve OID length');
    r.bytes(n);
    r.mpi();
    if (algorithm === 18) r.bytes(r.u8()); // KDF parameters
  } else throw new Unhandled(`key algorithm ${algorithm}`);
  return r.at;
}

/** A new-format packet (RFC 4880 section 4.2.2, no partial lengths). */
function packet(tag: number, body: Uint8Array): Buffer {
  const n = body.length;
  const head =
    n < 192
      ? [0xc0 | tag, n]
      : n < 8384
        ? [0xc0 | tag, ((n - 192) >> 8) + 192, (n - 192) & 0xff]
        : [0xc0 | tag, 0xff, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from(head), body]);
}

/** The key's transferable public key: each secret (sub)key packet reduced to its public part. */
function publicPackets(packets: readonly Packet[]): Buffer {
  return Buffer.concat(
    packets.map((p) => {
      if (p.tag === SECRET_KEY || p.tag === SECRET_SUBKEY)
        return packet(
          p.tag === SECRET_KEY ? TAG.publicKey : TAG.publicSubkey,
          p.body.subarray(0, publicPartLength(p.body)),
        );
      return packet(p.tag, p.body);
    }),
  );
}

/** The S2K key (RFC 4880 section 3.7.1): simple (0), salted (1) or iterated and salted (3). */
async function s2kKey(r: Reader, passphrase: Uint8Array, keySize: number): Promise<Buffer> {
  const type = r.u8();
  if (type !== 0 && type !== 1 && type !== 3) throw new Unhandled(`S2K type ${type}`);
  const hash = S2K_HASHES[r.u8()];
  if (hash === undefined) throw new Unhandled('S2K hash');
  const salt = type === 0 ? new Uint8Array(0) : r.bytes(8);
  let count = 0;
  if (type === 3) {
    const c = r.u8();
    count = (16 + (c & 15)) << ((c >> 4) + 6);
    if (count > MAX_S2K_COUNT) throw new Unhandled('S2K count');
  }
  const input = Buffer.concat([salt, passphrase]);
  const total = Math.max(count, input.length);
  // one hash context per digest-sized part of the key, the n-th preloaded with n zero octets
  const parts: Buffer[] = [];
  // a run of whole copies of salt+passphrase, hashed many times over for a large count
  const copies = input.length === 0 ? 0 : Math.max(1, Math.floor(65536 / input.length));
  const run = Buffer.concat(Array.from({ length: copies }, () => input));
  for (let i = 0; parts.length * hash.size < keySize; i++) {
    const h = createHash(hash.name);
    if (i > 0) h.update(Buffer.alloc(i));
    let left = total;
    for (let n = 1; left >= run.length && run.length > 0; n++) {
      h.update(run);
      left -= run.length;
      // gpg's largest count is 65 MB of hashing: let the archive extraction that runs meanwhile go on every MiB
      if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // the rest: whole copies, then a prefix of one
    while (left > 0) {
      const n = Math.min(left, input.length);
      h.update(input.subarray(0, n));
      left -= n;
    }
    parts.push(h.digest());
  }
  return Buffer.concat(parts).subarray(0, keySize);
}

/** The secret MPIs of a secret key body (after the public part), decrypted and checked. */
async function secretMaterial(
  body: Uint8Array,
  publicLength: number,
  passphrase?: string,
): Promise<Reader> {
  const r = new Reader(body);
  r.at = publicLength;
  const usage = r.u8();
  let plain: Uint8Array;
  if (usage === 0) {
    plain = r.bytes(body.length - r.at);
  } else if (usage === 254 || usage === 255) {
    if (passphrase === undefined || passphrase === '') throw new Unhandled('passphrase required');
    const cipher = CIPHERS[r.u8()];
    if (cipher === undefined) throw new Unhandled('cipher');
    const key = await s2kKey(r, new TextEncoder().encode(passphrase), cipher.keySize);
    const iv = r.bytes(16);
    const decipher = createDecipheriv(cipher.name, key, iv);
    plain = Buffer.concat([decipher.update(r.bytes(body.length - r.at)), decipher.final()]);
  } else throw new Unhandled(`S2K usage ${usage}`);
  // the check value after the MPIs: SHA-1 of them (254), else the sum of their octets modulo 65536
  const checkSize = usage === 254 ? 20 : 2;
  if (plain.length < checkSize) throw new Unhandled('truncated secret key');
  const mpis = plain.subarray(0, plain.length - checkSize);
  const check = plain.subarray(plain.length - checkSize);
  if (usage === 254) {
    if (!createHash('sha1').update(mpis).digest().equals(check))
      throw new Unhandled('wrong passphrase');
  } else {
    let sum = 0;
    for (const b of mpis) sum = (sum + b) & 0xffff;
    if (sum !== (((check[0] as number) << 8) | (check[1] as number)))
      throw new Unhandled('wrong passphrase');
  }
  return new Reader(mpis);
}

const big = (b: Uint8Array): bigint =>
  b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
const b64url = (v: bigint | Uint8Array): string => {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64url');
  let h = v.toString(16);
  if (h.length % 2) h = `0${h}`;
  return Buffer.from(h, 'hex').toString('base64url');
};

/** node:crypto's key of a JWK; material it refuses (inconsistent parameters) is left to openpgp.js. */
function nodePrivateKey(jwk: JsonWebKey): KeyObject {
  try {
    return createPrivateKey({ format: 'jwk', key: jwk });
  } catch (e) {
    throw new Unhandled(`node:crypto refuses the key: ${errorMessage(e)}`);
  }
}

/** The node:crypto private key of a v4 RSA or Ed25519 (legacy) secret key packet body. */
async function privateKeyOf(
  body: Uint8Array,
  passphrase: string | undefined,
): Promise<{ algorithm: 1 | 22; key: KeyObject }> {
  const pub = new Reader(body);
  pub.bytes(5);
  const algorithm = pub.u8();
  const publicLength = publicPartLength(body);
  if (algorithm === RSA) {
    const n = pub.mpi();
    const e = pub.mpi();
    const s = await secretMaterial(body, publicLength, passphrase);
    const d = big(s.mpi());
    // OpenPGP keeps p < q and u = p^-1 mod q; JWK's qi is q^-1 mod p: the primes change places
    const p = big(s.mpi());
    const q = big(s.mpi());
    const u = big(s.mpi());
    if (!s.done) throw new Unhandled('trailing secret material');
    const key = nodePrivateKey({
      kty: 'RSA',
      n: b64url(n),
      e: b64url(e),
      d: b64url(d),
      p: b64url(q),
      q: b64url(p),
      dp: b64url(d % (q - 1n)),
      dq: b64url(d % (p - 1n)),
      qi: b64url(u),
    });
    return { algorithm: RSA, key };
  }
  if (algorithm === EDDSA_LEGACY) {
    const oid = pub.bytes(pub.u8());
    if (Buffer.from(oid).toString('hex') !== ED25519_OID) throw new Unhandled('curve');
    const point = pub.mpi();
    if (point.length !== 33 || point[0] !== 0x40) throw new Unhandled('point');
    const s = await secretMaterial(body, publicLength, passphrase);
    const seed = s.mpi();
    if (!s.done || seed.length > 32) throw new Unhandled('secret scalar');
    const padded = Buffer.alloc(32);
    padded.set(seed, 32 - seed.length);
    const key = nodePrivateKey({
      kty: 'OKP',
      crv: 'Ed25519',
      d: b64url(padded),
      x: b64url(point.subarray(1)),
    });
    return { algorithm: EDDSA_LEGACY, key };
  }
  throw new Unhandled(`key algorithm ${algorithm}`);
}

/** The packets of one armoured private key block in the usual form, or of binary key data. */
function keyPackets(data: Uint8Array | string): Packet[] {
  let binary: Uint8Array;
  const head =
    typeof data === 'string' ? data : new TextDecoder('latin1').decode(data.subarray(0, 64 * 1024));
  if (head.includes('-----BEGIN PGP ')) {
    let text: string;
    try {
      text =
        typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      throw new Unhandled('armour is not UTF-8');
    }
    const blocks =
      text.match(
        /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g,
      ) ?? [];
    // exactly one block, and nothing but white space around it (as readPrivateKey reads the first key)
    const [block] = blocks;
    if (blocks.length !== 1 || block === undefined || text.replace(block, '').trim() !== '')
      throw new Unhandled('not one private key block');
    const b = dearmor(block, 'PRIVATE KEY BLOCK');
    if (b === undefined) throw new Unhandled('unusual armour');
    binary = b;
  } else binary = data as Uint8Array;
  try {
    return readPackets(binary);
  } catch (e) {
    throw new Unhandled(errorMessage(e));
  }
}

/** The one-octet-length subpacket `type` with `body` (RFC 4880 section 5.2.3.1). */
const subpacket = (type: number, body: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([body.length + 1, type]), body]);

/** A bare MPI of a big-endian value: bit count, value without leading zero octets. */
function mpi(v: Uint8Array): Buffer {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const value = v.subarray(i);
  const bits = (value.length - 1) * 8 + (32 - Math.clz32(value[0] as number));
  return Buffer.concat([Buffer.from([bits >> 8, bits & 0xff]), value]);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** The signed message (uncompressed packets) over `payload` at `created` (seconds). */
function signedMessage(key: NativeSigningKey, payload: Uint8Array, created: number): Buffer {
  const { algorithm, key: privateKey, fpr } = key.secret;
  const keyId = fpr.subarray(12);
  const hashed = Buffer.concat([
    subpacket(33, Buffer.concat([Buffer.from([4]), fpr])),
    subpacket(2, u32(created)),
  ]);
  const signatureData = Buffer.concat([
    Buffer.from([4, 0x00, algorithm, SIGNATURE_HASH, hashed.length >> 8, hashed.length & 0xff]),
    hashed,
  ]);
  const trailer = Buffer.concat([Buffer.from([4, 0xff]), u32(signatureData.length)]);
  const signed = Buffer.concat([payload, signatureData, trailer]);
  const digest = createHash('sha256').update(signed).digest();
  let mpis: Buffer;
  if (algorithm === RSA) mpis = mpi(cryptoSign('sha256', signed, privateKey));
  else {
    // EdDSA legacy signs the digest itself; the signature's R and S are two MPIs
    const sig = cryptoSign(null, digest, privateKey);
    mpis = Buffer.concat([mpi(sig.subarray(0, 32)), mpi(sig.subarray(32))]);
  }
  const unhashed = subpacket(16, keyId);
  const signature = Buffer.concat([
    signatureData,
    Buffer.from([unhashed.length >> 8, unhashed.length & 0xff]),
    unhashed,
    digest.subarray(0, 2),
    mpis,
  ]);
  const onePass = Buffer.concat([
    Buffer.from([3, 0x00, SIGNATURE_HASH, algorithm]),
    keyId,
    Buffer.from([1]),
  ]);
  const literal = Buffer.concat([Buffer.from([0x62, 0]), u32(created), payload]);
  return Buffer.concat([
    packet(TAG.onePassSignature, onePass),
    packet(TAG.literalData, literal),
    packet(TAG.signature, signature),
  ]);
}

/** `signedMessage` in a ZLIB compressed data packet, as GnuPG writes `gpg --sign`. */
function compressed(message: Uint8Array): Buffer {
  return packet(TAG.compressedData, Buffer.concat([Buffer.from([2]), deflateSync(message)]));
}

/**
 * The image maker's secret key (armoured or binary, as `readPrivateKey` takes it), unlocked natively with
 * `passphrase` when protected, and proven usable: a probe signature made with it at `now` is accepted by the native
 * verifier with the key's own public part (a valid, unexpired, unrevoked primary signing key whose secret and public
 * material agree). `undefined` when any of that is not decided here, a wrong passphrase included: the caller then
 * reads the key with openpgp.js, which gives its verdict and its messages.
 */
export async function readNativeSigningKey(
  data: Uint8Array | string,
  passphrase: string | undefined,
  now: Date,
): Promise<NativeSigningKey | undefined> {
  try {
    const packets = keyPackets(data);
    const head = packets[0];
    if (head?.tag !== SECRET_KEY) return undefined;
    // the first key only, as readPrivateKey: a second secret key packet starts another key
    if (packets.slice(1).some((p) => p.tag === SECRET_KEY || p.tag === TAG.publicKey))
      return undefined;
    const ring = readNativeKeys(publicPackets(packets));
    const pub: NativeKey | undefined = ring?.length === 1 ? ring[0] : undefined;
    if (pub?.judged === undefined) return undefined;
    const { algorithm, key } = await privateKeyOf(head.body, passphrase);
    const fpr = Buffer.from(pub.fingerprint, 'hex');
    const publicKey: TrustedKey = {
      fingerprint: pub.fingerprint,
      native: pub,
      async openpgp() {
        const { readPublicKeys } = await import('./keys.ts');
        const [k] = await readPublicKeys(publicPackets(packets));
        if (k === undefined) throw new Error(`openpgp.js does not read key ${pub.fingerprint}`);
        return k;
      },
    };
    const signing: NativeSigningKey = {
      fingerprint: pub.fingerprint,
      keyId: pub.keyId,
      userIds: pub.userIds,
      publicKey,
      secret: { algorithm, key, fpr },
    };
    const probe = readNativeMessage(
      signedMessage(signing, new TextEncoder().encode('probe'), Math.floor(now.getTime() / 1000)),
      1024,
    );
    const outcome = probe && (await judgeNative(probe, [pub], now));
    return outcome?.accepted === true ? signing : undefined;
  } catch (e) {
    if (e instanceof Unhandled) return undefined;
    throw e;
  }
}

/**
 * signSimpleSigning with a natively read key: the same payload, checks and error codes, a message in GnuPG's layout.
 * @throws VerificationError `SIGNATURE_PAYLOAD_INVALID` for a malformed digest, reference or timestamp
 */
export function signSimpleSigningNatively(
  key: NativeSigningKey,
  options: NativeSignOptions,
): Uint8Array {
  const { payload, timestamp } = signingPayload(options);
  return new Uint8Array(compressed(signedMessage(key, payload, timestamp)));
}
