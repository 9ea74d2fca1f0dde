/**
 * Safe extraction and packing of xz-compressed tar archives, such as the per-architecture OCI archives
 * (`<arch>.tar.xz`, docs/files.md#oci-archives, docs/weaknesses.md#w15-loading-oci-archives):
 * `xz -dc` streams into our own tar reader, which refuses absolute names, `..`, links, devices and FIFOs
 * and enforces size and count limits; files are created exclusively (no following of anything) inside
 * a fresh private directory. Memory stays bounded: bodies are streamed, never buffered.
 */
import { ExternalCommandError, PodsecError, UsageError } from '../errors.ts';
import { escapeForTerminal } from '../util.ts';
import { BLOCK, formatTarHeader, readTar, TarFormatError, tarEnd, tarPadding } from './tar.ts';

/** A file being written. */
export interface OutputFile {
  /** Append a chunk. It may be kept and written later, up to `close`: the caller does not reuse its memory. */
  write(chunk: Uint8Array): Promise<void>;
  /** Write what is kept, then close; a failed earlier write fails here at the latest. */
  close(sync?: boolean): Promise<void>;
}

/** Decompressed output of an `xz -dc` process. */
export interface XzReader {
  readonly chunks: AsyncIterable<Uint8Array>;
  finish(): Promise<{ readonly exitCode: number; readonly stderr: string }>;
  kill(): void;
}

/** Input of an `xz -<level> -c > file` process. */
export interface XzWriter {
  write(chunk: Uint8Array): Promise<void>;
  finish(): Promise<{ readonly exitCode: number; readonly stderr: string }>;
  kill(): void;
}

/** A directory entry (lstat). */
export interface HostEntry {
  readonly name: string;
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
  readonly size: number;
  readonly mode: number;
}

/** Host operations of the archive code (host paths, not root-prefixed): see archive-host.ts. */
export interface ArchiveHost {
  /** Absolute host path of a user-given path. */
  resolve(path: string): string;
  /** stat (following symlinks). */
  kind(path: string): Promise<'file' | 'dir' | 'other' | undefined>;
  /** Size in bytes of a file (following symlinks). */
  sizeOf(path: string): Promise<number>;
  /** Bytes an unprivileged user may still write on the file system of `dir` (statfs), undefined if unknown. */
  freeSpace(dir: string): Promise<number | undefined>;
  /** mkdtemp under `parent`: a new 0700 directory, removed by `removeTree` or when a signal ends the command. */
  makeTempDir(parent: string, prefix: string): Promise<string>;
  /** Remove a tree (and forget it as a temporary path). */
  removeTree(path: string): Promise<void>;
  /** A temporary directory of {@link makeTempDir} was handed over (renamed): no longer remove it. */
  forget(path: string): void;
  chmod(path: string, mode: number): Promise<void>;
  /** mkdir without following symlinks; an existing non-directory is an error. */
  mkdir(path: string, mode: number): Promise<'created' | 'exists'>;
  /** Create a new file (O_EXCL | O_NOFOLLOW). */
  createFile(path: string, mode: number): Promise<OutputFile>;
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  readStream(path: string): AsyncIterable<Uint8Array>;
  /** Entries of a directory, sorted by name. */
  list(dir: string): Promise<HostEntry[]>;
  rename(from: string, to: string): Promise<void>;
  syncDir(dir: string): Promise<void>;
  /** `xz -dc < file`; more than `maxBytes` of output (if given) kills xz and fails the stream. */
  xzDecompress(file: string, memlimitMiB: number, maxBytes?: number): Promise<XzReader>;
  /** `xz -<level> -T<threads>` (0 = one thread per core) into a new file. */
  xzCompress(outFile: string, level: number, threads: number): Promise<XzWriter>;
}

