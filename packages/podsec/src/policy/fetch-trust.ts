/**
 * Client side of the trust bootstrap (docs/weaknesses.md#w6-trust-bootstrap-on-clients fix): fetch the published keys and policy.json into memory over
 * HTTPS verified by a CA file and/or a pinned SHA-256 certificate fingerprint, through the System's HTTP
 * client (deadline, bounded bodies, the pin checked before a request is sent). Plain HTTP only when the
 * administrator asks for it explicitly. Nothing is written here.
 */
import { errorMessage, isPodsecError, VerificationError } from '@podsec/core';
import { normalizeFingerprint, type HttpRequestOptions, type System } from '@podsec/core/system';
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

const MAX_FILES = 256;

function fetchFailed(url: string, reason: string, cause?: unknown): VerificationError {
  return new VerificationError('TRUST_FETCH_FAILED', `cannot fetch ${url}: ${reason}`, {
    details: { url, reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

async function get(sys: Pick<System, 'http'>, url: URL, o: FetchTrustOptions): Promise<Uint8Array> {
  const req: HttpRequestOptions = {
    timeoutMs: o.timeoutMs ?? 30_000,
    maxBytes: o.maxBytes ?? 4 * 1024 * 1024,
    ...(o.ca === undefined ? {} : { ca: o.ca }),
    ...(o.fingerprint === undefined ? {} : { fingerprint: o.fingerprint }),
    ...(o.resolve === undefined ? {} : { resolve: o.resolve }),
  };
  let res;
  try {
    res = await sys.http.request(url, req);
  } catch (e) {
    const detail = isPodsecError(e) ? e.details?.['reason'] : undefined;
    const reason = typeof detail === 'string' ? detail : errorMessage(e);
    throw fetchFailed(url.href, reason, e);
  }
  if (res.status !== 200) throw fetchFailed(url.href, `HTTP status ${res.status}`);
  return res.body;
}

/**
 * Fetches the key directory listing (nginx JSON autoindex), every `*.pgp` and `policy.json` into memory.
 * @throws VerificationError `TRUST_FETCH_FAILED` (transport, TLS, HTTP status), `TRUST_INVALID` (listing)
 */
export async function fetchTrust(
  sys: Pick<System, 'http'>,
  o: FetchTrustOptions,
): Promise<TrustSet> {
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
  const names = parseKeysListing(new TextDecoder().decode(await get(sys, base, o)));
  if (!names.includes('policy.json'))
    throw fetchFailed(new URL('policy.json', base).href, 'policy.json is not published');
  const wanted = names.filter((n) => n === 'policy.json' || n.endsWith('.pgp'));
  // each body is bounded by maxBytes; the number of bodies is bounded too
  if (wanted.length > MAX_FILES)
    throw fetchFailed(base.href, `more than ${MAX_FILES} keys are published`);
  const keys = new Map<string, Uint8Array>();
  let policyText = '';
  for (const name of wanted) {
    const body = await get(sys, new URL(name, base), o);
    if (name === 'policy.json') policyText = new TextDecoder().decode(body);
    else keys.set(name, body);
  }
  return { policyText, keys };
}
