/**
 * containers-registries.d(5): per-registry lookaside (signature storage) configuration in `*.yaml`
 * files, merged across a directory and resolved like containers/image's `signatureTopLevel`.
 */
import { isMap, isScalar, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { errorMessage, UsageError } from '../errors.ts';
import { isValidDockerScope } from './reference.ts';
import { isRecord } from '../util.ts';

import {
  lookasideFor,
  mergeParsedRegistriesD,
  registriesDYamlFiles,
  type LookasideOptions,
  type MergedRegistriesD,
  type RegistriesDConfig,
  type RegistryNamespace,
} from './registries-d-plain.ts';

export { lookasideFor };
export type { LookasideOptions, MergedRegistriesD, RegistriesDConfig, RegistryNamespace };

const STRING_KEYS = ['lookaside', 'lookaside-staging', 'sigstore', 'sigstore-staging'] as const;
const NAMESPACE_KEYS: readonly string[] = [...STRING_KEYS, 'use-sigstore-attachments'];

function invalid(file: string, message: string): UsageError {
  return new UsageError('REGISTRIES_D_INVALID', `${file}: ${message}`, { details: { file } });
}

function parseNamespace(file: string, where: string, v: unknown): RegistryNamespace {
  if (v === null || v === undefined) return {};
  if (!isRecord(v)) throw invalid(file, `${where} must be a mapping`);
  const out: Record<string, string | boolean> = {};
  for (const [key, value] of Object.entries(v)) {
    if (!NAMESPACE_KEYS.includes(key)) throw invalid(file, `unknown key ${where}.${key}`);
    if (key === 'use-sigstore-attachments') {
      if (typeof value !== 'boolean') throw invalid(file, `${where}.${key} must be a boolean`);
    } else if (typeof value !== 'string') {
      throw invalid(file, `${where}.${key} must be a string`);
    }
    out[key] = value;
  }
  return out;
}

function parseYaml(name: string, text: string): Document.Parsed {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) throw invalid(name, `invalid YAML: ${doc.errors[0]?.message ?? ''}`);
  return doc;
}

/** YAML to plain data; alias errors (unresolved, or an alias bomb) are bad input, not a crash. */
function toPlain(name: string, doc: Document.Parsed): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw invalid(name, `invalid YAML: ${errorMessage(e)}`);
  }
}

/**
 * Parse one registries.d file; unknown keys and wrong types are rejected.
 * @throws UsageError `REGISTRIES_D_INVALID`
 */
export function parseRegistriesDFile(name: string, text: string): RegistriesDConfig {
  const value: unknown = toPlain(name, parseYaml(name, text));
  if (value === null || value === undefined) return { docker: {} };
  if (!isRecord(value)) throw invalid(name, 'top level must be a mapping');
  let defaultDocker: RegistryNamespace | undefined;
  const docker: Record<string, RegistryNamespace> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'default-docker') {
      defaultDocker = parseNamespace(name, key, v);
    } else if (key === 'docker') {
      if (v === null) continue;
      if (!isRecord(v)) throw invalid(name, 'docker must be a mapping of scopes');
      for (const [scope, ns] of Object.entries(v)) {
        if (!isValidDockerScope(scope))
          throw invalid(name, `invalid docker scope ${JSON.stringify(scope)}`);
        Object.defineProperty(docker, scope, {
          value: parseNamespace(name, `docker[${JSON.stringify(scope)}]`, ns),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    } else {
      throw invalid(name, `unknown key ${key}`);
    }
  }
  return defaultDocker === undefined ? { docker } : { defaultDocker, docker };
}

/**
 * Merge the files of a registries.d directory as containers/image does: only `*.yaml` names count,
 * in name order; `default-docker` or a scope defined in two files is an error.
 * @throws UsageError `REGISTRIES_D_INVALID`, `REGISTRIES_D_CONFLICT`
 */
export function mergeRegistriesD(
  files: readonly { readonly name: string; readonly text: string }[],
): MergedRegistriesD {
  return mergeParsedRegistriesD(
    registriesDYamlFiles(files).map((f) => ({
      name: f.name,
      config: parseRegistriesDFile(f.name, f.text),
    })),
  );
}

/** Format a configuration as a registries.d YAML file (`default-docker` first). */
export function formatRegistriesD(config: RegistriesDConfig): string {
  const doc = parseDocument('{}');
  doc.contents = doc.createNode({
    ...(config.defaultDocker === undefined ? {} : { 'default-docker': config.defaultDocker }),
    ...(Object.keys(config.docker).length === 0 ? {} : { docker: config.docker }),
  }) as typeof doc.contents;
  const text =
    Object.keys(config.docker).length === 0 && config.defaultDocker === undefined
      ? ''
      : doc.toString({ lineWidth: 0 });
  return text;
}

/**
 * Set (or with `undefined` values, remove) keys of one namespace in registries.d YAML text, keeping
 * comments and the order of everything else. `scope` `null` means `default-docker`.
 * `changed: false` returns the input text unchanged.
 * @throws UsageError `REGISTRIES_D_INVALID`
 */
export function updateRegistriesDText(
  text: string,
  scope: string | null,
  values: { readonly [K in keyof RegistryNamespace]?: RegistryNamespace[K] | undefined },
  name = 'registries.d file',
): { text: string; changed: boolean } {
  parseRegistriesDFile(name, text);
  if (scope !== null && !isValidDockerScope(scope))
    throw invalid(name, `invalid docker scope ${JSON.stringify(scope)}`);
  for (const key of Object.keys(values))
    if (!NAMESPACE_KEYS.includes(key)) throw invalid(name, `unknown key ${key}`);
  const doc = parseYaml(name, text);
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  }
  const path = scope === null ? ['default-docker'] : ['docker', scope];
  let changed = false;
  for (const [key, value] of Object.entries(values)) {
    const current: unknown = doc.getIn([...path, key]);
    if (value === undefined) {
      if (doc.hasIn([...path, key])) {
        doc.deleteIn([...path, key]);
        changed = true;
      }
    } else if (current !== value) {
      const parent = doc.getIn(path, true);
      if (!isMap(parent)) doc.setIn(path, doc.createNode({}));
      doc.setIn([...path, key], value);
      changed = true;
    }
  }
  if (!changed) return { text, changed: false };
  const out = doc.toString({ lineWidth: 0 });
  parseRegistriesDFile(name, out);
  return { text: out, changed: true };
}
