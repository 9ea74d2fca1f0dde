/** Port forwarding through RootlessKit's API socket (`/v1/ports`), as `rootlessctl` does. */
import { ExternalCommandError, UsageError } from '../errors.ts';
import type { HttpClient } from '../system/http.ts';
import { isRecord } from '../util.ts';

/** One forward: host `parentIP:parentPort` → namespace `childPort` (`childIP`, default loopback). */
export interface PortSpec {
  readonly proto: 'tcp' | 'udp';
  readonly parentIP: string;
  readonly parentPort: number;
  readonly childPort: number;
  readonly childIP?: string;
}

/** A forward RootlessKit has, with its id. */
export interface PortStatus {
  readonly id: number;
  readonly spec: PortSpec;
}

/** The port API of one namespace. */
export interface PortApi {
  /** `GET /v1/info` (API version, network and port driver): proves the API answers. */
  info(): Promise<Record<string, unknown>>;
  list(): Promise<PortStatus[]>;
  add(spec: PortSpec): Promise<PortStatus>;
  remove(id: number): Promise<void>;
  /** Adds the forwards that are missing; returns those added. Idempotent. */
  ensure(specs: readonly PortSpec[]): Promise<PortStatus[]>;
}

const PORT_RE = /^(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(\d{1,5}):(\d{1,5})\/(tcp|udp)$/;

function port(n: string, text: string): number {
  const p = Number(n);
  if (!Number.isInteger(p) || p < 1 || p > 65535)
    throw new UsageError('PORT_BAD_SPEC', `bad port in ${text}`);
  return p;
}

/** Pure: parses rootlessctl's `[parentIP:]parentPort:childPort/proto` (parent IP default 0.0.0.0). */
export function parsePortSpec(text: string): PortSpec {
  const m = PORT_RE.exec(text.trim());
  if (!m)
    throw new UsageError(
      'PORT_BAD_SPEC',
      `bad port spec "${text}" (expected [IP:]HOSTPORT:NSPORT/tcp|udp)`,
    );
  const ip = (m[1] ?? '0.0.0.0').replace(/^\[|\]$/g, '');
  return {
    proto: m[4] as 'tcp' | 'udp',
    parentIP: ip,
    parentPort: port(m[2]!, text),
    childPort: port(m[3]!, text),
  };
}

/** Pure: the rootlessctl form of a spec. */
export function formatPortSpec(s: PortSpec): string {
  const ip = s.parentIP.includes(':') ? `[${s.parentIP}]` : s.parentIP;
  return `${ip}:${s.parentPort}:${s.childPort}/${s.proto}`;
}

function sameSpec(a: PortSpec, b: PortSpec): boolean {
  return (
    a.proto === b.proto &&
    a.parentIP === b.parentIP &&
    a.parentPort === b.parentPort &&
    a.childPort === b.childPort
  );
}

function toStatus(x: unknown): PortStatus {
  if (!isRecord(x) || typeof x['id'] !== 'number' || !isRecord(x['spec']))
    throw new ExternalCommandError(
      'PORT_BAD_ANSWER',
      'rootlesskit answered an unexpected port object',
    );
  const s = x['spec'];
  const proto = s['proto'];
  if (
    (proto !== 'tcp' && proto !== 'udp') ||
    typeof s['parentPort'] !== 'number' ||
    typeof s['childPort'] !== 'number'
  )
    throw new ExternalCommandError(
      'PORT_BAD_ANSWER',
      'rootlesskit answered an unexpected port spec',
    );
  return {
    id: x['id'],
    spec: {
      proto,
      parentIP: typeof s['parentIP'] === 'string' ? s['parentIP'] : '',
      parentPort: s['parentPort'],
      childPort: s['childPort'],
      ...(typeof s['childIP'] === 'string' && s['childIP'] !== '' ? { childIP: s['childIP'] } : {}),
    },
  };
}

/**
 * A client of the API socket at `socketPath` (host path; reached without following symlinks). Each request may take
 * `timeoutMs` (a function: asked before every request, e.g. what is left of a readiness budget). @default 10000
 */
export function createPortApi(
  http: HttpClient,
  socketPath: string,
  o: { readonly timeoutMs?: number | (() => number) } = {},
): PortApi {
  const timeoutMs = () =>
    typeof o.timeoutMs === 'function' ? o.timeoutMs() : (o.timeoutMs ?? 10_000);
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => {
    // the socket lives in the user's runtime dir: the HTTP client pins it by the no-follow walk
    const r = await http.request(`http://localhost${path}`, {
      socketPath,
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      timeoutMs: timeoutMs(),
      maxBytes: 1 << 20,
    });
    const text = r.text();
    if (r.status < 200 || r.status > 299) {
      let msg = text.slice(0, 300);
      try {
        const j: unknown = JSON.parse(text);
        if (isRecord(j) && typeof j['message'] === 'string') msg = j['message'];
      } catch {
        // not JSON
      }
      throw new ExternalCommandError(
        'PORT_API_FAILED',
        `rootlesskit ${method} ${path}: ${r.status} ${msg}`,
      );
    }
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
  const api: PortApi = {
    async info() {
      const j = await call('GET', '/v1/info');
      if (!isRecord(j))
        throw new ExternalCommandError('PORT_BAD_ANSWER', 'rootlesskit answered no info');
      return j;
    },
    async list() {
      const j = await call('GET', '/v1/ports');
      // Go encodes an empty list as null
      if (j === null) return [];
      if (!Array.isArray(j))
        throw new ExternalCommandError('PORT_BAD_ANSWER', 'rootlesskit answered a non-list');
      return j.map(toStatus);
    },
    async add(spec) {
      return toStatus(await call('POST', '/v1/ports', spec));
    },
    async remove(id) {
      if (!Number.isInteger(id) || id < 0) throw new UsageError('PORT_BAD_ID', `bad port id ${id}`);
      await call('DELETE', `/v1/ports/${id}`);
    },
    async ensure(specs) {
      const have = await api.list();
      const added: PortStatus[] = [];
      for (const s of specs) {
        if (have.some((h) => sameSpec(h.spec, s)) || added.some((h) => sameSpec(h.spec, s)))
          continue;
        added.push(await api.add(s));
      }
      return added;
    },
  };
  return api;
}
