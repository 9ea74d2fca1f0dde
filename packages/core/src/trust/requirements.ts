/**
 * Which requirements of a containers-policy.json apply to an image: the most specific scope, as
 * containers/image's `requirementsForImageRef`. No signature code: `podsec-trust show` loads only this.
 */
import type { Policy, PolicyRequirement, TransportScopes } from '../config/policy.ts';
import { dockerScopeCandidates, parseDockerReference } from '../config/reference.ts';
import type { DockerReference } from '../config/reference.ts';

/** The requirements that govern an image, and why. */
export interface RequirementsDecision {
  /** The matching scope of the transport, `''` for the transport's default scope or for `default`. */
  readonly scope: string;
  /** True when the top-level `default` applies. */
  readonly isDefault: boolean;
  readonly requirements: readonly PolicyRequirement[];
  readonly reason: string;
}

const PATH_TRANSPORTS = new Set(['dir', 'oci', 'oci-archive', 'docker-archive', 'sif', 'tarball']);
const SCOPE_INDEX = new WeakMap<TransportScopes, Map<string, readonly PolicyRequirement[]>>();

/** Scopes of one transport as a Map, built once per (immutable) scopes object. */
function scopeIndex(scopes: TransportScopes): Map<string, readonly PolicyRequirement[]> {
  let index = SCOPE_INDEX.get(scopes);
  if (index === undefined) {
    index = new Map(Object.entries(scopes));
    SCOPE_INDEX.set(scopes, index);
  }
  return index;
}

/** Identity then namespaces of a path-based reference (`/a/b/c[:ref]` -> itself, `/a/b/c`, `/a/b`, `/a`). */
function pathCandidates(reference: string): string[] {
  const res = [reference];
  let path = reference;
  const colon = path.indexOf(':');
  if (colon > 0) {
    path = path.slice(0, colon);
    res.push(path);
  }
  for (;;) {
    const slash = path.lastIndexOf('/');
    if (slash <= 0) break;
    path = path.slice(0, slash);
    res.push(path);
  }
  return res;
}

/**
 * Scope lookup keys for `reference` under `transport`, most specific first. For docker: the full
 * reference (`:latest` added to name-only references), the repository, parent namespaces, the host, then
 * `*.domain` wildcards. Path transports walk parent directories; other transports use the reference as is.
 * @throws UsageError `REFERENCE_INVALID` for an invalid docker reference
 */
export function scopeCandidates(transport: string, reference: string | DockerReference): string[] {
  if (transport === 'docker' || transport === 'atomic') {
    const ref = typeof reference === 'string' ? parseDockerReference(reference) : reference;
    return dockerScopeCandidates(ref.withDefaultTag());
  }
  const text = String(reference);
  return PATH_TRANSPORTS.has(transport) ? pathCandidates(text) : [text];
}

/**
 * Requirements that apply to `reference` of `transport`: the most specific listed scope
 * (see {@link scopeCandidates}), else the transport's `""` scope, else `default`.
 * @throws UsageError `REFERENCE_INVALID` for an invalid docker reference
 */
export function requirementsFor(
  policy: Policy,
  transport: string,
  reference: string | DockerReference,
): RequirementsDecision {
  const scopes = policy.transports?.[transport];
  if (scopes !== undefined) {
    const index = scopeIndex(scopes);
    if (index.size > 0) {
      for (const candidate of scopeCandidates(transport, reference)) {
        if (candidate === '') continue;
        const found = index.get(candidate);
        if (found !== undefined) {
          return {
            scope: candidate,
            isDefault: false,
            requirements: found,
            reason: `matched ${transport} scope ${JSON.stringify(candidate)}`,
          };
        }
      }
      const fallback = index.get('');
      if (fallback !== undefined) {
        return {
          scope: '',
          isDefault: false,
          requirements: fallback,
          reason: `no specific scope; using the ${transport} transport default ("")`,
        };
      }
    }
  }
  return {
    scope: '',
    isDefault: true,
    requirements: policy.default,
    reason:
      scopes === undefined
        ? `transport ${transport} is not listed; using default`
        : `no ${transport} scope matches; using default`,
  };
}
