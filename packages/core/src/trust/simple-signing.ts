/**
 * "Simple signing" (atomic container signature, containers-signature(5)): a non-detached OpenPGP
 * signed message whose literal data is a small JSON document binding a docker reference to a
 * manifest digest. See docs/files.md#signature-payload.
 */
import {
  createHash,
  createPublicKey,
  constants as cryptoConstants,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { deflateSync, inflateRawSync, inflateSync } from 'node:zlib';
import type * as openpgp from 'openpgp';
import { parseStrictJson as parseJson } from '../config/strict-json.ts';
import { errorMessage, VerificationError } from '../errors.ts';
import { manifestDigest as computeDigest, parseDigest } from './digest.ts';
import { judgeNative, readNativeKeys, readNativeMessage, type NativeKey } from './native-verify.ts';
import { isTrustedKey, type VerifierKey } from './trusted-keys.ts';

type Openpgp = typeof openpgp;
let openpgpModule: Openpgp | undefined;
/** openpgp.js, loaded on first use: signing, and the signatures and keys the native verifier leaves to it. */
async function loadOpenpgp(): Promise<Openpgp> {
  return (openpgpModule ??= await import('openpgp'));
}
/** openpgp.js where a caller up the stack already loaded it. */
function loaded(): Openpgp {
  if (openpgpModule === undefined) throw new Error('openpgp.js is not loaded');
  return openpgpModule;
}

/** The `critical.type` value of every simple-signing payload. */
export const SIMPLE_SIGNING_TYPE = 'atomic container signature';
/** Default `optional.creator` written by {@link signSimpleSigning}. */
export const DEFAULT_CREATOR = 'podsec-ts 0.1.0';
/** Largest signature blob accepted by default (containers/image uses the same 4 MiB limit). */
export const MAX_SIGNATURE_SIZE = 4 * 1024 * 1024;

/** The claims of a simple-signing signature. */
export interface SimpleSigningPayload {
  /** `critical.identity.docker-reference`, e.g. `registry.local/c10f/pause:3.9`. */
  readonly dockerReference: string;
  /** `critical.image.docker-manifest-digest`, e.g. `sha256:…`. */
  readonly manifestDigest: string;
  /** `optional.creator`. */
  readonly creator?: string;
  /** `optional.timestamp`, integral seconds since the epoch. */
  readonly timestamp?: number;
}

/**
 * Why a signature that the node's tools accept is weak: `SIGNATURE_WEAK_DIGEST` (SHA-1 data signature),
 * `SIGNATURE_WEAK_KEY` (DSA, or RSA shorter than 2048 bits), `SIGNATURE_FUTURE` (made "in the future":
 * a signer's clock or a forged time).
 */
export interface SignatureWarning {
  readonly code: 'SIGNATURE_WEAK_DIGEST' | 'SIGNATURE_WEAK_KEY' | 'SIGNATURE_FUTURE';
  /** English text. */
  readonly message: string;
  /** Parameters of `message` (for a translated text). */
  readonly params: Readonly<Record<string, string | number>>;
}

/** A signature that passed {@link verifySimpleSigning}. */
export interface VerifiedSignature {
  readonly payload: SimpleSigningPayload;
  /** Upper-case fingerprint of the trusted primary key that made the signature. */
  readonly keyFingerprint: string;
  /** Upper-case fingerprint of the (sub)key whose signature packet verified. */
  readonly signingKeyFingerprint: string;
  readonly userIds: string[];
  /** Creation time from the OpenPGP signature packet. */
  readonly signedAt?: Date;
  /** Accepted as GnuPG and containers/image accept it, but weak (empty for a sound signature). */
  readonly warnings: readonly SignatureWarning[];
}

/** Options of {@link signSimpleSigning}. */
export interface SignSimpleSigningOptions {
  /** A decrypted private key (see `readPrivateKey`). */
  readonly privateKey: openpgp.PrivateKey;
  readonly dockerReference: string;
  readonly manifestDigest: string;
  /** @default DEFAULT_CREATOR */
  readonly creator?: string;
  /** Seconds since the epoch. @default now */
  readonly timestamp?: number;
  /** Wrap the signed message in a ZLIB compressed-data packet, as GnuPG does. @default true */
  readonly compress?: boolean;
}

/** Options of {@link verifySimpleSigning}. */
export interface VerifySimpleSigningOptions {
  /** @default MAX_SIGNATURE_SIZE (4 MiB) */
  readonly maxSize?: number;
  /** Time at which key validity is judged. @default now */
  readonly now?: Date;
}

function fail(code: string, msg: string, cause?: unknown): never {
  throw new VerificationError(code, msg, cause === undefined ? undefined : { cause });
}

/**
 * Serialize a payload exactly as containers/image does (Go `json.Marshal` of maps: sorted keys, compact).
 * @throws VerificationError `SIGNATURE_PAYLOAD_INVALID` for a non-integral timestamp
 */
export function formatSimpleSigningPayload(payload: SimpleSigningPayload): Uint8Array {
  const optional: Record<string, unknown> = {};
  if (payload.creator !== undefined) optional['creator'] = payload.creator;
  if (payload.timestamp !== undefined) {
    if (!Number.isSafeInteger(payload.timestamp))
      fail('SIGNATURE_PAYLOAD_INVALID', 'timestamp must be an integer');
    optional['timestamp'] = payload.timestamp;
  }
  const doc = {
    critical: {
      identity: { 'docker-reference': payload.dockerReference },
      image: { 'docker-manifest-digest': payload.manifestDigest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional,
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: Json | undefined): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactMembers(obj: { [k: string]: Json }, names: readonly string[], where: string): void {
  const keys = Object.keys(obj);
  for (const k of keys) {
    if (!names.includes(k))
      fail('SIGNATURE_PAYLOAD_INVALID', `unexpected member "${k}" in ${where}`);
  }
  for (const n of names) {
    if (!keys.includes(n)) fail('SIGNATURE_PAYLOAD_INVALID', `missing member "${n}" in ${where}`);
  }
}

/**
 * Parse a simple-signing JSON payload strictly (containers-signature(5)): top level exactly `critical`
 * and `optional`; `critical` exactly `type`, `image`, `identity`; unknown `optional` members ignored.
 * Only call this on data whose signature was verified.
 * @throws VerificationError `SIGNATURE_PAYLOAD_INVALID`
 */
export function parseSimpleSigningPayload(bytes: Uint8Array): SimpleSigningPayload {
  let doc: Json;
  try {
    // Duplicate members are refused, so no two verifiers can read different claims from one payload.
    doc = parseJson(
      new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes),
    ) as Json;
  } catch (e) {
    return fail(
      'SIGNATURE_PAYLOAD_INVALID',
      `signature payload is not valid JSON: ${errorMessage(e)}`,
      e,
    );
  }
  if (!isObject(doc))
    return fail('SIGNATURE_PAYLOAD_INVALID', 'signature payload is not a JSON object');
  exactMembers(doc, ['critical', 'optional'], 'the payload');
  const critical = doc['critical'];
  const optional = doc['optional'];
  if (!isObject(critical)) return fail('SIGNATURE_PAYLOAD_INVALID', '"critical" is not an object');
  exactMembers(critical, ['type', 'image', 'identity'], '"critical"');
  if (critical['type'] !== SIMPLE_SIGNING_TYPE) {
    fail(
      'SIGNATURE_PAYLOAD_INVALID',
      `unrecognized signature type ${JSON.stringify(critical['type'])}`,
    );
  }
  const image = critical['image'];
  if (!isObject(image))
    return fail('SIGNATURE_PAYLOAD_INVALID', '"critical.image" is not an object');
  exactMembers(image, ['docker-manifest-digest'], '"critical.image"');
  const digest = image['docker-manifest-digest'];
  if (typeof digest !== 'string')
    return fail('SIGNATURE_PAYLOAD_INVALID', '"docker-manifest-digest" is not a string');
  const identity = critical['identity'];
  if (!isObject(identity))
    return fail('SIGNATURE_PAYLOAD_INVALID', '"critical.identity" is not an object');
  exactMembers(identity, ['docker-reference'], '"critical.identity"');
  const reference = identity['docker-reference'];
  if (typeof reference !== 'string')
    return fail('SIGNATURE_PAYLOAD_INVALID', '"docker-reference" is not a string');
  if (!isObject(optional)) return fail('SIGNATURE_PAYLOAD_INVALID', '"optional" is not an object');
  const creator = optional['creator'];
  if (creator !== undefined && typeof creator !== 'string') {
    fail('SIGNATURE_PAYLOAD_INVALID', '"optional.creator" is not a string');
  }
  const timestamp = optional['timestamp'];
  if (
    timestamp !== undefined &&
    !(typeof timestamp === 'number' && Number.isSafeInteger(timestamp))
  ) {
    fail('SIGNATURE_PAYLOAD_INVALID', '"optional.timestamp" is not an integer');
  }
  return {
    dockerReference: reference,
    manifestDigest: digest,
    ...(creator !== undefined ? { creator } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
}

/** What a signature is made over: the reference and digest to sign, with the creator and time (seconds). */
export interface SigningRequest {
  readonly dockerReference: string;
  readonly manifestDigest: string;
  /** @default DEFAULT_CREATOR */
  readonly creator?: string;
  /** Seconds since the epoch. @default now */
  readonly timestamp?: number;
}

/**
 * The checked payload of a signature to make (for the openpgp.js and the native signer alike), and its time.
 * @throws VerificationError `SIGNATURE_PAYLOAD_INVALID` for a malformed digest, reference or timestamp
 */
export function signingPayload(options: SigningRequest): {
  readonly payload: Uint8Array;
  readonly timestamp: number;
} {
  try {
    parseDigest(options.manifestDigest);
  } catch (e) {
    fail('SIGNATURE_PAYLOAD_INVALID', `cannot sign: ${errorMessage(e)}`, e);
  }
  if (typeof options.dockerReference !== 'string' || options.dockerReference === '') {
    fail('SIGNATURE_PAYLOAD_INVALID', 'cannot sign: empty docker reference');
  }
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const payload = formatSimpleSigningPayload({
    dockerReference: options.dockerReference,
    manifestDigest: options.manifestDigest,
    creator: options.creator ?? DEFAULT_CREATOR,
    timestamp,
  });
  return { payload, timestamp };
}

/**
 * Sign a payload for `dockerReference` / `manifestDigest`: returns the binary, non-detached OpenPGP
 * signed message that is stored verbatim as a lookaside `signature-N` file.
 * @throws VerificationError `SIGNATURE_PAYLOAD_INVALID` for a malformed digest or timestamp,
 *   `SIGNATURE_KEY_CANNOT_SIGN` when the primary key is not a valid signing key
 */
export async function signSimpleSigning(options: SignSimpleSigningOptions): Promise<Uint8Array> {
  const { payload } = signingPayload(options);
  // containers/image accepts only signatures by the primary key (gpgme names the signing key, and only the
  // primary fingerprints count as trusted): never let openpgp pick a signing subkey.
  const primary = options.privateKey.getKeyID();
  try {
    await options.privateKey.getSigningKey(primary);
  } catch (e) {
    fail(
      'SIGNATURE_KEY_CANNOT_SIGN',
      `the primary key ${options.privateKey.getFingerprint().toUpperCase()} cannot sign (${errorMessage(e)}); podman and skopeo accept only signatures by a primary key`,
      e,
    );
  }
  const message = await (await loadOpenpgp()).createMessage({ binary: payload, format: 'binary' });
  // openpgp's declarations name web-stream types this lint setup cannot resolve; the binary format yields bytes
  const signed: unknown = await (
    await loadOpenpgp()
  ).sign({
    message,
    signingKeys: options.privateKey,
    signingKeyIDs: primary,
    format: 'binary',
    detached: false,
  });
  const binary = signed as Uint8Array;
  if (options.compress === false) return binary;
  // synchronous zlib: the web CompressionStream costs 100-300 ms on first use (it loads undici and web streams)
  return compressedDataPacket(deflateSync(binary));
}

/**
 * A new-format Compressed Data packet (RFC 4880 section 5.6, algorithm 2 = ZLIB) around `zlibData`, the layout
 * GnuPG writes for `gpg --sign`. Built by hand because openpgp's Message.compress drops streamed signatures.
 */
function compressedDataPacket(zlibData: Uint8Array): Uint8Array {
  const bodyLength = zlibData.length + 1;
  let header: number[];
  if (bodyLength < 192) header = [0xc8, bodyLength];
  else if (bodyLength < 8384)
    header = [0xc8, ((bodyLength - 192) >> 8) + 192, (bodyLength - 192) & 0xff];
  else
    header = [
      0xc8,
      0xff,
      (bodyLength >>> 24) & 0xff,
      (bodyLength >>> 16) & 0xff,
      (bodyLength >>> 8) & 0xff,
      bodyLength & 0xff,
    ];
  const out = new Uint8Array(header.length + bodyLength);
  out.set(header, 0);
  out[header.length] = 2; // ZLIB
  out.set(zlibData, header.length + 1);
  return out;
}

/** Packet tags (RFC 4880 section 4.3). */
const PACKET = { signature: 2, onePassSignature: 4, compressedData: 8, literalData: 11 } as const;

/**
 * Fast path for the usual GnuPG layout, a blob that is exactly one ZIP/ZLIB Compressed Data packet:
 * returns the decompressed inner packets, or `undefined` to let openpgp handle any other layout.
 * openpgp's streamed decompression costs ~1 ms per signature; synchronous zlib a few microseconds.
 * @throws VerificationError `SIGNATURE_TOO_LARGE` when the inflated data exceeds `maxSize`
 */
function inflateCompressedPacket(blob: Uint8Array, maxSize: number): Uint8Array | undefined {
  const ctb = blob[0] as number;
  const at = (i: number): number => {
    if (i >= blob.length) throw new Error('truncated packet header');
    return blob[i] as number;
  };
  const u32 = (i: number): number =>
    ((at(i) << 24) >>> 0) + (at(i + 1) << 16) + (at(i + 2) << 8) + at(i + 3);
  let tag: number;
  let start: number;
  let length: number;
  if ((ctb & 0x40) !== 0) {
    tag = ctb & 0x3f;
    const l0 = at(1);
    if (l0 < 192) [start, length] = [2, l0];
    else if (l0 < 224) [start, length] = [3, ((l0 - 192) << 8) + at(2) + 192];
    else if (l0 === 255) [start, length] = [6, u32(2)];
    else return undefined; // partial body lengths: leave to openpgp
  } else {
    tag = (ctb >> 2) & 0x0f;
    const lengthType = ctb & 0x03;
    if (lengthType === 0) [start, length] = [2, at(1)];
    else if (lengthType === 1) [start, length] = [3, (at(1) << 8) + at(2)];
    else if (lengthType === 2) [start, length] = [5, u32(1)];
    else [start, length] = [1, blob.length - 1]; // indeterminate: up to the end, as GnuPG writes it
  }
  if (tag !== Number(PACKET.compressedData) || start + length !== blob.length || length < 1)
    return undefined;
  const algorithm = blob[start];
  const format =
    algorithm === 1 // ZIP
      ? 'deflate-raw'
      : algorithm === 2 // ZLIB
        ? 'deflate'
        : undefined;
  if (format === undefined) return undefined;
  // synchronous zlib: a signature is a few KiB, and the stream machinery cost more than the inflating;
  // maxOutputLength stops a compression bomb before it is buffered
  const body = blob.subarray(start + 1);
  try {
    return new Uint8Array(
      format === 'deflate-raw'
        ? inflateRawSync(body, { maxOutputLength: maxSize })
        : inflateSync(body, { maxOutputLength: maxSize }),
    );
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      fail('SIGNATURE_TOO_LARGE', `decompressed signature exceeds ${maxSize} bytes`);
    throw e;
  }
}

/**
 * openpgp parses up to the literal data packet and leaves the rest (the trailing signature packets)
 * in an internal array stream; read it all so the structure can be checked and verified as a whole.
 */
async function materialize(msg: openpgp.Message<Uint8Array>): Promise<openpgp.Message<Uint8Array>> {
  const rest = (msg.packets as unknown as { stream?: unknown }).stream;
  if (rest === undefined || rest === null) return msg;
  const reader = rest as {
    readToEnd?: (join: (chunks: unknown[]) => unknown[]) => Promise<unknown[]>;
  };
  // Only in-memory input is ever given to readMessage, so anything but openpgp's ArrayStream is a bug: fail closed.
  if (typeof reader.readToEnd !== 'function' || !Array.isArray(rest))
    throw new Error('unexpected streamed message');
  const tail = await reader.readToEnd((chunks) => chunks);
  const list = new (loaded().PacketList)<openpgp.AnyPacket>();
  list.push(...msg.packets, ...(tail as openpgp.AnyPacket[]));
  return new (loaded().Message)(list);
}

/** Hash algorithms of the fast path (RFC 4880 ids -> node names); MD5 and RIPEMD-160 never. */
const FAST_HASHES: Readonly<Record<number, string>> = {
  2: 'sha1',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
};
/** Public-key algorithms (RFC 4880 / RFC 9580 ids). */
const PUBKEY = { rsaEncryptSign: 1, rsaSign: 3, eddsaLegacy: 22, ed25519: 27 } as const;
const nodeKeys = new WeakMap<object, KeyObject | null>();

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const leftPad = (b: Uint8Array, n: number): Uint8Array => {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b, n - b.length);
  return out;
};

/**
 * node:crypto's verify on the libuv thread pool: signatures verified concurrently (Promise.all) use every core,
 * as the public-key operation (RSA-4096: most of the cost of a signature) leaves the main thread.
 */
function verifyInPool(
  algorithm: string | null,
  data: Uint8Array,
  key: Parameters<typeof cryptoVerify>[2],
  signature: Uint8Array,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    cryptoVerify(algorithm, data, key, signature, (err, ok) => {
      if (err) reject(err);
      else resolve(ok);
    });
  });
}

interface KeyMaterial {
  readonly algorithm: number;
  readonly publicParams: Record<string, unknown>;
}

/** A node KeyObject for an OpenPGP RSA or Ed25519 public key packet (cached per packet); `null` if unsupported. */
function nodePublicKey(packet: KeyMaterial): KeyObject | null {
  const cached = nodeKeys.get(packet);
  if (cached !== undefined) return cached;
  let key: KeyObject | null = null;
  const p = packet.publicParams;
  try {
    if (
      (packet.algorithm === Number(PUBKEY.rsaEncryptSign) ||
        packet.algorithm === Number(PUBKEY.rsaSign)) &&
      p['n'] instanceof Uint8Array &&
      p['e'] instanceof Uint8Array
    ) {
      key = createPublicKey({
        key: { kty: 'RSA', n: b64url(p['n']), e: b64url(p['e']) },
        format: 'jwk',
      });
    } else if (packet.algorithm === Number(PUBKEY.eddsaLegacy)) {
      const q = p['Q'];
      const oid = p['oid'] as { getName?: () => string } | undefined;
      const curve = oid?.getName?.();
      if (
        (curve === 'ed25519Legacy' || curve === 'ed25519') &&
        q instanceof Uint8Array &&
        q.length === 33 &&
        q[0] === 0x40
      ) {
        key = createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: b64url(q.subarray(1)) },
          format: 'jwk',
        });
      }
    } else if (packet.algorithm === Number(PUBKEY.ed25519) && p['A'] instanceof Uint8Array) {
      key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: b64url(p['A']) },
        format: 'jwk',
      });
    }
  } catch {
    key = null;
  }
  nodeKeys.set(packet, key);
  return key;
}

