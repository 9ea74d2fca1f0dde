/**
 * containers-policy.json(5): model, strict parser (an unknown field anywhere rejects the file, as
 * containers/image does), stable formatter and the inspection helpers of podsec-policy-functions.
 */
import { UsageError } from '../errors.ts';
import { isValidDockerScope, parseDockerReference } from './reference.ts';
import { defineKey, JsonSyntaxError, parseStrictJson } from './strict-json.ts';

/** `signedBy` key types accepted by containers/image (only `GPGKeys` is implemented there). */
export const KEY_TYPES = [
  'GPGKeys',
  'signedByGPGKeys',
  'X509Certificates',
  'signedByX509CAs',
] as const;
/** A `signedBy.keyType` value. */
export type KeyType = (typeof KEY_TYPES)[number];

/** `signedIdentity`: which signed docker references are accepted for an image. */
export type SignedIdentity =
  | { readonly type: 'matchExact' }
  | { readonly type: 'matchRepoDigestOrExact' }
  | { readonly type: 'matchRepository' }
  | { readonly type: 'exactReference'; readonly dockerReference: string }
  | { readonly type: 'exactRepository'; readonly dockerRepository: string }
  | { readonly type: 'remapIdentity'; readonly prefix: string; readonly signedPrefix: string };

/** Accept any image. */
export interface InsecureAcceptAnythingRequirement {
  readonly type: 'insecureAcceptAnything';
}
/** Reject every image. */
export interface RejectRequirement {
  readonly type: 'reject';
}
/** Simple signing with GPG keys; exactly one of keyPath, keyPaths, keyData is set. */
export interface SignedByRequirement {
  readonly type: 'signedBy';
  readonly keyType: KeyType;
  readonly keyPath?: string;
  readonly keyPaths?: readonly string[];
  /** Base64 of a keyring, as in the JSON file. */
  readonly keyData?: string;
  /** Absent means `matchRepoDigestOrExact`. */
  readonly signedIdentity?: SignedIdentity;
}
/** Sigstore signatures; parsed and preserved, not evaluated by podsec. */
export interface SigstoreSignedRequirement {
  readonly type: 'sigstoreSigned';
  readonly keyPath?: string;
  readonly keyPaths?: readonly string[];
  readonly keyData?: string;
  readonly keyDatas?: readonly string[];
  readonly fulcio?: Readonly<Record<string, string>>;
  readonly pki?: Readonly<Record<string, string>>;
  readonly rekorPublicKeyPath?: string;
  readonly rekorPublicKeyPaths?: readonly string[];
  readonly rekorPublicKeyData?: string;
  readonly rekorPublicKeyDatas?: readonly string[];
  readonly signedIdentity?: SignedIdentity;
}
/** Legacy, never implemented by containers/image (always rejects). */
export interface SignedBaseLayerRequirement {
  readonly type: 'signedBaseLayer';
  readonly baseLayerIdentity: SignedIdentity;
}
/** One element of a requirement list. */
export type PolicyRequirement =
  | InsecureAcceptAnythingRequirement
  | RejectRequirement
  | SignedByRequirement
  | SigstoreSignedRequirement
  | SignedBaseLayerRequirement;

/** scope -> requirements, for one transport. */
export type TransportScopes = Readonly<Record<string, readonly PolicyRequirement[]>>;

/** A whole policy.json document. */
export interface Policy {
  readonly default: readonly PolicyRequirement[];
  readonly transports?: Readonly<Record<string, TransportScopes>>;
}

/** Transports known to containers/image. Other names are accepted, as containers/image does, with unvalidated scopes. */
export const KNOWN_TRANSPORTS = [
  'docker',
  'atomic',
  'containers-storage',
  'dir',
  'docker-archive',
  'docker-daemon',
  'oci',
  'oci-archive',
  'sif',
  'tarball',
] as const;

type Json = unknown;
type JsonObject = Record<string, Json>;

function fieldPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key)
    ? `${base}${base === '' ? '' : '.'}${key}`
    : `${base}[${JSON.stringify(key)}]`;
}

function invalid(path: string, message: string): UsageError {
  return new UsageError(
    'POLICY_INVALID',
    `invalid policy: ${path === '' ? '' : `${path}: `}${message}`,
    {
      details: { path },
    },
  );
}

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function expectObject(v: Json, path: string): JsonObject {
  if (!isObject(v)) throw invalid(path, `expected an object, got ${describe(v)}`);
  return v;
}

