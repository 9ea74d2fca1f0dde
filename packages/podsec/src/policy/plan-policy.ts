/**
 * Pure planning for podsec-create-policy (docs/commands/podsec-create-policy.md, docs/files.md): argument validation, the /etc/hosts
 * decision, the server policy document, the registries.d document and the client trust set
 * (bundle format and validation). Nothing here touches the System.
 */
import { isRecord, UsageError, VerificationError } from '@podsec/core';
import { readPublicKeys } from '@podsec/core/trust';
import {
  formatPolicy,
  parsePolicy,
  parsePolicyValue,
  type Policy,
  type PolicyRequirement,
} from '@podsec/core/config';
import { formatRegistriesD } from '@podsec/core/config/registries-d';
import { bindingsOf, parseHosts, planHostsBinding } from '../host/hosts.ts';
import { LOOKASIDE_READ_URL, PODSEC_HOSTNAMES, SIGSTORE_KEYS } from '../paths.ts';

/** Content of /etc/sysctl.d/99-podman.conf (docs/commands/podsec-create-policy.md#files-read-and-written). */
export const SYSCTL_CONTENT = 'kernel.unprivileged_userns_clone=1\n';
/** The sysctl that enables unprivileged user namespaces on ALT/Debian kernels. */
export const USERNS_SYSCTL = 'kernel.unprivileged_userns_clone';
/** Where the running kernel shows that sysctl (present only on kernels that have it, docs/weaknesses.md#w18-platform-assumptions). */
export const USERNS_PROC = '/proc/sys/kernel/unprivileged_userns_clone';
/** /var/sigstore/index.html on the server (docs/commands/podsec-create-policy.md#files-read-and-written). */
export const SIGSTORE_INDEX_HTML = '<html><body><h1>SigStore works!</h1></body></html>\n';
/** The set-id map helpers restricted to group podman (docs/commands/podsec-create-policy.md#files-read-and-written). */
export const IDMAP_HELPERS = ['newgidmap', 'newuidmap'] as const;
/** ALT `control` state that lets only group podman use the helpers. */
export const CONTROL_STATE = 'podmanonly';
/** Mode of the helpers when `control` is not available: setuid root, executable by group podman only. */
export const IDMAP_FALLBACK_MODE = 0o4750;
/** A file name allowed in /var/sigstore/keys (docs/weaknesses.md#w6-trust-bootstrap-on-clients). */
export const TRUST_FILE_NAME = /^[A-Za-z0-9._-]+$/;
/** Version of the trust bundle format. */
export const TRUST_BUNDLE_VERSION = 1;

/**
 * Validates the registry/signature server address (docs/weaknesses.md#w2-ipv4-validation): exit 2 for a shape error (not four dot-separated
 * fields; IPv6), 3 for a field that is not a decimal 0..255 (signs, blanks, leading zeros, letters),
 * 1 for loopback 127.0.0.0/8, 0.0.0.0, 255.255.255.255 and multicast.
 * @throws UsageError `POLICY_IP_SHAPE`, `POLICY_IP_RANGE`, `POLICY_IP_FORBIDDEN`
 */
export function parseRegistryIp(arg: string): string {
  const fields = arg.split('.');
  if (fields.length !== 4 || arg.includes(':')) {
    throw new UsageError(
      'POLICY_IP_SHAPE',
      `invalid IP address "${arg}": expected four dot-separated numbers`,
      { details: { ip: arg } },
    );
  }
  for (const f of fields) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(f) || Number(f) > 255) {
      throw new UsageError(
        'POLICY_IP_RANGE',
        `invalid IP address "${arg}": "${f}" is not a number 0..255`,
        { details: { ip: arg, field: f } },
      );
    }
  }
  const [a] = fields.map(Number) as [number, number, number, number];
  if (a === 127 || arg === '0.0.0.0' || arg === '255.255.255.255' || (a >= 224 && a <= 239)) {
    throw new UsageError(
      'POLICY_IP_FORBIDDEN',
      `IP address ${arg} must not be a loopback, unspecified, broadcast or multicast address`,
      { details: { ip: arg } },
    );
  }
  return arg;
}

/** Result of {@link planHosts}. */
export interface HostsDecision {
  /** New /etc/hosts text, or `undefined` when the names are already bound to this IP (re-run). */
  readonly text: string | undefined;
  readonly line: string;
}

/**
 * Adds `<ip> registry.local sigstore.local trivy.local` (docs/files.md#etchosts). All three names already bound to `ip`:
 * nothing to do (idempotent re-run). Any name bound elsewhere, or only some of them bound:
 * `HOSTS_ALREADY_BOUND` naming the IP (docs/weaknesses.md#w3-etchosts-handling).
 */
export function planHosts(text: string, ip: string): HostsDecision {
  const bound = bindingsOf(parseHosts(text), PODSEC_HOSTNAMES);
  const line = `${ip} ${PODSEC_HOSTNAMES.join(' ')}`;
  if (bound.size === PODSEC_HOSTNAMES.length && [...bound.values()].every((v) => v === ip))
    return { text: undefined, line };
  return planHostsBinding(text, ip, PODSEC_HOSTNAMES);
}

/**
 * The server policy (docs/files.md#server-policy): default reject, docker transport. The docker scopes of `previous` (the
 * podsec-managed policy of an earlier run) are kept, so image makers added since are not dropped.
 */