/** Limits of {@link extractArchive}. */
export interface ExtractLimits {
  /** Total size of all member bodies. @default 8 GiB */
  readonly maxTotalSize?: number;
  /** Number of members. @default 100000 */
  readonly maxEntries?: number;
  /** Size of one member. @default maxTotalSize */
  readonly maxEntrySize?: number;
  /** Memory xz may use to decompress. @default 1024 MiB (with several threads) */
  readonly xzMemlimitMiB?: number;
  /** Largest content size per byte of the compressed archive (an xz bomb stops here). @default 50 */
  readonly maxRatio?: number;
  /** Content up to this size is allowed whatever the ratio (the tar framing of a tiny archive). @default 64 MiB */
  readonly ratioFloor?: number;
  /** Bytes that must stay free on the file system of the destination. @default 256 MiB */
  readonly reserveBytes?: number;
}

/** A member read into memory and checked before the extraction goes on (e.g. `amd64/index.json`). */
export interface InspectMember {
  /** Normalised member path (`amd64/index.json`). */
  readonly name: string;
  /** Larger is an error `OCI_INDEX_TOO_LARGE` before the body is read. */
  readonly maxSize: number;
  /** Called with the body; may throw to stop the extraction. */
  readonly onMember: (bytes: Uint8Array) => Promise<void> | void;
}

/** Defaults of {@link ExtractLimits}. */
export const DEFAULT_MAX_ARCHIVE_SIZE = 8 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 100_000;
export const DEFAULT_MAX_RATIO = 50;
const DEFAULT_RATIO_FLOOR = 64 * 1024 ** 2;
const DEFAULT_RESERVE = 256 * 1024 ** 2;
/** Bytes accepted after the end-of-archive block (GNU tar pads to a record; some writers add more). */
const MAX_TRAILING = 16 * 1024 * 1024;

/** Result of {@link extractArchive}. */
export interface ExtractResult {
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
}