/** Check that `obj` has only `allowed` keys and all `required` ones. */
function checkFields(
  obj: JsonObject,
  path: string,
  allowed: readonly string[],
  required: readonly string[] = [],
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      const p = fieldPath(path, key);
      throw new UsageError('POLICY_UNKNOWN_FIELD', `invalid policy: unknown field ${p}`, {
        details: { path: p },
      });
    }
  }
  for (const key of required) {
    if (!Object.hasOwn(obj, key)) throw invalid(fieldPath(path, key), 'required field is missing');
  }
}

function expectString(obj: JsonObject, key: string, path: string, nonEmpty = false): string {
  const v = obj[key];
  const p = fieldPath(path, key);
  if (typeof v !== 'string') throw invalid(p, `expected a string, got ${describe(v)}`);
  if (nonEmpty && v === '') throw invalid(p, 'must not be empty');
  return v;
}

function expectStringArray(obj: JsonObject, key: string, path: string): string[] {
  const v = obj[key];
  const p = fieldPath(path, key);
  if (!Array.isArray(v)) throw invalid(p, `expected an array of strings, got ${describe(v)}`);
  return v.map((item, i) => {
    if (typeof item !== 'string')
      throw invalid(`${p}[${i}]`, `expected a string, got ${describe(item)}`);
    return item;
  });
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function expectBase64(obj: JsonObject, key: string, path: string): string {
  const v = expectString(obj, key, path);
  if (!BASE64_RE.test(v)) throw invalid(fieldPath(path, key), 'expected base64 data');
  return v;
}

const REMAP_PREFIX_RE =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)*$/;

function parseSignedIdentity(v: Json, path: string): SignedIdentity {
  const obj = expectObject(v, path);
  const type = expectString(obj, 'type', path);
  switch (type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      checkFields(obj, path, ['type']);
      return { type };
    case 'exactReference': {
      checkFields(obj, path, ['type', 'dockerReference'], ['dockerReference']);
      const dockerReference = expectString(obj, 'dockerReference', path);
      let ref;
      try {
        ref = parseDockerReference(dockerReference);
      } catch (e) {
        throw invalid(fieldPath(path, 'dockerReference'), (e as Error).message);
      }
      if (ref.isNameOnly)
        throw invalid(fieldPath(path, 'dockerReference'), 'contains neither a tag nor a digest');
      return { type, dockerReference };
    }
    case 'exactRepository': {
      checkFields(obj, path, ['type', 'dockerRepository'], ['dockerRepository']);
      const dockerRepository = expectString(obj, 'dockerRepository', path);
      try {
        parseDockerReference(dockerRepository);
      } catch (e) {
        throw invalid(fieldPath(path, 'dockerRepository'), (e as Error).message);
      }
      return { type, dockerRepository };
    }
    case 'remapIdentity': {
      checkFields(obj, path, ['type', 'prefix', 'signedPrefix'], ['prefix', 'signedPrefix']);
      const prefix = expectString(obj, 'prefix', path);
      const signedPrefix = expectString(obj, 'signedPrefix', path);
      for (const [k, value] of [
        ['prefix', prefix],
        ['signedPrefix', signedPrefix],
      ] as const) {
        // A domain alone, or a name starting with a domain (containers/image validateIdentityRemappingPrefix).
        if (!REMAP_PREFIX_RE.test(value))
          throw invalid(fieldPath(path, k), `prefix ${JSON.stringify(value)} is not valid`);
      }
      return { type, prefix, signedPrefix };
    }
    default:
      throw invalid(fieldPath(path, 'type'), `unknown signedIdentity type ${JSON.stringify(type)}`);
  }
}

function parseStringMap(v: Json, path: string, allowed: readonly string[]): Record<string, string> {
  const obj = expectObject(v, path);
  checkFields(obj, path, allowed);
  const out: Record<string, string> = {};
  for (const key of Object.keys(obj)) defineKey(out, key, expectString(obj, key, path));
  return out;
}

const SIGSTORE_FIELDS = [
  'type',
  'keyPath',
  'keyPaths',
  'keyData',
  'keyDatas',
  'fulcio',
  'pki',
  'rekorPublicKeyPath',
  'rekorPublicKeyPaths',
  'rekorPublicKeyData',
  'rekorPublicKeyDatas',
  'signedIdentity',
] as const;

