/**
 * Lookaside signature storage (containers-registries.d(5), docs/files.md#the-varsigstore-tree): signatures of an image
 * `<host>/<path>` with manifest digest `<alg>:<hex>` live at `<base>/<path>@<alg>=<hex>/signature-<n>`,
 * n = 1, 2, … without gaps; readers stop at the first missing index.
 */
import { createFetch } from '../system/http.ts';
import type { ReadableStream } from 'node:stream/web';
import { readLimited } from './read-limited.ts';
import { parseDockerReference } from '../config/reference.ts';
import { errorMessage, NotFoundError, UsageError, VerificationError } from '../errors.ts';
import type { FileSystem } from '../system/types.ts';
import { parseDigest } from './digest.ts';
import { MAX_SIGNATURE_SIZE } from './simple-signing.ts';

/** The part of {@link FileSystem} the lookaside functions use (`withLock` serializes concurrent writers). */
export type LookasideFileSystem = Pick<
  FileSystem,
  'stat' | 'readFile' | 'mkdir' | 'writeFileAtomic'
> &
  Partial<Pick<FileSystem, 'withLock' | 'withDirReader'>>;

/** A `fetch` compatible function (injected; the System boundary's bounded client by default). */
export type FetchFunction = (
  url: string,
  init?: { method?: string; signal?: AbortSignal },
) => Promise<Response>;

/** Options of {@link readSignatures} and {@link listSignatures}. */
export interface ReadSignaturesOptions {
  /** Required for `file://` bases. */
  readonly fs?: LookasideFileSystem;
  /** Used for `http://` and `https://` bases. @default createFetch() of the System boundary (deadline, bounded body) */
  readonly fetch?: FetchFunction;
  /** Largest accepted signature. @default MAX_SIGNATURE_SIZE (4 MiB) */
  readonly maxSignatureSize?: number;
  /** Refuse images with more signatures than this. @default 256 */
  readonly maxSignatures?: number;
}

/** Options of {@link writeSignature}. */
export interface WriteSignatureOptions {
  readonly fs: LookasideFileSystem;
  /** Mode of created directories. @default 0o755 (as containers/image) */
  readonly dirMode?: number;
  /** Mode of the signature file. @default 0o644 */
  readonly fileMode?: number;
  /** Only find where the signature would go (the next free `signature-<n>`); create and write nothing. */
  readonly dryRun?: boolean;
  /**
   * Two-phase write: awaited under the lock once the signature is durable in a temporary file next to its place;
   * only when it returns is the file renamed to `signature-<n>`. When it throws, the temporary file is removed,
   * nothing is stored and its error is thrown (a signature written while the image is still being pushed, kept
   * only if the push succeeds: docs/commands/podsec-load-sign-oci.md#signing-beside-the-push).
   */
  readonly gate?: () => Promise<void>;
}

/** One stored signature as {@link listSignatures} reports it. */
export interface SignatureEntry {
  /** 1-based index n of `signature-<n>`. */
  readonly index: number;
  /** URL of the signature (file:// or http(s)://). */
  readonly location: string;
  /** Size in bytes, when known without reading the body. */
  readonly size?: number;
}

/** Result of {@link writeSignature}. */
export interface WriteSignatureResult {
  readonly index: number;
  readonly location: string;
  /** System path of the written file. */
  readonly path: string;
}

const DEFAULT_MAX_SIGNATURES = 256;

const isUsage = (e: unknown, code: string): boolean => e instanceof UsageError && e.code === code;

function lookasideError(code: string, message: string, cause?: unknown): VerificationError {
  return new VerificationError(code, message, cause === undefined ? undefined : { cause });
}

