/**
 * The native verifier of simple-signing signatures: OpenPGP keys and signed messages read with pgp-packets.ts and
 * checked with node:crypto, so that the everyday case (gpg's or our own signatures, v4 RSA, DSA, ECDSA or Ed25519
 * keys) never loads openpgp.js. It only ever *accepts*: it answers with a verified signature when the key and the
 * signature are exactly in the forms it understands and valid by the same rules openpgp.js applies (as
 * simple-signing.ts uses it: the key a valid signing key at signing time and now, the primary user's latest valid
 * self-certification deciding key flags and expiry), and with `undefined` for everything else — a refusal, a
 * revocation, a direct-key signature, a subkey, an unknown critical subpacket, v5/v6 packets, BZip2, an unusual
 * algorithm — so that openpgp.js reaches the verdict and its exact reason. Where openpgp.js would pick among several
 * self-certifications, the native answer is given only when every candidate agrees.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import {
  dearmor,
  decompress,
  parsePublicKey,
  parseSignature,
  readPackets,
  TAG,
  type Packet,
  type PublicKeyPacket,
  type SignaturePacket,
  type Subpacket,
} from './pgp-packets.ts';

/** Hash algorithms handled here (RFC 4880 ids -> node names); MD5 and RIPEMD-160 are left to openpgp.js. */
const HASHES: Readonly<Record<number, string>> = {
  2: 'sha1',
  8: 'sha256',
  9: 'sha384',
  10: 'sha512',
  11: 'sha224',
};

/** Subpacket types openpgp.js parses, so a critical one is not refused there for being unknown. */
const KNOWN_SUBPACKETS = new Set([2, 3, 9, 11, 16, 21, 22, 23, 25, 27, 30, 33]);

/** A self-certification of a user id, verified at reading. */
interface SelfCertification {
  /** Milliseconds since the epoch. */
  readonly created: number;
  /** When the signature expires (ms), or Infinity. */
  readonly expires: number;
  /** When the key expires by this certification (ms), or Infinity. */
  readonly keyExpires: number;
  /** First octet of the key flags, or undefined without key flags. */
  readonly keyFlags: number | undefined;
}

/** A transferable public key as the native verifier reads it. */
export interface NativeKey {
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  /** Lower-case 16-digit key id of the primary key. */
  readonly keyId: string;
  /** Lower-case key ids of the subkeys. */
  readonly subkeyIds: readonly string[];
  readonly userIds: readonly string[];
  /**
   * The key in a form whose validity is decided here: v4, a signing algorithm whose material node:crypto takes, no
   * revocation, no direct-key signature, no user attribute, every self-certification understood and cryptographically
   * valid. Otherwise `undefined`: the key is still named (fingerprint, key ids), but only openpgp.js judges it.
   */
  readonly judged?: {
    readonly primary: PublicKeyPacket;
    readonly nodeKey: KeyObject;
    /** openpgp.js's name of the algorithm family for the weakness warnings, with the modulus bits. */
    readonly algorithm: 'rsa' | 'dsa' | 'ecdsa' | 'eddsa';
    readonly bits: number | undefined;
    /** Per user id with a user id packet, its self-certifications in key order. */
    readonly users: readonly (readonly SelfCertification[])[];
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const u32 = (b: Uint8Array): number =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
const bitLength = (b: Uint8Array): number => {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i] as number));
};

function leftPad(b: Uint8Array, n: number): Uint8Array {
  if (b.length >= n) return b;
  const out = new Uint8Array(n);
  out.set(b, n - b.length);
  return out;
}

