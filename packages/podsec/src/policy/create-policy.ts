/**
 * podsec-create-policy: read → plan → validate → apply. {@link readPolicyState} reads everything the
 * command depends on (hosts, registries.d, registries.conf, the previous policy, the client's trust set,
 * kernel and set-id helper state), {@link planPolicyChanges} turns it into one `Change[]` (groups, sysctl,
 * set-id map helpers, /etc/hosts, /var/sigstore, policy.json, registries.d, registries.conf), and
 * `applyChanges` validates the whole list and applies it. A failed check changes nothing; a re-run has
 * nothing to do; `--dry-run` prints the list the real run applies.
 */
import { UsageError } from '@podsec/core';
import { readPublicKeys } from '@podsec/core/trust';
import {
  ensureInsecureRegistry,
  formatPolicy,
  parsePolicy,
  type Policy,
} from '@podsec/core/config';
import { parseRegistriesDFile } from '@podsec/core/config/registries-d';
import {
  applyChanges,
  validateChanges,
  type Change,
  type ChangeRecord,
  type ChangeReport,
} from '@podsec/core/changes';
import type { FileStat, System } from '@podsec/core/system';
import { readRegistriesDFiles } from '../config-files/registries-d.ts';
import { checkSigstoreServer } from '../host/role.ts';
import {
  ETC_HOSTS,
  PODMAN_DEV_GROUP,
  PODMAN_GROUP,
  PODSEC_HOSTNAMES,
  POLICY_JSON,
  PODSEC_LOCK,
  PUBLISHED_POLICY,
  REGISTRIES_CONF,
  REGISTRIES_D,
  REGISTRIES_D_DEFAULT,
  REGISTRY_HOST,
  SIGSTORE_DIR,
  SIGSTORE_INDEX,
  SIGSTORE_KEYS,
  SIGSTORE_SIGNATURES,
  SYSCTL_PODMAN,
} from '../paths.ts';
import { fetchTrust, type FetchTrustOptions } from './fetch-trust.ts';
import {
  CONTROL_STATE,
  IDMAP_FALLBACK_MODE,
  IDMAP_HELPERS,
  parseTrustBundle,
  planHosts,
  planRegistriesD,
  planServerPolicy,
  SIGSTORE_INDEX_HTML,
  SYSCTL_CONTENT,
  USERNS_PROC,
  USERNS_SYSCTL,
  validateTrust,
  formatTrustBundle,
  type ValidatedTrust,
} from './plan-policy.ts';

/** Where a client gets the keys and policy from (docs/weaknesses.md#w6-trust-bootstrap-on-clients). */
export type TrustSource =
  | { readonly kind: 'bundle'; readonly file: string }
  | ({ readonly kind: 'url' } & Omit<FetchTrustOptions, 'resolve'>);

/** Options of {@link createPolicy}. */
export interface CreatePolicyOptions {
  /** IP of the registry and signature server, already checked by `parseRegistryIp`. */
  readonly ip: string;
  /** Required in client mode. */
  readonly trust?: TrustSource;
}

/** Result of {@link createPolicy}. */
export interface CreatePolicyResult {
  readonly mode: 'server' | 'client';
  readonly ip: string;
  /** The changes needed (dry run) or made, in order: the same list in both modes. */
  readonly changes: readonly ChangeRecord[];
  /** System paths of files written or re-pointed. */
  readonly changedFiles: readonly string[];
  readonly report: ChangeReport;
  readonly warnings: readonly string[];
}

/** Mode of /var/sigstore/sigstore on the server: makers (podman_dev) create, the sticky bit stops them deleting each other's (docs/weaknesses.md#w7-permissions-of-varsigstore). */
const SIGNATURES_MODE = 0o1775;
/** ALT `control` facility files (the tool only exists on ALT). */
const CONTROL_FACILITIES = '/etc/control.d/facilities';
const IDMAP_DIR = '/usr/bin';

const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';

/** A set-id map helper as read: restricted through `control`, or by file mode, or not found. */
type IdmapState =
  | { readonly helper: string; readonly via: 'control'; readonly state: string | undefined }
  | {
      readonly helper: string;
      readonly via: 'file';
      readonly path: string;
      readonly stat: FileStat;
    }
  | { readonly helper: string; readonly via: 'none'; readonly path: string };

/** Everything podsec-create-policy depends on, read before anything is planned. */
export interface PolicyState {
  readonly ip: string;
  readonly server: boolean;
  /** The running system ("/"): sysctl and control act on it. */
  readonly live: boolean;
  /** New /etc/hosts text (undefined: already bound), checked (docs/weaknesses.md#w3-etchosts-handling). */
  readonly hosts: { readonly text: string | undefined; readonly line: string };
  /** registries.conf edit, checked. */
  readonly conf: { readonly changed: boolean; readonly text: string };
  readonly policyText: string;
  readonly trust: ValidatedTrust | undefined;
  /** undefined: the kernel has no such sysctl (docs/weaknesses.md#w18-platform-assumptions). */
  readonly userns: { readonly current: string | undefined } | undefined;
  readonly idmap: readonly IdmapState[];
  /** Files in /var/sigstore/keys that a maker may own from the original's group-writable keys/. */
  readonly keyFiles: ReadonlyArray<{ readonly path: string; readonly stat: FileStat }>;
}