/**
 * The cryptographic check of a v4 binary-document signature with node:crypto and a cached KeyObject:
 * the same checks as openpgp's SignaturePacket.verify for this case (hash over literal data, hashed
 * subpackets and the v4 trailer; left-16 bits; RSA PKCS#1 v1.5 or EdDSA over the digest; creation time
 * not in the future; signature not expired), without a WebCrypto key import per signature (~5x faster).
 * Returns `undefined` when the signature is outside this common case, so the caller uses openpgp instead.
 */
async function fastVerifySignature(
  sig: openpgp.SignaturePacket,
  keyPacket: KeyMaterial,
  literal: Uint8Array,
  now: Date,
): Promise<boolean | undefined> {
  const s = sig as unknown as {
    version: number;
    signatureType: number;
    hashAlgorithm: number;
    publicKeyAlgorithm: number;
    signatureData: Uint8Array | null;
    signedHashValue: Uint8Array | null;
    params: unknown;
    unknownSubpackets: Array<{ critical: boolean }>;
    rawNotations: Array<{ critical: boolean }>;
    revocationKeyClass: unknown;
    created: Date | null;
    getExpirationTime(): Date | number;
  };
  const hashName = FAST_HASHES[s.hashAlgorithm];
  const key = nodePublicKey(keyPacket);
  if (
    s.version !== 4 ||
    s.signatureType !== 0 ||
    hashName === undefined ||
    key === null ||
    s.publicKeyAlgorithm !== keyPacket.algorithm ||
    !(s.signatureData instanceof Uint8Array) ||
    !(s.signedHashValue instanceof Uint8Array) ||
    s.unknownSubpackets.some((x) => x.critical) ||
    s.rawNotations.some((x) => x.critical) ||
    s.revocationKeyClass !== null
  ) {
    return undefined;
  }
  const trailer = new Uint8Array([4, 0xff, 0, 0, 0, 0]);
  new DataView(trailer.buffer).setUint32(2, s.signatureData.length);
  const toHash = Buffer.concat([literal, s.signatureData, trailer]);
  const digest = createHash(hashName).update(toHash).digest();
  if (digest[0] !== s.signedHashValue[0] || digest[1] !== s.signedHashValue[1]) return false;
  const params = (await s.params) as Record<string, unknown>;
  let ok: boolean;
  if (
    keyPacket.algorithm === Number(PUBKEY.rsaEncryptSign) ||
    keyPacket.algorithm === Number(PUBKEY.rsaSign)
  ) {
    const sv = params['s'];
    const n = keyPacket.publicParams['n'] as Uint8Array;
    if (!(sv instanceof Uint8Array) || sv.length > n.length) return false;
    ok = await verifyInPool(
      hashName,
      toHash,
      { key, padding: cryptoConstants.RSA_PKCS1_PADDING },
      leftPad(sv, n.length),
    );
  } else {
    // EdDSA signs the digest; legacy keys carry r and s as MPIs, RFC 9580 keys one 64-byte RS
    const rs =
      params['RS'] instanceof Uint8Array
        ? params['RS']
        : params['r'] instanceof Uint8Array && params['s'] instanceof Uint8Array
          ? Buffer.concat([leftPad(params['r'], 32), leftPad(params['s'], 32)])
          : undefined;
    if (rs === undefined || rs.length !== 64) return false;
    ok = await verifyInPool(null, digest, key, rs);
  }
  if (!ok) return false;
  if (s.created !== null && s.created > now)
    throw new Error('Signature creation time is in the future');
  if (now >= s.getExpirationTime()) throw new Error('Signature is expired');
  return true;
}

