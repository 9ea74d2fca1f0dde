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

/**
 * The release tags of the repository named by `from` (bounded: 10 s, 1 MiB). Throws `UPGRADE_BAD_TAGS_URL`,
 * `UPGRADE_TAGS_FAILED` (unreachable, not found, no release tags).
 */
export async function readRegistryVersions(
  sys: System,
  from: string,
  o: { readonly caFile?: string } = {},
): Promise<string[]> {
  const url = planTagsUrl(from);
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
    });
  } catch (e) {
    throw failed(e instanceof Error ? e.message : String(e));
  }
  if (r.status !== 200) throw failed(`HTTP ${r.status}`);
  const tags = parseReleaseTags(new TextDecoder().decode(r.body));
  if (tags.length === 0) throw failed('no vX.Y.Z tag');
  return tags;
}
