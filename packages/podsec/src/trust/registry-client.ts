/**
 * The manifest of an image straight from its registry (distribution API v2), as skopeo fetches it, without starting
 * skopeo: `GET /v2/<name>/manifests/<tag|digest>` with the manifest types of containers/image in Accept, anonymous or
 * with the basic credentials of the caller's auth.json, answering a Bearer or Basic challenge, bounded to 4 MiB like
 * containers/image. HTTPS with the system's CAs; with `insecure` (--tls-verify=false, or `insecure = true` for the
 * registry in registries.conf) plain HTTP.
 *
 * Whatever this client does not reproduce exactly is left to skopeo (`undefined`), so that the answer is always the
 * one skopeo would give: a registries.conf entry for the image with a mirror, another location or `blocked`;
 * an ambiguous configuration (the image's registry in more than one registries.conf, or credentials for it in more
 * than one auth file); `CONTAINERS_REGISTRIES_CONF`; a certs.d directory for the registry (CA and client
 * certificates); credential helpers and identity tokens; and any answer but the manifest (a failure to connect,
 * 404, a refused challenge ...): skopeo then gives its own answer, with TLS without verification for an insecure HTTPS
 * registry.
 */
import { parseRegistriesConf, type DockerReference } from '@podsec/core/config';
import type { System } from '@podsec/core/system';

/** Largest manifest accepted (containers/image's limit). */
const MAX_MANIFEST = 4 * 1024 * 1024;
/** Largest configuration or token answer read. */
const MAX_SMALL = 1024 * 1024;
const TIMEOUT_MS = 60_000;

/** containers/image's DefaultRequestedManifestMIMETypes. */
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** Why the direct client steps aside (shown with --verbose). */
type Skip = { readonly skip: string };

const skip = (why: string): Skip => ({ skip: why });

async function readIfExists(sys: System, file: string): Promise<string | undefined> {
  return sys.hostFs.readTextIfExists(file, { maxBytes: MAX_SMALL });
}

/** Length of the match of a registries.conf prefix on `name` as containers/image counts it; -1 for none. */
function prefixMatch(name: string, prefix: string): number {
  if (prefix.startsWith('*.')) return -2; // wildcard: left to skopeo
  if (name === prefix) return prefix.length;
  if (name.startsWith(prefix) && ['/', ':', '@'].includes(name.charAt(prefix.length)))
    return prefix.length;
  return -1;
}

/** `insecure` for the image's registry from registries.conf, or why skopeo must decide. */
async function registryConfig(
  sys: System,
  ref: DockerReference,
): Promise<{ insecure: boolean } | Skip> {
  if (sys.env['CONTAINERS_REGISTRIES_CONF']) return skip('CONTAINERS_REGISTRIES_CONF is set');
  const home = sys.env['HOME'];
  const files = ['/etc/containers/registries.conf'];
  const dirs = ['/etc/containers/registries.conf.d'];
  if (home?.startsWith('/')) {
    files.push(`${home}/.config/containers/registries.conf`);
    dirs.push(`${home}/.config/containers/registries.conf.d`);
  }
  for (const d of dirs) {
    const names = await sys.hostFs.readdir(d).catch(() => undefined);
    for (const n of (names ?? []).filter((x) => x.endsWith('.conf')).sort())
      files.push(`${d}/${n}`);
  }
  let found: { insecure: boolean } | undefined;
  for (const file of files) {
    let text: string | undefined;
    try {
      text = await readIfExists(sys, file);
    } catch {
      return skip(`cannot read ${file}`);
    }
    if (text === undefined) continue;
    let conf;
    try {
      conf = parseRegistriesConf(text);
    } catch {
      return skip(`${file} is not valid`);
    }
    const host = ref.domain;
    if (conf.v1.block.includes(host)) return skip(`${host} is blocked in ${file}`);
    let best: (typeof conf.registries)[number] | undefined;
    let bestLen = -1;
    for (const r of conf.registries) {
      const prefix = r.prefix ?? r.location;
      if (prefix === undefined) continue;
      const n = prefixMatch(ref.name, prefix);
      if (n === -2) return skip(`${file} has a wildcard registry`);
      if (n > bestLen) [best, bestLen] = [r, n];
    }
    const v1Insecure = conf.v1.insecure.includes(host);
    if (best === undefined && !v1Insecure) continue;
    if (found !== undefined) return skip(`${host} is configured in more than one registries.conf`);
    if (best !== undefined) {
      const prefix = best.prefix ?? best.location;
      if (best.blocked) return skip(`${host} is blocked in ${file}`);
      if ((best.mirror ?? []).length > 0) return skip(`${file} has mirrors for ${prefix}`);
      if (best.location !== undefined && best.location !== prefix)
        return skip(`${file} moves ${prefix} to ${best.location}`);
    }
    found = { insecure: best?.insecure === true || v1Insecure };
  }
  return found ?? { insecure: false };
}