/** A stored signature (`signature-N`) as containers/image reads it (`signature.FromBlob`). */
export type StoredSignature =
  | { readonly format: 'simple-signing'; readonly data: Uint8Array }
  | { readonly format: 'sigstore-json'; readonly data: Uint8Array };

/**
 * First octets containers/image takes for a bare simple-signing OpenPGP message: a compressed data, one-pass
 * signature or signature packet (its list, including its 0x3d and without 0x93, is kept as it is).
 */
const OPENPGP_FIRST_OCTETS = new Set([
  0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x90, 0x91, 0x92, 0x3d, 0xc4, 0x88, 0x89, 0x8a, 0x8b, 0xc2,
]);

function formatError(message: string): never {
  return fail('SIGNATURE_FORMAT_INVALID', message);
}

/** containers/image skips sigstore signatures under signedBy, but refuses the image when one does not parse. */
function checkSigstoreChunk(chunk: Uint8Array): void {
  let doc: unknown;
  try {
    doc = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(chunk));
  } catch (e) {
    formatError(`invalid sigstore signature: ${errorMessage(e)}`);
  }
  // stricter than Go's json.Unmarshal (exact member names, types): an unclear blob refuses the image
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    formatError('invalid sigstore signature: not a JSON object');
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const ok =
      k === 'mimeType'
        ? typeof v === 'string'
        : k === 'payload'
          ? typeof v === 'string' && v.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(v)
          : k === 'annotations'
            ? typeof v === 'object' &&
              v !== null &&
              !Array.isArray(v) &&
              Object.values(v).every((x) => typeof x === 'string')
            : false;
    if (!ok) formatError(`invalid sigstore signature: unexpected member "${k}"`);
  }
}

