/**
 * registries.d without the YAML library: the lookaside look-up, the merge of a directory, and a small strict reader
 * of the plain form these files nearly always have (what podsec and the ALT packages write: `default-docker:` and
 * `docker:` with scopes, two-level indentation, URL values, comments). A file in any other form is read by the YAML
 * parser of registries-d.ts, loaded only then; both give the same result for every file the small reader takes.
 */
import { UsageError } from '../errors.ts';
import { dockerScopeCandidates, isValidDockerScope, parseDockerReference } from './reference.ts';
import type { DockerReference } from './reference.ts';

/** Settings of one namespace (`default-docker` or a `docker` scope). */
export interface RegistryNamespace {
  readonly lookaside?: string;
  readonly 'lookaside-staging'?: string;
  /** Deprecated alias of `lookaside` (still needed by CRI-O of Kubernetes < 1.26). */
  readonly sigstore?: string;
  /** Deprecated alias of `lookaside-staging`. */
  readonly 'sigstore-staging'?: string;
  readonly 'use-sigstore-attachments'?: boolean;
}

/** Contents of one registries.d file, or of a merged directory. */
export interface RegistriesDConfig {
  readonly defaultDocker?: RegistryNamespace;
  /** scope -> settings, file order kept. */
  readonly docker: Readonly<Record<string, RegistryNamespace>>;
}

/** A merged directory, with the file each section came from. */
export interface MergedRegistriesD extends RegistriesDConfig {
  readonly sources: {
    readonly defaultDocker?: string;
    readonly docker: Readonly<Record<string, string>>;
  };
}

const define = (o: Record<string, unknown>, k: string, value: unknown) =>
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });

/**
 * Merge parsed files as containers/image merges a directory: `default-docker` or a scope defined in two files is an
 * error. `parsed` must be in name order.
 * @throws UsageError `REGISTRIES_D_CONFLICT`
 */
export function mergeParsedRegistriesD(
  parsed: readonly { readonly name: string; readonly config: RegistriesDConfig }[],
): MergedRegistriesD {
  let defaultDocker: RegistryNamespace | undefined;
  let defaultSource: string | undefined;
  const docker: Record<string, RegistryNamespace> = {};
  const sources: Record<string, string> = {};
  for (const { name, config } of parsed) {
    if (config.defaultDocker !== undefined) {
      if (defaultSource !== undefined) {
        throw new UsageError(
          'REGISTRIES_D_CONFLICT',
          `"default-docker" defined both in ${defaultSource} and ${name}`,
          { details: { files: [defaultSource, name] } },
        );
      }
      defaultDocker = config.defaultDocker;
      defaultSource = name;
    }
    for (const [scope, ns] of Object.entries(config.docker)) {
      const previous = sources[scope];
      if (previous !== undefined) {
        throw new UsageError(
          'REGISTRIES_D_CONFLICT',
          `docker scope ${JSON.stringify(scope)} defined both in ${previous} and ${name}`,
          { details: { files: [previous, name], scope } },
        );
      }
      define(docker, scope, ns);
      define(sources, scope, name);
    }
  }
  return {
    ...(defaultDocker === undefined ? {} : { defaultDocker }),
    docker,
    sources: {
      ...(defaultSource === undefined ? {} : { defaultDocker: defaultSource }),
      docker: sources,
    },
  };
}

/** The `*.yaml` files in name order (what containers/image reads of a directory). */
export function registriesDYamlFiles<F extends { readonly name: string }>(
  files: readonly F[],
): F[] {
  return files
    .filter((f) => f.name.endsWith('.yaml'))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const STRING_KEYS = new Set(['lookaside', 'lookaside-staging', 'sigstore', 'sigstore-staging']);
/** A URL as a plain YAML scalar: a scheme, `://`, then nothing YAML could read otherwise. */
const PLAIN_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[A-Za-z0-9._~:/?@!$&()*+,;=%-]*$/;
/** A scope as a plain YAML key (colons only inside), or double-quoted without escapes. */
const PLAIN_KEY = /^[A-Za-z0-9][A-Za-z0-9._~:/@-]*$/;

/** Plain scalars YAML's core schema reads as a number, a boolean or null (a different key). */
const NOT_A_STRING =
  /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+|~|null|Null|NULL|true|True|TRUE|false|False|FALSE)$/;

function scalarKey(raw: string): string | undefined {
  if (raw.startsWith('"')) {
    const m = /^"([^"\\]*)"$/.exec(raw);
    return m?.[1];
  }
  return PLAIN_KEY.test(raw) && !raw.endsWith(':') && !NOT_A_STRING.test(raw) ? raw : undefined;
}

/**
 * One registries.d file in the plain form, read without the YAML library; `undefined` for anything else (a
 * different indentation, flow style, quoting with escapes, anchors, a value that is not a URL, a key registries.d
 * does not know, a duplicate, an invalid scope ...): the YAML reader then decides, errors included.
 */