/** Parse the base URL of a lookaside store; only file, http and https are meaningful. */
function parseBase(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch (e) {
    throw new UsageError('LOOKASIDE_URL_INVALID', `invalid lookaside URL ${JSON.stringify(base)}`, {
      cause: e,
    });
  }
  if (!['file:', 'http:', 'https:'].includes(url.protocol)) {
    throw new UsageError(
      'LOOKASIDE_URL_INVALID',
      `unsupported lookaside URL scheme in ${JSON.stringify(base)}`,
    );
  }
  if (url.protocol === 'file:' && url.host !== '' && url.host !== 'localhost') {
    throw new UsageError(
      'LOOKASIDE_URL_INVALID',
      `file URL with a remote host: ${JSON.stringify(base)}`,
    );
  }
  if (url.search !== '' || url.hash !== '') {
    throw new UsageError(
      'LOOKASIDE_URL_INVALID',
      `lookaside URL must not have a query or fragment: ${JSON.stringify(base)}`,
    );
  }
  return url;
}

/**
 * Repository path of an image reference as used in lookaside URLs: the reference without registry host,
 * tag and digest, after docker.io normalization (`busybox` -> `library/busybox`).
 * @throws UsageError `REFERENCE_INVALID`
 */
export function lookasideRepositoryPath(dockerReference: string): string {
  // The reference grammar admits only [a-z0-9._-/] components starting with alphanumerics: no "..", no "%".
  return parseDockerReference(dockerReference).path;
}

/** `<path>@<alg>=<hex>/signature-<n>` relative to the base. */
function relativeLocation(dockerReference: string, digest: string, n: number): string {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(
      'LOOKASIDE_INDEX_INVALID',
      `signature index must be a positive integer, got ${n}`,
    );
  }
  const d = parseDigest(digest);
  return `${lookasideRepositoryPath(dockerReference)}@${d.algorithm}=${d.hex}/signature-${n}`;
}

/**
 * URL of the n-th (1-based) signature. Like containers/image the base path and repository path are
 * joined with "/", so a base ending in "/" yields "//" (nginx merges it; file paths ignore it).
 * @throws UsageError `LOOKASIDE_URL_INVALID`, `LOOKASIDE_INDEX_INVALID`, `REFERENCE_INVALID`, `DIGEST_INVALID`
 */
export function signatureLocation(
  base: string,
  dockerReference: string,
  digest: string,
  n: number,
): string {
  const url = parseBase(base);
  const rel = relativeLocation(dockerReference, digest, n);
  return `${url.protocol}//${url.host}${url.pathname}/${rel}`;
}

/** System path of a file:// signature location, with duplicate slashes collapsed. */
function filePath(base: URL, rel: string): string {
  const dir = decodeURIComponent(base.pathname);
  if (dir.split('/').includes('..')) {
    throw new UsageError(
      'LOOKASIDE_URL_INVALID',
      `lookaside path must not contain "..": ${base.href}`,
    );
  }
  return `${dir}/${rel}`.replace(/\/{2,}/g, '/');
}

function requireFs(fs: LookasideFileSystem | undefined, base: string): LookasideFileSystem {
  if (fs === undefined)
    throw new UsageError('LOOKASIDE_FS_REQUIRED', `a file system is needed to read ${base}`);
  return fs;
}

/** Read a response body, refusing more than `limit` bytes even when Content-Length lies. */
async function readBody(res: Response, limit: number, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw lookasideError(
      'SIGNATURE_TOO_LARGE',
      `signature ${url} is ${declared} bytes, limit is ${limit}`,
    );
  }
  if (res.body === null) return new Uint8Array();
  return readLimited(res.body as ReadableStream<Uint8Array>, limit, () => {
    throw lookasideError('SIGNATURE_TOO_LARGE', `signature ${url} exceeds ${limit} bytes`);
  });
}

