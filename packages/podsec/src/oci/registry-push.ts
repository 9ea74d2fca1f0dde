/**
 * The native push of podsec-load-sign-oci (docs/commands/podsec-load-sign-oci.md#how-the-images-reach-the-registry):
 * the blobs of the archive go straight from the tar stream to the registry (distribution API v2: HEAD, POST, PUT with
 * the digest), hashed while they stream, and the manifest is put with its exact bytes, so the registry holds what
 * `skopeo copy oci:… docker://…` puts there, without the archive being extracted first. Anonymous access only, over
 * the transport skopeo would use; anything else is left to skopeo ({@link probeNativePush} says why).
 */
import { createHash } from 'node:crypto';
import {
  escapeForTerminal,
  ExternalCommandError,
  isPodsecError,
  UsageError,
  VerificationError,
} from '@podsec/core';
import { parseDockerReference } from '@podsec/core/config';
import type { ArchiveSink, HttpRequestOptions, HttpResponse, System } from '@podsec/core/system';
import { directAccess } from '../trust/registry-client.ts';

/** Largest manifest accepted (containers/image's limit), and error answers read. */
export const MAX_MANIFEST = 4 * 1024 * 1024;
const SMALL_TIMEOUT_MS = 60_000;
/** A blob's upload may take long; skopeo's whole copy gets the same hour. */
const BLOB_TIMEOUT_MS = 3_600_000;
/** Set to `skopeo` to push every image with skopeo (docs/commands/podsec-load-sign-oci.md#how-the-images-reach-the-registry). */
export const PUSH_ENV = 'PODSEC_OCI_PUSH';

