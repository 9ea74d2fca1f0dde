/** The versions a registry offers: the tags of one image repository (the original read kube-apiserver's). */
import { ExternalCommandError, UsageError } from '@podsec/core';
import type { System } from '@podsec/core/system';

/** Pure: `http(s)://host[:port]/<repository>` -> the registry API's tag list URL. Throws `UPGRADE_BAD_TAGS_URL`. */
export function planTagsUrl(from: string): string {
  const bad = () =>
    new UsageError(
      'UPGRADE_BAD_TAGS_URL',
      `invalid --tags-from "${from}" (http(s)://registry/repository, e.g. https://registry.local/c10f/kube-apiserver)`,
      { details: { value: from } },
    );
  let u: URL;
  try {
    u = new URL(from);
  } catch {
    throw bad();
  }
  const repo = u.pathname.replace(/^\/+|\/+$/g, '');
  if (
    (u.protocol !== 'https:' && u.protocol !== 'http:') ||
    u.username ||
    u.password ||
    u.search ||
    u.hash ||
    !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repo)
  )
    throw bad();
  return `${u.protocol}//${u.host}/v2/${repo}/tags/list?n=10000`;
}

/** Pure: the release tags (`vX.Y.Z`) of a registry's tag list document; `latest` and the rest dropped. */
export function parseReleaseTags(body: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return [];
  }
  const tags = (doc as { tags?: unknown }).tags;
  return Array.isArray(tags)
    ? tags.filter((t): t is string => typeof t === 'string' && /^v\d+\.\d+\.\d+$/.test(t))
    : [];
}

const isLoopback = (host: string) =>
  host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Pure: how the tag list is fetched (W-S6: the original queried registries with `curl -k`). https is verified
 * against the system CAs or `caFile` unless the user gave `tlsVerify: false`; plain http only with
 * `tlsVerify: false`, or by default for a loopback registry (nothing on the wire to protect). Throws
 * `UPGRADE_TLS_CONFLICT`, `UPGRADE_TAGS_PLAIN_HTTP`.
 */
export function planTagsTls(
  from: string,
  o: { readonly caFile?: string; readonly tlsVerify?: boolean },
): { readonly url: string; readonly insecure: boolean } {
  const url = planTagsUrl(from);
  const u = new URL(url);
  if (o.tlsVerify === false && o.caFile !== undefined)
    throw new UsageError(
      'UPGRADE_TLS_CONFLICT',
      '--tls-verify=false (or --insecure) and --ca-file exclude each other',
    );
  if (
    u.protocol === 'http:' &&
    o.tlsVerify !== false &&
    !(o.tlsVerify === undefined && isLoopback(u.hostname))
  )
    throw new UsageError(
      'UPGRADE_TAGS_PLAIN_HTTP',
      `${from} is plain HTTP: use https, or give --tls-verify=false to read it unprotected`,
      { details: { url: from } },
    );
  return { url, insecure: u.protocol === 'https:' && o.tlsVerify === false };
}

/**
 * The release tags of the repository named by `from` (bounded: 10 s, 1 MiB), over TLS as {@link planTagsTls}
 * decides. Throws `UPGRADE_BAD_TAGS_URL`, `UPGRADE_TLS_CONFLICT`, `UPGRADE_TAGS_PLAIN_HTTP`,
 * `UPGRADE_TAGS_FAILED` (unreachable, an untrusted certificate, not found, no release tags).
 */
export async function readRegistryVersions(
  sys: System,
  from: string,
  o: { readonly caFile?: string; readonly tlsVerify?: boolean } = {},
): Promise<string[]> {
  const { url, insecure } = planTagsTls(from, o);
  const failed = (why: string) =>
    new ExternalCommandError('UPGRADE_TAGS_FAILED', `cannot read the versions of ${from}: ${why}`, {
      details: { url: from, reason: why },
    });
  let r;
  try {
    r = await sys.http.request(url, {
      timeoutMs: 10_000,
      maxBytes: 1 << 20,
      headers: { Accept: 'application/json' },
      ...(o.caFile ? { caFile: o.caFile } : {}),
      ...(insecure ? { insecure: true } : {}),
    });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw failed(
      /certificate|self[- ]signed|issuer/i.test(why)
        ? `${why} (give the registry's CA with --ca-file, or --tls-verify=false to skip the check)`
        : why,
    );
  }
  if (r.status !== 200) throw failed(`HTTP ${r.status}`);
  const tags = parseReleaseTags(new TextDecoder().decode(r.body));
  if (tags.length === 0) throw failed('no vX.Y.Z tag');
  return tags;
}