/** Fetch one signature over HTTP: `undefined` for 404 (end of list), bytes for 2xx, error otherwise. */
async function fetchSignature(
  fetchFn: FetchFunction,
  url: string,
  limit: number,
  method: 'GET' | 'HEAD',
): Promise<{ body?: Uint8Array; size?: number } | undefined> {
  let res: Response;
  try {
    res = await fetchFn(url, { method });
  } catch (e) {
    throw lookasideError('LOOKASIDE_FETCH_FAILED', `cannot fetch ${url}: ${errorMessage(e)}`, e);
  }
  if (res.status === 404) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw lookasideError('LOOKASIDE_FETCH_FAILED', `cannot fetch ${url}: HTTP ${res.status}`);
  }
  if (method === 'HEAD') {
    const size = Number(res.headers.get('content-length') ?? NaN);
    return Number.isFinite(size) ? { size } : {};
  }
  const body = await readBody(res, limit, url);
  return { body, size: body.length };
}

/** One probe of `signature-<n>`: `undefined` when it does not exist. */
type Probe = (n: number) => Promise<Uint8Array | undefined>;

/**
 * `signature-1`, `signature-2`, … until the first missing one, read in windows of growing size (1, 2, 4, … 32
 * at once): one signature costs what a sequential reader costs, a hundred do not wait on each other. What
 * comes after the first missing index is ignored, errors included, as a sequential reader never asks for it.
 */
async function collect(
  probe: Probe,
  exists: (n: number) => Promise<boolean>,
  maxCount: number,
  what: string,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let window = 1;
  for (let next = 1; ;) {
    const last = Math.min(next + window - 1, maxCount);
    if (next > maxCount) {
      // Only an error when signature-<max+1> really exists.
      if (await exists(next))
        throw lookasideError(
          'LOOKASIDE_TOO_MANY_SIGNATURES',
          `more than ${maxCount} signatures for ${what}`,
        );
      return out;
    }
    const batch = [];
    for (let n = next; n <= last; n++) batch.push(probe(n));
    const settled = await Promise.allSettled(batch);
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      if (r.value === undefined) return out;
      out.push(r.value);
    }
    next = last + 1;
    window = Math.min(window * 2, 32);
  }
}

/** Bodies of the `file://` signatures: one resolution of the directory, then one look-up per file. */
async function readFileSignatures(
  fs: LookasideFileSystem,
  url: URL,
  dockerReference: string,
  digest: string,
  limit: number,
  maxCount: number,
): Promise<Uint8Array[]> {
  const systemPath = (n: number) => filePath(url, relativeLocation(dockerReference, digest, n));
  // the rooted file system's own (slower) path, for a signature that is a symlink or a file system without resolve
  const viaFs = async (n: number): Promise<Uint8Array | undefined> => {
    const path = systemPath(n);
    const st = await fs.stat(path);
    if (st === undefined) return undefined;
    if (st.kind !== 'file' && st.kind !== 'symlink') {
      throw lookasideError('LOOKASIDE_READ_FAILED', `${path} is not a regular file`);
    }
    if (st.kind === 'file' && st.size > limit) {
      throw lookasideError(
        'SIGNATURE_TOO_LARGE',
        `signature ${path} is ${st.size} bytes, limit is ${limit}`,
      );
    }
    let body: Uint8Array;
    try {
      body = await fs.readFile(path);
    } catch (e) {
      throw lookasideError('LOOKASIDE_READ_FAILED', `cannot read ${path}: ${errorMessage(e)}`, e);
    }
    if (body.length > limit)
      throw lookasideError('SIGNATURE_TOO_LARGE', `signature ${path} exceeds ${limit} bytes`);
    return body;
  };
  const exists = async (n: number) => (await fs.stat(systemPath(n))) !== undefined;
  const what = `${dockerReference}@${digest}`;
  if (fs.withDirReader === undefined) return collect(viaFs, exists, maxCount, what);
  // The directory is opened once (symlinks followed inside the root, ".." refused), then each signature is one
  // open relative to it that follows no link: no walk from the root per file
  const first = systemPath(1);
  let opened = false;
  try {
    return await fs.withDirReader(first.slice(0, first.lastIndexOf('/')), (read) => {
      opened = true;
      const probe: Probe = async (n) => {
        let r;
        try {
          r = await read(`signature-${n}`, limit);
        } catch (e) {
          throw lookasideError(
            'LOOKASIDE_READ_FAILED',
            `cannot read ${systemPath(n)}: ${errorMessage(e)}`,
            e,
          );
        }
        switch (r.kind) {
          case 'file':
            return r.data;
          case 'missing':
            return undefined;
          // a symlink is resolved by the caller's file system, inside its root
          case 'symlink':
            return viaFs(n);
          case 'other':
            throw lookasideError('LOOKASIDE_READ_FAILED', `${systemPath(n)} is not a regular file`);
          case 'too-large':
            throw lookasideError(
              'SIGNATURE_TOO_LARGE',
              r.size > limit && r.size !== limit + 1
                ? `signature ${systemPath(n)} is ${r.size} bytes, limit is ${limit}`
                : `signature ${systemPath(n)} exceeds ${limit} bytes`,
            );
        }
      };
      return collect(probe, exists, maxCount, what);
    });
  } catch (e) {
    // no directory for this image: no signature at all
    if (!opened && (e instanceof NotFoundError || isUsage(e, 'FS_NOT_A_DIRECTORY'))) return [];
    throw e;
  }
}

