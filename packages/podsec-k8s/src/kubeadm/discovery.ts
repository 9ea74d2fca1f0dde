/**
 * File-based join discovery (`kubeadm join --discovery-file F|https://…`): the discovery kubeconfig is read by the
 * wrapper (bounded; a file through the host file system's no-follow walk, a URL over HTTPS verified against the
 * host's CA bundle, as kubeadm does), checked here and handed to kubeadm as a root-owned copy that the namespace
 * sees. kubeadm then trusts the API server only through the CA of that kubeconfig.
 */
import { X509Certificate } from 'node:crypto';
import { UsageError } from '@podsec/core';
import { parse } from 'yaml';

/** Largest discovery kubeconfig accepted (kubeadm's own has no bound; a cluster-info kubeconfig is ~2 KiB). */
export const DISCOVERY_MAX_BYTES = 64 * 1024;

/** What the check found in a discovery kubeconfig. */
export interface DiscoveryInfo {
  /** `https://host:port` of the selected cluster. */
  readonly server: string;
  /** `host:port` of that server (443 when the URL names no port). */
  readonly endpoint: string;
  /** The current user carries embedded credentials (a token or a client certificate and key). */
  readonly hasCredentials: boolean;
  /** SHA-256 fingerprint of the first CA certificate (for messages). */
  readonly caFingerprint: string;
}

/** Throws `KUBEADM_BAD_DISCOVERY_FILE`: the discovery file from `source` is refused for `reason`. */
export function discoveryRefused(source: string, reason: string): never {
  throw new UsageError(
    'KUBEADM_BAD_DISCOVERY_FILE',
    `the discovery file ${source} is refused: ${reason}`,
    { details: { source, reason } },
  );
}

/** Pure: is this `--discovery-file` value a URL (kubeadm fetches only https; any other scheme is refused)? */
export function isDiscoveryUrl(v: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(v);
}

/** Pure: checks a `--discovery-file` URL: https, a host, no credentials in it. Throws `KUBEADM_BAD_DISCOVERY_FILE`. */
export function checkDiscoveryUrl(v: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    discoveryRefused(v, 'not a valid URL');
  }
  if (u.protocol !== 'https:')
    discoveryRefused(v, 'a URL must be https (kubeadm refuses any other scheme)');
  if (u.username || u.password)
    discoveryRefused(u.host, 'credentials in the URL would show on the command line');
  if (v.length > 2048) discoveryRefused(u.host, 'the URL is longer than 2048 characters');
  return u;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `name:`-keyed entries of a kubeconfig list (`clusters`, `users`, `contexts`). */
function named(source: string, cfg: Obj, list: string, inner: string): Map<string, Obj> {
  const v = cfg[list];
  if (v === undefined || v === null) return new Map();
  if (!Array.isArray(v)) discoveryRefused(source, `${list} is not a list`);
  const out = new Map<string, Obj>();
  for (const e of v as unknown[]) {
    if (!isObj(e) || typeof e['name'] !== 'string')
      discoveryRefused(source, `an entry of ${list} has no name`);
    const body = e[inner];
    if (!isObj(body)) discoveryRefused(source, `${list} entry "${e['name']}" has no ${inner}`);
    out.set(e['name'], body);
  }
  return out;
}

/** The paths a kubeconfig may name: kubeadm would resolve them inside the namespace, not where the file was. */
const PATH_FIELDS = ['certificate-authority', 'client-certificate', 'client-key', 'tokenFile'];

/**
 * Pure: checks a discovery kubeconfig the way kubeadm uses it: the cluster it selects (the unnamed one, else the
 * current context's) has an https server and an embedded CA (`certificate-authority-data`, PEM certificates);
 * nothing refers to another file (inside the namespace such a path means something else); no
 * `insecure-skip-tls-verify`, no exec or auth-provider plugin (it would run inside the namespace as its
 * pseudo-root). Throws `KUBEADM_BAD_DISCOVERY_FILE` naming why.
 */