/** A registry answered with an error, or could not be reached: one line, with the status and its message. */
export function pushFailed(
  reference: string,
  reason: string,
  cause?: unknown,
): ExternalCommandError {
  return new ExternalCommandError(
    'OCI_PUSH_FAILED',
    `pushing or signing ${reference} failed: ${reason}`,
    {
      details: { reference, reason, done: '-' },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** `status (CODE: message)` of a registry's error answer (distribution's `{"errors":[…]}`), bounded. */
function describe(res: HttpResponse): string {
  let what: string;
  try {
    const errors = (res.json() as { errors?: { code?: unknown; message?: unknown }[] }).errors;
    what = (errors ?? [])
      .map((e) => [e.code, e.message].filter((x): x is string => typeof x === 'string').join(': '))
      .filter((x) => x !== '')
      .join('; ');
  } catch {
    what = res.text().trim().split('\n')[0] ?? '';
  }
  what = escapeForTerminal(what.slice(0, 300));
  return `the registry answered ${res.status}${what === '' ? '' : ` (${what})`}`;
}

/** Where the native push talks to; `why` when it steps aside for skopeo. */
export type PushProbe =
  | { readonly ok: true; readonly base: string; readonly insecure: boolean }
  | { readonly ok: false; readonly why: string };

/**
 * Whether the registry `host` (`host[:port]`) can be pushed to natively, and over which URL: not when
 * `PODSEC_OCI_PUSH=skopeo`; else `GET /v2/` must answer 200 without authentication. With `tlsVerify` false HTTPS
 * without verification and plain HTTP are tried, the server skopeo would find; with true only verified HTTPS (the
 * system's CAs: a registry they do not verify is left to skopeo, which may know more).
 */
export async function probeNativePush(
  sys: System,
  host: string,
  tlsVerify: boolean,
): Promise<PushProbe> {
  const env = sys.env[PUSH_ENV];
  if (env === 'skopeo') return { ok: false, why: `${PUSH_ENV}=skopeo` };
  if (env !== undefined && env !== '' && env !== 'auto')
    return { ok: false, why: `${PUSH_ENV} is neither skopeo nor auto` };
  // skopeo tries HTTPS first and plain HTTP when that fails. With a port both name the same server, which speaks
  // one of them: asking in plain HTTP first finds the same one and spares loading TLS for the usual plain registry
  const schemes = tlsVerify
    ? ['https']
    : /:\d+$/.test(host)
      ? ['http', 'https']
      : ['https', 'http'];
  let why = '';
  for (const scheme of schemes) {
    const base = `${scheme}://${host}`;
    const insecure = scheme === 'https' && !tlsVerify;
    try {
      const res = await sys.http.request(`${base}/v2/`, {
        maxBytes: MAX_MANIFEST,
        timeoutMs: 10_000,
        ...(insecure ? { insecure } : {}),
      });
      if (res.status === 200) return { ok: true, base, insecure };
      if (res.status === 401) return { ok: false, why: `${host} asks for authentication` };
      why = `${base}/v2/: ${describe(res)}`;
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
  }
  return { ok: false, why };
}

/**
 * Why skopeo must push `references` (`host/path:tag`), or undefined: the caller's credentials or a certs.d directory
 * for the registry, or a registries.conf entry that says more than `insecure` (see registry-client.ts).
 */
export async function nativeAccessRefused(
  sys: System,
  references: readonly string[],
): Promise<string | undefined> {
  for (const reference of references) {
    let ref;
    try {
      ref = parseDockerReference(reference);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const access = await directAccess(sys, ref);
    if (!access.ok) return access.why;
    if (access.creds !== undefined) return `the caller has credentials for ${reference}`;
  }
  return undefined;
}

/** The blob and manifest calls of the distribution API on one registry. */
export class RegistryPusher {
  readonly #sys: System;
  readonly #base: string;
  readonly #insecure: boolean;
  constructor(sys: System, probe: { readonly base: string; readonly insecure: boolean }) {
    this.#sys = sys;
    this.#base = probe.base;
    this.#insecure = probe.insecure;
  }

  #request(url: string, o: HttpRequestOptions): Promise<HttpResponse> {
    return this.#sys.http.request(url, {
      maxBytes: MAX_MANIFEST,
      timeoutMs: SMALL_TIMEOUT_MS,
      ...(this.#insecure ? { insecure: true } : {}),
      ...o,
    });
  }

  /** The absolute URL of a Location header (distribution gives a path or a URL). */
  #resolve(location: string): string {
    return new URL(location, `${this.#base}/`).href;
  }

  /** HEAD of a blob: whether the repository already has it. */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.#request(`${this.#base}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new Error(`HEAD of blob ${digest}: ${describe(res)}`);
  }

  /**
   * Upload one blob: POST a session, then PUT the body with its digest (monolithic, streamed, Content-Length =
   * `size`). The body is checked against `digest` as it streams: a mismatch stops before its last byte is sent,
   * so the registry never stores it.
   */
  async uploadBlob(
    repo: string,
    digest: string,
    size: number,
    chunks: AsyncIterable<Uint8Array> | Uint8Array,
  ): Promise<void> {
    await this.#put(await this.#startUpload(repo, digest), digest, size, chunks);
  }

  /**
   * A small blob held in memory: HEAD and the upload's POST at once (one round trip less); when the repository has
   * the blob, the session is cancelled and nothing is sent.
   */
  async uploadSmall(
    repo: string,
    digest: string,
    bytes: Uint8Array,
  ): Promise<'uploaded' | 'found'> {
    const [found, session] = await Promise.all([
      this.hasBlob(repo, digest),
      this.#startUpload(repo, digest),
    ]);
    if (found) {
      await this.#request(session, { method: 'DELETE' }).catch(() => undefined);
      return 'found';
    }
    await this.#put(session, digest, bytes.length, bytes);
    return 'uploaded';
  }

  /** POST of an upload session; its absolute URL. */
  async #startUpload(repo: string, digest: string): Promise<string> {
    const start = await this.#request(`${this.#base}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      body: new Uint8Array(0),
    });
    const location = start.headers['location'];
    if (start.status !== 202 || location === undefined)
      throw new Error(`starting the upload of ${digest}: ${describe(start)}`);
    return this.#resolve(location);
  }

  async #put(
    session: string,
    digest: string,
    size: number,
    chunks: AsyncIterable<Uint8Array> | Uint8Array,
  ): Promise<void> {
    const url = new URL(session);
    url.searchParams.set('digest', digest);
    const body =
      chunks instanceof Uint8Array
        ? (verifyDigest(chunks, digest), chunks)
        : { length: size, chunks: verified(chunks, size, digest) };
    const res = await this.#request(url.href, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      timeoutMs: BLOB_TIMEOUT_MS,
    });
    if (res.status !== 201) throw new Error(`uploading blob ${digest}: ${describe(res)}`);
  }

  /** Mount a blob from another repository of the registry; false when the registry does not (it then started an upload, which is cancelled). */
  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const url = new URL(`${this.#base}/v2/${repo}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await this.#request(url.href, { method: 'POST', body: new Uint8Array(0) });
    if (res.status === 201) return true;
    const location = res.headers['location'];
    if (res.status === 202 && location !== undefined) {
      await this.#request(this.#resolve(location), { method: 'DELETE' }).catch(() => undefined);
      return false;
    }
    throw new Error(`mounting blob ${digest} from ${from}: ${describe(res)}`);
  }

  /** A blob's bytes (at most {@link MAX_MANIFEST}), checked against its digest. */
  async getBlob(repo: string, digest: string): Promise<Uint8Array> {
    const res = await this.#request(`${this.#base}/v2/${repo}/blobs/${digest}`, {});
    if (res.status !== 200) throw new Error(`reading blob ${digest}: ${describe(res)}`);
    verifyDigest(res.body, digest);
    return res.body;
  }

  /** PUT a manifest with its exact bytes and media type; returns the digest the registry gives it. */
  async putManifest(
    repo: string,
    tag: string,
    mediaType: string,
    bytes: Uint8Array,
  ): Promise<string> {
    const res = await this.#request(`${this.#base}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    if (res.status !== 201) throw new Error(`putting the manifest: ${describe(res)}`);
    return res.headers['docker-content-digest'] ?? sha256(bytes);
  }
}

