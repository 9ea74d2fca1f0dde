/**
 * podsec-create-policy (spec §4): read the current state, validate everything, then converge groups,
 * sysctl, set-id map helpers, /etc/hosts, /var/sigstore, policy.json, registries.d and registries.conf.
 * Every step checks first, so a re-run changes nothing and `--dry-run` lists exactly what would change.
 */
import { UsageError } from '@podsec/core';
import { readPublicKeys } from '@podsec/core/trust';
import {
  ensureInsecureRegistry,
  formatPolicy,
  parsePolicy,
  parseRegistriesDFile,
  type Policy,
} from '@podsec/core/config';
import type { System } from '@podsec/core/system';
import { readRegistriesDFiles } from '../config-files/registries-d.ts';
import { writeVersioned } from '../config-files/versioned.ts';
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

/** Where a client gets the keys and policy from (W6). */
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

/** One change (made, or planned in dry-run mode). */
export interface PolicyChange {
  readonly kind: 'group' | 'file' | 'dir' | 'mode' | 'run' | 'link';
  readonly path: string;
  readonly detail?: string;
}

/** Result of {@link createPolicy}. */
export interface CreatePolicyResult {
  readonly mode: 'server' | 'client';
  readonly ip: string;
  readonly changes: readonly PolicyChange[];
  /** System paths of files written or re-pointed. */
  readonly changedFiles: readonly string[];
  readonly warnings: readonly string[];
}

/** Mode of /var/sigstore/sigstore on the server: makers (podman_dev) create, the sticky bit stops them deleting each other's (W7). */
const SIGNATURES_MODE = 0o1775;
/** ALT `control` facility files (the tool only exists on ALT). */
const CONTROL_FACILITIES = '/etc/control.d/facilities';
const IDMAP_DIR = '/usr/bin';

interface Ctx {
  readonly sys: System;
  readonly changes: PolicyChange[];
  readonly warnings: string[];
}

function record(c: Ctx, change: PolicyChange): void {
  c.changes.push(change);
  c.sys.report.info(
    `${c.sys.dryRun ? 'would change' : 'changed'}: ${change.kind} ${change.path}${change.detail ? ` (${change.detail})` : ''}`,
  );
}

function warn(c: Ctx, message: string): void {
  c.warnings.push(message);
  c.sys.report.warn(message);
}

async function ensureGroup(c: Ctx, name: string): Promise<void> {
  if (await c.sys.users.getGroup(name)) return;
  if (!c.sys.dryRun) await c.sys.users.ensureGroup(name, { system: true });
  record(c, { kind: 'group', path: name, detail: 'groupadd -r' });
}

async function gidOf(c: Ctx, group: string): Promise<number | undefined> {
  return (await c.sys.users.getGroup(group))?.gid;
}

async function ensureDir(
  c: Ctx,
  path: string,
  mode: number,
  uid: number,
  gid: number | undefined,
): Promise<void> {
  const st = await c.sys.fs.stat(path);
  if (st && st.kind !== 'dir')
    throw new UsageError('POLICY_NOT_A_DIRECTORY', `${path} exists and is not a directory`, {
      details: { path },
    });
  if (st && st.mode === mode && st.uid === uid && (gid === undefined || st.gid === gid)) return;
  if (!c.sys.dryRun) {
    await c.sys.fs.mkdir(path);
    await c.sys.fs.chown(path, uid, gid ?? st?.gid ?? 0);
    await c.sys.fs.chmod(path, mode);
  }
  record(c, {
    kind: 'dir',
    path,
    detail: `${mode.toString(8).padStart(4, '0')} ${uid}:${gid ?? '?'}`,
  });
}

const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';

async function ensureFile(
  c: Ctx,
  path: string,
  content: string | Uint8Array,
  o: { mode: number; uid?: number; gid?: number; backup?: boolean },
): Promise<void> {
  const st = await c.sys.fs.stat(path);
  if (
    st?.kind === 'file' &&
    st.mode === o.mode &&
    (o.uid === undefined || st.uid === o.uid) &&
    (o.gid === undefined || st.gid === o.gid)
  ) {
    const cur = await c.sys.fs.readFile(path);
    const want = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    if (Buffer.from(cur).equals(Buffer.from(want))) return;
  }
  if (!c.sys.dryRun) {
    await c.sys.fs.mkdir(parentOf(path));
    await c.sys.fs.writeFileAtomic(path, content, o);
  }
  record(c, { kind: 'file', path });
}