/** DER of a length and of an unsigned INTEGER (for the DSA SubjectPublicKeyInfo). */
function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let x = n; x > 0; x >>= 8) out.unshift(x & 0xff);
  return [0x80 | out.length, ...out];
}
function der(tag: number, content: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([tag, ...derLength(content.length)]), content]);
}
const derInteger = (v: Uint8Array): Uint8Array =>
  der(0x02, (v[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);

/** OIDs (as stored in the key packet) of the curves handled here, with their JWK names and field sizes. */
const CURVES: Readonly<Record<string, { crv: string; size: number }>> = {
  '2a8648ce3d030107': { crv: 'P-256', size: 32 },
  '2b81040022': { crv: 'P-384', size: 48 },
  '2b81040023': { crv: 'P-521', size: 66 },
};
const ED25519_LEGACY = '2b06010401da470f01';
const DSA_OID = Buffer.from('06072a8648ce380401', 'hex');

/** A node KeyObject for a v4 signing key packet, or `undefined` for anything not handled here. */
function nodeKeyOf(k: PublicKeyPacket): KeyObject | undefined {
  const m = k.mpis;
  try {
    if ((k.algorithm === 1 || k.algorithm === 3) && m.length === 2)
      return createPublicKey({
        key: { kty: 'RSA', n: b64url(m[0] as Uint8Array), e: b64url(m[1] as Uint8Array) },
        format: 'jwk',
      });
    if (k.algorithm === 17 && m.length === 4) {
      const [p, q, g, y] = m as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      const params = der(0x30, Buffer.concat([derInteger(p), derInteger(q), derInteger(g)]));
      const algo = der(0x30, Buffer.concat([DSA_OID, params]));
      const bits = der(0x03, Buffer.concat([Buffer.from([0]), derInteger(y)]));
      return createPublicKey({
        key: Buffer.from(der(0x30, Buffer.concat([algo, bits]))),
        format: 'der',
        type: 'spki',
      });
    }
    const oid = k.curveOid === undefined ? undefined : hex(k.curveOid);
    const point = m[0];
    if (k.algorithm === 19 && oid !== undefined && point !== undefined) {
      const curve = CURVES[oid];
      if (curve === undefined || point.length !== 1 + 2 * curve.size || point[0] !== 4)
        return undefined;
      return createPublicKey({
        key: {
          kty: 'EC',
          crv: curve.crv,
          x: b64url(point.subarray(1, 1 + curve.size)),
          y: b64url(point.subarray(1 + curve.size)),
        },
        format: 'jwk',
      });
    }
    if (k.algorithm === 22 && oid === ED25519_LEGACY && point?.length === 33 && point[0] === 0x40)
      return createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: b64url(point.subarray(1)) },
        format: 'jwk',
      });
  } catch {
    return undefined;
  }
  return undefined;
}

/** v4 fingerprint: SHA-1 over 0x99, the two-octet length and the key packet body. */
function fingerprintOf(body: Uint8Array): Buffer {
  const head = Buffer.from([0x99, body.length >> 8, body.length & 0xff]);
  return createHash('sha1').update(head).update(body).digest();
}

/** The issuer key id a signature names (all issuer and issuer fingerprint subpackets agreeing), or undefined. */
function issuerOf(sig: SignaturePacket): string | undefined {
  const ids = new Set<string>();
  for (const s of [...sig.hashed, ...sig.unhashed]) {
    if (s.type === 16) {
      if (s.body.length !== 8) return undefined;
      ids.add(hex(s.body));
    } else if (s.type === 33) {
      if (s.body.length !== 21 || s.body[0] !== 4) return undefined;
      ids.add(hex(s.body.subarray(13)));
    }
  }
  return ids.size === 1 ? [...ids][0] : undefined;
}

