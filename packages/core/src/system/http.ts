/**
 * The HTTP client of the System boundary: every request podsec makes goes through here, so each one has a
 * deadline, a bounded response body and explicit TLS trust (a CA and/or a pinned certificate fingerprint).
 * Unix sockets (rootlesskit's API, podman's service) use `socketPath`.
 */
import type { ClientRequest, IncomingHttpHeaders, RequestOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { PodsecError } from '../errors.ts';
import { drained } from './drain.ts';
import { createRootFs } from './node-fs.ts';
import type { FileSystem } from './types.ts';

/** Options of {@link HttpClient.request}. */
export interface HttpRequestOptions {
  /** @default 'GET' */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * The request body: bytes, or a {@link HttpBodyStream} written with backpressure (a blob of any size is never
   * held whole in memory).
   */
  readonly body?: string | Uint8Array | HttpBodyStream;
  /** Largest accepted response body; a longer one fails with `HTTP_TOO_LARGE`. @default 4 MiB */
  readonly maxBytes?: number;
  /** Deadline of the whole exchange (connect, TLS, headers, body). @default 30000 */
  readonly timeoutMs?: number;
  /** PEM text of the CA (or self-signed server certificate) that must sign the server's chain. */
  readonly ca?: string;
  /**
   * Host path of a PEM CA file (read bounded, 1 MiB, through the host file system's no-follow walk);
   * combined with `ca` if both are given.
   */
  readonly caFile?: string;
  /**
   * SHA-256 fingerprint of the server certificate (hex, colons and a `sha256:` prefix optional). Checked
   * before a byte of the request is sent. Alone it replaces the CA check; with a CA both must hold.
   */
  readonly fingerprint?: string;
  /**
   * Accept any server certificate (skopeo's `--tls-verify=false`): only when the user asked for it, for a
   * registry configured insecure. Not combinable with `ca`, `caFile` or `fingerprint`.
   */
  readonly insecure?: boolean;
  /**
   * Talk HTTP over this unix socket (host path); the URL's host is only the Host header. The socket is
   * pinned by the host file system's no-follow walk and connected through its descriptor, so a symlink in a
   * directory another user can write (a user's runtime dir) never redirects the connection.
   */
  readonly socketPath?: string;
  /** Connect to `ip` instead of resolving these host names (TLS still checks the name). */
  readonly resolve?: { readonly names: readonly string[]; readonly ip: string };
  readonly signal?: AbortSignal;
}

/**
 * A streamed request body of a known length (sent as Content-Length). When `chunks` throws, the request is
 * aborted before its last byte, so the server never sees a complete body, and the exchange fails with that error.
 * Fewer or more bytes than `length` fail the exchange the same way.
 */
export interface HttpBodyStream {
  readonly length: number;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** A complete, bounded response. */
export interface HttpResponse {
  readonly status: number;
  /** Lower-case header names; repeated headers joined with ", " (set-cookie with "\n"). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The body as UTF-8. */
  text(): string;
  /** The body parsed as JSON; `HTTP_BAD_JSON` when it is not. */
  json(): unknown;
}

/** Makes HTTP(S) requests with deadlines, bounded bodies and pinned trust. */
export interface HttpClient {
  /** @throws PodsecError `HTTP_FAILED` (transport, TLS, pin), `HTTP_TIMEOUT`, `HTTP_TOO_LARGE`, `HTTP_BAD_URL` */
  request(url: string | URL, options?: HttpRequestOptions): Promise<HttpResponse>;
}

/** An HTTP exchange failed; `details.url` and `details.reason` say what happened. */
export class HttpError extends PodsecError {}

/**
 * node:http, node:net and node:tls, loaded on the first request: most runs of a binary make none, and loading them
 * (with the HTTP parser and TLS behind them) at start is a measurable part of a cold start.
 */
async function transport(https: boolean) {
  // node:tls (OpenSSL contexts: a measurable part of a cold start) only for an https URL
  const [http, net, tls] = await Promise.all([
    import('node:http'),
    import('node:net'),
    https ? import('node:tls') : undefined,
  ]);
  return { http: http.default, net: net.default, tls: tls?.default };
}

const DEFAULT_MAX = 4 * 1024 * 1024;
const CA_FILE_MAX = 1024 * 1024;

/** Normalises a SHA-256 fingerprint to `AA:BB:...`; `undefined` when malformed. */
export function normalizeFingerprint(fp: string): string | undefined {
  const hex = fp
    .trim()
    .replace(/^sha256[:/]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

function fail(code: string, url: string, reason: string, cause?: unknown): HttpError {
  return new HttpError(code, `${url}: ${reason}`, {
    details: { url, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The host's `/` for CA files and sockets, made on the first use. */
let defaultHostFs: FileSystem | undefined;
const hostFsOf = (fs: FileSystem | undefined) => fs ?? (defaultHostFs ??= createRootFs('/'));

async function readCaFile(url: string, file: string, hostFs: FileSystem): Promise<string> {
  let text: string;
  try {
    // bounded, no FIFO or device, no link in a directory another user can write
    text = await hostFs.readText(file, { maxBytes: CA_FILE_MAX });
  } catch (e) {
    throw fail(
      'HTTP_CA_UNREADABLE',
      url,
      `cannot read CA file ${file}: ${(e as Error).message}`,
      e,
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw fail('HTTP_CA_UNREADABLE', url, `CA file ${file} holds no PEM certificate`);
  return text;
}

function flattenHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(k === 'set-cookie' ? '\n' : ', ') : v;
  }
  return out;
}

/**
 * One request; see {@link HttpClient.request}. `hostFs` (default: the host's `/`) reaches `caFile` and
 * `socketPath`.
 */
export async function httpRequest(
  input: string | URL,
  o: HttpRequestOptions = {},
  hostFs?: FileSystem,
): Promise<HttpResponse> {
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch (e) {
    throw fail('HTTP_BAD_URL', String(input), 'not a URL', e);
  }
  const href = url.href;
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw fail('HTTP_BAD_URL', href, `unsupported protocol ${url.protocol}`);
  const https = url.protocol === 'https:';
  if (o.socketPath !== undefined && https)
    throw fail('HTTP_BAD_URL', href, 'https over a unix socket is not supported');
  const pin = o.fingerprint === undefined ? undefined : normalizeFingerprint(o.fingerprint);
  if (o.fingerprint !== undefined && pin === undefined)
    throw fail('HTTP_BAD_FINGERPRINT', href, `malformed SHA-256 fingerprint ${o.fingerprint}`);
  if (!https && (pin !== undefined || o.ca !== undefined || o.caFile !== undefined))
    throw fail('HTTP_BAD_URL', href, 'a CA or fingerprint needs an https URL');
  if (o.insecure && (pin !== undefined || o.ca !== undefined || o.caFile !== undefined))
    throw fail('HTTP_BAD_URL', href, 'insecure excludes a CA or fingerprint');
  const cas = [
    ...(o.ca === undefined ? [] : [o.ca]),
    ...(o.caFile === undefined ? [] : [await readCaFile(href, o.caFile, hostFsOf(hostFs))]),
  ];
  if (o.socketPath !== undefined) {
    const socketPath = o.socketPath;
    // connect() resolves the magic link to exactly the pinned socket; the pin is held to the end
    return hostFsOf(hostFs)
      .withPinned(socketPath, (pinned) => {
        if (pinned.kind !== 'socket')
          throw fail('HTTP_FAILED', href, `${socketPath} is not a socket`);
        return exchange(href, url, o, cas, pinned.path);
      })
      .catch((e: unknown) => {
        throw e instanceof HttpError ? e : fail('HTTP_FAILED', href, (e as Error).message, e);
      });
  }
  return exchange(href, url, o, cas, undefined);
}

async function exchange(
  href: string,
  url: URL,
  o: HttpRequestOptions,
  cas: readonly string[],
  socketPath: string | undefined,
): Promise<HttpResponse> {
  const https = url.protocol === 'https:';
  const pin = o.fingerprint === undefined ? undefined : normalizeFingerprint(o.fingerprint);
  const max = o.maxBytes ?? DEFAULT_MAX;
  const timeoutMs = o.timeoutMs ?? 30_000;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (https ? 443 : 80));
  const connectHost = o.resolve && o.resolve.names.includes(host) ? o.resolve.ip : host;
  const { http, net, tls } = await transport(https);

  // a streamed body is written by `writing`; the exchange ends only when it has stopped, so the caller's source
  // (a tar member) is never read by two parties
  let writing: Promise<void> | undefined;
  const answer = new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    // set as they come into being; `done` may run before either exists
    const live: { req?: ClientRequest; socket?: Socket } = {};
    const done = (e: unknown, r?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (e !== undefined) {
        live.req?.destroy();
        live.socket?.destroy();
        // HttpErrors of this exchange, or the podsec error of a streamed body's source (a digest check), as is
        reject(e instanceof PodsecError ? e : fail('HTTP_FAILED', href, (e as Error).message, e));
      } else {
        // an answer before the whole body was sent (an error status): stop sending
        if (writing !== undefined && !live.req?.writableFinished) live.req?.destroy();
        resolve(r!);
      }
    };
    const timer = setTimeout(
      () => done(fail('HTTP_TIMEOUT', href, `no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => done(fail('HTTP_FAILED', href, 'aborted'));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });

    // The socket is handed to the request only after TLS and the pin are verified, so nothing of the
    // request (headers, body) ever reaches a server that failed the check.
    const createConnection = (
      _opts: unknown,
      cb: (err: Error | null, s?: Socket) => void,
    ): undefined => {
      if (socketPath !== undefined) {
        const s = (live.socket = net.connect(socketPath));
        s.once('connect', () => cb(null, s));
        s.once('error', (e) => done(e));
        return undefined;
      }
      if (!https) {
        const s = (live.socket = net.connect({ host: connectHost, port }));
        s.once('connect', () => cb(null, s));
        s.once('error', (e) => done(e));
        return undefined;
      }
      if (tls === undefined) {
        done(new Error('node:tls is not loaded'));
        return undefined;
      }
      const s = tls.connect({
        host: connectHost,
        port,
        servername: net.isIP(host) ? undefined : host,
        ...(cas.length ? { ca: cas } : {}),
        // a pin alone replaces the chain check; it is verified below before the socket is used
        rejectUnauthorized: o.insecure !== true && (cas.length > 0 || pin === undefined),
        ALPNProtocols: ['http/1.1'],
      } as ConnectionOptions);
      live.socket = s;
      s.once('error', (e) => done(e));
      s.once('secureConnect', () => {
        if (pin !== undefined) {
          const got = s.getPeerCertificate()?.fingerprint256;
          if (got !== pin) {
            done(
              fail(
                'HTTP_PIN_MISMATCH',
                href,
                `server certificate fingerprint ${got ?? '(none)'} does not match the pinned ${pin}`,
              ),
            );
            return;
          }
        }
        cb(null, s);
      });
      return undefined;
    };

    const headers: Record<string, string> = { ...o.headers };
    const stream =
      o.body !== undefined && typeof o.body === 'object' && 'chunks' in o.body ? o.body : undefined;
    if (stream !== undefined) headers['content-length'] = String(stream.length);
    else if (o.body !== undefined)
      headers['content-length'] = String(Buffer.byteLength(o.body as string | Uint8Array));
    const req = http.request({
      method: o.method ?? 'GET',
      host: connectHost,
      port,
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, ...headers },
      // no agent: with createConnection (and no agent) node uses our verified socket, one per request
      createConnection: createConnection as unknown as RequestOptions['createConnection'],
    });
    live.req = req;
    req.on('error', (e) => done(e));
    req.on('response', (res) => {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) {
        done(fail('HTTP_TOO_LARGE', href, `response larger than ${max} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) done(fail('HTTP_TOO_LARGE', href, `response larger than ${max} bytes`));
        else chunks.push(c);
      });
      res.on('error', (e) => done(e));
      res.on('aborted', () => done(fail('HTTP_FAILED', href, 'connection closed mid-response')));
      res.on('end', () => {
        if (!res.complete) {
          done(fail('HTTP_FAILED', href, 'connection closed mid-response'));
          return;
        }
        const body = new Uint8Array(Buffer.concat(chunks));
        done(undefined, {
          status: res.statusCode ?? 0,
          headers: flattenHeaders(res.headers),
          body,
          text: () => new TextDecoder().decode(body),
          json: () => {
            try {
              return JSON.parse(new TextDecoder().decode(body)) as unknown;
            } catch (e) {
              throw fail('HTTP_BAD_JSON', href, `response is not JSON: ${(e as Error).message}`, e);
            }
          },
        });
      });
    });
    if (stream === undefined) {
      req.end(o.body === undefined ? undefined : (o.body as string | Uint8Array));
      return;
    }
    writing = writeStream(req, stream).then(
      () => {
        if (!req.destroyed) req.end();
      },
      (e: unknown) => done(e),
    );
  });
  if (writing === undefined) return answer;
  try {
    return await answer;
  } finally {
    await writing;
  }
}

/** Write a streamed body with backpressure; a source error or a wrong length stops before the last byte. */
async function writeStream(req: ClientRequest, body: HttpBodyStream): Promise<void> {
  let sent = 0;
  for await (const chunk of body.chunks) {
    if (req.destroyed) return;
    sent += chunk.length;
    if (sent > body.length)
      throw new Error(`request body longer than its declared ${body.length} bytes`);
    if (chunk.length === 0) continue;
    if (!req.write(chunk)) await drained(req);
  }
  if (sent !== body.length)
    throw new Error(`request body of ${sent} bytes, ${body.length} were declared`);
}

/** The real HTTP client; `hostFs` (default: the host's `/`) reaches CA files and unix sockets. */
export function createHttpClient(hostFs?: FileSystem): HttpClient {
  return { request: (url, options) => httpRequest(url, options, hostFs) };
}

/** A TCP port the kernel reports free right now on `ip` (for services started on loopback). */
export async function findFreePort(ip = '127.0.0.1'): Promise<number> {
  const { net } = await transport(false);
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, ip, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The subset of `fetch` that {@link createFetch} provides. */
export type BoundedFetch = (
  url: string,
  init?: { readonly method?: string; readonly signal?: AbortSignal },
) => Promise<Response>;

/** Statuses whose `Response` may not carry a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch`-shaped function over an {@link HttpClient}, for code written against `fetch`: every call gets
 * the client's deadline and body bound (`options`), never the unbounded global `fetch`.
 */
export function createFetch(
  client: HttpClient = createHttpClient(),
  options: Omit<HttpRequestOptions, 'method' | 'signal' | 'body'> = {},
): BoundedFetch {
  return async (url, init = {}) => {
    const r = await client.request(url, {
      ...options,
      ...(init.method === undefined ? {} : { method: init.method }),
      ...(init.signal === undefined ? {} : { signal: init.signal }),
    });
    const body = NULL_BODY.has(r.status) || init.method === 'HEAD' ? null : r.body;
    return new Response(body as ConstructorParameters<typeof Response>[0], {
      status: r.status < 200 || r.status > 599 ? 502 : r.status,
      headers: r.headers,
    });
  };
}
