/**
 * A small, bounded OpenPGP packet reader (RFC 4880 / RFC 9580 framing) for the native verifier (native-verify.ts):
 * packet headers in the old and the new format (partial body lengths included), ZIP/ZLIB compressed data with a
 * bound on the inflated size, literal data, one-pass signatures, v4 signatures with their subpackets and v4 public
 * keys. It reads only what is in memory and never reads past a length; whatever it does not understand exactly
 * throws {@link PacketError}, and the caller then leaves the data to openpgp.js.
 */
import { inflateRawSync, inflateSync } from 'node:zlib';

/** Data outside what this reader understands, or malformed (truncated, lengths past the end, too large). */
export class PacketError extends Error {
  /** `SIGNATURE_TOO_LARGE` when decompressing went past the bound; else undefined. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'PacketError';
    this.code = code;
  }
}

/** Packet tags used here (RFC 4880 section 4.3). */
export const TAG = {
  signature: 2,
  onePassSignature: 4,
  publicKey: 6,
  compressedData: 8,
  marker: 10,
  literalData: 11,
  trust: 12,
  userId: 13,
  publicSubkey: 14,
  userAttribute: 17,
} as const;

/** One packet: its tag and its body (the parts of a partial-length body joined). */
export interface Packet {
  readonly tag: number;
  readonly body: Uint8Array;
}

/** The largest number of packets read from one input (a key ring or a message). */
export const MAX_PACKETS = 10_000;

/**
 * The packets of `data`, in order. New-format partial body lengths are joined (the first part at least 512 octets,
 * as RFC 4880 requires; each part within the data); an old-format indeterminate length runs to the end of the data.
 * @throws PacketError for a truncated packet, a length past the end, more than `maxPackets` packets
 */
export function readPackets(data: Uint8Array, maxPackets: number = MAX_PACKETS): Packet[] {
  const out: Packet[] = [];
  let at = 0;
  const byte = (i: number): number => {
    if (i >= data.length) throw new PacketError('truncated packet header');
    return data[i] as number;
  };
  const u32 = (i: number): number =>
    byte(i) * 0x1000000 + (byte(i + 1) << 16) + (byte(i + 2) << 8) + byte(i + 3);
  const take = (start: number, length: number): Uint8Array => {
    if (length < 0 || start + length > data.length)
      throw new PacketError(`packet length ${length} runs past the end of the data`);
    return data.subarray(start, start + length);
  };
  while (at < data.length) {
    if (out.length >= maxPackets) throw new PacketError(`more than ${maxPackets} packets`);
    const ctb = byte(at);
    if ((ctb & 0x80) === 0) throw new PacketError('not an OpenPGP packet header');
    if ((ctb & 0x40) === 0) {
      const tag = (ctb >> 2) & 0x0f;
      const lengthType = ctb & 0x03;
      if (lengthType === 3) {
        out.push({ tag, body: data.subarray(at + 1) });
        at = data.length;
        continue;
      }
      const n = 1 << lengthType;
      let length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + byte(at + 1 + i);
      out.push({ tag, body: take(at + 1 + n, length) });
      at += 1 + n + length;
      continue;
    }
    const tag = ctb & 0x3f;
    let p = at + 1;
    const parts: Uint8Array[] = [];
    for (;;) {
      const l0 = byte(p);
      if (l0 < 192) {
        parts.push(take(p + 1, l0));
        p += 1 + l0;
        break;
      }
      if (l0 < 224) {
        const length = ((l0 - 192) << 8) + byte(p + 1) + 192;
        parts.push(take(p + 2, length));
        p += 2 + length;
        break;
      }
      if (l0 === 255) {
        const length = u32(p + 1);
        parts.push(take(p + 5, length));
        p += 5 + length;
        break;
      }
      // partial body length: a power of two, more parts follow
      const length = 1 << (l0 & 0x1f);
      if (parts.length === 0 && length < 512)
        throw new PacketError('first partial body length below 512 octets');
      parts.push(take(p + 1, length));
      p += 1 + length;
    }
    out.push({ tag, body: parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts) });
    at = p;
  }
  return out;
}

/**
 * The body of a Compressed Data packet inflated: algorithm 0 (uncompressed), 1 (ZIP, raw deflate) or 2 (ZLIB);
 * at most `maxSize` octets are ever produced.
 * @throws PacketError for another algorithm (BZip2), bad data, or more than `maxSize` octets (`SIGNATURE_TOO_LARGE`)
 */