function parseRequirement(v: Json, path: string): PolicyRequirement {
  const obj = expectObject(v, path);
  if (!Object.hasOwn(obj, 'type'))
    throw invalid(fieldPath(path, 'type'), 'required field is missing');
  const type = expectString(obj, 'type', path);
  switch (type) {
    case 'insecureAcceptAnything':
    case 'reject':
      checkFields(obj, path, ['type']);
      return { type };
    case 'signedBy': {
      checkFields(
        obj,
        path,
        ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'],
        ['keyType'],
      );
      const keyType = expectString(obj, 'keyType', path);
      if (!(KEY_TYPES as readonly string[]).includes(keyType)) {
        throw invalid(
          fieldPath(path, 'keyType'),
          `unrecognized keyType ${JSON.stringify(keyType)}`,
        );
      }
      const sources = ['keyPath', 'keyPaths', 'keyData'].filter((k) => Object.hasOwn(obj, k));
      if (sources.length !== 1) {
        throw invalid(
          path,
          `exactly one of keyPath, keyPaths and keyData must be specified, ${sources.length === 0 ? 'none' : sources.join(' and ')} present`,
        );
      }
      const out: Record<string, unknown> = { type, keyType };
      if (Object.hasOwn(obj, 'keyPath')) out['keyPath'] = expectString(obj, 'keyPath', path, true);
      if (Object.hasOwn(obj, 'keyPaths')) {
        const paths = expectStringArray(obj, 'keyPaths', path);
        if (paths.length === 0) throw invalid(fieldPath(path, 'keyPaths'), 'must not be empty');
        paths.forEach((p, i) => {
          if (p === '') throw invalid(`${fieldPath(path, 'keyPaths')}[${i}]`, 'must not be empty');
        });
        out['keyPaths'] = paths;
      }
      if (Object.hasOwn(obj, 'keyData')) {
        out['keyData'] = expectBase64(obj, 'keyData', path);
        if (out['keyData'] === '') throw invalid(fieldPath(path, 'keyData'), 'must not be empty');
      }
      if (Object.hasOwn(obj, 'signedIdentity'))
        out['signedIdentity'] = parseSignedIdentity(
          obj['signedIdentity'],
          fieldPath(path, 'signedIdentity'),
        );
      return out as unknown as SignedByRequirement;
    }
    case 'sigstoreSigned': {
      checkFields(obj, path, SIGSTORE_FIELDS);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(obj)) {
        switch (key) {
          case 'type':
            out[key] = type;
            break;
          case 'keyPaths':
          case 'rekorPublicKeyPaths':
            out[key] = expectStringArray(obj, key, path);
            break;
          case 'keyDatas':
          case 'rekorPublicKeyDatas':
            out[key] = expectStringArray(obj, key, path).map((d, i) => {
              if (!BASE64_RE.test(d))
                throw invalid(`${fieldPath(path, key)}[${i}]`, 'expected base64 data');
              return d;
            });
            break;
          case 'keyData':
          case 'rekorPublicKeyData':
            out[key] = expectBase64(obj, key, path);
            break;
          case 'fulcio':
            out[key] = parseStringMap(obj[key], fieldPath(path, key), [
              'caPath',
              'caData',
              'oidcIssuer',
              'subjectEmail',
            ]);
            break;
          case 'pki':
            out[key] = parseStringMap(obj[key], fieldPath(path, key), [
              'caRootsPath',
              'caRootsData',
              'caIntermediatesPath',
              'caIntermediatesData',
              'subjectEmail',
              'subjectHostname',
            ]);
            break;
          case 'signedIdentity':
            out[key] = parseSignedIdentity(obj[key], fieldPath(path, key));
            break;
          default:
            out[key] = expectString(obj, key, path);
        }
      }
      return out as unknown as SigstoreSignedRequirement;
    }
    case 'signedBaseLayer': {
      checkFields(obj, path, ['type', 'baseLayerIdentity'], ['baseLayerIdentity']);
      return {
        type,
        baseLayerIdentity: parseSignedIdentity(
          obj['baseLayerIdentity'],
          fieldPath(path, 'baseLayerIdentity'),
        ),
      };
    }
    default:
      throw invalid(
        fieldPath(path, 'type'),
        `unknown policy requirement type ${JSON.stringify(type)}`,
      );
  }
}

function parseRequirements(v: Json, path: string): PolicyRequirement[] {
  if (!Array.isArray(v))
    throw invalid(path, `expected an array of requirements, got ${describe(v)}`);
  if (v.length === 0) throw invalid(path, 'the list of requirements must not be empty');
  return v.map((r, i) => parseRequirement(r, `${path}[${i}]`));
}

const PATH_TRANSPORTS = new Set(['dir', 'oci', 'oci-archive', 'docker-archive', 'sif', 'tarball']);

/** Cheap scope syntax checks for the transports whose rules are simple. */
function checkScope(transport: string, scope: string, path: string): void {
  if (scope === '') return;
  if (transport === 'docker' || transport === 'atomic') {
    if (!isValidDockerScope(scope))
      throw invalid(path, `invalid ${transport} scope ${JSON.stringify(scope)}`);
  } else if (PATH_TRANSPORTS.has(transport)) {
    if (!scope.startsWith('/')) throw invalid(path, `${transport} scope must be an absolute path`);
  } else if (transport === 'docker-daemon') {
    throw invalid(path, 'docker-daemon does not support any scopes except the default ""');
  }
}