async function versioned(c: Ctx, live: string, content: string, prefix: string): Promise<void> {
  const r = await writeVersioned(c.sys, live, content, { prefix });
  if (r.changed)
    record(c, { kind: 'link', path: live, ...(r.version ? { detail: r.version } : {}) });
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

/** W17: containers/image refuses a directory where two `*.yaml` files define `default-docker`. */
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

async function convergeSysctl(c: Ctx): Promise<void> {
  const { sys } = c;
  // W18: the sysctl exists only on ALT/Debian-patched kernels
  if (!(await sys.fs.exists(USERNS_PROC))) {
    warn(c, `${USERNS_SYSCTL} is not available on this kernel: ${SYSCTL_PODMAN} not written`);
    return;
  }
  await ensureFile(c, SYSCTL_PODMAN, SYSCTL_CONTENT, { mode: 0o644, uid: 0, gid: 0 });
  if (sys.root !== '/') return; // the running kernel belongs to another tree
  const current = (await sys.fs.readTextIfExists(USERNS_PROC))?.trim();
  if (current === '1') return;
  if (!sys.dryRun) {
    const r = await sys.proc.run('sysctl', ['-w', `${USERNS_SYSCTL}=1`]);
    if (r.exitCode !== 0) warn(c, `sysctl -w ${USERNS_SYSCTL}=1 failed: ${r.stderr.trim()}`);
  }
  record(c, { kind: 'run', path: 'sysctl', detail: `-w ${USERNS_SYSCTL}=1` });
}

async function convergeIdmap(c: Ctx): Promise<void> {
  const { sys } = c;
  const gid = await gidOf(c, PODMAN_GROUP);
  for (const helper of IDMAP_HELPERS) {
    // ALT: `control <helper> podmanonly`; control changes the running system only, so only for root "/"
    if (sys.root === '/' && (await sys.fs.exists(`${CONTROL_FACILITIES}/${helper}`))) {
      const state = await sys.proc.run('control', [helper]);
      if (state.exitCode === 0 && state.stdout.trim() === CONTROL_STATE) continue;
      if (!sys.dryRun) {
        const r = await sys.proc.run('control', [helper, CONTROL_STATE]);
        if (r.exitCode !== 0)
          warn(c, `control ${helper} ${CONTROL_STATE} failed: ${r.stderr.trim()}`);
      }
      record(c, { kind: 'run', path: 'control', detail: `${helper} ${CONTROL_STATE}` });
      continue;
    }
    // elsewhere: the same restriction by hand, root:podman 4750 (only group podman may run the helper)
    const path = `${IDMAP_DIR}/${helper}`;
    const st = await sys.fs.stat(path);
    if (st?.kind !== 'file') {
      warn(
        c,
        `neither control nor ${path} found: ${helper} not restricted to group ${PODMAN_GROUP}`,
      );
      continue;
    }
    if (st.uid === 0 && st.gid === gid && st.mode === IDMAP_FALLBACK_MODE) continue;
    if (!sys.dryRun && gid !== undefined) {
      await sys.fs.chown(path, 0, gid); // chown clears the set-id bits: chmod afterwards
      await sys.fs.chmod(path, IDMAP_FALLBACK_MODE);
    }
    record(c, { kind: 'mode', path, detail: `root:${PODMAN_GROUP} 4750` });
  }
}

async function convergeSigstore(
  c: Ctx,
  server: boolean,
  trust: ValidatedTrust | undefined,
): Promise<void> {
  const { sys } = c;
  await ensureDir(c, SIGSTORE_DIR, 0o755, 0, 0);
  // W7: keys and the published policy are written by root only, everywhere
  await ensureDir(c, SIGSTORE_KEYS, 0o755, 0, 0);
  if (server) {
    await ensureDir(c, SIGSTORE_SIGNATURES, SIGNATURES_MODE, 0, await gidOf(c, PODMAN_DEV_GROUP));
    await ensureFile(c, SIGSTORE_INDEX, SIGSTORE_INDEX_HTML, { mode: 0o644, uid: 0, gid: 0 });
    // files a maker may own from the original's group-writable keys/: hand them to root
    if ((await sys.fs.stat(SIGSTORE_KEYS))?.kind === 'dir') {
      for (const name of await sys.fs.readdir(SIGSTORE_KEYS)) {
        const path = `${SIGSTORE_KEYS}/${name}`;
        const st = await sys.fs.stat(path);
        if (st?.kind !== 'file' || (st.uid === 0 && st.gid === 0 && (st.mode & 0o7022) === 0))
          continue;
        if (!sys.dryRun) {
          await sys.fs.chown(path, 0, 0);
          await sys.fs.chmod(path, 0o644);
        }
        record(c, { kind: 'mode', path, detail: '0644 0:0' });
      }
    }
  }
  if (trust) {
    for (const [name, data] of trust.keys)
      await ensureFile(c, `${SIGSTORE_KEYS}/${name}`, data, {
        mode: 0o644,
        uid: 0,
        gid: 0,
        backup: false,
      });
    await ensureFile(c, PUBLISHED_POLICY, trust.policyText, {
      mode: 0o644,
      uid: 0,
      gid: 0,
      backup: false,
    });
  }
}

/**
 * Runs podsec-create-policy for `options.ip`. Server mode when the IP is exactly one of this host's
 * interface addresses (W4). All checks (hosts, registries.d, registries.conf, the client's trust set)
 * happen before the first change; the whole run holds {@link PODSEC_LOCK}.
 * @throws UsageError `HOSTS_ALREADY_BOUND`, `REGISTRIES_D_CONFLICT`, `REGISTRIES_CONF_INVALID`,
 *   `REGISTRIES_CONF_UNSUPPORTED`, `POLICY_TRUST_SOURCE_REQUIRED`, `POLICY_BUNDLE_MISSING`;
 *   VerificationError `TRUST_FETCH_FAILED`, `TRUST_INVALID`
 */
export async function createPolicy(
  sys: System,
  options: CreatePolicyOptions,
): Promise<CreatePolicyResult> {
  const server = (await sys.host.localAddresses()).includes(options.ip);
  if (!server && options.trust === undefined) {
    throw new UsageError(
      'POLICY_TRUST_SOURCE_REQUIRED',
      `${options.ip} is not a local address (client mode): give --bundle <file>, or --url with --ca/--fingerprint (or --insecure-http)`,
      { details: { ip: options.ip } },
    );
  }
  const run = async (): Promise<CreatePolicyResult> => {
    const c: Ctx = { sys, changes: [], warnings: [] };
    // --- validation: nothing below changes anything until the marked line
    const hostsText = (await sys.fs.readTextIfExists(ETC_HOSTS)) ?? '';
    const hosts = planHosts(hostsText, options.ip);
    await checkRegistriesD(sys);
    const confText = (await sys.fs.readTextIfExists(REGISTRIES_CONF)) ?? '';
    const conf = ensureInsecureRegistry(confText, REGISTRY_HOST);
    const trust = server ? undefined : await loadTrust(sys, options.ip, options.trust!);
    const policyText = server ? planServerPolicy(await readPreviousPolicy(sys)) : trust!.policyText;
    // --- changes
    await ensureGroup(c, PODMAN_GROUP);
    if (server) await ensureGroup(c, PODMAN_DEV_GROUP);
    await convergeSysctl(c);
    await convergeIdmap(c);
    if (hosts.text !== undefined) {
      if (!sys.dryRun) await sys.fs.writeFileAtomic(ETC_HOSTS, hosts.text);
      record(c, { kind: 'file', path: ETC_HOSTS, detail: hosts.line });
    }
    await convergeSigstore(c, server, trust);
    await versioned(c, POLICY_JSON, policyText, 'policy_');
    await versioned(c, REGISTRIES_D_DEFAULT, planRegistriesD(), 'default_');
    if (conf.changed) await versioned(c, REGISTRIES_CONF, conf.text, 'registries_');
    const changedFiles = [
      ...new Set(
        c.changes
          .filter((x) => x.kind === 'file' || x.kind === 'link' || x.kind === 'mode')
          .map((x) => x.path),
      ),
    ];
    return {
      mode: server ? 'server' : 'client',
      ip: options.ip,
      changes: c.changes,
      changedFiles,
      warnings: c.warnings,
    };
  };
  if (sys.dryRun) return run();
  await sys.fs.mkdir('/run');
  return sys.fs.withLock(PODSEC_LOCK, run);
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