/**
 * Read a stored signature the way containers/image does: a bare OpenPGP message (simple signing), or a
 * zero octet, a format name and a newline before the data. Anything else makes containers/image refuse the
 * whole image, whatever the other signatures say; the caller must do the same.
 * @throws VerificationError `SIGNATURE_FORMAT_INVALID`
 */
export function parseStoredSignature(blob: Uint8Array): StoredSignature {
  if (blob.length === 0) return formatError('empty signature blob');
  const first = blob[0] as number;
  if (OPENPGP_FIRST_OCTETS.has(first)) return { format: 'simple-signing', data: blob };
  if (first !== 0)
    return formatError(
      `unrecognized signature format, starting with binary 0x${first.toString(16).padStart(2, '0')}`,
    );
  const newline = blob.indexOf(0x0a, 1);
  if (newline === -1) return formatError('invalid signature format, missing newline');
  const name = blob.subarray(1, newline);
  const bad = name.find((b) => b < 32 || b >= 0x7f);
  if (bad !== undefined)
    return formatError(`invalid signature format, non-ASCII byte 0x${bad.toString(16)}`);
  const format = new TextDecoder('latin1').decode(name);
  const data = blob.subarray(newline + 1);
  if (format === 'simple-signing') return { format, data };
  if (format === 'sigstore-json') {
    checkSigstoreChunk(data);
    return { format, data };
  }
  return formatError(`unrecognized signature format ${JSON.stringify(format)}`);
}