/** Build a Policy from an already JSON-decoded value, with the same checks as {@link parsePolicy}. */
export function parsePolicyValue(value: unknown): Policy {
  const root = expectObject(value, '');
  checkFields(root, '', ['default', 'transports'], ['default']);
  const policy: {
    default: PolicyRequirement[];
    transports?: Record<string, Record<string, PolicyRequirement[]>>;
  } = {
    default: parseRequirements(root['default'], 'default'),
  };
  if (Object.hasOwn(root, 'transports')) {
    const transports = expectObject(root['transports'], 'transports');
    const out: Record<string, Record<string, PolicyRequirement[]>> = {};
    for (const name of Object.keys(transports)) {
      const tpath = fieldPath('transports', name);
      if (name === '') throw invalid(tpath, 'transport name must not be empty');
      const scopes = expectObject(transports[name], tpath);
      const scopesOut: Record<string, PolicyRequirement[]> = {};
      for (const scope of Object.keys(scopes)) {
        const spath = `${tpath}[${JSON.stringify(scope)}]`;
        checkScope(name, scope, spath);
        defineKey(scopesOut, scope, parseRequirements(scopes[scope], spath));
      }
      defineKey(out, name, scopesOut);
    }
    policy.transports = out;
  }
  return policy;
}

/**
 * Parse a policy.json document strictly: syntax errors, duplicate keys, unknown fields, wrong types,
 * a missing or empty `default` and empty requirement lists are all rejected.
 * @throws UsageError `POLICY_INVALID_JSON`, `POLICY_UNKNOWN_FIELD`, `POLICY_INVALID`
 */
export function parsePolicy(text: string): Policy {
  let value: unknown;
  try {
    value = parseStrictJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new UsageError('POLICY_INVALID_JSON', `invalid policy: ${e.message}`, { cause: e });
    }
    throw e;
  }
  return parsePolicyValue(value);
}

/** Format a policy as jq does by default: 2-space indented JSON, key order kept, trailing newline. */
export function formatPolicy(policy: Policy): string {
  return `${JSON.stringify(policy, null, 2)}\n`;
}

/**
 * Return a new policy where `transports.docker[scope]` is `requirements` (replaced in place when the
 * scope exists, appended otherwise). The input is not modified.
 * @throws UsageError `POLICY_INVALID` for an invalid scope or requirement list
 */
export function setDockerScope(
  policy: Policy,
  scope: string,
  requirements: readonly PolicyRequirement[],
): Policy {
  const path = `transports.docker[${JSON.stringify(scope)}]`;
  checkScope('docker', scope, path);
  // Re-validate through the parser so programmatic callers cannot build an invalid document.
  const reqs = parseRequirements(JSON.parse(JSON.stringify(requirements)) as unknown, path);
  const transports: Record<string, TransportScopes> = {};
  for (const [name, scopes] of Object.entries(policy.transports ?? {}))
    defineKey(transports, name, scopes);
  const docker: Record<string, readonly PolicyRequirement[]> = {};
  for (const [s, r] of Object.entries(policy.transports?.['docker'] ?? {})) defineKey(docker, s, r);
  defineKey(docker, scope, reqs);
  defineKey(transports, 'docker', docker);
  return { ...policy, transports };
}

/** Type of the first `default` requirement (podsec's `getDefaultPolicy`). */
export function getDefaultType(policy: Policy): PolicyRequirement['type'] {
  return policy.default[0]?.type ?? 'insecureAcceptAnything';
}

/** Scopes of `transports.docker`, sorted (podsec's `getRegistries`). */
export function dockerScopes(policy: Policy): string[] {
  return Object.keys(policy.transports?.['docker'] ?? {}).sort();
}

/** Docker scopes having a `signedBy` requirement, sorted, each once (podsec's `getSignedRegistries`). */
export function signedScopes(policy: Policy): string[] {
  return dockerScopes(policy).filter((s) =>
    policy.transports?.['docker']?.[s]?.some((r) => r.type === 'signedBy'),
  );
}

/** Docker scopes having a requirement other than `signedBy`, sorted, each once (podsec's `getNotSignedRegistries`). */
export function notSignedScopes(policy: Policy): string[] {
  return dockerScopes(policy).filter((s) =>
    policy.transports?.['docker']?.[s]?.some((r) => r.type !== 'signedBy'),
  );
}

/** Transport names listed other than `docker`, sorted (podsec's `getForbiddenTransports`). */
export function forbiddenTransports(policy: Policy): string[] {
  return Object.keys(policy.transports ?? {})
    .filter((t) => t !== 'docker')
    .sort();
}