export const sha256 = (b: Uint8Array): string =>
  `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Why a blob is refused: its content has another digest than its name (always reported as OCI_PUSH_FAILED). */
export class DigestMismatch extends VerificationError {
  constructor(digest: string, actual: string) {
    super(
      'OCI_BLOB_MISMATCH',
      `blob ${digest} of the archive does not match its name (its content is ${actual})`,
    );
  }
}

function verifyDigest(bytes: Uint8Array, digest: string): void {
  const actual = sha256(bytes);
  if (actual !== digest) throw new DigestMismatch(digest, actual);
}

/** A small member read whole (its size is bounded by the caller) and checked against its name. */
async function readVerified(body: AsyncIterable<Uint8Array>, digest: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk.slice());
  const bytes = new Uint8Array(Buffer.concat(parts));
  verifyDigest(bytes, digest);
  return bytes;
}

/**
 * `chunks` unchanged, hashed on the way; the last chunk is given only after the digest matched, so a blob whose
 * content differs from its name never reaches the registry complete.
 */
async function* verified(
  chunks: AsyncIterable<Uint8Array>,
  size: number,
  digest: string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let seen = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    seen += chunk.length;
    if (seen >= size) {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest || seen !== size) throw new DigestMismatch(digest, actual);
    }
    yield chunk;
  }
  if (size === 0) verifyDigest(new Uint8Array(0), digest);
}

/** Most bytes of manifests kept in memory while the archive streams; more go to the private temp directory. */
const MAX_KEPT = 64 * 1024 * 1024;
/** Blobs up to this size are read whole and uploaded beside the stream (configs, small layers)... */
const SMALL_BLOB = 1024 * 1024;
/** ...at most this many at a time; a larger blob streams while they go on. */
const MAX_IN_FLIGHT = 4;

/** Where the stream's blobs go: one repository of the registry (errors name `reference`). */
export interface NativeTarget {
  readonly pusher: RegistryPusher;
  readonly repo: string;
  readonly reference: string;
  /** Digests of the manifests the index names: kept, not uploaded as blobs. */
  readonly manifests: ReadonlySet<string>;
}

/**
 * The sink of the native push (docs/commands/podsec-load-sign-oci.md#how-the-images-reach-the-registry). Until
 * {@link LayoutSink.goNative} every member goes to `disk` (the private temp directory: index.json, and any blob met
 * before the index was judged and the key was ready, "spooled"); after it, each blob `<arch>/blobs/sha256/<hex>` is
 * uploaded to `repo` as it streams (HEAD first: a blob the repository has is skipped), the manifests the index names
 * are kept in memory, other members are skipped. {@link LayoutSink.toDisk} makes it a plain extraction again.
 */
export class LayoutSink implements ArchiveSink {
  readonly #disk: ArchiveSink;
  readonly #arch: string;
  readonly #archive: string;
  #native: NativeTarget | undefined;
  /** Blobs `repo` has now (uploaded or found by HEAD). */
  readonly uploaded = new Set<string>();
  /** Manifests kept in memory, by digest. */
  readonly kept = new Map<string, Uint8Array>();
  /** Blobs written to the temp directory (before the switch, or manifests over the memory budget), by digest. */
  readonly spooled = new Map<string, { readonly rel: string; readonly size: number }>();
  readonly #files = new Set<string>();
  #keptBytes = 0;
  /** Run before each file member (a failed signing key stops the stream here). */
  readonly #before: () => Promise<void>;

  constructor(
    disk: ArchiveSink,
    o: { readonly arch: string; readonly archive: string; readonly before: () => Promise<void> },
  ) {
    this.#disk = disk;
    this.#arch = o.arch;
    this.#archive = o.archive;
    this.#before = o.before;
  }

  #streamed = 0;
  #found = 0;

  /** What happened to the blobs, for --verbose. */
  counts(): string {
    return `${this.#streamed} uploaded as they streamed, ${this.#found} already there, ${this.kept.size} manifests kept, ${this.spooled.size} extracted first`;
  }

  /** Whether blobs now go to the registry. */
  get native(): boolean {
    return this.#native !== undefined;
  }

  /** From the next member on, upload the blobs to `target`. */
  goNative(target: NativeTarget): void {
    this.#native = target;
  }

  directory(parts: readonly string[]): Promise<void> {
    return this.#native === undefined ? this.#disk.directory(parts) : Promise.resolve();
  }

  async file(rel: string, size: number, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.#before();
    const m = new RegExp(`^${this.#arch}/blobs/sha256/([0-9a-f]{64})$`).exec(rel);
    const digest = m === null ? undefined : `sha256:${m[1] as string}`;
    const n = this.#native;
    const duplicate = this.#files.has(rel);
    this.#files.add(rel);
    if (n === undefined) {
      await this.#disk.file(rel, size, body);
      if (digest !== undefined) this.spooled.set(digest, { rel, size });
      return;
    }
    // the disk sink refuses a second member of a name (O_EXCL); so does this one
    if (duplicate)
      throw new UsageError(
        'OCI_ARCHIVE_INVALID',
        `cannot extract ${this.#archive}: duplicate member ${rel}`,
        {
          details: { archive: this.#archive, reason: `duplicate member ${rel}` },
        },
      );
    if (digest === undefined) return;
    try {
      if (n.manifests.has(digest)) {
        if (size <= MAX_MANIFEST && this.#keptBytes + size <= MAX_KEPT) {
          const bytes = await readVerified(body, digest);
          this.kept.set(digest, bytes);
          this.#keptBytes += size;
        } else {
          await this.#disk.directory(rel.split('/').slice(0, -1));
          await this.#disk.file(rel, size, body);
          this.spooled.set(digest, { rel, size });
        }
        return;
      }
      if (this.uploaded.has(digest)) return;
      if (size > SMALL_BLOB) {
        await this.#upload(n, digest, size, body);
        return;
      }
      // a small blob: read (checked) and uploaded while the stream goes on
      const bytes = await readVerified(body, digest);
      while (this.#inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.#inFlight);
      const task: Promise<void> = n.pusher.uploadSmall(n.repo, digest, bytes).then(
        (r) => {
          if (r === 'found') this.#found++;
          else this.#streamed++;
          this.uploaded.add(digest);
          this.#inFlight.delete(task);
        },
        (e: unknown) => {
          this.#inFlight.delete(task);
          this.#failure ??= e;
        },
      );
      this.#inFlight.add(task);
    } catch (e) {
      throw this.#failed(n, e);
    }
    if (this.#failure !== undefined) throw this.#failed(n, this.#failure);
  }

  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown;

  #failed(n: NativeTarget, e: unknown) {
    return isPodsecError(e) && e.code === 'OCI_PUSH_FAILED'
      ? e
      : pushFailed(n.reference, e instanceof Error ? e.message : String(e), e);
  }

  async #upload(
    n: NativeTarget,
    digest: string,
    size: number,
    body: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    if (await n.pusher.hasBlob(n.repo, digest)) this.#found++;
    else {
      await n.pusher.uploadBlob(n.repo, digest, size, body);
      this.#streamed++;
    }
    this.uploaded.add(digest);
  }

  /** Wait for the uploads still going on; the first failure is thrown (OCI_PUSH_FAILED). */
  async settle(): Promise<void> {
    await Promise.all(this.#inFlight);
    const n = this.#native;
    if (this.#failure !== undefined && n !== undefined) throw this.#failed(n, this.#failure);
  }
}