/** One packet of a byte string: tag and body, or `undefined` for what the plain parser leaves to openpgp. */
function nextPacket(
  data: Uint8Array,
  at: number,
): { tag: number; body: Uint8Array; end: number } | undefined {
  const byte = (i: number): number | undefined => (i < data.length ? data[i] : undefined);
  const ctb = byte(at);
  if (ctb === undefined || (ctb & 0x80) === 0) return undefined;
  let tag: number;
  let start: number;
  let length: number;
  if ((ctb & 0x40) !== 0) {
    tag = ctb & 0x3f;
    const l0 = byte(at + 1);
    if (l0 === undefined) return undefined;
    if (l0 < 192) [start, length] = [at + 2, l0];
    else if (l0 < 224) {
      const l1 = byte(at + 2);
      if (l1 === undefined) return undefined;
      [start, length] = [at + 3, ((l0 - 192) << 8) + l1 + 192];
    } else if (l0 === 255) {
      if (at + 6 > data.length) return undefined;
      [start, length] = [
        at + 6,
        new DataView(data.buffer, data.byteOffset + at + 2, 4).getUint32(0),
      ];
    } else return undefined; // partial body lengths
  } else {
    tag = (ctb >> 2) & 0x0f;
    const lengthType = ctb & 0x03;
    const n = lengthType === 0 ? 1 : lengthType === 1 ? 2 : lengthType === 2 ? 4 : 0;
    if (n === 0 || at + 1 + n > data.length) return undefined; // indeterminate length
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (data[at + 1 + i] as number);
    start = at + 1 + n;
  }
  if (start + length > data.length) return undefined;
  return { tag, body: data.subarray(start, start + length), end: start + length };
}

/**
 * The layout GnuPG writes, read without openpgp's streams (which cost a millisecond per signature): an optional
 * v3 one-pass signature packet that agrees with the signature, one literal data packet, one v4 signature packet,
 * nothing else. Any other layout returns `undefined` and openpgp reads it, with its own checks.
 */
function parsePlainSignedMessage(
  data: Uint8Array,
): { sigPacket: openpgp.SignaturePacket; literal: Uint8Array } | undefined {
  const packets: { tag: number; body: Uint8Array }[] = [];
  for (let at = 0; at < data.length;) {
    const p = nextPacket(data, at);
    if (p === undefined || packets.length === 3) return undefined;
    packets.push(p);
    at = p.end;
  }
  const tags = packets.map((p) => p.tag);
  const ops = tags.length === 3 ? packets[0] : undefined;
  const [lit, sig] = packets.slice(tags.length - 2);
  if (
    lit === undefined ||
    sig === undefined ||
    lit.tag !== Number(PACKET.literalData) ||
    sig.tag !== Number(PACKET.signature) ||
    (ops !== undefined && ops.tag !== Number(PACKET.onePassSignature)) ||
    sig.body[0] !== 4
  )
    return undefined;
  const sigPacket = new (loaded().SignaturePacket)();
  try {
    sigPacket.read(sig.body);
  } catch {
    return undefined;
  }
  if (ops !== undefined) {
    const o = ops.body;
    const issuer = sigPacket.issuerKeyID.toHex();
    if (
      o.length !== 13 ||
      o[0] !== 3 ||
      o[1] !== sigPacket.signatureType ||
      o[2] !== sigPacket.hashAlgorithm ||
      o[3] !== sigPacket.publicKeyAlgorithm ||
      Buffer.from(o.subarray(4, 12)).toString('hex') !== issuer ||
      o[12] !== 1
    )
      return undefined;
  }
  const l = lit.body;
  const nameLength = l[1];
  if (nameLength === undefined || l.length < 6 + nameLength) return undefined;
  return { sigPacket, literal: l.subarray(6 + nameLength) };
}