/** The stored signatures without their bodies (file: stat, HTTP: HEAD), one index after the other. */
async function walk(
  base: string,
  dockerReference: string,
  digest: string,
  options: ReadSignaturesOptions,
): Promise<SignatureEntry[]> {
  const url = parseBase(base);
  const limit = options.maxSignatureSize ?? MAX_SIGNATURE_SIZE;
  const maxCount = options.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
  const out: SignatureEntry[] = [];
  for (let n = 1; ; n++) {
    const location = signatureLocation(base, dockerReference, digest, n);
    if (n > maxCount) {
      // Only an error when signature-<max+1> really exists.
      const more =
        url.protocol === 'file:'
          ? (await requireFs(options.fs, base).stat(
              filePath(url, relativeLocation(dockerReference, digest, n)),
            )) !== undefined
          : (await fetchSignature(options.fetch ?? createFetch(), location, limit, 'HEAD')) !==
            undefined;
      if (more)
        throw lookasideError(
          'LOOKASIDE_TOO_MANY_SIGNATURES',
          `more than ${maxCount} signatures for ${dockerReference}@${digest}`,
        );
      return out;
    }
    if (url.protocol === 'file:') {
      const fs = requireFs(options.fs, base);
      const path = filePath(url, relativeLocation(dockerReference, digest, n));
      const st = await fs.stat(path);
      if (st === undefined) return out;
      if (st.kind !== 'file' && st.kind !== 'symlink') {
        throw lookasideError('LOOKASIDE_READ_FAILED', `${path} is not a regular file`);
      }
      if (st.kind === 'file' && st.size > limit) {
        throw lookasideError(
          'SIGNATURE_TOO_LARGE',
          `signature ${path} is ${st.size} bytes, limit is ${limit}`,
        );
      }
      out.push({ index: n, location, size: st.size });
    } else {
      const got = await fetchSignature(options.fetch ?? createFetch(), location, limit, 'HEAD');
      if (got === undefined) return out;
      out.push({ index: n, location, ...(got.size !== undefined ? { size: got.size } : {}) });
    }
  }
}

/**
 * Read all signatures of an image, `signature-1` upwards until the first missing one.
 * `file://` goes through `options.fs`, `http(s)://` through `options.fetch` (404 ends the list).
 * @throws VerificationError `LOOKASIDE_FETCH_FAILED`, `LOOKASIDE_READ_FAILED`, `SIGNATURE_TOO_LARGE`,
 *   `LOOKASIDE_TOO_MANY_SIGNATURES`; UsageError `LOOKASIDE_URL_INVALID`, `REFERENCE_INVALID`, `DIGEST_INVALID`
 */
