// Minimal DER encoding and decoding: enough for PKCS#10 requests and certificate subjects.
// The subject is built as a structure, never from a string, so a group cannot inject an RDN.

/** A decoded DER element. */
export interface DerNode {
  readonly tag: number;
  /** Content octets. */
  readonly value: Uint8Array;
  /** The whole element (header and content). */
  readonly raw: Uint8Array;
}

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  while (n > 0) {
    out.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | out.length, ...out];
}

/** One element from a tag and its content. */
export function der(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Buffer.concat([Uint8Array.from([tag, ...lengthBytes(body.length)]), body]);
}

export const seq = (...c: readonly Uint8Array[]) => der(0x30, ...c);
export const set = (...c: readonly Uint8Array[]) => der(0x31, ...c);
export const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
export const nullValue = () => der(0x05);
export const integer0 = () => der(0x02, Uint8Array.of(0));
export const bitString = (bytes: Uint8Array) => der(0x03, Uint8Array.of(0), bytes);

/** Encodes a dotted object identifier. */
export function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(...chunk);
  }
  return der(0x06, Uint8Array.from(bytes));
}

/** Decodes a dotted object identifier from content octets. */
export function decodeOid(value: Uint8Array): string {
  const first = value[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let acc = 0;
  for (const b of value.subarray(1)) {
    acc = acc * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

/** Reads one element at `offset`. Throws on truncated or oversized input. */
export function readDer(buf: Uint8Array, offset = 0): DerNode {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined) throw new Error('truncated DER');
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[pos++];
      if (b === undefined) throw new Error('truncated DER');
      len = len * 256 + b;
    }
  }
  if (pos + len > buf.length) throw new Error('truncated DER');
  return { tag, value: buf.subarray(pos, pos + len), raw: buf.subarray(offset, pos + len) };
}

/** The elements inside a constructed element. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let off = 0;
  while (off < node.value.length) {
    const c = readDer(node.value, off);
    out.push(c);
    off += c.raw.length;
  }
  return out;
}

/** PEM armour of DER bytes. */
export function toPem(label: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** DER bytes of the first PEM block with this label. */
export function fromPem(label: string, pem: string): Uint8Array {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(
    pem,
  );
  if (!m) throw new Error(`no ${label} PEM block`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}