/** The message as openpgp reads it, with the structure checks of a simple-signing message. */
async function readFullMessage(
  data: Uint8Array,
  config: openpgp.Config,
): Promise<{
  msg: openpgp.Message<Uint8Array>;
  sigPacket: openpgp.SignaturePacket;
  literal: unknown;
}> {
  let msg: openpgp.Message<Uint8Array>;
  try {
    msg = await materialize(
      (await loaded().readMessage({ binaryMessage: data, config })).unwrapCompressed(),
    );
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    return fail(
      'SIGNATURE_NOT_OPENPGP',
      `signature is not a valid OpenPGP message: ${errorMessage(e)}`,
      e,
    );
  }
  const tags = msg.packets.map((p) => (p.constructor as unknown as { tag: number }).tag);
  const count = (tag: number): number => tags.filter((t) => t === tag).length;
  const literals = count(PACKET.literalData);
  const signatures = count(PACKET.signature);
  const onePass = count(PACKET.onePassSignature);
  if (literals !== 1)
    fail(
      'SIGNATURE_NOT_SIGNED',
      `signed message must hold one literal data packet, found ${literals}`,
    );
  if (signatures === 0) fail('SIGNATURE_NOT_SIGNED', 'message carries no signature');
  if (signatures !== 1 || onePass > 1)
    fail('SIGNATURE_INVALID', `expected exactly one signature, found ${signatures}`);
  if (tags.length !== literals + signatures + onePass) {
    fail('SIGNATURE_INVALID', 'signed message contains unexpected packets');
  }
  const sigPacket = msg.packets.filterByTag(PACKET.signature)[0] as openpgp.SignaturePacket;
  return { msg, sigPacket, literal: msg.getLiteralData() };
}

/**
 * What GnuPG 2.2 (through gpgme, as containers/image uses it) accepts, where openpgp's defaults are
 * stricter: DSA keys, RSA keys of 1024 bits, SHA-1 and RIPEMD-160 data signatures. Such signatures verify here
 * too, and {@link VerifiedSignature.warnings} says they are weak; MD5 stays refused, as GnuPG refuses it.
 */
function gnupgCompatible(pgp: Openpgp): Partial<openpgp.Config> {
  return {
    rejectPublicKeyAlgorithms: new Set([pgp.enums.publicKey.elgamal]),
    minRSABits: 1024,
    rejectHashAlgorithms: new Set([pgp.enums.hash.md5]),
    rejectMessageHashAlgorithms: new Set([pgp.enums.hash.md5]),
  };
}

const HASH_NAMES: Readonly<Record<number, string>> = { 1: 'MD5', 2: 'SHA-1', 3: 'RIPEMD-160' };

/** Why a verified signature is weak, or nothing. */
function weaknesses(
  hashAlgorithm: number,
  info: { algorithm: string; bits?: number | undefined },
  created: Date | undefined,
  now: Date,
): SignatureWarning[] {
  const out: SignatureWarning[] = [];
  const hash = HASH_NAMES[hashAlgorithm];
  if (hash !== undefined) {
    out.push({
      code: 'SIGNATURE_WEAK_DIGEST',
      message: `the signature uses the weak ${hash} digest`,
      params: { digest: hash },
    });
  }
  if (info.algorithm === 'dsa') {
    out.push({
      code: 'SIGNATURE_WEAK_KEY',
      message: 'the signature was made by a weak DSA key',
      params: { key: 'DSA' },
    });
  } else if (info.algorithm.startsWith('rsa') && (info.bits ?? 0) < 2048) {
    out.push({
      code: 'SIGNATURE_WEAK_KEY',
      message: `the signature was made by a weak RSA-${info.bits ?? 0} key`,
      params: { key: `RSA-${info.bits ?? 0}` },
    });
  }
  if (created !== undefined && created > now) {
    out.push({
      code: 'SIGNATURE_FUTURE',
      message: `the signature claims to be made in the future, at ${created.toISOString()}`,
      params: { time: created.toISOString() },
    });
  }
  return out;
}

type SigningKey = Awaited<ReturnType<openpgp.PublicKey['getSigningKey']>>;
const signingKeys = new WeakMap<openpgp.PublicKey, Map<string, Promise<SigningKey>>>();

/**
 * `key.getSigningKey(issuer, date)` once per key, issuer and date: it verifies the key's self-signatures and binding
 * signatures every time, which is most of the cost of a signature when many are made by one key at one time (a
 * hundred signatures of an image, most from the same second). The answer depends only on these inputs.
 */
function signingKeyAt(
  key: openpgp.PublicKey,
  issuer: openpgp.KeyID,
  date: Date,
  config: openpgp.Config,
): Promise<SigningKey> {
  let byKey = signingKeys.get(key);
  if (byKey === undefined) signingKeys.set(key, (byKey = new Map<string, Promise<SigningKey>>()));
  const k = `${issuer.toHex()}@${date.getTime()}/${config.maxDecompressedMessageSize}`;
  let p = byKey.get(k);
  if (p === undefined) {
    p = key.getSigningKey(issuer, date, undefined, config);
    byKey.set(k, p);
  }
  return p;
}