export function decompress(body: Uint8Array, maxSize: number): Uint8Array {
  const algorithm = body[0];
  const data = body.subarray(1);
  if (algorithm === 0) {
    if (data.length > maxSize)
      throw new PacketError(
        `decompressed signature exceeds ${maxSize} bytes`,
        'SIGNATURE_TOO_LARGE',
      );
    return data;
  }
  if (algorithm !== 1 && algorithm !== 2)
    throw new PacketError(`compression algorithm ${String(algorithm)} is not handled here`);
  try {
    return new Uint8Array(
      algorithm === 1
        ? inflateRawSync(data, { maxOutputLength: maxSize })
        : inflateSync(data, { maxOutputLength: maxSize }),
    );
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new PacketError(
        `decompressed signature exceeds ${maxSize} bytes`,
        'SIGNATURE_TOO_LARGE',
      );
    throw new PacketError(`cannot decompress: ${(e as Error).message}`);
  }
}

/** A reader over one packet body that refuses to read past its end. */
class Cursor {
  at = 0;
  readonly b: Uint8Array;
  constructor(b: Uint8Array) {
    this.b = b;
  }
  u8(): number {
    if (this.at >= this.b.length) throw new PacketError('truncated packet');
    return this.b[this.at++] as number;
  }
  u16(): number {
    return (this.u8() << 8) + this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  bytes(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.b.length) throw new PacketError('truncated packet');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  /** A multiprecision integer: its value octets (bit count checked against the leading octet). */
  mpi(): Uint8Array {
    const bits = this.u16();
    const v = this.bytes((bits + 7) >> 3);
    if (bits === 0 || (v[0] as number) >> ((bits - 1) % 8) !== 1)
      throw new PacketError('MPI bit count does not match its value');
    return v;
  }
  get done(): boolean {
    return this.at === this.b.length;
  }
}

/** One signature subpacket. */
export interface Subpacket {
  readonly type: number;
  readonly critical: boolean;
  readonly body: Uint8Array;
}

/** A parsed v4 signature packet. */
export interface SignaturePacket {
  readonly version: 4;
  readonly signatureType: number;
  readonly publicKeyAlgorithm: number;
  readonly hashAlgorithm: number;
  readonly hashed: readonly Subpacket[];
  readonly unhashed: readonly Subpacket[];
  /** Version through the hashed subpackets: what the v4 trailer counts and the hash covers. */
  readonly signatureData: Uint8Array;
  readonly left16: Uint8Array;
  /** Signature MPIs (RSA: [s]; DSA, ECDSA, EdDSA legacy: [r, s]). */
  readonly mpis: readonly Uint8Array[];
}

function readSubpackets(c: Cursor, length: number): Subpacket[] {
  const area = new Cursor(c.bytes(length));
  const out: Subpacket[] = [];
  while (!area.done) {
    const l0 = area.u8();
    let len: number;
    if (l0 < 192) len = l0;
    else if (l0 < 255) len = ((l0 - 192) << 8) + area.u8() + 192;
    else len = area.u32();
    if (len === 0) throw new PacketError('empty signature subpacket');
    const body = area.bytes(len);
    out.push({
      type: (body[0] as number) & 0x7f,
      critical: (body[0] as number) >= 0x80,
      body: body.subarray(1),
    });
  }
  return out;
}

/** Signature algorithms whose MPIs are read here: RSA (1, 3), DSA (17), ECDSA (19), EdDSA legacy (22). */
const SIGNATURE_MPIS: Readonly<Record<number, number>> = { 1: 1, 3: 1, 17: 2, 19: 2, 22: 2 };

/** A v4 signature packet body. @throws PacketError for another version or algorithm, or a malformed body */
export function parseSignature(body: Uint8Array): SignaturePacket {
  const c = new Cursor(body);
  if (c.u8() !== 4) throw new PacketError('not a v4 signature');
  const signatureType = c.u8();
  const publicKeyAlgorithm = c.u8();
  const hashAlgorithm = c.u8();
  const hashed = readSubpackets(c, c.u16());
  const signatureData = body.subarray(0, c.at);
  const unhashed = readSubpackets(c, c.u16());
  const left16 = c.bytes(2);
  const count = SIGNATURE_MPIS[publicKeyAlgorithm];
  if (count === undefined)
    throw new PacketError(`signature algorithm ${publicKeyAlgorithm} is not handled here`);
  const mpis: Uint8Array[] = [];
  for (let i = 0; i < count; i++) mpis.push(c.mpi());
  if (!c.done) throw new PacketError('trailing data after the signature MPIs');
  return {
    version: 4,
    signatureType,
    publicKeyAlgorithm,
    hashAlgorithm,
    hashed,
    unhashed,
    signatureData,
    left16,
    mpis,
  };
}

/** A parsed v4 public (sub)key packet. */
export interface PublicKeyPacket {
  readonly version: 4;
  /** Seconds since the epoch. */
  readonly created: number;
  readonly algorithm: number;
  /** RSA: [n, e]; DSA: [p, q, g, y]; ECDSA / EdDSA legacy: [point] with {@link curveOid}. */
  readonly mpis: readonly Uint8Array[];
  readonly curveOid?: Uint8Array;
  /** The packet body, as the fingerprint and the certifications hash it. */
  readonly body: Uint8Array;
}

/**
 * A v4 public key packet body with an algorithm whose key material is read here (RSA, DSA, ECDSA, EdDSA legacy);
 * any other algorithm keeps no material (`mpis` empty): it can still be named by its fingerprint.
 * @throws PacketError for another version, or malformed key material of a known algorithm
 */
export function parsePublicKey(body: Uint8Array): PublicKeyPacket {
  const c = new Cursor(body);
  if (c.u8() !== 4) throw new PacketError('not a v4 key');
  const created = c.u32();
  const algorithm = c.u8();
  const mpis: Uint8Array[] = [];
  let curveOid: Uint8Array | undefined;
  if (algorithm === 1 || algorithm === 2 || algorithm === 3) mpis.push(c.mpi(), c.mpi());
  else if (algorithm === 17) mpis.push(c.mpi(), c.mpi(), c.mpi(), c.mpi());
  else if (algorithm === 19 || algorithm === 22) {
    const n = c.u8();
    if (n === 0 || n === 0xff) throw new PacketError('reserved curve OID length');
    curveOid = c.bytes(n);
    mpis.push(c.mpi());
  } else return { version: 4, created, algorithm, mpis, body };
  if (!c.done) throw new PacketError('trailing data after the key material');
  return { version: 4, created, algorithm, mpis, ...(curveOid ? { curveOid } : {}), body };
}

/** One ASCII-armoured block's binary content, only when it is exactly in the usual form; else `undefined`. */
export function dearmor(block: string, kind: string): Uint8Array | undefined {
  const lines = block.split(/\r?\n/);
  if (lines[0] !== `-----BEGIN PGP ${kind}-----`) return undefined;
  let i = 1;
  // armour headers (Version:, Comment:, ...) up to the empty line
  while (i < lines.length && lines[i] !== '') {
    if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(lines[i] as string)) return undefined;
    i++;
  }
  i++;
  let b64 = '';
  let crc: string | undefined;
  for (; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l === `-----END PGP ${kind}-----`) break;
    if (l.startsWith('=')) {
      crc = l.slice(1);
      continue;
    }
    if (crc !== undefined || !/^[A-Za-z0-9+/]*={0,2}$/.test(l)) return undefined;
    b64 += l;
  }
  if (i >= lines.length || crc === undefined || !/^[A-Za-z0-9+/]{4}$/.test(crc)) return undefined;
  if (b64.length % 4 !== 0 || /=[^=]/.test(b64)) return undefined;
  const data = new Uint8Array(Buffer.from(b64, 'base64'));
  return crc24(data) === Buffer.from(crc, 'base64').readUIntBE(0, 3) ? data : undefined;
}

/** CRC-24 of OpenPGP armour (RFC 4880 section 6.1), a byte at a time from a table: the bitwise loop took about 1.5 ms
 * of every signing-key read (a 4 KB RSA key, run once and so never optimised). */
let CRC24_TABLE: Int32Array | undefined;
function crc24(data: Uint8Array): number {
  if (CRC24_TABLE === undefined) {
    CRC24_TABLE = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i << 16;
      for (let k = 0; k < 8; k++) {
        c <<= 1;
        if (c & 0x1000000) c ^= 0x1864cfb;
      }
      CRC24_TABLE[i] = c & 0xffffff;
    }
  }
  const table = CRC24_TABLE;
  let crc = 0xb704ce;
  for (let i = 0; i < data.length; i++)
    crc = ((crc << 8) ^ (table[((crc >> 16) ^ (data[i] as number)) & 0xff] as number)) & 0xffffff;
  return crc;
}