export function checkDiscoveryKubeconfig(text: string, source: string): DiscoveryInfo {
  if (Buffer.byteLength(text) > DISCOVERY_MAX_BYTES)
    discoveryRefused(source, `it is larger than ${DISCOVERY_MAX_BYTES} bytes`);
  let cfg: unknown;
  try {
    cfg = parse(text, { maxAliasCount: 0 });
  } catch (e) {
    discoveryRefused(source, `not YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(cfg)) discoveryRefused(source, 'not a kubeconfig');
  if (cfg['kind'] !== undefined && cfg['kind'] !== 'Config')
    discoveryRefused(source, `kind is ${JSON.stringify(cfg['kind'])}, not Config`);
  const clusters = named(source, cfg, 'clusters', 'cluster');
  if (clusters.size === 0) discoveryRefused(source, 'it defines no cluster');
  const contexts = named(source, cfg, 'contexts', 'context');
  const users = named(source, cfg, 'users', 'user');
  // what kubeadm's client-go validation refuses: contexts must name an existing user and cluster
  for (const [name, c] of contexts) {
    if (!name) discoveryRefused(source, 'a context has an empty name');
    for (const [key, defined] of [
      ['user', users],
      ['cluster', clusters],
    ] as const) {
      const ref = c[key];
      if (typeof ref !== 'string' || !ref)
        discoveryRefused(source, `context "${name}" names no ${key}`);
      if (!defined.has(ref))
        discoveryRefused(source, `context "${name}" names the undefined ${key} "${ref}"`);
    }
  }
  const current = typeof cfg['current-context'] === 'string' ? cfg['current-context'] : '';
  if (current && !contexts.has(current))
    discoveryRefused(source, `the current context "${current}" is not defined`);
  const ctx = contexts.get(current);
  let cluster = clusters.get('');
  let clusterName = '';
  if (!cluster) {
    if (!ctx) discoveryRefused(source, `the current context "${current}" is not defined`);
    clusterName = typeof ctx['cluster'] === 'string' ? ctx['cluster'] : '';
    cluster = clusters.get(clusterName);
    if (!cluster)
      discoveryRefused(source, `the current context names no defined cluster ("${clusterName}")`);
  }
  const server = cluster['server'];
  if (typeof server !== 'string')
    discoveryRefused(source, `cluster "${clusterName}" has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    discoveryRefused(source, `the server "${server}" is not a URL`);
  }
  if (url.protocol !== 'https:' || !url.hostname)
    discoveryRefused(source, `the server "${server}" is not an https URL`);
  if (cluster['insecure-skip-tls-verify'] === true)
    discoveryRefused(source, 'insecure-skip-tls-verify would trust any API server');
  const user = ctx && typeof ctx['user'] === 'string' ? users.get(ctx['user']) : undefined;
  for (const [what, o] of [
    ['the cluster', cluster],
    ['the user', user],
  ] as const) {
    if (!o) continue;
    for (const f of PATH_FIELDS)
      if (o[f] !== undefined)
        discoveryRefused(
          source,
          `${what} refers to the file ${f}: kubeadm would read it inside the namespace, embed it (${f === 'tokenFile' ? 'token' : `${f}-data`})`,
        );
  }
  if (user?.['exec'] !== undefined || user?.['auth-provider'] !== undefined)
    discoveryRefused(
      source,
      'a credential plugin (exec, auth-provider) would run inside the namespace',
    );
  const caData = cluster['certificate-authority-data'];
  if (typeof caData !== 'string' || !caData.trim())
    discoveryRefused(
      source,
      'the cluster has no certificate-authority-data (the CA kubeadm must trust)',
    );
  const pem = Buffer.from(caData, 'base64').toString('utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) discoveryRefused(source, 'certificate-authority-data holds no PEM certificate');
  let ca: X509Certificate;
  try {
    ca = new X509Certificate(blocks[0]);
    for (const b of blocks.slice(1)) new X509Certificate(b);
  } catch {
    discoveryRefused(source, 'certificate-authority-data holds a certificate that does not parse');
  }
  const hasCredentials =
    !!user &&
    ((typeof user['token'] === 'string' && user['token'] !== '') ||
      (typeof user['client-certificate-data'] === 'string' &&
        typeof user['client-key-data'] === 'string'));
  return {
    server,
    // an IPv6 hostname keeps its brackets
    endpoint: `${url.hostname}:${url.port || '443'}`,
    hasCredentials,
    caFingerprint: ca.fingerprint256,
  };
}

/** Where the host keeps its CA bundle (Debian, ALT/RHEL, SUSE ...: Go's list, which kubeadm uses). */
export const HOST_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
] as const;