/**
 * Verify a simple-signing blob against `trustedKeys` and return its payload, with the verdict GnuPG and
 * containers/image reach. Refuses (never accepts on error): non-OpenPGP, truncated or oversized data,
 * messages that are not exactly one literal data packet with exactly one signature, signatures by keys
 * outside `trustedKeys` and by subkeys (containers/image trusts only the primary key's fingerprint), bad
 * signatures, expired signatures, keys expired or revoked now or at signing time, keys created after the
 * signature or in the future, and payloads that are not strictly valid. Weak signatures that GnuPG accepts
 * (SHA-1, DSA, RSA-1024, a creation time in the future) verify and carry {@link VerifiedSignature.warnings}.
 * The manifest digest is NOT compared here; use {@link checkSignatureDigest}.
 * @throws VerificationError `SIGNATURE_NOT_OPENPGP`, `SIGNATURE_TOO_LARGE`, `SIGNATURE_NOT_SIGNED`,
 *   `SIGNATURE_UNTRUSTED_KEY`, `SIGNATURE_KEY_EXPIRED`, `SIGNATURE_KEY_REVOKED`, `SIGNATURE_INVALID`,
 *   `SIGNATURE_PAYLOAD_INVALID`
 */
export async function verifySimpleSigning(
  blob: Uint8Array,
  trustedKeys: readonly VerifierKey[],
  options: VerifySimpleSigningOptions = {},
): Promise<VerifiedSignature> {
  return (
    (await verifyNatively(blob, trustedKeys, options)) ??
    verifyWithOpenpgp(blob, await openpgpKeys(trustedKeys), options)
  );
}

/**
 * The native verifier's answer (native-verify.ts) for the everyday case: a verified signature, the refusal of a
 * signature whose issuer no trusted key carries, or `undefined` when openpgp.js must decide (every other refusal
 * included, so that its reasons stay the reasons given). Exported for the tests that compare both verifiers.
 * @throws VerificationError as {@link verifySimpleSigning}, for the checks made before any OpenPGP parsing and for
 *   `SIGNATURE_UNTRUSTED_KEY` (no trusted key carries the issuer key id) and `SIGNATURE_PAYLOAD_INVALID`
 */
export async function verifyNatively(
  blob: Uint8Array,
  trustedKeys: readonly VerifierKey[],
  options: VerifySimpleSigningOptions = {},
): Promise<VerifiedSignature | undefined> {
  const maxSize = options.maxSize ?? MAX_SIGNATURE_SIZE;
  const now = options.now ?? new Date();
  checkBlob(blob, maxSize);
  const keys = nativeKeysOf(trustedKeys);
  if (keys === undefined) return undefined;
  const message = readNativeMessage(blob, maxSize);
  if (message === undefined) return undefined;
  const outcome = await judgeNative(message, keys, now);
  if (outcome === undefined) return undefined;
  if (!outcome.accepted)
    return fail(
      'SIGNATURE_UNTRUSTED_KEY',
      `signature made by key ${outcome.untrustedIssuer.toUpperCase()}, which is not trusted`,
    );
  const payload = parseSimpleSigningPayload(message.literal);
  return {
    payload,
    keyFingerprint: outcome.key.fingerprint,
    signingKeyFingerprint: outcome.key.fingerprint,
    userIds: [...outcome.key.userIds],
    signedAt: outcome.created,
    warnings: weaknesses(
      outcome.hashAlgorithm,
      { algorithm: outcome.algorithm, bits: outcome.bits },
      outcome.created,
      now,
    ),
  };
}

/** The checks of a blob before any OpenPGP parsing (both verifiers). */
function checkBlob(blob: Uint8Array, maxSize: number): void {
  if (!(blob instanceof Uint8Array) || blob.length === 0)
    fail('SIGNATURE_NOT_OPENPGP', 'signature is empty');
  if (blob.length > maxSize)
    fail('SIGNATURE_TOO_LARGE', `signature is ${blob.length} bytes, limit is ${maxSize}`);
  // Binary packets only: bit 7 of the first octet is set in every OpenPGP packet header (armour is not stored).
  if (((blob[0] as number) & 0x80) === 0)
    fail('SIGNATURE_NOT_OPENPGP', 'signature is not a binary OpenPGP message');
}

const nativeOfOpenpgp = new WeakMap<openpgp.PublicKey, NativeKey | null>();

/** The native form of every key, or `undefined` when one of them has none (openpgp.js then judges). */
function nativeKeysOf(keys: readonly VerifierKey[]): NativeKey[] | undefined {
  const out: NativeKey[] = [];
  for (const k of keys) {
    let n: NativeKey | null | undefined;
    if (isTrustedKey(k)) n = k.native;
    else {
      n = nativeOfOpenpgp.get(k);
      if (n === undefined) {
        const read = readNativeKeys(k.write());
        n = (read?.length === 1 ? read[0] : undefined) ?? null;
        nativeOfOpenpgp.set(k, n);
      }
    }
    if (n === undefined || n === null) return undefined;
    out.push(n);
  }
  return out;
}

/** The keys as openpgp.js objects (loading openpgp.js for keys read natively). */
async function openpgpKeys(keys: readonly VerifierKey[]): Promise<openpgp.PublicKey[]> {
  return Promise.all(keys.map(async (k) => (isTrustedKey(k) ? k.openpgp() : k)));
}