/** The hashed subpackets of a signature, when every one is understood for `purpose`; else undefined. */
function hashedFields(
  sig: SignaturePacket,
  purpose: 'data' | 'certification',
):
  | { created: number; expires: number; keyExpiration?: number; keyFlags?: number | 'empty' }
  | undefined {
  let created: number | undefined;
  let sigExpiration: number | undefined;
  let keyExpiration: number | undefined;
  let keyFlags: number | 'empty' | undefined;
  const seen = new Set<number>();
  for (const s of sig.hashed) {
    // a type given twice: which one counts is openpgp.js's business
    if (seen.has(s.type)) return undefined;
    seen.add(s.type);
    if (s.critical && !KNOWN_SUBPACKETS.has(s.type)) return undefined;
    // revocation key, notations (may be critical-but-known), exportable, revocable, trust, regex: not here
    if ([4, 5, 6, 7, 12].includes(s.type) || (s.type === 20 && s.critical)) return undefined;
    if (s.type === 2) {
      if (s.body.length !== 4) return undefined;
      created = u32(s.body) * 1000;
    } else if (s.type === 3) {
      if (s.body.length !== 4) return undefined;
      sigExpiration = u32(s.body);
    } else if (s.type === 9) {
      if (s.body.length !== 4 || purpose !== 'certification') return undefined;
      keyExpiration = u32(s.body);
    } else if (s.type === 27) {
      if (purpose !== 'certification') return undefined;
      keyFlags = s.body.length === 0 ? 'empty' : s.body[0];
    }
  }
  if (created === undefined) return undefined;
  const expires =
    sigExpiration === undefined || sigExpiration === 0 ? Infinity : created + sigExpiration * 1000;
  return {
    created,
    expires,
    ...(keyExpiration !== undefined ? { keyExpiration } : {}),
    ...(keyFlags !== undefined ? { keyFlags } : {}),
  };
}

/** node:crypto's check of a v4 signature over `data` (already including the signature's hashed part and trailer). */
function cryptoCheck(
  sig: SignaturePacket,
  key: PublicKeyPacket,
  nodeKey: KeyObject,
  toHash: Uint8Array,
  sync: boolean,
): boolean | Promise<boolean> {
  const hashName = HASHES[sig.hashAlgorithm];
  if (hashName === undefined || sig.publicKeyAlgorithm !== key.algorithm) return false;
  const digest = createHash(hashName).update(toHash).digest();
  if (digest[0] !== sig.left16[0] || digest[1] !== sig.left16[1]) return false;
  const run = (
    algorithm: string | null,
    data: Uint8Array,
    k: Parameters<typeof cryptoVerify>[2],
    signature: Uint8Array,
  ): boolean | Promise<boolean> => {
    if (sync) return cryptoVerify(algorithm, data, k, signature);
    // on the libuv pool: a hundred RSA-4096 signatures use every core
    return new Promise((resolve, reject) => {
      cryptoVerify(algorithm, data, k, signature, (err, ok) => (err ? reject(err) : resolve(ok)));
    });
  };
  const [a, b] = sig.mpis as [Uint8Array, Uint8Array | undefined];
  try {
    if (key.algorithm === 1 || key.algorithm === 3) {
      const n = key.mpis[0] as Uint8Array;
      if (a.length > n.length) return false;
      return run(hashName, toHash, nodeKey, leftPad(a, n.length));
    }
    if (b === undefined) return false;
    if (key.algorithm === 22) {
      if (a.length > 32 || b.length > 32) return false;
      // EdDSA (legacy) signs the digest
      return run(null, digest, nodeKey, Buffer.concat([leftPad(a, 32), leftPad(b, 32)]));
    }
    // DSA and ECDSA: r and s, each as wide as q (DSA) or the field (ECDSA)
    const size =
      key.algorithm === 17
        ? (key.mpis[1] as Uint8Array).length
        : (CURVES[hex(key.curveOid ?? new Uint8Array())]?.size ?? 0);
    if (size === 0 || a.length > size || b.length > size) return false;
    return run(
      hashName,
      toHash,
      { key: nodeKey, dsaEncoding: 'ieee-p1363' },
      Buffer.concat([leftPad(a, size), leftPad(b, size)]),
    );
  } catch {
    return false;
  }
}

const trailer = (sig: SignaturePacket): Uint8Array => {
  const t = Buffer.from([4, 0xff, 0, 0, 0, 0]);
  t.writeUInt32BE(sig.signatureData.length, 2);
  return t;
};