function invalid(archive: string, reason: string, cause?: unknown): UsageError {
  return new UsageError('OCI_ARCHIVE_INVALID', `cannot extract ${archive}: ${reason}`, {
    details: { archive, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Relative path components of a member name, or a reason to refuse it: absolute names, `..`, NUL bytes and
 * empty names are refused; `.` and empty components are dropped (`./amd64//x` -> `amd64/x`).
 */
export function planMemberPath(
  name: string,
): { readonly parts: readonly string[] } | { readonly refused: string } {
  const shown = `"${escapeForTerminal(name)}"`;
  if (name.includes('\0')) return { refused: `member name with a NUL byte: ${shown}` };
  if (name.startsWith('/')) return { refused: `absolute member name ${shown}` };
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { refused: `member name with "..": ${shown}` };
  if (parts.length === 0) return { refused: `empty member name ${shown}` };
  return { parts };
}

/** Options of {@link extractArchive}. */
export interface ExtractOptions extends ExtractLimits {
  /** Members read into memory and checked as soon as they are met (the packer writes index.json first). */
  readonly inspect?: readonly InspectMember[];
}

/**
 * Where the members of {@link readArchive} go: the disk ({@link extractArchive}) or elsewhere (a registry). Names are
 * checked and normalised before they reach the sink; the sink never sees a link, device or FIFO.
 */
export interface ArchiveSink {
  /** A directory member, or the parent directories of a file (normalised components). */
  directory(parts: readonly string[]): Promise<void>;
  /**
   * A regular file of `size` bytes (already within the limits); `body` must be read to its end or not at all before
   * this resolves. `rel` is the normalised path (`amd64/blobs/sha256/…`).
   */
  file(rel: string, size: number, body: AsyncIterable<Uint8Array>): Promise<void>;
}

/** Options of {@link readArchive}. */
export interface ReadArchiveOptions extends ExtractOptions {
  /** Bytes free where the content goes (the extraction stops before the disk is full). @default unknown */
  readonly free?: number | undefined;
  /** Named in the free-space message. */
  readonly dest?: string;
}

function tooLarge(archive: string, reason: string): UsageError {
  return new UsageError('OCI_ARCHIVE_TOO_LARGE', `cannot extract ${archive}: ${reason}`, {
    details: { archive, reason },
  });
}

/**
 * Extract `<archive>` (xz-compressed tar) into the existing, empty, private directory `dest`.
 * Links of any kind, devices and FIFOs are refused, as are names leaving `dest`; nothing is ever
 * written outside `dest`. Before a member's body is written its declared size is checked against the limits:
 * the total, the expansion ratio over the compressed size (an xz bomb stops within its first members) and the free
 * space of `dest`'s file system minus a reserve, so the extraction stops before the disk is full.
 * On error `dest` may hold a partial tree: the caller removes it.
 * @throws UsageError `OCI_ARCHIVE_INVALID` (details.reason), `OCI_ARCHIVE_TOO_LARGE`, `OCI_INDEX_TOO_LARGE`, and
 *   whatever an `inspect` callback throws
 */
export async function extractArchive(
  host: ArchiveHost,
  archive: string,
  dest: string,
  limits: ExtractOptions = {},
): Promise<ExtractResult> {
  const free = await host.freeSpace(dest).catch(() => undefined);
  return readArchive(host, archive, diskSink(host, archive, dest), { ...limits, free, dest });
}

/** The sink of {@link extractArchive}: directories and exclusively created files under `dest`. */
export function diskSink(host: ArchiveHost, archive: string, dest: string): ArchiveSink {
  const dirs = new Set<string>();
  return {
    async directory(parts) {
      let rel = '';
      for (const p of parts) {
        rel = rel === '' ? p : `${rel}/${p}`;
        if (dirs.has(rel)) continue;
        await host.mkdir(`${dest}/${rel}`, 0o755);
        dirs.add(rel);
      }
    },
    async file(rel, _size, body) {
      let out: OutputFile;
      try {
        out = await host.createFile(`${dest}/${rel}`, 0o644);
      } catch (e) {
        throw invalid(
          archive,
          `cannot create ${escapeForTerminal(rel)} (duplicate member?): ${e instanceof Error ? e.message : String(e)}`,
          e,
        );
      }
      try {
        for await (const chunk of body) await out.write(chunk);
      } finally {
        await out.close();
      }
    },
  };
}

/**
 * Read `<archive>` (xz-compressed tar) member by member into `sink`, with every check of {@link extractArchive}
 * (names, member types, sizes, count, ratio, free space when `free` is given, the decompressed stream's bound).
 * @throws as {@link extractArchive}, and whatever the sink throws (a podsec error as is)
 */
export async function readArchive(
  host: ArchiveHost,
  archive: string,
  sink: ArchiveSink,
  limits: ReadArchiveOptions = {},
): Promise<ExtractResult> {
  const compressed = await host.sizeOf(archive).catch(() => 0);
  const byRatio = Math.max(
    (limits.maxRatio ?? DEFAULT_MAX_RATIO) * compressed,
    limits.ratioFloor ?? DEFAULT_RATIO_FLOOR,
  );
  const maxTotal = limits.maxTotalSize ?? DEFAULT_MAX_ARCHIVE_SIZE;
  const free = limits.free;
  const dest = limits.dest ?? archive;
  const reserve = limits.reserveBytes ?? DEFAULT_RESERVE;
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxEntry = Math.min(limits.maxEntrySize ?? maxTotal, maxTotal);
  const inspect = new Map((limits.inspect ?? []).map((m) => [m.name, m]));
  // the whole decompressed stream is bounded as well: the content limit plus the tar framing of the most members
  // (header, padding and a long-name extension each) and the trailing bytes the tar reader drains
  const maxStream =
    Math.min(maxTotal, byRatio) + maxEntries * 8 * BLOCK + MAX_TRAILING + 1024 * 1024;
  let xz: XzReader;
  try {
    xz = await host.xzDecompress(archive, limits.xzMemlimitMiB ?? 1024, maxStream);
  } catch (e) {
    throw invalid(archive, e instanceof Error ? e.message : String(e), e);
  }
  const dirs = new Set<string>();
  const ensureDirs = async (parts: readonly string[]): Promise<void> => {
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    await sink.directory(parts);
  };
  let files = 0;
  let entries = 0;
  let total = 0;
  let failure: unknown;
  try {
    const it = readTar(xz.chunks, { maxTrailing: MAX_TRAILING });
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      const { entry, body } = next.value;
      if (++entries > maxEntries) throw invalid(archive, `more than ${maxEntries} members`);
      const planned = planMemberPath(entry.name);
      if ('refused' in planned) throw invalid(archive, planned.refused);
      const { parts } = planned;
      const shown = escapeForTerminal(entry.name);
      switch (entry.type) {
        case 'directory':
          await ensureDirs(parts);
          break;
        case 'file': {
          const rel = parts.join('/');
          const check = inspect.get(rel);
          if (check !== undefined && entry.size > check.maxSize) {
            throw new UsageError(
              'OCI_INDEX_TOO_LARGE',
              `${rel} in ${archive} is ${entry.size} bytes, more than the limit of ${check.maxSize}`,
              { details: { archive, member: rel, size: entry.size, limit: check.maxSize } },
            );
          }
          if (entry.size > maxEntry)
            throw tooLarge(archive, `member ${shown} is ${entry.size} bytes, limit is ${maxEntry}`);
          total += entry.size;
          if (total > maxTotal)
            throw tooLarge(archive, `its content exceeds the size limit of ${maxTotal} bytes`);
          if (total > byRatio)
            throw tooLarge(
              archive,
              `its content exceeds ${byRatio} bytes, ${limits.maxRatio ?? DEFAULT_MAX_RATIO} times its compressed size (--max-ratio)`,
            );
          if (free !== undefined && total > free - reserve)
            throw tooLarge(
              archive,
              `not enough free space in ${dest}: ${free} bytes free, the content needs more than ${total} and ${reserve} must stay free`,
            );
          await ensureDirs(parts.slice(0, -1));
          if (check === undefined) await sink.file(rel, entry.size, body);
          else {
            // small and bounded (maxSize): read whole, given to the sink, then judged
            const kept: Uint8Array[] = [];
            for await (const chunk of body) kept.push(chunk.slice());
            const bytes = concat(kept);
            await sink.file(rel, entry.size, once(bytes));
            await check.onMember(bytes);
          }
          files++;
          break;
        }
        case 'symlink':
          throw invalid(
            archive,
            `symbolic link member ${shown} -> ${escapeForTerminal(entry.linkname)}`,
          );
        case 'hardlink':
          throw invalid(
            archive,
            `hard link member ${shown} -> ${escapeForTerminal(entry.linkname)}`,
          );
        case 'device':
          throw invalid(archive, `device member ${shown}`);
        case 'fifo':
          throw invalid(archive, `FIFO member ${shown}`);
        default:
          throw invalid(
            archive,
            `member ${shown} of unsupported type "${escapeForTerminal(entry.typeflag)}"`,
          );
      }
    }
  } catch (e) {
    failure = e;
  } finally {
    if (failure !== undefined) xz.kill();
  }
  const status = await xz.finish();
  if (status.exitCode !== 0 && failure === undefined) {
    throw invalid(archive, `xz: ${status.stderr.trim() || `exit code ${status.exitCode}`}`);
  }
  if (failure !== undefined) {
    // a decompression error explains a truncated tar stream better than the tar reader can
    if (failure instanceof TarFormatError && status.exitCode !== 0 && status.stderr.trim() !== '') {
      throw invalid(archive, `xz: ${status.stderr.trim()}`, failure);
    }
    if (failure instanceof TarFormatError) throw invalid(archive, failure.message, failure);
    if (failure instanceof ExternalCommandError && failure.code === 'PROC_OUTPUT_LIMIT')
      throw tooLarge(archive, `its decompressed stream exceeds ${maxStream} bytes`);
    if (failure instanceof PodsecError) throw failure;
    throw invalid(
      archive,
      failure instanceof Error ? failure.message : 'unexpected error',
      failure,
    );
  }
  return { files, directories: dirs.size, bytes: total };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield await Promise.resolve(bytes);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Options of {@link packArchive}. */
export interface PackOptions {
  /** xz preset. @default 9 */
  readonly level?: number;
  /** xz threads, 0 = one per core. @default 0 */
  readonly threads?: number;
  /** mtime of every member, seconds since the epoch. */
  readonly mtime: number;
}

/**
 * Write `<outFile>` = xz of a tar stream whose single top-level directory is `<name>/` holding the tree
 * `<parent>/<name>` (regular files and directories only; anything else is an error). The archive is
 * written to a temporary name next to `outFile`, synced and renamed, so `outFile` appears complete or not at all.
 * @throws UsageError `OCI_PACK_FAILED`
 */
export async function packArchive(
  host: ArchiveHost,
  parent: string,
  name: string,
  outFile: string,
  options: PackOptions,
): Promise<{ readonly bytes: number }> {
  const slash = outFile.lastIndexOf('/');
  const outDir = slash <= 0 ? '/' : outFile.slice(0, slash);
  const temp = `${outFile}.${globalThis.crypto.randomUUID().slice(0, 8)}.tmp`;
  const fail = (reason: string, cause?: unknown) =>
    new UsageError('OCI_PACK_FAILED', `cannot write ${outFile}: ${reason}`, {
      details: { file: outFile, reason },
      ...(cause === undefined ? {} : { cause }),
    });
  let xz: XzWriter;
  try {
    xz = await host.xzCompress(temp, options.level ?? 9, options.threads ?? 0);
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e), e);
  }
  let written = 0;
  const emit = async (b: Uint8Array) => {
    if (b.length === 0) return;
    await xz.write(b);
    written += b.length;
  };
  const walk = async (rel: string): Promise<void> => {
    await emit(
      formatTarHeader({ name: rel, type: 'directory', mode: 0o755, mtime: options.mtime }),
    );
    const listed = await host.list(`${parent}/${rel}`);
    // index.json and oci-layout first: a reader checks the index before it extracts the blobs
    const rank = (n: string) =>
      rel !== name ? 2 : n === 'index.json' ? 0 : n === 'oci-layout' ? 1 : 2;
    listed.sort((a, b) => rank(a.name) - rank(b.name));
    for (const e of listed) {
      const child = `${rel}/${e.name}`;
      if (e.kind === 'dir') await walk(child);
      else if (e.kind === 'file') {
        await emit(
          formatTarHeader({
            name: child,
            type: 'file',
            size: e.size,
            mode: e.mode & 0o755,
            mtime: options.mtime,
          }),
        );
        let n = 0;
        for await (const chunk of host.readStream(`${parent}/${child}`)) {
          n += chunk.length;
          if (n > e.size) throw new Error(`${child} grew while it was archived`);
          await emit(chunk);
        }
        if (n !== e.size) throw new Error(`${child} changed size while it was archived`);
        await emit(tarPadding(n));
      } else throw new Error(`${child} is not a regular file or directory`);
    }
  };
  try {
    await walk(name);
    await emit(tarEnd(written));
  } catch (e) {
    xz.kill();
    await host.removeTree(temp).catch(() => {});
    throw fail(e instanceof Error ? e.message : String(e), e);
  }
  const status = await xz.finish();
  if (status.exitCode !== 0) {
    await host.removeTree(temp).catch(() => {});
    throw fail(`xz: ${status.stderr.trim() || `exit code ${status.exitCode}`}`);
  }
  try {
    await host.rename(temp, outFile);
    await host.syncDir(outDir);
  } catch (e) {
    await host.removeTree(temp).catch(() => {});
    throw fail(e instanceof Error ? e.message : String(e), e);
  }
  return { bytes: written };
}