/** The podsec-managed policy of an earlier run (a symlink into the versioned scheme), if any. */
async function readPreviousPolicy(sys: System): Promise<Policy | undefined> {
  if ((await sys.fs.stat(POLICY_JSON))?.kind !== 'symlink') return undefined;
  const text = await sys.fs.readTextIfExists(POLICY_JSON);
  if (text === undefined) return undefined;
  try {
    return parsePolicy(text);
  } catch {
    return undefined;
  }
}

/** docs/weaknesses.md#w17-configuration-file-management: containers/image refuses a directory where two `*.yaml` files define `default-docker`. */
async function checkRegistriesD(sys: System): Promise<void> {
  const own = REGISTRIES_D_DEFAULT.slice(REGISTRIES_D.length + 1);
  for (const { name, text } of await readRegistriesDFiles(sys, REGISTRIES_D)) {
    if (name === own) continue;
    if (parseRegistriesDFile(name, text).defaultDocker !== undefined) {
      throw new UsageError(
        'REGISTRIES_D_CONFLICT',
        `${REGISTRIES_D}/${name} already defines default-docker; podsec cannot add its own (remove that section and run again)`,
        {
          details: { file: `${REGISTRIES_D}/${name}` },
        },
      );
    }
  }
}

async function loadTrust(sys: System, ip: string, source: TrustSource): Promise<ValidatedTrust> {
  if (source.kind === 'bundle') {
    const text = await sys.hostFs.readTextIfExists(source.file);
    if (text === undefined)
      throw new UsageError('POLICY_BUNDLE_MISSING', `trust bundle ${source.file} not found`, {
        details: { file: source.file },
      });
    return validateTrust(parseTrustBundle(text));
  }
  if (source.url.startsWith('http:'))
    sys.report.warn(
      `WARNING: fetching keys and policy over plain HTTP from ${source.url}: anyone who can answer for that address decides what this node trusts`,
    );
  return validateTrust(
    await fetchTrust(sys, { ...source, resolve: { names: PODSEC_HOSTNAMES, ip } }),
  );
}

async function readIdmap(sys: System, live: boolean): Promise<IdmapState[]> {
  const out: IdmapState[] = [];
  for (const helper of IDMAP_HELPERS) {
    // ALT: `control <helper> podmanonly`; control changes the running system only, so only for root "/"
    if (live && (await sys.fs.exists(`${CONTROL_FACILITIES}/${helper}`))) {
      const r = await sys.proc.run('control', [helper]);
      out.push({ helper, via: 'control', state: r.exitCode === 0 ? r.stdout.trim() : undefined });
      continue;
    }
    const path = `${IDMAP_DIR}/${helper}`;
    const stat = await sys.fs.stat(path);
    out.push(
      stat?.kind === 'file' ? { helper, via: 'file', path, stat } : { helper, via: 'none', path },
    );
  }
  return out;
}

async function readKeyFiles(sys: System): Promise<Array<{ path: string; stat: FileStat }>> {
  if ((await sys.fs.stat(SIGSTORE_KEYS))?.kind !== 'dir') return [];
  const out: Array<{ path: string; stat: FileStat }> = [];
  for (const name of await sys.fs.readdir(SIGSTORE_KEYS)) {
    const path = `${SIGSTORE_KEYS}/${name}`;
    const stat = await sys.fs.stat(path);
    if (stat?.kind === 'file') out.push({ path, stat });
  }
  return out;
}

/**
 * Reads and checks everything create-policy depends on; changes nothing. Server mode when the IP is
 * exactly one of this host's interface addresses (docs/weaknesses.md#w4-local-address-detection).
 * @throws UsageError `POLICY_TRUST_SOURCE_REQUIRED`, `HOSTS_ALREADY_BOUND`, `REGISTRIES_D_CONFLICT`,
 *   `REGISTRIES_CONF_INVALID`, `REGISTRIES_CONF_UNSUPPORTED`, `POLICY_BUNDLE_MISSING`;
 *   VerificationError `TRUST_FETCH_FAILED`, `TRUST_INVALID`
 */