export function planServerPolicy(previous: Policy | undefined): string {
  const docker: Record<string, readonly PolicyRequirement[]> = {};
  for (const [scope, reqs] of Object.entries(previous?.transports?.['docker'] ?? {})) {
    Object.defineProperty(docker, scope, {
      value: reqs,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return formatPolicy({ default: [{ type: 'reject' }], transports: { docker } });
}

/** The system registries.d file (docs/files.md#system-lookaside-configuration). */
export function planRegistriesD(): string {
  return formatRegistriesD({
    defaultDocker: { lookaside: LOOKASIDE_READ_URL, sigstore: LOOKASIDE_READ_URL },
    docker: {},
  });
}

/** What a client installs: the policy text and the public keys by file name. */
export interface TrustSet {
  readonly policyText: string;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** A validated {@link TrustSet}. */
export interface ValidatedTrust extends TrustSet {
  readonly policy: Policy;
}

function invalidTrust(reason: string, cause?: unknown): VerificationError {
  return new VerificationError(
    'TRUST_INVALID',
    `the published keys and policy were refused: ${reason}`,
    {
      details: { reason },
      ...(cause === undefined ? {} : { cause }),
    },
  );
}

/** Every keyPath (keyPaths) of the signedBy/sigstoreSigned requirements of a policy. */
export function policyKeyPaths(policy: Policy): string[] {
  const out: string[] = [];
  const visit = (r: PolicyRequirement) => {
    if (r.type === 'signedBy' || r.type === 'sigstoreSigned') {
      if (r.keyPath !== undefined) out.push(r.keyPath);
      out.push(...(r.keyPaths ?? []));
    }
  };
  policy.default.forEach(visit);
  for (const scopes of Object.values(policy.transports ?? {}))
    for (const reqs of Object.values(scopes)) reqs.forEach(visit);
  return out;
}

/**
 * Checks a trust set before anything is installed (docs/weaknesses.md#w6-trust-bootstrap-on-clients): plain file names only, `*.pgp` keys that parse as
 * OpenPGP public keys, a strictly valid policy whose every keyPath is `/var/sigstore/keys/<one of the keys>`.
 * @throws VerificationError `TRUST_INVALID`
 */
export async function validateTrust(set: TrustSet): Promise<ValidatedTrust> {
  for (const name of set.keys.keys()) {
    if (!TRUST_FILE_NAME.test(name) || name === '.' || name === '..' || !name.endsWith('.pgp')) {
      throw invalidTrust(`unacceptable key file name ${JSON.stringify(name)}`);
    }
  }
  let policy: Policy;
  try {
    policy = parsePolicy(set.policyText);
  } catch (e) {
    throw invalidTrust(`policy.json: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  for (const p of policyKeyPaths(policy)) {
    const name = p.startsWith(`${SIGSTORE_KEYS}/`) ? p.slice(SIGSTORE_KEYS.length + 1) : undefined;
    if (name === undefined || !set.keys.has(name))
      throw invalidTrust(`policy.json refers to ${p}, which is not among the published keys`);
  }
  for (const [name, data] of set.keys) {
    try {
      await readPublicKeys(data);
    } catch (e) {
      throw invalidTrust(`${name} is not an OpenPGP public key`, e);
    }
  }
  return { ...set, policy };
}

/**
 * Parses a trust bundle: `{"version":1,"policy":{...policy.json...},"keys":{"<name>.pgp":"<armoured key>"}}`.
 * @throws VerificationError `TRUST_INVALID`
 */
export function parseTrustBundle(text: string): TrustSet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidTrust(`the bundle is not JSON: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (!isRecord(doc)) throw invalidTrust('the bundle is not a JSON object');
  const extra = Object.keys(doc).filter((k) => !['version', 'policy', 'keys'].includes(k));
  if (extra.length > 0) throw invalidTrust(`unknown bundle field ${extra[0]}`);
  if (doc['version'] !== TRUST_BUNDLE_VERSION)
    throw invalidTrust(`unsupported bundle version ${JSON.stringify(doc['version'])}`);
  if (!isRecord(doc['keys'])) throw invalidTrust('bundle field "keys" must be an object');
  let policy: Policy;
  try {
    policy = parsePolicyValue(doc['policy']);
  } catch (e) {
    throw invalidTrust(`policy: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const keys = new Map<string, Uint8Array>();
  for (const [name, v] of Object.entries(doc['keys'])) {
    if (typeof v !== 'string')
      throw invalidTrust(`key ${JSON.stringify(name)} must be an armoured string`);
    keys.set(name, new TextEncoder().encode(v));
  }
  return { policyText: formatPolicy(policy), keys };
}

/** Formats a trust bundle (keys must be armoured text). */
export function formatTrustBundle(policy: Policy, keys: ReadonlyMap<string, string>): string {
  const k: Record<string, string> = {};
  for (const name of [...keys.keys()].sort())
    Object.defineProperty(k, name, { value: keys.get(name), enumerable: true });
  return `${JSON.stringify({ version: TRUST_BUNDLE_VERSION, policy, keys: k }, null, 2)}\n`;
}

/** Files named by an nginx JSON autoindex listing (docs/files.md#nginx-site), checked (docs/weaknesses.md#w6-trust-bootstrap-on-clients). */
export function parseKeysListing(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalidTrust(
      'the key directory listing is not a JSON autoindex (HTML or garbage was served)',
    );
  }
  if (!Array.isArray(doc)) throw invalidTrust('the key directory listing is not a JSON array');
  const files: string[] = [];
  for (const e of doc) {
    if (!isRecord(e) || typeof e['name'] !== 'string')
      throw invalidTrust('malformed entry in the key directory listing');
    const name = e['name'];
    if (!TRUST_FILE_NAME.test(name) || name === '.' || name === '..')
      throw invalidTrust(`unacceptable name ${JSON.stringify(name)} in the listing`);
    if (e['type'] === 'file') files.push(name);
  }
  return files;
}
