/**
 * Client side of the trust bootstrap (W6 fix): fetch the published keys and policy.json into memory over
 * HTTPS verified by a CA file and/or a pinned SHA-256 certificate fingerprint. Plain HTTP only when the
 * administrator asks for it explicitly. Nothing is written here.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { VerificationError } from '@podsec/core';
import { parseKeysListing, type TrustSet } from './plan-policy.ts';

/** Options of {@link fetchTrust}. */
export interface FetchTrustOptions {
  /** Directory URL of the published keys, e.g. `https://sigstore.local:81/keys/`. */
  readonly url: string;
  /** PEM text of the CA (or the self-signed server certificate) to trust. */
  readonly ca?: string;
  /** SHA-256 fingerprint of the server certificate (hex, colons optional). */
  readonly fingerprint?: string;
  /** Allow `http:` URLs (no authentication at all). @default false */
  readonly insecureHttp?: boolean;
  /** Connect to this address for these host names (the server IP, before /etc/hosts binds them). */
  readonly resolve?: { readonly names: readonly string[]; readonly ip: string };
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** Largest accepted response. @default 4 MiB */
  readonly maxBytes?: number;
}

function fetchFailed(url: string, reason: string, cause?: unknown): VerificationError {
  return new VerificationError('TRUST_FETCH_FAILED', `cannot fetch ${url}: ${reason}`, {
    details: { url, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Normalises a SHA-256 fingerprint to `AA:BB:...`; `undefined` when malformed. */
export function normalizeFingerprint(fp: string): string | undefined {
  const hex = fp
    .replace(/^sha256[:/]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

function get(url: URL, o: FetchTrustOptions): Promise<Uint8Array> {
  const max = o.maxBytes ?? 4 * 1024 * 1024;
  const pin = o.fingerprint === undefined ? undefined : normalizeFingerprint(o.fingerprint);
  const lookup: LookupFunction | undefined =
    o.resolve && o.resolve.names.includes(url.hostname)
      ? (_host, opts, cb) => {
          const ip = o.resolve!.ip;
          if ((opts as { all?: boolean }).all)
            (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
              { address: ip, family: 4 },
            ]);
          else cb(null, ip, 4);
        }
      : undefined;
  return new Promise((resolve, reject) => {
    const checkPin = (socket: TLSSocket): string | undefined => {
      if (pin === undefined) return undefined;
      const got = socket.getPeerCertificate()?.fingerprint256;
      return got === pin
        ? undefined
        : `server certificate fingerprint ${got ?? '(none)'} does not match the pinned ${pin}`;
    };
    const common = {
      method: 'GET',
      agent: false as const,
      timeout: o.timeoutMs ?? 30_000,
      ...(lookup ? { lookup } : {}),
    };
    const req =
      url.protocol === 'https:'
        ? https.request(url, {
            ...common,
            ...(o.ca !== undefined ? { ca: o.ca } : {}),
            // with only a pinned fingerprint the chain is not checked by a CA; the pin is checked below instead
            rejectUnauthorized: o.ca !== undefined || pin === undefined,
          })
        : http.request(url, common);
    req.on('socket', (s) => {
      if (url.protocol !== 'https:') return;
      (s as TLSSocket).once('secureConnect', () => {
        const bad = checkPin(s as TLSSocket);
        if (bad) req.destroy(fetchFailed(url.href, bad));
      });
    });
    req.on('timeout', () => req.destroy(fetchFailed(url.href, 'timed out')));
    req.on('error', (e) =>
      reject(e instanceof VerificationError ? e : fetchFailed(url.href, e.message, e)),
    );
    req.on('response', (res) => {
      if (url.protocol === 'https:') {
        const bad = checkPin(res.socket as TLSSocket);
        if (bad) {
          res.destroy();
          reject(fetchFailed(url.href, bad));
          return;
        }
      }
      if (res.statusCode !== 200) {
        res.resume();
        reject(fetchFailed(url.href, `HTTP status ${res.statusCode ?? '?'}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > max) res.destroy(fetchFailed(url.href, `response larger than ${max} bytes`));
        else chunks.push(c);
      });
      res.on('error', (e) =>
        reject(e instanceof VerificationError ? e : fetchFailed(url.href, e.message, e)),
      );
      res.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    });
    req.end();
  });
}

/**
 * Fetches the key directory listing (nginx JSON autoindex), every `*.pgp` and `policy.json` into memory.
 * @throws VerificationError `TRUST_FETCH_FAILED` (transport, TLS, HTTP status), `TRUST_INVALID` (listing)
 */
export async function fetchTrust(o: FetchTrustOptions): Promise<TrustSet> {
  let base: URL;
  try {
    base = new URL(o.url.endsWith('/') ? o.url : `${o.url}/`);
  } catch (e) {
    throw fetchFailed(o.url, 'not a URL', e);
  }
  if (base.protocol === 'http:' && !o.insecureHttp)
    throw fetchFailed(
      base.href,
      'plain HTTP is not authenticated; use https with --ca/--fingerprint, or --insecure-http',
    );
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw fetchFailed(base.href, `unsupported protocol ${base.protocol}`);
  if (
    base.protocol === 'https:' &&
    o.fingerprint !== undefined &&
    normalizeFingerprint(o.fingerprint) === undefined
  ) {
    throw fetchFailed(base.href, `malformed SHA-256 fingerprint ${o.fingerprint}`);
  }
  const names = parseKeysListing(new TextDecoder().decode(await get(base, o)));
  if (!names.includes('policy.json'))
    throw fetchFailed(new URL('policy.json', base).href, 'policy.json is not published');
  const keys = new Map<string, Uint8Array>();
  let policyText = '';
  for (const name of names) {
    if (name !== 'policy.json' && !name.endsWith('.pgp')) continue;
    const body = await get(new URL(name, base), o);
    if (name === 'policy.json') policyText = new TextDecoder().decode(body);
    else keys.set(name, body);
  }
  return { policyText, keys };
}