export async function readPolicyState(
  sys: System,
  options: CreatePolicyOptions,
  /** The client's trust set once loaded (a second read under the lock does not fetch it again). */
  cache: { trust?: ValidatedTrust } = {},
): Promise<PolicyState> {
  const server = (await sys.host.localAddresses()).includes(options.ip);
  if (!server && options.trust === undefined) {
    throw new UsageError(
      'POLICY_TRUST_SOURCE_REQUIRED',
      `${options.ip} is not a local address (client mode): give --bundle <file>, or --url with --ca/--fingerprint (or --insecure-http)`,
      { details: { ip: options.ip } },
    );
  }
  const live = sys.root === '/';
  const hosts = planHosts((await sys.fs.readTextIfExists(ETC_HOSTS)) ?? '', options.ip);
  await checkRegistriesD(sys);
  const conf = ensureInsecureRegistry(
    (await sys.fs.readTextIfExists(REGISTRIES_CONF)) ?? '',
    REGISTRY_HOST,
  );
  const trust = server
    ? undefined
    : (cache.trust ??= await loadTrust(sys, options.ip, options.trust!));
  const policyText = server ? planServerPolicy(await readPreviousPolicy(sys)) : trust!.policyText;
  const userns = (await sys.fs.exists(USERNS_PROC))
    ? { current: live ? (await sys.fs.readTextIfExists(USERNS_PROC))?.trim() : '1' }
    : undefined;
  return {
    ip: options.ip,
    server,
    live,
    hosts,
    conf,
    policyText,
    trust,
    userns,
    idmap: await readIdmap(sys, live),
    keyFiles: server ? await readKeyFiles(sys) : [],
  };
}

/**
 * The changes of create-policy, in the original's order (docs/commands/podsec-create-policy.md#files-read-and-written), as data. Pure.
 * `podman` and `podman_dev` are created on every node, as the original and its RPM do.
 */