export function parsePlainRegistriesDFile(text: string): RegistriesDConfig | undefined {
  type Level = { indent: number; keys: Set<string> };
  let section: 'default-docker' | 'docker' | undefined;
  let scope: string | undefined;
  let defaultDocker: Record<string, string | boolean> | undefined;
  const docker: Record<string, Record<string, string | boolean>> = {};
  const top = new Set<string>();
  let l1: Level | undefined;
  let l2: Level | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*(#.*)?$/.test(line)) {
      if (/[\t\r]/.test(line)) return undefined;
      continue;
    }
    const m = /^( *)([^ :#][^#]*?|"[^"\\]*"):(?: +([^ #][^#]*?))? *$/.exec(line);
    if (m === null) return undefined;
    const indent = (m[1] as string).length;
    const key = scalarKey(m[2] as string);
    const value = m[3];
    if (key === undefined) return undefined;
    if (indent === 0) {
      if ((key !== 'default-docker' && key !== 'docker') || value !== undefined || top.has(key))
        return undefined;
      top.add(key);
      section = key;
      if (key === 'default-docker') defaultDocker = {};
      l1 = l2 = undefined;
      scope = undefined;
      continue;
    }
    if (section === undefined) return undefined;
    l1 ??= { indent, keys: new Set() };
    const nsKey = (ns: Record<string, string | boolean>, level: Level): boolean => {
      if (level.keys.has(key) || value === undefined) return false;
      level.keys.add(key);
      if (key === 'use-sigstore-attachments') {
        if (value !== 'true' && value !== 'false') return false;
        ns[key] = value === 'true';
        return true;
      }
      const quoted = /^"([^"\\]*)"$/.exec(value)?.[1];
      const v = quoted ?? (PLAIN_URL.test(value) ? value : undefined);
      if (!STRING_KEYS.has(key) || v === undefined) return false;
      ns[key] = v;
      return true;
    };
    if (indent === l1.indent) {
      if (section === 'default-docker') {
        if (!nsKey(defaultDocker as Record<string, string | boolean>, l1)) return undefined;
        continue;
      }
      if (value !== undefined || l1.keys.has(key) || !isValidDockerScope(key)) return undefined;
      l1.keys.add(key);
      scope = key;
      define(docker, key, {});
      l2 = undefined;
      continue;
    }
    if (section !== 'docker' || scope === undefined || indent < l1.indent) return undefined;
    l2 ??= { indent, keys: new Set() };
    if (indent !== l2.indent || !nsKey(docker[scope] as Record<string, string | boolean>, l2))
      return undefined;
  }
  return defaultDocker === undefined ? { docker } : { defaultDocker, docker };
}

/**
 * Merge the files of a registries.d directory (only `*.yaml` names count, in name order), reading each with
 * {@link parsePlainRegistriesDFile} and, if one of them is in another form, all of them with the YAML reader.
 * @throws UsageError `REGISTRIES_D_INVALID`, `REGISTRIES_D_CONFLICT`
 */
export async function readRegistriesDTexts(
  files: readonly { readonly name: string; readonly text: string }[],
): Promise<MergedRegistriesD> {
  const parsed: { name: string; config: RegistriesDConfig }[] = [];
  for (const f of registriesDYamlFiles(files)) {
    const config = parsePlainRegistriesDFile(f.text);
    if (config === undefined) return (await import('./registries-d.ts')).mergeRegistriesD(files);
    parsed.push({ name: f.name, config });
  }
  return mergeParsedRegistriesD(parsed);
}

function topLevel(ns: RegistryNamespace | undefined, write: boolean): string | undefined {
  if (ns === undefined) return undefined;
  if (write) {
    if (ns['lookaside-staging']) return ns['lookaside-staging'];
    if (ns['sigstore-staging']) return ns['sigstore-staging'];
  }
  if (ns.lookaside) return ns.lookaside;
  if (ns.sigstore) return ns.sigstore;
  return undefined;
}

/** Options of {@link lookasideFor}. */
export interface LookasideOptions {
  /** Where signatures are written (staging keys first) rather than read. @default false */
  readonly write?: boolean;
}

/**
 * Lookaside base URL for an image: the most specific `docker` scope by path components (full
 * reference, repository, namespaces, host, `*.domain`) that defines a usable URL, else `default-docker`.
 * `lookaside` is preferred over `sigstore`; for writing `lookaside-staging`, then `sigstore-staging`,
 * then the read keys. `undefined` when nothing is configured.
 * @throws UsageError `REFERENCE_INVALID`
 */
export function lookasideFor(
  config: RegistriesDConfig,
  dockerReference: string | DockerReference,
  options: LookasideOptions = {},
): string | undefined {
  const write = options.write ?? false;
  const ref = (
    typeof dockerReference === 'string' ? parseDockerReference(dockerReference) : dockerReference
  ).withDefaultTag();
  for (const scope of dockerScopeCandidates(ref)) {
    if (!Object.hasOwn(config.docker, scope)) continue;
    const url = topLevel(config.docker[scope], write);
    if (url !== undefined) return url;
  }
  return topLevel(config.defaultDocker, write);
}
