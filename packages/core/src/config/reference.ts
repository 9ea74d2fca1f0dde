/**
 * Docker image references with the grammar and normalisation of distribution/reference
 * (as used by containers/image), and the docker transport's policy scope syntax.
 */
import { UsageError } from '../errors.ts';

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[[a-fA-F0-9:]+\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const PATH = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;

const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const REMAINDER_RE = new RegExp(`^(${PATH})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const SCOPE_RE = new RegExp(`^${DOMAIN}(?:/${PATH})?$`);
const SCOPE_WITH_REF_RE = new RegExp(`^${DOMAIN}/${PATH}(?::${TAG}|@${DIGEST})$`);
const WILDCARD_SCOPE_RE = new RegExp(`^\\*\\.${DOMAIN_NAME}$`);
const NAME_MAX = 255;

/** Registry used for references without a domain. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Tag added to name-only references by the docker transport. */
export const DEFAULT_TAG = 'latest';

/** A parsed, normalised docker reference: `domain/path[:tag][@digest]`. */
export class DockerReference {
  /** Registry host with optional port, e.g. `docker.io` or `127.0.0.1:5000`. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;

  constructor(domain: string, path: string, tag?: string, digest?: string) {
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
  }

  /** Repository name `domain/path` (distribution's `Name()`). */
  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  /** True when the reference has neither tag nor digest. */
  get isNameOnly(): boolean {
    return this.tag === undefined && this.digest === undefined;
  }

  /** The repository alone, without tag and digest. */
  named(): DockerReference {
    return new DockerReference(this.domain, this.path);
  }

  /** The same reference with `:latest` added when it has neither tag nor digest (docker transport rule). */
  withDefaultTag(): DockerReference {
    return this.isNameOnly ? new DockerReference(this.domain, this.path, DEFAULT_TAG) : this;
  }

  /** Fully qualified string form, `docker.io/library/busybox:latest`. */
  toString(): string {
    return (
      this.name +
      (this.tag === undefined ? '' : `:${this.tag}`) +
      (this.digest === undefined ? '' : `@${this.digest}`)
    );
  }

  /** Short "familiar" form as docker prints it: `busybox:latest`, `user/app`. */
  familiar(): string {
    let name = this.name;
    if (this.domain === DEFAULT_DOMAIN) {
      name =
        this.path.startsWith('library/') && this.path.indexOf('/', 8) === -1
          ? this.path.slice(8)
          : this.path;
    }
    return (
      name +
      (this.tag === undefined ? '' : `:${this.tag}`) +
      (this.digest === undefined ? '' : `@${this.digest}`)
    );
  }
}

function invalid(text: string, why: string): UsageError {
  return new UsageError(
    'REFERENCE_INVALID',
    `invalid image reference ${JSON.stringify(text)}: ${why}`,
    {
      details: { reference: text },
    },
  );
}

/** distribution's splitDockerDomain: the first component is a domain only if it looks like one. */
function splitDomain(text: string): [string, string] {
  const slash = text.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = slash === -1 ? '' : text.slice(0, slash);
  if (
    slash === -1 ||
    (!first.includes('.') &&
      !first.includes(':') &&
      first !== 'localhost' &&
      first.toLowerCase() === first)
  ) {
    domain = DEFAULT_DOMAIN;
    remainder = text;
  } else {
    domain = first;
    remainder = text.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = `library/${remainder}`;
  return [domain, remainder];
}

/**
 * Parse a reference and normalise it like `reference.ParseNormalizedNamed`:
 * `busybox` -> `docker.io/library/busybox`, `host:5000/ns/repo:tag`, `repo@sha256:…`, `name:tag@digest`.
 * No default tag is added; see {@link DockerReference.withDefaultTag}.
 * @throws UsageError `REFERENCE_INVALID`
 */
export function parseDockerReference(text: string): DockerReference {
  if (text === '') throw invalid(text, 'empty reference');
  if (IDENTIFIER_RE.test(text)) throw invalid(text, 'cannot specify 64-byte hexadecimal strings');
  const [domain, remainder] = splitDomain(text);
  const colon = remainder.indexOf(':');
  const at = remainder.indexOf('@');
  let end = remainder.length;
  if (colon !== -1) end = colon;
  if (at !== -1 && at < end) end = at;
  const remoteName = remainder.slice(0, end);
  if (remoteName.toLowerCase() !== remoteName)
    throw invalid(text, 'repository name must be lowercase');
  if (!DOMAIN_RE.test(domain)) throw invalid(text, `invalid domain ${JSON.stringify(domain)}`);
  const m = REMAINDER_RE.exec(remainder);
  if (!m) throw invalid(text, 'invalid reference format');
  const path = m[1] as string;
  if (domain.length + 1 + path.length > NAME_MAX)
    throw invalid(text, `repository name must not be more than ${NAME_MAX} characters`);
  return new DockerReference(domain, path, m[2], m[3]);
}

/**
 * Parse a reference that must already be fully qualified (`reference.ParseNamed`):
 * `busybox` or `docker.io/busybox` are rejected as not canonical.
 * @throws UsageError `REFERENCE_INVALID`
 */
export function parseCanonicalReference(text: string): DockerReference {
  const ref = parseDockerReference(text);
  if (ref.toString() !== text) throw invalid(text, 'repository name must be canonical');
  return ref;
}

/** True when `text` is a valid tag. */
export function isValidTag(text: string): boolean {
  return TAG_RE.test(text);
}

/** True when `text` is a valid digest such as `sha256:<64 hex>`. */
export function isValidDigest(text: string): boolean {
  return DIGEST_RE.test(text);
}

/**
 * True when `scope` is a valid docker policy scope: `host[:port][/ns...][/repo[:tag|@digest]]`
 * or a `*.domain` wildcard (host names only, no port).
 */
export function isValidDockerScope(scope: string): boolean {
  if (scope.startsWith('*.')) return WILDCARD_SCOPE_RE.test(scope);
  return scope.length <= NAME_MAX + 200 && (SCOPE_RE.test(scope) || SCOPE_WITH_REF_RE.test(scope));
}

/**
 * Policy scopes a docker reference is looked up under, most specific first, as containers/image's
 * `PolicyConfigurationIdentity` + `PolicyConfigurationNamespaces`: the full reference (with tag or
 * digest), the repository, each parent namespace, the host[:port], then `*.domain` wildcards from the
 * most specific (the port is dropped before building wildcards).
 */
export function dockerScopeCandidates(ref: DockerReference): string[] {
  const res: string[] = [];
  if (!ref.isNameOnly) res.push(ref.toString());
  let name = ref.name;
  for (;;) {
    res.push(name);
    const slash = name.lastIndexOf('/');
    if (slash === -1) break;
    name = name.slice(0, slash);
  }
  const colon = name.indexOf(':');
  if (colon !== -1) name = name.slice(0, colon);
  for (;;) {
    const dot = name.indexOf('.');
    if (dot === -1) break;
    name = name.slice(dot + 1);
    res.push(`*.${name}`);
  }
  return res;
}