export function planPolicyChanges(s: PolicyState): { changes: Change[]; warnings: string[] } {
  const changes: Change[] = [
    { kind: 'group', name: PODMAN_GROUP, system: true },
    { kind: 'group', name: PODMAN_DEV_GROUP, system: true },
  ];
  const warnings: string[] = [];
  if (s.userns === undefined) {
    warnings.push(`${USERNS_SYSCTL} is not available on this kernel: ${SYSCTL_PODMAN} not written`);
  } else {
    changes.push({
      kind: 'file',
      path: SYSCTL_PODMAN,
      content: SYSCTL_CONTENT,
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    // the running kernel belongs to "/" only
    if (s.live && s.userns.current !== '1')
      changes.push({
        kind: 'run',
        file: 'sysctl',
        args: ['-w', `${USERNS_SYSCTL}=1`],
        onFailure: 'warn',
      });
  }
  for (const h of s.idmap) {
    if (h.via === 'control') {
      if (h.state !== CONTROL_STATE)
        changes.push({
          kind: 'run',
          file: 'control',
          args: [h.helper, CONTROL_STATE],
          onFailure: 'warn',
        });
    } else if (h.via === 'file') {
      // elsewhere: the same restriction by hand, root:podman 4750 (only group podman may run the helper)
      changes.push({
        kind: 'file',
        path: h.path,
        mode: IDMAP_FALLBACK_MODE,
        uid: 0,
        gid: PODMAN_GROUP,
      });
    } else {
      warnings.push(
        `neither control nor ${h.path} found: ${h.helper} not restricted to group ${PODMAN_GROUP}`,
      );
    }
  }
  if (s.hosts.text !== undefined)
    changes.push({ kind: 'file', path: ETC_HOSTS, content: s.hosts.text });
  changes.push(
    { kind: 'dir', path: SIGSTORE_DIR, mode: 0o755, uid: 0, gid: 0 },
    // docs/weaknesses.md#w7-permissions-of-varsigstore: keys and the published policy are written by root only, everywhere
    { kind: 'dir', path: SIGSTORE_KEYS, mode: 0o755, uid: 0, gid: 0 },
  );
  if (s.server) {
    changes.push(
      {
        kind: 'dir',
        path: SIGSTORE_SIGNATURES,
        mode: SIGNATURES_MODE,
        uid: 0,
        gid: PODMAN_DEV_GROUP,
      },
      {
        kind: 'file',
        path: SIGSTORE_INDEX,
        content: SIGSTORE_INDEX_HTML,
        mode: 0o644,
        uid: 0,
        gid: 0,
      },
    );
    // files a maker may own from the original's group-writable keys/: hand them to root
    for (const k of s.keyFiles) {
      if (k.stat.uid !== 0 || k.stat.gid !== 0 || (k.stat.mode & 0o7022) !== 0)
        changes.push({ kind: 'file', path: k.path, mode: 0o644, uid: 0, gid: 0 });
    }
  }
  if (s.trust) {
    for (const [name, data] of s.trust.keys)
      changes.push({
        kind: 'file',
        path: `${SIGSTORE_KEYS}/${name}`,
        content: data,
        mode: 0o644,
        uid: 0,
        gid: 0,
        backup: false,
      });
    changes.push({
      kind: 'file',
      path: PUBLISHED_POLICY,
      content: s.trust.policyText,
      mode: 0o644,
      uid: 0,
      gid: 0,
      backup: false,
    });
  }
  changes.push(
    { kind: 'versioned', path: POLICY_JSON, prefix: 'policy_', content: s.policyText },
    {
      kind: 'versioned',
      path: REGISTRIES_D_DEFAULT,
      prefix: 'default_',
      content: planRegistriesD(),
    },
  );
  if (s.conf.changed)
    changes.push({
      kind: 'versioned',
      path: REGISTRIES_CONF,
      prefix: 'registries_',
      content: s.conf.text,
    });
  return { changes, warnings };
}

/**
 * Runs podsec-create-policy for `options.ip`: read, plan and validate first, outside the lock (a failing
 * check creates nothing, not even the lock's directory), then read, plan and apply again under
 * {@link PODSEC_LOCK}, so that the files are changed from what they are at that moment.
 * @throws see {@link readPolicyState}; UsageError `CHANGES_INVALID`
 */
export async function createPolicy(
  sys: System,
  options: CreatePolicyOptions,
): Promise<CreatePolicyResult> {
  const cache: { trust?: ValidatedTrust } = {};
  const plan = async () => {
    const state = await readPolicyState(sys, options, cache);
    return { state, ...planPolicyChanges(state) };
  };
  const run = async (planned: Awaited<ReturnType<typeof plan>>): Promise<CreatePolicyResult> => {
    const { state, changes, warnings } = planned;
    for (const w of warnings) sys.report.warn(w);
    const report = await applyChanges(sys, changes);
    for (const r of report.changes)
      sys.report.info(
        `${sys.dryRun ? 'would change' : 'changed'}: ${r.action} ${r.kind} ${r.target}${r.detail ? ` (${r.detail})` : ''}`,
      );
    const files = new Set(['file', 'versioned', 'symlink', 'dir', 'remove']);
    return {
      mode: state.server ? 'server' : 'client',
      ip: options.ip,
      changes: report.changes,
      changedFiles: [
        ...new Set(
          report.changes.filter((c) => files.has(c.kind) && c.kind !== 'dir').map((c) => c.target),
        ),
      ],
      report,
      warnings: [...warnings, ...report.warnings],
    };
  };
  if (sys.dryRun) return run(await plan());
  await validateChanges(sys, (await plan()).changes);
  // NOTE: withLock creates /run in a fresh tree that lacks it (a running system has it): only now
  return sys.fs.withLock(PODSEC_LOCK, async () => run(await plan()));
}

/** Result of {@link exportTrustBundle}. */
export interface ExportTrustBundleResult {
  readonly file: string;
  readonly keys: readonly string[];
  readonly changed: boolean;
}

/**
 * Server side of `--bundle`: writes the published policy (or the system policy when nothing is published
 * yet) and every `/var/sigstore/keys/*.pgp` as a trust bundle, validated exactly as a client will.
 * @throws UsageError `POLICY_NOT_SERVER`; VerificationError `TRUST_INVALID`
 */
export async function exportTrustBundle(
  sys: System,
  file: string,
): Promise<ExportTrustBundleResult> {
  const role = await checkSigstoreServer(sys);
  if (!role.isServer) {
    throw new UsageError(
      'POLICY_NOT_SERVER',
      `a trust bundle can only be exported on the signature server: ${role.message ?? ''}`,
      { details: { reason: role.message ?? '' } },
    );
  }
  const policyText =
    (await sys.fs.readTextIfExists(PUBLISHED_POLICY)) ?? (await sys.fs.readText(POLICY_JSON));
  const raw = new Map<string, Uint8Array>();
  for (const name of await sys.fs.readdir(SIGSTORE_KEYS)) {
    if (name.endsWith('.pgp') && (await sys.fs.stat(`${SIGSTORE_KEYS}/${name}`))?.kind === 'file')
      raw.set(name, await sys.fs.readFile(`${SIGSTORE_KEYS}/${name}`));
  }
  const trust = await validateTrust({ policyText, keys: raw });
  const armored = new Map<string, string>();
  for (const [name, data] of raw)
    armored.set(name, (await readPublicKeys(data)).map((k) => k.armor()).join(''));
  const text = formatTrustBundle(JSON.parse(formatPolicy(trust.policy)) as Policy, armored);
  let changed = true;
  if (sys.dryRun) sys.report.info(`would write ${file}`);
  else {
    await sys.hostFs.mkdir(parentOf(file));
    changed = (await sys.hostFs.writeFileAtomic(file, text, { mode: 0o644, backup: false }))
      .changed;
  }
  return { file, keys: [...armored.keys()].sort(), changed };
}