/** One transferable key (its packets, from the primary key packet on). */
function readKey(packets: readonly Packet[]): NativeKey | undefined {
  const head = packets[0];
  if (head?.tag !== TAG.publicKey) return undefined;
  let primary: PublicKeyPacket;
  try {
    primary = parsePublicKey(head.body);
  } catch {
    return undefined;
  }
  const fpr = fingerprintOf(head.body);
  const keyId = hex(fpr.subarray(12));
  const subkeyIds: string[] = [];
  const userIds: string[] = [];
  const users: SelfCertification[][] = [];
  const nodeKey = nodeKeyOf(primary);
  let judged = nodeKey !== undefined;
  const keyHash = Buffer.concat([
    Buffer.from([0x99, head.body.length >> 8, head.body.length & 0xff]),
    head.body,
  ]);
  // where a signature packet belongs: the primary key, a user id, a subkey
  let at: 'key' | 'user' | 'subkey' = 'key';
  let userPacket: Uint8Array | undefined;
  for (const p of packets.slice(1)) {
    if (p.tag === TAG.trust) continue;
    if (p.tag === TAG.userId) {
      if (p.body.length > 5 * 1024) return undefined; // openpgp.js refuses such a key
      at = 'user';
      userPacket = p.body;
      userIds.push(new TextDecoder('utf-8').decode(p.body));
      users.push([]);
    } else if (p.tag === TAG.publicSubkey) {
      if (p.body[0] !== 4) return undefined;
      at = 'subkey';
      subkeyIds.push(hex(fingerprintOf(p.body).subarray(12)));
    } else if (p.tag === TAG.signature) {
      if (at === 'subkey') continue; // subkey bindings: a subkey's signature is refused before they matter
      if (!judged) continue;
      let sig: SignaturePacket;
      try {
        sig = parseSignature(p.body);
      } catch {
        judged = false;
        continue;
      }
      const type = sig.signatureType;
      if (at === 'key' || type < 0x10 || type > 0x13) {
        // direct-key signatures, revocations, anything else on the key or a user id: openpgp.js judges the key
        judged = false;
        continue;
      }
      const issuer = issuerOf(sig);
      if (issuer !== keyId) {
        // a third party's certification plays no part in validity; an unclear issuer is left to openpgp.js
        if (issuer === undefined) judged = false;
        continue;
      }
      const f = hashedFields(sig, 'certification');
      if (f === undefined || f.keyFlags === 'empty') {
        judged = false;
        continue;
      }
      const uid = userPacket as Uint8Array;
      const uidHead = Buffer.from([0xb4, 0, 0, 0, 0]);
      uidHead.writeUInt32BE(uid.length, 1);
      const toHash = Buffer.concat([keyHash, uidHead, uid, sig.signatureData, trailer(sig)]);
      if (cryptoCheck(sig, primary, nodeKey as KeyObject, toHash, true) !== true) {
        judged = false;
        continue;
      }
      (users[users.length - 1] as SelfCertification[]).push({
        created: f.created,
        expires: f.expires,
        keyExpires:
          f.keyExpiration === undefined || f.keyExpiration === 0
            ? Infinity
            : primary.created * 1000 + f.keyExpiration * 1000,
        keyFlags: f.keyFlags,
      });
    } else {
      // user attributes, secret keys, anything else
      return undefined;
    }
  }
  const algorithm =
    primary.algorithm === 17
      ? 'dsa'
      : primary.algorithm === 19
        ? 'ecdsa'
        : primary.algorithm === 22
          ? 'eddsa'
          : 'rsa';
  const bits =
    primary.algorithm === 1 || primary.algorithm === 3 || primary.algorithm === 17
      ? bitLength(primary.mpis[0] as Uint8Array)
      : undefined;
  // openpgp.js refuses RSA keys under 1024 bits (as configured by simple-signing.ts)
  if (algorithm === 'rsa' && (bits ?? 0) < 1024) judged = false;
  return {
    fingerprint: hex(fpr).toUpperCase(),
    keyId,
    subkeyIds,
    userIds,
    ...(judged
      ? { judged: { primary, nodeKey: nodeKey as KeyObject, algorithm, bits, users } }
      : {}),
  };
}

