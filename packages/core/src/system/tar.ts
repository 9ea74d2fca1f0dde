/**
 * A small streaming tar reader and writer (POSIX ustar + pax extended headers, GNU long names when
 * reading). Pure: works on byte chunks, touches no file system. The reader never buffers entry bodies.
 */

/** Size of a tar block. */
export const BLOCK = 512;
/** GNU tar pads archives to records of 20 blocks. */
const RECORD = 20 * BLOCK;
/** Largest pax / GNU long-name header body accepted. */
const MAX_META_SIZE = 1024 * 1024;

/** Entry types as they are reported (links, devices and FIFOs are reported so that callers can refuse them). */
export type TarEntryType =
  'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'other';

/** One member header after pax/GNU extensions were applied. */
export interface TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  /** The raw typeflag character. */
  readonly typeflag: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly linkname: string;
}

/** Why the stream is not a tar archive we read. */
export class TarFormatError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'TarFormatError';
    this.reason = reason;
  }
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

function cString(b: Uint8Array): Uint8Array {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
}

function text(b: Uint8Array): string {
  const s = cString(b);
  try {
    return utf8.decode(s);
  } catch {
    return latin1.decode(s);
  }
}

/** Octal (NUL/space terminated) or GNU base-256 numeric field. */
function parseNumber(b: Uint8Array, field: string): number {
  if (b.length > 0 && ((b[0] as number) & 0x80) !== 0) {
    if (((b[0] as number) & 0x40) !== 0)
      throw new TarFormatError('header', `negative ${field} in tar header`);
    let v = (b[0] as number) & 0x3f;
    for (let i = 1; i < b.length; i++) {
      v = v * 256 + (b[i] as number);
      if (!Number.isSafeInteger(v))
        throw new TarFormatError('header', `${field} too large in tar header`);
    }
    return v;
  }
  const s = latin1.decode(cString(b)).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s))
    throw new TarFormatError('header', `invalid ${field} "${s}" in tar header`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v))
    throw new TarFormatError('header', `${field} too large in tar header`);
  return v;
}