/** {@link verifySimpleSigning} with openpgp.js alone (the fallback of the native verifier). */
export async function verifyWithOpenpgp(
  blob: Uint8Array,
  trustedKeys: readonly openpgp.PublicKey[],
  options: VerifySimpleSigningOptions = {},
): Promise<VerifiedSignature> {
  const pgp = await loadOpenpgp();
  const maxSize = options.maxSize ?? MAX_SIGNATURE_SIZE;
  const now = options.now ?? new Date();
  checkBlob(blob, maxSize);
  const config = {
    ...pgp.config,
    ...gnupgCompatible(pgp),
    maxDecompressedMessageSize: maxSize,
    enforceGrammar: true,
  };
  let inner: Uint8Array | undefined;
  try {
    inner = inflateCompressedPacket(blob, maxSize);
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    return fail(
      'SIGNATURE_NOT_OPENPGP',
      `signature is not a valid OpenPGP message: ${errorMessage(e)}`,
      e,
    );
  }
  const data = inner ?? blob;
  // the usual layout is parsed synchronously; openpgp reads everything else (and verifies what node:crypto cannot)
  let full: Awaited<ReturnType<typeof readFullMessage>> | undefined;
  const plain = parsePlainSignedMessage(data);
  if (plain === undefined) full = await readFullMessage(data, config);
  const { sigPacket, literal } = plain ?? (full as NonNullable<typeof full>);
  const issuer = sigPacket.issuerKeyID;
  const issuerFlags = issuer as unknown as { isNull(): boolean; isWildcard(): boolean };
  if (issuerFlags.isNull() || issuerFlags.isWildcard())
    fail('SIGNATURE_UNTRUSTED_KEY', 'signature names no issuer key');
  const key = trustedKeys.find((k) => k.getKeys(issuer).length > 0);
  if (key === undefined)
    fail(
      'SIGNATURE_UNTRUSTED_KEY',
      `signature made by key ${issuer.toHex().toUpperCase()}, which is not trusted`,
    );
  // gpgme reports the fingerprint of the key that made the signature, and containers/image compares it with
  // the fingerprints of the imported (primary) keys: a subkey's signature is never accepted there.
  if (!key.getKeyID().equals(issuer)) {
    const sub = key.getKeys(issuer)[0];
    fail(
      'SIGNATURE_UNTRUSTED_KEY',
      `signature made by subkey ${(sub?.getFingerprint() ?? issuer.toHex()).toUpperCase()} of key ${key.getFingerprint().toUpperCase()}; only signatures by a trusted primary key are accepted (as by containers/image)`,
    );
  }

  const classify = (e: unknown, prefix: string): never => {
    const text = errorMessage(e);
    if (/revoked/i.test(text)) fail('SIGNATURE_KEY_REVOKED', `${prefix}: ${text}`, e);
    if (/expired/i.test(text)) fail('SIGNATURE_KEY_EXPIRED', `${prefix}: ${text}`, e);
    return fail('SIGNATURE_INVALID', `${prefix}: ${text}`, e);
  };
  // GnuPG does not refuse a signature made "in the future" (it only warns); judge such a signature at its
  // creation time, every other one now. Expiry of the signature and of the key is still checked below.
  const created = sigPacket.created instanceof Date ? sigPacket.created : undefined;
  const verifyDate = created !== undefined && created > now ? created : now;
  // The common case (v4, RSA/Ed25519, SHA-2): node:crypto with a cached key; anything else: openpgp.
  let fast: boolean | undefined;
  let atSigning: SigningKey;
  try {
    // the key must be a valid signing key at signing time, as openpgp's message verification requires
    atSigning = await signingKeyAt(key, issuer, created ?? now, config);
    fast =
      literal instanceof Uint8Array
        ? await fastVerifySignature(
            sigPacket,
            atSigning.keyPacket as unknown as KeyMaterial,
            literal,
            verifyDate,
          )
        : undefined;
  } catch (e) {
    return classify(e, 'signature verification failed');
  }
  if (fast === false)
    fail('SIGNATURE_INVALID', 'signature verification failed: Signature verification failed');
  if (fast === undefined) {
    full ??= await readFullMessage(data, config);
    const msg = full.msg;
    let results: Awaited<ReturnType<typeof msg.verify>>;
    try {
      results = await msg.verify([key], verifyDate, config);
    } catch (e) {
      return fail('SIGNATURE_INVALID', `cannot verify signature: ${errorMessage(e)}`, e);
    }
    // createVerificationObjects drops non-document signature types; one result must remain.
    if (results.length !== 1) fail('SIGNATURE_INVALID', 'signature is not a document signature');
    try {
      await (results[0] as (typeof results)[number]).verified;
    } catch (e) {
      classify(e, 'signature verification failed');
    }
  }
  // openpgp judges the key at signing time; like gpgme (valid summary) also require it to be valid now.
  try {
    await signingKeyAt(key, issuer, now, config);
  } catch (e) {
    return classify(e, 'signing key is not valid now');
  }
  if (!(literal instanceof Uint8Array))
    fail('SIGNATURE_INVALID', 'unexpected streamed literal data');
  const payload = parseSimpleSigningPayload(literal);
  return {
    payload,
    keyFingerprint: key.getFingerprint().toUpperCase(),
    signingKeyFingerprint: atSigning.getFingerprint().toUpperCase(),
    userIds: key.getUserIDs(),
    ...(created !== undefined ? { signedAt: created } : {}),
    warnings: weaknesses(
      sigPacket.hashAlgorithm as number,
      atSigning.getAlgorithmInfo(),
      sigPacket.created instanceof Date ? sigPacket.created : undefined,
      now,
    ),
  };
}

/**
 * Check that a verified payload names the manifest being accepted. `manifest` is either the expected
 * digest (`sha256:…`) or the raw manifest bytes (digested with the payload's algorithm).
 * @throws VerificationError `SIGNATURE_DIGEST_MISMATCH`
 */
export function checkSignatureDigest(
  payload: SimpleSigningPayload,
  manifest: string | Uint8Array,
): void {
  let signed;
  try {
    signed = parseDigest(payload.manifestDigest);
  } catch (e) {
    return fail(
      'SIGNATURE_DIGEST_MISMATCH',
      `signature carries an invalid digest: ${errorMessage(e)}`,
      e,
    );
  }
  let expected: string;
  if (typeof manifest === 'string') {
    try {
      expected = parseDigest(manifest).digest;
    } catch (e) {
      return fail('SIGNATURE_DIGEST_MISMATCH', `invalid expected digest: ${errorMessage(e)}`, e);
    }
  } else {
    expected = computeDigest(manifest, signed.algorithm);
  }
  if (signed.digest !== expected) {
    fail(
      'SIGNATURE_DIGEST_MISMATCH',
      `signature is for ${signed.digest}, image manifest is ${expected}`,
    );
  }
}