/**
 * The keys of a key ring (binary, or armoured public key blocks in the usual form), or `undefined` when anything in
 * it is not read here (secret keys, v5/v6 keys, unknown packets, unusual armour): openpgp.js reads it then.
 */
export function readNativeKeys(data: Uint8Array | string): NativeKey[] | undefined {
  let binary: Uint8Array[];
  let text: string | undefined;
  if (typeof data === 'string') text = data;
  else if (
    new TextDecoder('latin1').decode(data.subarray(0, 64 * 1024)).includes('-----BEGIN PGP ')
  ) {
    // as keys.ts tells armour from binary: armour must be valid UTF-8 (else openpgp.js reads it as binary)
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data);
    } catch {
      return undefined;
    }
  }
  if (text !== undefined) {
    if (text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')) return undefined;
    const blocks =
      text.match(
        /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g,
      ) ?? [];
    binary = [];
    for (const block of blocks) {
      const b = dearmor(block, 'PUBLIC KEY BLOCK');
      if (b === undefined) return undefined;
      binary.push(b);
    }
  } else binary = [data as Uint8Array];
  const keys: NativeKey[] = [];
  for (const b of binary) {
    let packets: Packet[];
    try {
      packets = readPackets(b);
    } catch {
      return undefined;
    }
    // split at each primary key packet
    let start = 0;
    for (let i = 1; i <= packets.length; i++) {
      if (i < packets.length && packets[i]?.tag !== TAG.publicKey) continue;
      const key = readKey(packets.slice(start, i));
      if (key === undefined) return undefined;
      keys.push(key);
      start = i;
    }
  }
  return keys.length === 0 ? undefined : keys;
}

/**
 * Whether openpgp.js's `getSigningKey(primary key id, date)` answers with the primary key (true); `undefined` when it
 * might not, or when the answer depends on a choice among self-certifications that do not agree.
 */
function usableAt(key: NonNullable<NativeKey['judged']>, date: number): true | undefined {
  if (key.primary.created * 1000 > date) return undefined;
  let any = false;
  for (const certs of key.users) {
    // openpgp.js's latest valid self-certification of a user (from the end, the later or equal one wins)
    let latest: SelfCertification | undefined;
    for (let i = certs.length - 1; i >= 0; i--) {
      const c = certs[i] as SelfCertification;
      if (
        (latest === undefined || c.created >= latest.created) &&
        c.created <= date &&
        date < c.expires
      )
        latest = c;
    }
    if (latest === undefined) continue;
    any = true;
    const signs = latest.keyFlags === undefined || (latest.keyFlags & 0x02) !== 0;
    if (!signs || !(date < latest.keyExpires)) return undefined;
  }
  return any ? true : undefined;
}

/** A message signature as the native verifier read it. */
export interface NativeMessage {
  readonly sig: SignaturePacket;
  /** Lower-case 16-digit issuer key id. */
  readonly issuer: string;
  readonly literal: Uint8Array;
  readonly created: number;
  readonly expires: number;
}

/**
 * The usual layout of a simple-signing blob: optionally one ZIP/ZLIB/uncompressed Compressed Data packet around
 * an optional one-pass signature that agrees with the signature, one literal data packet and one v4 binary
 * signature. `undefined` for any other layout or anything malformed (openpgp.js then reads it); the inflated data
 * never exceeds `maxSize`.
 */