function isZeroBlock(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

function checksumOf(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (b[i] as number);
  return sum;
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    case '3':
    case '4':
      return 'device';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

/** Parse `<len> <key>=<value>\n` pax records. */
export function parsePaxRecords(body: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp < 0) throw new TarFormatError('pax', 'malformed pax record');
    const len = Number(latin1.decode(body.subarray(off, sp)));
    if (
      !Number.isSafeInteger(len) ||
      len <= sp - off + 1 ||
      off + len > body.length ||
      body[off + len - 1] !== 0x0a
    ) {
      throw new TarFormatError('pax', 'malformed pax record length');
    }
    let rec: string;
    try {
      rec = utf8.decode(body.subarray(sp + 1, off + len - 1));
    } catch {
      throw new TarFormatError('pax', 'pax record is not UTF-8');
    }
    const eq = rec.indexOf('=');
    if (eq <= 0) throw new TarFormatError('pax', 'malformed pax record');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

/** Pulls exact byte counts out of a chunk stream without copying large bodies. */
class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #eof = false;
  /** Bytes consumed from the source so far. */
  consumed = 0;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }
  async #fill(): Promise<boolean> {
    while (this.#buf.length === 0) {
      if (this.#eof) return false;
      const r = await this.#it.next();
      if (r.done) {
        this.#eof = true;
        return false;
      }
      this.#buf = r.value;
    }
    return true;
  }
  /** Exactly n bytes (copied), or fewer at the end of the stream. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n && (await this.#fill())) {
      const take = Math.min(n - got, this.#buf.length);
      out.set(this.#buf.subarray(0, take), got);
      this.#buf = this.#buf.subarray(take);
      got += take;
    }
    this.consumed += got;
    return got === n ? out : out.subarray(0, got);
  }
  /** n bytes as subarrays of the source chunks; throws when the stream ends first. */
  async *stream(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw new TarFormatError('truncated', 'tar archive is truncated');
      const take = Math.min(left, this.#buf.length);
      const part = this.#buf.subarray(0, take);
      this.#buf = this.#buf.subarray(take);
      left -= take;
      this.consumed += take;
      yield part;
    }
  }
  async skip(n: number): Promise<void> {
    const it = this.stream(n);
    while (!(await it.next()).done) {
      // discard
    }
  }
  /** Drain the rest of the source (at most `limit` bytes); returns the number of bytes drained. */
  async drain(limit: number): Promise<number> {
    let n = 0;
    while (await this.#fill()) {
      n += this.#buf.length;
      this.#buf = new Uint8Array(0);
      if (n > limit)
        throw new TarFormatError(
          'limit',
          `more than ${limit} bytes after the end of the tar archive`,
        );
    }
    this.consumed += n;
    return n;
  }
  /** Stop the source early (lets a producer process be cleaned up). */
  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/** Limits of {@link readTar}. */
export interface ReadTarOptions {
  /** Largest pax / GNU long-name body. @default 1 MiB */
  readonly maxMetaSize?: number;
  /** Most bytes accepted after the end-of-archive block. @default 16 MiB */
  readonly maxTrailing?: number;
}

/**
 * Read a tar stream member by member. The consumer must read `body` to its end (or not at all, then it is
 * skipped) before asking for the next member. Bytes after the end-of-archive block are drained and reported
 * in `trailing` of the final value.
 * @throws TarFormatError
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  options: ReadTarOptions = {},
): AsyncGenerator<
  { entry: TarEntry; body: AsyncIterable<Uint8Array> },
  { trailing: number; consumed: number }
> {
  const maxMeta = options.maxMetaSize ?? MAX_META_SIZE;
  const r = new ChunkReader(source);
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const h = await r.read(BLOCK);
      if (h.length === 0)
        throw new TarFormatError('truncated', 'tar archive ends without an end-of-archive block');
      if (h.length < BLOCK) throw new TarFormatError('truncated', 'tar archive is truncated');
      if (isZeroBlock(h)) {
        const trailing = await r.drain(options.maxTrailing ?? 16 * 1024 * 1024);
        return { trailing, consumed: r.consumed };
      }
      const stored = parseNumber(h.subarray(148, 156), 'checksum');
      if (stored !== checksumOf(h))
        throw new TarFormatError('checksum', 'tar header checksum mismatch (not a tar archive?)');
      const magic = latin1.decode(h.subarray(257, 263));
      const isUstar = magic === 'ustar\0';
      const typeflag = String.fromCharCode(h[156] as number);
      let size = parseNumber(h.subarray(124, 136), 'size');
      if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
        if (size > maxMeta)
          throw new TarFormatError(
            'limit',
            `tar extension header of ${size} bytes exceeds ${maxMeta}`,
          );
        const body = await r.read(size);
        if (body.length < size) throw new TarFormatError('truncated', 'tar archive is truncated');
        await r.skip(padding(size));
        if (typeflag === 'x') for (const [k, v] of parsePaxRecords(body)) pax.set(k, v);
        else if (typeflag === 'L') longName = text(body);
        else if (typeflag === 'K') longLink = text(body);
        // 'g' (global pax header): nothing in it changes how we read members
        continue;
      }
      let name = text(h.subarray(0, 100));
      if (isUstar) {
        const prefix = text(h.subarray(345, 500));
        if (prefix !== '') name = `${prefix}/${name}`;
      }
      if (longName !== undefined) name = longName;
      if (pax.has('path')) name = pax.get('path') as string;
      let linkname = longLink ?? text(h.subarray(157, 257));
      if (pax.has('linkpath')) linkname = pax.get('linkpath') as string;
      if (pax.has('size')) {
        const s = pax.get('size') as string;
        if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s)))
          throw new TarFormatError('pax', `invalid pax size "${s}"`);
        size = Number(s);
      }
      const type = typeOf(typeflag);
      // links, devices, FIFOs and directories carry no data even when a size is set (except hard links in pax)
      const hasData = type === 'file' || type === 'other';
      const entry: TarEntry = {
        name,
        type,
        typeflag,
        size: hasData ? size : 0,
        mode: parseNumber(h.subarray(100, 108), 'mode'),
        mtime: parseNumber(h.subarray(136, 148), 'mtime'),
        linkname,
      };
      pax = new Map();
      longName = undefined;
      longLink = undefined;
      const dataSize = hasData ? size : 0;
      let started = false;
      const body: AsyncIterable<Uint8Array> = {
        [Symbol.asyncIterator]: () => {
          started = true;
          return r.stream(dataSize);
        },
      };
      const before = r.consumed;
      yield { entry, body };
      // skip what the consumer did not read, then the padding
      const read = started ? r.consumed - before : 0;
      if (read < dataSize) await r.skip(dataSize - read);
      await r.skip(padding(dataSize));
    }
  } finally {
    await r.close();
  }
}

// ---------------------------------------------------------------------------------------------
// writing

const enc = new TextEncoder();

function octal(value: number, width: number): Uint8Array {
  // width-1 digits + NUL
  const s = value.toString(8).padStart(width - 1, '0');
  if (s.length > width - 1)
    throw new RangeError(`value ${value} does not fit a ${width}-byte tar field`);
  return enc.encode(`${s}\0`);
}

function put(h: Uint8Array, offset: number, data: Uint8Array, width: number): void {
  if (data.length > width) throw new RangeError('tar field overflow');
  h.set(data, offset);
}

/** A member to write. */
export interface TarWriteEntry {
  readonly name: string;
  readonly type: 'file' | 'directory';
  readonly size?: number;
  readonly mode: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

function rawHeader(
  name: Uint8Array,
  prefix: Uint8Array,
  typeflag: string,
  size: number,
  mode: number,
  mtime: number,
): Uint8Array {
  const h = new Uint8Array(BLOCK);
  put(h, 0, name, 100);
  put(h, 100, octal(mode & 0o7777, 8), 8);
  put(h, 108, octal(0, 8), 8);
  put(h, 116, octal(0, 8), 8);
  put(h, 124, octal(size, 12), 12);
  put(h, 136, octal(Math.max(0, Math.floor(mtime)), 12), 12);
  h[156] = typeflag.charCodeAt(0);
  put(h, 257, enc.encode('ustar\0'), 6);
  put(h, 263, enc.encode('00'), 2);
  put(h, 265, enc.encode('root'), 32);
  put(h, 297, enc.encode('root'), 32);
  put(h, 345, prefix, 155);
  h.fill(32, 148, 156);
  const sum = checksumOf(h);
  put(h, 148, enc.encode(`${sum.toString(8).padStart(6, '0')}\0 `), 8);
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = enc.encode(` ${key}=${value}\n`).length;
  let len = body;
  while (body + String(len).length !== len) len = body + String(len).length;
  return `${len} ${key}=${value}\n`;
}

/** Split a name into the ustar prefix and name fields, or `undefined` when it does not fit. */
function splitUstar(name: Uint8Array): { prefix: Uint8Array; name: Uint8Array } | undefined {
  if (name.length <= 100) return { prefix: new Uint8Array(0), name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

/**
 * The header block(s) of one member: a ustar header, preceded by a pax header when the name does not fit
 * or the size exceeds the octal field. The caller writes the body and {@link tarPadding} after it.
 */
export function formatTarHeader(e: TarWriteEntry): Uint8Array {
  const name = e.type === 'directory' && !e.name.endsWith('/') ? `${e.name}/` : e.name;
  const size = e.type === 'file' ? (e.size ?? 0) : 0;
  const bytes = enc.encode(name);
  const split = splitUstar(bytes);
  const records: string[] = [];
  if (split === undefined) records.push(paxRecord('path', name));
  const bigSize = size > 0o77777777777;
  if (bigSize) records.push(paxRecord('size', String(size)));
  const main = rawHeader(
    split?.name ?? bytes.subarray(0, 100),
    split?.prefix ?? new Uint8Array(0),
    e.type === 'directory' ? '5' : '0',
    bigSize ? 0 : size,
    e.mode,
    e.mtime,
  );
  if (records.length === 0) return main;
  const paxBody = enc.encode(records.join(''));
  const paxHeader = rawHeader(
    enc.encode('PaxHeaders/entry'),
    new Uint8Array(0),
    'x',
    paxBody.length,
    0o644,
    e.mtime,
  );
  const out = new Uint8Array(BLOCK + paxBody.length + padding(paxBody.length) + BLOCK);
  out.set(paxHeader, 0);
  out.set(paxBody, BLOCK);
  out.set(main, BLOCK + paxBody.length + padding(paxBody.length));
  return out;
}

/** Zero bytes that complete a body of `size` bytes to a block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array(padding(size));
}

/** The end-of-archive marker (two zero blocks) plus padding of the whole stream to a 10 KiB record. */
export function tarEnd(written: number): Uint8Array {
  const total = written + 2 * BLOCK;
  return new Uint8Array(2 * BLOCK + ((RECORD - (total % RECORD)) % RECORD));
}