export async function readSignatures(
  base: string,
  dockerReference: string,
  digest: string,
  options: ReadSignaturesOptions = {},
): Promise<Uint8Array[]> {
  const url = parseBase(base);
  const limit = options.maxSignatureSize ?? MAX_SIGNATURE_SIZE;
  const maxCount = options.maxSignatures ?? DEFAULT_MAX_SIGNATURES;
  if (url.protocol === 'file:') {
    return readFileSignatures(
      requireFs(options.fs, base),
      url,
      dockerReference,
      digest,
      limit,
      maxCount,
    );
  }
  const fetchFn = options.fetch ?? createFetch();
  const location = (n: number) => signatureLocation(base, dockerReference, digest, n);
  return collect(
    async (n) => (await fetchSignature(fetchFn, location(n), limit, 'GET'))?.body,
    async (n) => (await fetchSignature(fetchFn, location(n), limit, 'HEAD')) !== undefined,
    maxCount,
    `${dockerReference}@${digest}`,
  );
}

/**
 * List the stored signatures of an image without reading them (HTTP: HEAD requests).
 * @throws as {@link readSignatures}
 */
export async function listSignatures(
  base: string,
  dockerReference: string,
  digest: string,
  options: ReadSignaturesOptions = {},
): Promise<SignatureEntry[]> {
  return walk(base, dockerReference, digest, options);
}

/**
 * Store a signature under a `file://` base as `signature-<n>` with the next free n, creating
 * directories as needed (0755) and writing the file atomically (0644).
 * @throws UsageError `LOOKASIDE_URL_INVALID` (not file://); VerificationError `SIGNATURE_TOO_LARGE`
 */
export async function writeSignature(
  base: string,
  dockerReference: string,
  digest: string,
  blob: Uint8Array,
  options: WriteSignatureOptions,
): Promise<WriteSignatureResult> {
  const url = parseBase(base);
  if (url.protocol !== 'file:') {
    throw new UsageError(
      'LOOKASIDE_URL_INVALID',
      `signatures can only be written to a file:// lookaside, not ${base}`,
    );
  }
  if (blob.length === 0 || blob.length > MAX_SIGNATURE_SIZE) {
    throw lookasideError(
      'SIGNATURE_TOO_LARGE',
      `refusing to store a signature of ${blob.length} bytes`,
    );
  }
  const { fs } = options;
  const first = filePath(url, relativeLocation(dockerReference, digest, 1));
  const dir = first.slice(0, first.lastIndexOf('/'));
  if (options.dryRun === true) {
    const existing = await walk(base, dockerReference, digest, {
      fs,
      maxSignatures: Number.MAX_SAFE_INTEGER,
    }).catch(() => []);
    const index = existing.length + 1;
    return {
      index,
      path: `${dir}/signature-${index}`,
      location: signatureLocation(base, dockerReference, digest, index),
    };
  }
  let current = '';
  for (const part of dir.split('/').filter((p) => p !== '')) {
    current += `/${part}`;
    const st = await fs.stat(current);
    if (st === undefined) await fs.mkdir(current, { mode: options.dirMode ?? 0o755 });
    else if (st.kind !== 'dir' && st.kind !== 'symlink') {
      throw new UsageError('LOOKASIDE_URL_INVALID', `${current} exists and is not a directory`);
    }
  }
  const write = async (): Promise<WriteSignatureResult> => {
    const existing = await walk(base, dockerReference, digest, {
      fs,
      maxSignatures: Number.MAX_SAFE_INTEGER,
    });
    const index = existing.length + 1;
    const path = `${dir}/signature-${index}`;
    await fs.writeFileAtomic(path, blob, {
      mode: options.fileMode ?? 0o644,
      backup: false,
      ...(options.gate ? { gate: options.gate } : {}),
    });
    return { index, path, location: signatureLocation(base, dockerReference, digest, index) };
  };
  // Two writers choosing the same n would overwrite each other; the lock sits next to the directory.
  return fs.withLock !== undefined ? fs.withLock(dir, write) : write();
}