export function readNativeMessage(blob: Uint8Array, maxSize: number): NativeMessage | undefined {
  let packets: Packet[];
  try {
    packets = readPackets(blob, 16);
    if (packets.length === 1 && packets[0]?.tag === TAG.compressedData)
      packets = readPackets(decompress(packets[0].body, maxSize), 16);
  } catch {
    // malformed, or inflating past maxSize: openpgp.js's path gives the refusal and its reason
    return undefined;
  }
  const tags = packets.map((p) => p.tag);
  const ops = tags.length === 3 ? packets[0] : undefined;
  const [lit, sigPacket] = packets.slice(tags.length - 2);
  if (
    (tags.length !== 2 && tags.length !== 3) ||
    lit?.tag !== TAG.literalData ||
    sigPacket?.tag !== TAG.signature ||
    (ops !== undefined && ops.tag !== TAG.onePassSignature)
  )
    return undefined;
  let sig: SignaturePacket;
  try {
    sig = parseSignature(sigPacket.body);
  } catch {
    return undefined;
  }
  if (sig.signatureType !== 0) return undefined;
  const issuer = issuerOf(sig);
  const f = hashedFields(sig, 'data');
  if (issuer === undefined || f === undefined || /^0+$/.test(issuer)) return undefined;
  if (ops !== undefined) {
    const o = ops.body;
    if (
      o.length !== 13 ||
      o[0] !== 3 ||
      o[1] !== sig.signatureType ||
      o[2] !== sig.hashAlgorithm ||
      o[3] !== sig.publicKeyAlgorithm ||
      hex(o.subarray(4, 12)) !== issuer ||
      o[12] !== 1
    )
      return undefined;
  }
  const l = lit.body;
  const nameLength = l[1];
  if (nameLength === undefined || l.length < 6 + nameLength) return undefined;
  return {
    sig,
    issuer,
    literal: l.subarray(6 + nameLength),
    created: f.created,
    expires: f.expires,
  };
}

/** What the native verifier decided about a signature. */
export type NativeOutcome =
  | {
      readonly accepted: true;
      readonly key: NativeKey;
      readonly created: Date;
      /** openpgp.js's algorithm family of the key and its modulus bits, for the weakness warnings. */
      readonly algorithm: 'rsa' | 'dsa' | 'ecdsa' | 'eddsa';
      readonly bits: number | undefined;
      readonly hashAlgorithm: number;
    }
  | { readonly accepted: false; readonly untrustedIssuer: string };

/**
 * Judges `message` against `keys` as simple-signing.ts's openpgp.js path does, when it can: accepted (a valid
 * signature by a trusted primary key, valid at signing time and at `now`), refused because no trusted key carries
 * the issuer key id (the one refusal decided here), or `undefined` for openpgp.js to decide.
 */
export async function judgeNative(
  message: NativeMessage,
  keys: readonly NativeKey[],
  now: Date,
): Promise<NativeOutcome | undefined> {
  const key = keys.find((k) => k.keyId === message.issuer || k.subkeyIds.includes(message.issuer));
  if (key === undefined) return { accepted: false, untrustedIssuer: message.issuer };
  const j = key.judged;
  if (j === undefined || key.keyId !== message.issuer || key.subkeyIds.includes(message.issuer))
    return undefined;
  const { sig, created } = message;
  const nowMs = now.getTime();
  // a signature "from the future" is judged at its creation time, as GnuPG does (simple-signing.ts)
  const verifyAt = created > nowMs ? created : nowMs;
  if (usableAt(j, created) !== true || usableAt(j, nowMs) !== true) return undefined;
  if (!(verifyAt < message.expires)) return undefined;
  const ok = await cryptoCheck(
    sig,
    j.primary,
    j.nodeKey,
    Buffer.concat([message.literal, sig.signatureData, trailer(sig)]),
    false,
  );
  if (ok !== true) return undefined;
  return {
    accepted: true,
    key,
    created: new Date(created),
    algorithm: j.algorithm,
    bits: j.bits,
    hashAlgorithm: sig.hashAlgorithm,
  };
}

/** Key ids (upper-case) a message claims to be signed by, read natively; `undefined` when not read here. */
export function nativeSigningKeyIds(blob: Uint8Array): string[] | undefined {
  const m = readNativeMessage(blob, 4 * 1024 * 1024);
  return m === undefined ? undefined : [m.issuer.toUpperCase()];
}

export type { Subpacket };