/** Basic credentials of the caller for the image, `undefined` for anonymous, or why skopeo must decide. */
async function credentials(
  sys: System,
  ref: DockerReference,
): Promise<{ user: string; password: string } | undefined | Skip> {
  const env = sys.env;
  const home = env['HOME']?.startsWith('/') ? env['HOME'] : undefined;
  const uid = sys.identity.uid;
  const files: string[] = [];
  if (env['REGISTRY_AUTH_FILE']) files.push(env['REGISTRY_AUTH_FILE']);
  else {
    if (uid !== 0 && env['XDG_RUNTIME_DIR']?.startsWith('/'))
      files.push(`${env['XDG_RUNTIME_DIR']}/containers/auth.json`);
    files.push(`/run/containers/${uid}/auth.json`);
    const config = env['XDG_CONFIG_HOME']?.startsWith('/')
      ? env['XDG_CONFIG_HOME']
      : home && `${home}/.config`;
    if (config) files.push(`${config}/containers/auth.json`);
    if (home) files.push(`${home}/.docker/config.json`, `${home}/.dockercfg`);
  }
  // the most specific key first, as containers/image looks them up
  const parts = ref.path.split('/');
  const keys = parts.map((_, i) => `${ref.domain}/${parts.slice(0, parts.length - i).join('/')}`);
  keys.push(ref.domain);
  let found: { user: string; password: string } | undefined;
  for (const file of files) {
    let doc: unknown;
    try {
      const text = await readIfExists(sys, file);
      if (text === undefined) continue;
      doc = JSON.parse(text);
    } catch {
      return skip(`cannot read ${file}`);
    }
    if (typeof doc !== 'object' || doc === null) return skip(`${file} is not an auth file`);
    const d = doc as Record<string, unknown>;
    if (d['credHelpers'] !== undefined || d['credsStore'] !== undefined)
      return skip(`${file} names credential helpers`);
    // ~/.dockercfg has the entries at the top level; keys may carry a scheme and a path (https://host/v1/)
    const auths = (file.endsWith('/.dockercfg') ? d : d['auths']) as
      Record<string, unknown> | undefined;
    if (auths === undefined) continue;
    if (typeof auths !== 'object' || auths === null) return skip(`${file} is not an auth file`);
    const normalized = new Map<string, unknown>();
    for (const [k, v] of Object.entries(auths))
      normalized.set(k.replace(/^https?:\/\//, '').replace(/\/v[12]\/?$/, ''), v);
    const key = keys.find((k) => normalized.has(k));
    if (key === undefined) continue;
    const entry = normalized.get(key) as Record<string, unknown> | null;
    if (typeof entry !== 'object' || entry === null) return skip(`${file} is not an auth file`);
    if (entry['identitytoken']) return skip(`${file} holds an identity token`);
    if (found !== undefined) return skip(`credentials for ${key} in more than one auth file`);
    const auth = typeof entry['auth'] === 'string' ? entry['auth'] : '';
    const plain = Buffer.from(auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) return skip(`${file}: the entry for ${key} holds no user:password`);
    found = { user: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  return found;
}

/** The parameters of a `WWW-Authenticate` challenge: its scheme (lower case) and `key="value"` pairs. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g;
  for (const p of (m[2] ?? '').matchAll(re))
    params[(p[1] ?? '').toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

const basic = (c: { user: string; password: string }) =>
  `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

/**
 * What a direct client needs to talk to `ref`'s registry as skopeo would (`insecure` of registries.conf, the
 * caller's basic credentials), or why it must leave that to skopeo (see the module comment).
 */
export async function directAccess(
  sys: System,
  ref: DockerReference,
): Promise<
  | {
      readonly ok: true;
      readonly insecure: boolean;
      readonly creds: { readonly user: string; readonly password: string } | undefined;
    }
  | { readonly ok: false; readonly why: string }
> {
  const [conf, creds] = await Promise.all([registryConfig(sys, ref), credentials(sys, ref)]);
  if ('skip' in conf) return { ok: false, why: conf.skip };
  if (creds !== undefined && 'skip' in creds) return { ok: false, why: creds.skip };
  for (const dir of ['/etc/containers/certs.d', '/etc/docker/certs.d'])
    if ((await sys.hostFs.stat(`${dir}/${ref.domain}`)) !== undefined)
      return { ok: false, why: `${dir}/${ref.domain} exists` };
  const home = sys.env['HOME'];
  if (
    home?.startsWith('/') &&
    (await sys.hostFs.stat(`${home}/.config/containers/certs.d/${ref.domain}`))
  )
    return { ok: false, why: `~/.config/containers/certs.d/${ref.domain} exists` };
  return { ok: true, insecure: conf.insecure, creds };
}

/** The raw manifest of `ref` from its registry, or why skopeo has to fetch it (see the module comment). */
export async function fetchManifestDirect(
  sys: System,
  ref: DockerReference,
  o: { readonly insecure: boolean },
): Promise<
  | { readonly ok: true; readonly manifest: Uint8Array }
  | { readonly ok: false; readonly why: string }
> {
  const access = await directAccess(sys, ref);
  if (!access.ok) return access;
  const { creds } = access;
  const host = ref.domain === 'docker.io' ? 'registry-1.docker.io' : ref.domain;
  const insecure = o.insecure || access.insecure;
  const base = `${insecure ? 'http' : 'https'}://${host}`;
  const url = `${base}/v2/${ref.path}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`;
  try {
    let res = await sys.http.request(url, {
      headers: { accept: ACCEPT },
      maxBytes: MAX_MANIFEST,
      timeoutMs: TIMEOUT_MS,
    });
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers['www-authenticate'] ?? '');
      let authorization: string | undefined;
      if (challenge.scheme === 'basic' && creds !== undefined) authorization = basic(creds);
      else if (challenge.scheme === 'bearer' && challenge.params['realm']) {
        const realm = new URL(challenge.params['realm']);
        if (realm.protocol !== 'https:' && !(insecure && realm.protocol === 'http:'))
          return { ok: false, why: `token realm ${realm.href}` };
        if (challenge.params['service'])
          realm.searchParams.set('service', challenge.params['service']);
        realm.searchParams.set('scope', `repository:${ref.path}:pull`);
        const t = await sys.http.request(realm, {
          headers: creds === undefined ? {} : { authorization: basic(creds) },
          maxBytes: MAX_SMALL,
          timeoutMs: TIMEOUT_MS,
        });
        if (t.status !== 200) return { ok: false, why: `token endpoint answered ${t.status}` };
        const body = t.json() as { token?: unknown; access_token?: unknown };
        const token = typeof body.token === 'string' ? body.token : body.access_token;
        if (typeof token !== 'string' || token === '')
          return { ok: false, why: 'the token endpoint gave no token' };
        authorization = `Bearer ${token}`;
      }
      if (authorization === undefined)
        return { ok: false, why: `unanswerable challenge ${challenge.scheme}` };
      res = await sys.http.request(url, {
        headers: { accept: ACCEPT, authorization },
        maxBytes: MAX_MANIFEST,
        timeoutMs: TIMEOUT_MS,
      });
    }
    if (res.status !== 200) return { ok: false, why: `the registry answered ${res.status}` };
    return { ok: true, manifest: res.body };
  } catch (e) {
    return { ok: false, why: e instanceof Error ? e.message : String(e) };
  }
}
