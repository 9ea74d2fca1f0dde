/**
 * podsec-create-imagemakeruser, the I/O part (docs/commands/podsec-create-imagemakeruser.md, docs/files.md#policyjson; each weakness fix is cited where it is made).
 * Everything is checked and every key generated in memory before the first change; the system policy and
 * its published copy are switched last, under the podsec lock, after all keys were exported.
 */
import { errorMessage, NotFoundError, PodsecError, UsageError } from '@podsec/core';
import {
  formatRevocationFile,
  generateKey as coreGenerateKey,
  keyInfo,
  readPrivateKey,
  readPublicKeys,
  type GeneratedKey,
  type GenerateKeyOptions,
} from '@podsec/core/trust';
import { parsePolicy, formatPolicy } from '@podsec/core/config';
import {
  applyChanges,
  changeTarget,
  validateChanges,
  type Change,
  type ChangeRecord,
  type ChangeReport,
  type OwnerRef,
} from '@podsec/core/changes';
import type { System } from '@podsec/core/system';
import { checkSigstoreServer } from '../host/role.ts';
import {
  PODMAN_DEV_GROUP,
  PODMAN_GROUP,
  PODSEC_LOCK,
  POLICY_JSON,
  PUBLISHED_POLICY,
  SIGNING_KEY_IN_HOME,
  SIGSTORE_DIR,
  SIGSTORE_KEYS,
  SIGSTORE_SIGNATURES,
} from '../paths.ts';
import { translateEnglish, type ImagemakerTranslate } from './messages.ts';
import {
  fillUserTemplate,
  formatMakerRegistriesD,
  groupMakers,
  normalizeMakerArgs,
  planMakerPolicy,
  planPersonalPolicy,
  planSignatureDirs,
  publicKeyPathOf,
  type MakerSpec,
  type ScopeBinding,
} from './plan-imagemakers.ts';

/** Base of new makers' home directories (the original assumed `/home/<user>`). */
export const HOME_BASE = '/home';
/** Source of the default e-mail domain. */
const ETC_HOSTNAME = '/etc/hostname';
const PERSONAL_POLICY = '.config/containers/policy.json';
const PERSONAL_REGISTRIES_D = '.config/containers/registries.d/default.yaml';

/** Key algorithm of new keys. */
export type MakerKeyType = 'rsa' | 'ed25519';

/** How new signing keys are made (docs/weaknesses.md#w21-interactive-only-flows: non-interactive). */
export interface MakerKeyOptions {
  /** Real name; `{user}` is replaced by the user name. @default the user name */
  readonly name?: string;
  /** E-mail (the `--sign-by` identity); `{user}` is replaced. @default `<user>@<hostname or localhost>` */
  readonly email?: string;
  /** @default 'rsa' (4096 bits) */
  readonly type?: MakerKeyType;
  /** Lifetime in days; 0 or absent: never expires. */
  readonly expireDays?: number;
}

/** Options of {@link createImageMakers}. */
export interface CreateImageMakersOptions {
  /** The makers, as {@link normalizeMakerArgs} returns them (validated again here). */
  readonly makers: readonly MakerSpec[];
  /** Replace a scope already bound to another key. @default false */
  readonly force?: boolean;
  /** Reuse existing accounts (groups added, password untouched). @default false */
  readonly existing?: boolean;
  readonly key?: MakerKeyOptions;
  /**
   * Passphrase of a new key; called only for keys to be generated, before any change, never in dry-run.
   * Missing: `IMAGEMAKER_NO_PASSPHRASE`.
   */
  readonly passphrase?: (request: {
    readonly user: string;
    readonly email: string;
  }) => Promise<string>;
  /**
   * Password of a new account, `null` for none (`--no-password`); called before any change, never in dry-run.
   * Missing: `IMAGEMAKER_NO_PASSWORD`.
   */
  readonly password?: (request: { readonly user: string }) => Promise<string | null>;
  /** Key generator (tests inject failures). @default core `generateKey` */
  readonly generateKey?: (options: GenerateKeyOptions) => Promise<GeneratedKey>;
  /** Message lookup for progress lines. @default English */
  readonly translate?: ImagemakerTranslate;
}

/** What happened to one maker. */
export interface MakerResult {
  readonly user: string;
  readonly scopes: readonly string[];
  readonly home: string;
  /** The account was created by this run. */
  readonly created: boolean;
  readonly key: {
    /** Upper-case fingerprint (undefined in dry-run for a key still to be generated). */
    readonly fingerprint?: string;
    readonly email: string;
    /** `generated` now, `reused` (podsec private key and published key), or `public-only` (no private key held by podsec). */
    readonly state: 'generated' | 'reused' | 'public-only';
    /** `/var/sigstore/keys/<user>.pgp`. */
    readonly publicKeyPath: string;
    /** `~/.config/podsec/signing-key.asc`, unless `public-only`. */
    readonly privateKeyPath?: string;
    /** Imported into `~/.gnupg` (false: gpg missing or failed; see the warnings). */
    readonly gpgImported: boolean;
  };
}

/** Result of {@link createImageMakers}. */
export interface CreateImageMakersResult {
  readonly makers: readonly MakerResult[];
  readonly bindings: readonly ScopeBinding[];
  /** The system policy's switch: `version` is the new version's file name. */
  readonly policy: { readonly changed: boolean; readonly version?: string };
  /** The published copy `/var/sigstore/keys/policy.json` was rewritten. */
  readonly publishedChanged: boolean;
  /** Personal policies written (users). */
  readonly personalPolicies: readonly string[];
  /** Every change made (or, in dry-run, planned), in order: the same list in both modes. */
  readonly changes: readonly ChangeRecord[];
  /** The engine's report of {@link changes} (for `--json` and the text report). */
  readonly report: ChangeReport;
  readonly warnings: readonly string[];
  readonly dryRun: boolean;
}

interface KeyPlan {
  readonly state: 'generate' | 'reuse' | 'public-only';
  readonly email: string;
  readonly name: string;
  fingerprint?: string;
  /** Armoured private key to store (generate) or the stored one (reuse). */
  privateKeyArmored?: string;
  publicKeyArmored?: string;
  /** Armoured revocation certificate of a generated key. */
  revocationCertificate?: string;
  userIds?: readonly string[];
}

interface MakerPlan {
  readonly user: string;
  readonly scopes: readonly string[];
  readonly exists: boolean;
  readonly home: string;
  readonly key: KeyPlan;
  password?: string | null;
}

/**
 * Make image makers (docs/commands/podsec-create-imagemakeruser.md): accounts in `podman` + `podman_dev`, a signing key each (private key in
 * `~/.config/podsec/signing-key.asc` and the GnuPG keyring, public key in `/var/sigstore/keys/<user>.pgp`),
 * personal policy and registries.d, signature directories, then the system policy and its published copy.
 * @throws PodsecError `IMAGEMAKER_NOT_SERVER`, `IMAGEMAKER_NO_SIGSTORE`, `IMAGEMAKER_NO_GROUP`, `IMAGEMAKER_NO_POLICY`,
 *   `IMAGEMAKER_USER_EXISTS`, `IMAGEMAKER_SCOPE_BOUND`, `IMAGEMAKER_KEY_*`, `IMAGEMAKER_NO_PASSPHRASE`,
 *   `IMAGEMAKER_NO_PASSWORD`, `POLICY_*` (invalid system policy); all before any change.
 */
export async function createImageMakers(
  sys: System,
  o: CreateImageMakersOptions,
): Promise<CreateImageMakersResult> {
  const tr = o.translate ?? translateEnglish;
  // docs/weaknesses.md#w10-invalid-image-maker-arguments: validate the list again (duplicates, names, scopes) whatever the caller did
  const makers = normalizeMakerArgs(o.makers.map((m) => `${m.user}@${m.scope}`));

  // docs/weaknesses.md#w1-host-role-guard: only on the signature server
  sys.report.progress(tr('imagemaker.checkingServer'));
  const role = await checkSigstoreServer(sys);
  if (!role.isServer) {
    throw new PodsecError(
      'IMAGEMAKER_NOT_SERVER',
      `this host is not the signature server: ${role.message ?? ''}`,
      {
        details: { reason: role.message ?? role.reason ?? '' },
      },
    );
  }
  if ((await sys.fs.stat(SIGSTORE_DIR))?.kind !== 'dir') {
    throw new NotFoundError(
      'IMAGEMAKER_NO_SIGSTORE',
      'signature server directory /var/sigstore/ not created',
      { details: {} },
    );
  }
  for (const g of [PODMAN_GROUP, PODMAN_DEV_GROUP]) {
    const entry = await sys.users.getGroup(g);
    if (!entry)
      throw new NotFoundError('IMAGEMAKER_NO_GROUP', `group ${g} does not exist`, {
        details: { group: g },
      });
  }
  const policyText = await sys.fs.readTextIfExists(POLICY_JSON);
  if (policyText === undefined)
    throw new NotFoundError('IMAGEMAKER_NO_POLICY', `${POLICY_JSON} does not exist`, {
      details: { path: POLICY_JSON },
    });
  // docs/weaknesses.md#w11-transactional-image-maker-creation: refuse to rebind another key's scope (exit 2) before asking anything
  planMakerPolicy(parsePolicy(policyText), makers, {
    force: o.force ?? false,
    policyPath: POLICY_JSON,
  });

  const hostname =
    ((await sys.fs.readTextIfExists(ETC_HOSTNAME)) ?? '').split('\n')[0]!.trim() || 'localhost';
  const plans: MakerPlan[] = [];
  for (const { user, scopes } of groupMakers(makers)) {
    const entry = await sys.users.getUser(user);
    if (entry && !o.existing) {
      throw new UsageError(
        'IMAGEMAKER_USER_EXISTS',
        `user ${user} already exists; use --existing`,
        { details: { user } },
      );
    }
    const home = entry?.home ?? `${HOME_BASE}/${user}`;
    if (entry && (await sys.fs.stat(home))?.kind !== 'dir') {
      throw new NotFoundError('IMAGEMAKER_NO_HOME', `user ${user} has no home directory ${home}`, {
        details: { user, home },
      });
    }
    if (entry) {
      // the maker's own key directory must not lead elsewhere (a symlinked ~/.config would make root write there)
      let cur = home;
      for (const part of SIGNING_KEY_IN_HOME.split('/').slice(0, -1)) {
        cur = `${cur}/${part}`;
        const st = await sys.fs.stat(cur);
        if (st !== undefined && (st.kind !== 'dir' || (st.uid !== entry.uid && st.uid !== 0))) {
          throw new UsageError('IMAGEMAKER_UNSAFE_DIR', `${cur} is not a directory of ${user}`, {
            details: { user, path: cur },
          });
        }
      }
    }
    const email = fillUserTemplate(o.key?.email ?? `{user}@${hostname}`, user);
    const name = fillUserTemplate(o.key?.name ?? '{user}', user);
    const key = entry
      ? await inspectKey(sys, user, home, { email, name })
      : { state: 'generate' as const, email, name };
    plans.push({ user, scopes, exists: entry !== undefined, home, key });
  }
  const generating = plans.filter((p) => p.key.state === 'generate');
  const emails = new Map<string, string[]>();
  for (const p of generating) emails.set(p.key.email, [...(emails.get(p.key.email) ?? []), p.user]);
  for (const [email, users] of emails) {
    if (users.length > 1) {
      throw new UsageError(
        'IMAGEMAKER_EMAIL_AMBIGUOUS',
        `--email ${email} would be used by several new keys`,
        {
          details: { email, users: users.join(', '), user: '{user}' },
        },
      );
    }
  }

  if (!sys.dryRun) {
    // docs/weaknesses.md#w21-interactive-only-flows: secrets are collected before the first change, from files or a terminal
    for (const p of plans) {
      if (!p.exists) {
        if (!o.password)
          throw new UsageError('IMAGEMAKER_NO_PASSWORD', `no password for the new user ${p.user}`, {
            details: { user: p.user },
          });
        p.password = await o.password({ user: p.user });
      }
      if (p.key.state === 'generate') {
        if (!o.passphrase) {
          throw new UsageError(
            'IMAGEMAKER_NO_PASSPHRASE',
            `no passphrase for the signing key of ${p.user}`,
            { details: { user: p.user } },
          );
        }
        const passphrase = await o.passphrase({ user: p.user, email: p.key.email });
        const gen = await makeKey(sys, p, passphrase, o);
        p.key.privateKeyArmored = gen.privateKeyArmored;
        p.key.publicKeyArmored = gen.publicKeyArmored;
        p.key.fingerprint = gen.fingerprint;
        p.key.userIds = gen.userIds;
        if (gen.revocationCertificate !== undefined)
          p.key.revocationCertificate = gen.revocationCertificate;
      }
    }
  }

  // read → plan → validate outside the lock (a failing check creates nothing, not even the lock's
  // directory), then plan again and apply under the podsec lock: another run may have changed the policy
  const planNow = () => planChanges(sys, { makers, plans, force: o.force ?? false, tr });
  const first = await planNow();
  if (sys.dryRun) return finish(sys, tr, first, await applyChanges(sys, first.changes), plans);
  await validateChanges(sys, first.changes);
  await sys.fs.mkdir(PODSEC_LOCK.slice(0, PODSEC_LOCK.lastIndexOf('/')));
  return sys.fs.withLock(PODSEC_LOCK, async () => {
    const planned = await planNow();
    return finish(sys, tr, planned, await applyChanges(sys, planned.changes), plans);
  });
}

async function inspectKey(
  sys: System,
  user: string,
  home: string,
  id: { readonly email: string; readonly name: string },
): Promise<KeyPlan> {
  const pubPath = publicKeyPathOf(user);
  const privPath = `${home}/${SIGNING_KEY_IN_HOME}`;
  const pubText = await sys.fs.readTextIfExists(pubPath);
  const privText = await sys.fs.readTextIfExists(privPath);
  if (privText === undefined && pubText === undefined) return { state: 'generate', ...id };
  const now = sys.clock.now();
  let fingerprint: string;
  let email = id.email;
  let publicKeyArmored: string | undefined;
  try {
    const keys = await readPublicKeys(privText ?? pubText!);
    const key = keys[0]!;
    fingerprint = key.getFingerprint().toUpperCase();
    publicKeyArmored = key.armor();
    const info = await keyInfo(key, now);
    const m = /<([^>]+)>/.exec(info.userIds[0] ?? '');
    if (m) email = m[1]!;
    checkUsable(user, info);
  } catch (e) {
    if (e instanceof PodsecError && e.code === 'IMAGEMAKER_KEY_UNUSABLE') throw e;
    throw new UsageError(
      'IMAGEMAKER_KEY_INVALID',
      `cannot read the key of ${user}: ${errorMessage(e)}`,
      {
        details: {
          user,
          path: privText !== undefined ? privPath : pubPath,
          reason: errorMessage(e),
        },
        cause: e,
      },
    );
  }
  if (privText !== undefined && pubText !== undefined) {
    const published = await readPublicKeys(pubText).catch(() => []);
    if (!published.some((k) => k.getFingerprint().toUpperCase() === fingerprint)) {
      throw new UsageError('IMAGEMAKER_KEY_MISMATCH', `${pubPath} does not belong to ${privPath}`, {
        details: { user, publicKey: pubPath, privateKey: privPath },
      });
    }
  }
  if (privText === undefined) return { state: 'public-only', email, name: id.name, fingerprint };
  return {
    state: 'reuse',
    email,
    name: id.name,
    fingerprint,
    privateKeyArmored: privText,
    publicKeyArmored: publicKeyArmored,
  };
}

function checkUsable(user: string, info: Awaited<ReturnType<typeof keyInfo>>): void {
  const reason = info.revoked
    ? 'revoked'
    : !info.canSign
      ? 'no valid signing key (expired?)'
      : undefined;
  if (reason) {
    throw new UsageError(
      'IMAGEMAKER_KEY_UNUSABLE',
      `key ${info.fingerprint} of ${user} cannot sign: ${reason}`,
      {
        details: { user, fingerprint: info.fingerprint, reason },
      },
    );
  }
}

async function makeKey(
  sys: System,
  p: MakerPlan,
  passphrase: string,
  o: CreateImageMakersOptions,
): Promise<GeneratedKey> {
  const gen = o.generateKey ?? coreGenerateKey;
  const expire = o.key?.expireDays ?? 0;
  let key: GeneratedKey;
  try {
    key = await gen({
      type: o.key?.type ?? 'rsa',
      ...((o.key?.type ?? 'rsa') === 'rsa' ? { rsaBits: 4096 } : {}),
      name: p.key.name,
      email: p.key.email,
      passphrase,
      ...(expire > 0 ? { expiresInDays: expire } : {}),
      date: sys.clock.now(),
    });
  } catch (e) {
    throw new PodsecError(
      'IMAGEMAKER_KEY_FAILED',
      `cannot generate the signing key of ${p.user}: ${errorMessage(e)}`,
      {
        details: { user: p.user, reason: errorMessage(e) },
        cause: e,
      },
    );
  }
  // docs/weaknesses.md#w11-transactional-image-maker-creation: the exported key must be exactly the new one, able to sign now
  const pub = await readPublicKeys(key.publicKeyArmored);
  if (pub.length !== 1 || pub[0]!.getFingerprint().toUpperCase() !== key.fingerprint) {
    throw new PodsecError(
      'IMAGEMAKER_KEY_FAILED',
      `generated key of ${p.user} does not match its export`,
      {
        details: { user: p.user, reason: 'fingerprint mismatch' },
      },
    );
  }
  checkUsable(p.user, await keyInfo(pub[0]!, sys.clock.now()));
  // the passphrase really unlocks it
  await readPrivateKey(key.privateKeyArmored, passphrase);
  return key;
}

/** A warning found while planning: reported once, with the translated text, when the plan is applied. */
interface PlanWarning {
  readonly key: string;
  readonly params: Record<string, unknown>;
}

/** The inputs of {@link planChanges}: checked and (outside a dry run) with every key generated. */
interface PlanInput {
  readonly makers: readonly MakerSpec[];
  readonly plans: readonly MakerPlan[];
  readonly force: boolean;
  readonly tr: ImagemakerTranslate;
}

/** The change list of a run and what the result needs to know about it. */
interface Planned {
  readonly changes: Change[];
  readonly warnings: PlanWarning[];
  readonly bindings: readonly ScopeBinding[];
  /** Per maker: the run changes of the GnuPG import (undefined: not imported) and the private key path. */
  readonly gpg: Map<string, readonly string[] | undefined>;
  readonly privateKeys: Map<string, string | undefined>;
  /** Per user: the path of the personal policy, when it is in the list. */
  readonly personal: Map<string, string>;
}

/** A list being built: the changes, the directories already in it, the warnings. */
class PlanList {
  readonly changes: Change[] = [];
  readonly warnings: PlanWarning[] = [];
  private readonly dirs = new Set<string>();
  warn(key: string, params: Record<string, unknown>): void {
    this.warnings.push({ key, params });
  }
  add(c: Change): void {
    this.changes.push(c);
    if (c.kind === 'dir') this.dirs.add(c.path);
  }
  hasDir(path: string): boolean {
    return this.dirs.has(path);
  }
}

/** The owner of a maker's files: the uid (a name while the account is still to be made) and podman. */
interface Owner {
  readonly uid: OwnerRef;
  readonly gid: OwnerRef;
}

async function uidOf(sys: System, ref: OwnerRef): Promise<number | undefined> {
  return typeof ref === 'number' ? ref : (await sys.users.getUser(ref))?.uid;
}

/**
 * Directories below a user's home, listed when missing; a component that is not a plain directory of the
 * user (or root) is reported and the files below it are left out: a symlinked `~/.config` would make root
 * write elsewhere.
 */
async function planUserDirs(
  sys: System,
  list: PlanList,
  home: string,
  rel: string,
  owner: Owner,
  leafMode: number,
): Promise<boolean> {
  const parts = rel.split('/');
  const uid = await uidOf(sys, owner.uid);
  let cur = home;
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]!}`;
    if (list.hasDir(cur)) continue;
    const st = await sys.fs.stat(cur);
    if (st === undefined) {
      const mode = i === parts.length - 1 ? leafMode : 0o755;
      list.add({ kind: 'dir', path: cur, mode, uid: owner.uid, gid: owner.gid });
    } else if (st.kind !== 'dir') {
      list.warn('imagemaker.unsafeDir', {
        path: cur,
        reason: st.kind === 'symlink' ? 'is a symbolic link' : 'is not a directory',
      });
      return false;
    } else if (st.uid !== uid && st.uid !== 0) {
      list.warn('imagemaker.unsafeDir', { path: cur, reason: `owned by uid ${st.uid}` });
      return false;
    }
  }
  return true;
}

/**
 * A new key's revocation certificate in `~/.gnupg/openpgp-revocs.d/<FINGERPRINT>.rev` (0600, the maker's), where
 * gpg's own key generation leaves one, so the maker can revoke a lost key as with a key made by gpg.
 */
async function planRevocationCertificate(
  sys: System,
  list: PlanList,
  p: MakerPlan,
  owner: Owner,
): Promise<void> {
  const { fingerprint, revocationCertificate } = p.key;
  if (p.key.state !== 'generate') return;
  // a dry run generates no key: the same step, under a placeholder name
  if (!sys.dryRun && (fingerprint === undefined || !revocationCertificate)) return;
  if (!(await planUserDirs(sys, list, p.home, '.gnupg', owner, 0o700))) return;
  if (!(await planUserDirs(sys, list, p.home, '.gnupg/openpgp-revocs.d', owner, 0o700))) return;
  list.add({
    kind: 'file',
    path: `${p.home}/.gnupg/openpgp-revocs.d/${fingerprint ?? '<fingerprint>'}.rev`,
    content:
      fingerprint === undefined || revocationCertificate === undefined
        ? ''
        : formatRevocationFile(
            { fingerprint, userIds: [...(p.key.userIds ?? [])] },
            revocationCertificate,
          ),
    mode: 0o600,
    ...owner,
    backup: false,
  });
}

/**
 * The read-only part of the plan that needs a program: is gpg installed, and does the maker's keyring
 * already hold the key (listed as the maker, `--no-options`)?
 */
async function gpgAvailable(sys: System): Promise<boolean> {
  const r = await sys.proc
    .run('gpg', ['--version'], { env: { ...gpgEnv(sys), HOME: '/nonexistent' } })
    .catch(() => undefined);
  return r?.exitCode === 0;
}

/**
 * `gpg --homedir ~/.gnupg --batch --import`, so that `podman push --sign-by <email>` finds the key. gpg runs
 * as the maker (setpriv), never as root: `~/.gnupg` is the maker's, and its `gpg.conf` can name programs
 * (`agent-program`) that root would otherwise start; `--no-options` keeps even the maker's own gpg.conf out
 * of this run. Files root's gpg left there in earlier versions become the maker's first (by descriptor, links
 * not followed). Returns the targets of the import steps, or undefined when nothing is imported.
 */
async function planGnupg(
  sys: System,
  list: PlanList,
  p: MakerPlan,
  owner: Owner,
  haveGpg: boolean,
): Promise<readonly string[] | undefined> {
  const gnupg = `${p.home}/.gnupg`;
  if (!haveGpg) {
    list.warn('imagemaker.gpgMissing', { user: p.user, path: `${p.home}/${SIGNING_KEY_IN_HOME}` });
    return undefined;
  }
  const uid = await uidOf(sys, owner.uid);
  const st = await sys.fs.stat(gnupg);
  if (st !== undefined && (st.kind !== 'dir' || (st.uid !== uid && st.uid !== 0))) {
    list.warn('imagemaker.unsafeDir', {
      path: gnupg,
      reason: st.kind === 'symlink' ? 'is a symbolic link' : 'not a directory of the user',
    });
    return undefined;
  }
  const homedir = await sys.fs.resolve(gnupg);
  const runAs = { uid: owner.uid, gid: owner.gid };
  const env = { ...gpgEnv(sys), HOME: await sys.fs.resolve(p.home), GNUPGHOME: homedir };
  const fpr = p.key.fingerprint ?? '';
  const gid =
    typeof owner.gid === 'number' ? owner.gid : (await sys.users.getGroup(owner.gid))?.gid;
  if (st !== undefined && uid !== undefined && gid !== undefined && p.key.state === 'reuse') {
    const asMaker = { runAs: { uid, gid }, env };
    const r = await sys.proc.run(
      'gpg',
      [
        '--homedir',
        homedir,
        '--no-options',
        '--batch',
        '--no-tty',
        '--no-auto-check-trustdb',
        '--list-secret-keys',
        '--with-colons',
        '--',
        fpr,
      ],
      asMaker,
    );
    await sys.proc
      .run('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], asMaker)
      .catch(() => undefined);
    if (r.exitCode === 0 && r.stdout.includes(`fpr:::::::::${fpr}:`)) return [];
  }
  if (!list.hasDir(gnupg))
    list.add(
      st === undefined
        ? { kind: 'dir', path: gnupg, mode: 0o700, uid: owner.uid, gid: owner.gid }
        : { kind: 'dir', path: gnupg, uid: owner.uid, gid: owner.gid, ownTree: true },
    );
  const base = ['--homedir', homedir, '--no-options', '--batch', '--no-tty', '--quiet'];
  const steps: Change[] = [
    {
      kind: 'run',
      file: 'gpg',
      args: [...base, '--import'],
      input: p.key.privateKeyArmored ?? '',
      runAs,
      env,
      onFailure: 'warn',
    },
    {
      kind: 'run',
      file: 'gpg',
      args: [...base, '--import-ownertrust'],
      input: `${fpr}:6:\n`,
      runAs,
      env,
      onFailure: 'warn',
    },
    // the agent this import started is the maker's and is not left running
    {
      kind: 'run',
      file: 'gpgconf',
      args: ['--homedir', homedir, '--kill', 'gpg-agent'],
      runAs,
      env,
      onFailure: 'warn',
    },
  ];
  for (const c of steps) list.add(c);
  return steps.slice(0, 2).map(changeTarget);
}

/** docs/weaknesses.md#w7-permissions-of-varsigstore, docs/weaknesses.md#w8-shared-paths-in-the-signature-store: per-scope signature directories owned by their maker; shared parents root:podman_dev with the sticky bit. */
async function planSignatureDirChanges(
  sys: System,
  list: PlanList,
  makers: readonly MakerSpec[],
  owners: ReadonlyMap<string, Owner>,
): Promise<void> {
  const devGid = (await sys.users.getGroup(PODMAN_DEV_GROUP))?.gid ?? 0;
  for (const d of planSignatureDirs(makers)) {
    for (const other of d.sharedWith)
      list.warn('imagemaker.sharedSignatureDir', { dir: d.dir, scope: d.scope, other });
    const owner = owners.get(d.user)!;
    const uid = await uidOf(sys, owner.uid);
    const rel = d.dir.slice(SIGSTORE_SIGNATURES.length + 1).split('/');
    let cur = SIGSTORE_SIGNATURES;
    for (let i = 0; i < rel.length; i++) {
      cur = `${cur}/${rel[i]!}`;
      if (list.hasDir(cur)) continue;
      const leaf = i === rel.length - 1;
      const st = await sys.fs.stat(cur);
      if (st === undefined) {
        list.add(
          leaf
            ? { kind: 'dir', path: cur, mode: 0o755, uid: owner.uid, gid: PODMAN_GROUP }
            : { kind: 'dir', path: cur, mode: 0o1775, uid: 0, gid: devGid },
        );
      } else if (leaf && st.kind === 'dir' && st.uid !== uid) {
        if (st.uid === 0) list.add({ kind: 'dir', path: cur, uid: owner.uid, gid: PODMAN_GROUP });
        else
          list.warn('imagemaker.sharedSignatureDir', {
            dir: cur,
            scope: d.scope,
            other: `uid ${st.uid}`,
          });
      }
    }
  }
}

/**
 * The whole change list, in the order that keeps a crash harmless: accounts and sub-ids, each maker's
 * private key, GnuPG import, public key and registries.d, the signature directories, and only then the
 * system policy, its published copy and the personal policies of the makers and every `podman_dev` member
 * (docs/weaknesses.md#w11-transactional-image-maker-creation, docs/weaknesses.md#w12-personal-policies: nobody else's files are touched). Reads only.
 */
async function planChanges(sys: System, input: PlanInput): Promise<Planned> {
  const { plans } = input;
  const current = await sys.fs.readText(POLICY_JSON);
  const policyPlan = planMakerPolicy(parsePolicy(current), input.makers, {
    force: input.force,
    policyPath: POLICY_JSON,
  });
  const list = new PlanList();
  const owners = new Map<string, Owner>();
  const gpg = new Map<string, readonly string[] | undefined>();
  const privateKeys = new Map<string, string | undefined>();
  const haveGpg = plans.some((p) => p.key.state !== 'public-only') && (await gpgAvailable(sys));
  for (const p of plans) {
    const entry = await sys.users.getUser(p.user);
    const owner: Owner = { uid: entry?.uid ?? p.user, gid: PODMAN_GROUP };
    owners.set(p.user, owner);
    list.add(
      entry
        ? { kind: 'user', name: p.user, options: { groups: [PODMAN_GROUP, PODMAN_DEV_GROUP] } }
        : {
            kind: 'user',
            name: p.user,
            options: {
              group: PODMAN_GROUP,
              groups: [PODMAN_DEV_GROUP],
              home: p.home,
              createHome: true,
            },
          },
    );
    // rootless podman needs subordinate ids
    list.add({ kind: 'subids', path: '/etc/subuid', user: p.user });
    list.add({ kind: 'subids', path: '/etc/subgid', user: p.user });
    if (!entry && p.password != null)
      list.add({ kind: 'password', user: p.user, secret: p.password });
    if (p.key.state !== 'public-only') {
      // before the key itself: a run interrupted in between leaves no key without its certificate (the re-run
      // would reuse the key and could not make one)
      await planRevocationCertificate(sys, list, p, owner);
      const privateKeyPath = `${p.home}/${SIGNING_KEY_IN_HOME}`;
      privateKeys.set(p.user, privateKeyPath);
      if (
        p.key.state === 'generate' &&
        (await planUserDirs(sys, list, p.home, '.config/podsec', owner, 0o700))
      ) {
        list.add({
          kind: 'file',
          path: privateKeyPath,
          content: p.key.privateKeyArmored ?? '',
          mode: 0o600,
          ...owner,
          backup: false,
        });
      }
      gpg.set(p.user, await planGnupg(sys, list, p, owner, haveGpg));
    }
    // docs/weaknesses.md#w7-permissions-of-varsigstore: the public key is written by root, not by the maker
    if (p.key.publicKeyArmored !== undefined || p.key.state === 'generate') {
      list.add({
        kind: 'file',
        path: publicKeyPathOf(p.user),
        content: p.key.publicKeyArmored ?? '',
        mode: 0o644,
        uid: 0,
        gid: 0,
        backup: false,
      });
    }
    if (await planUserDirs(sys, list, p.home, '.config/containers/registries.d', owner, 0o755)) {
      list.add({
        kind: 'file',
        path: `${p.home}/${PERSONAL_REGISTRIES_D}`,
        content: formatMakerRegistriesD(),
        mode: 0o644,
        ...owner,
        backup: false,
      });
    }
  }
  await planSignatureDirChanges(sys, list, input.makers, owners);
  const keysDir = await sys.fs.stat(SIGSTORE_KEYS);
  if (keysDir && (keysDir.mode & 0o022) !== 0)
    list.warn('imagemaker.keysDirWritable', { dir: SIGSTORE_KEYS });

  // docs/weaknesses.md#w11-transactional-image-maker-creation: the policy switches only now, after every key was exported
  const text = formatPolicy(policyPlan.policy);
  list.add({
    kind: 'versioned',
    path: POLICY_JSON,
    prefix: 'policy_',
    content: text,
    mode: 0o644,
    uid: 0,
    gid: 0,
  });
  list.add({
    kind: 'file',
    path: PUBLISHED_POLICY,
    content: text,
    mode: 0o644,
    uid: 0,
    gid: 0,
    backup: false,
  });
  const personal = await planPersonalPolicies(
    sys,
    list,
    formatPolicy(planPersonalPolicy(policyPlan.policy)),
    owners,
  );
  return {
    changes: list.changes,
    warnings: list.warnings,
    bindings: policyPlan.bindings,
    gpg,
    privateKeys,
    personal,
  };
}

/** docs/weaknesses.md#w12-personal-policies: the personal policy of every `podman_dev` member (homes from passwd) and of this run's makers. */
async function planPersonalPolicies(
  sys: System,
  list: PlanList,
  content: string,
  makers: ReadonlyMap<string, Owner>,
): Promise<Map<string, string>> {
  const dev = await sys.users.getGroup(PODMAN_DEV_GROUP);
  const passwd = await sys.users.passwd();
  const names = new Set<string>(makers.keys());
  for (const u of passwd)
    if (dev && (dev.members.includes(u.name) || u.gid === dev.gid)) names.add(u.name);
  const out = new Map<string, string>();
  for (const name of names) {
    const u = passwd.find((e) => e.name === name);
    const home = u?.home ?? `${HOME_BASE}/${name}`;
    const owner: Owner = makers.get(name) ?? { uid: u?.uid ?? name, gid: PODMAN_GROUP };
    if (u && (await sys.fs.stat(home))?.kind !== 'dir') continue;
    if (!(await planUserDirs(sys, list, home, '.config/containers', owner, 0o755))) continue;
    const path = `${home}/${PERSONAL_POLICY}`;
    list.add({ kind: 'file', path, content, mode: 0o644, ...owner, backup: false });
    out.set(name, path);
  }
  return out;
}

/** The result of a run from its plan and the engine's report; the plan's warnings are reported here, once. */
function finish(
  sys: System,
  tr: ImagemakerTranslate,
  planned: Planned,
  report: ChangeReport,
  plans: readonly MakerPlan[],
): CreateImageMakersResult {
  const warnings: string[] = [];
  const warn = (key: string, params: Record<string, unknown>) => {
    const text = tr(key, params);
    warnings.push(text);
    sys.report.warn(text);
  };
  for (const w of planned.warnings) warn(w.key, w.params);
  const done = new Set(report.changes.map((c) => `${c.kind} ${c.target}`));
  const makers = plans.map((p): MakerResult => {
    const steps = planned.gpg.get(p.user);
    const failed = steps?.flatMap((target) =>
      report.warnings.filter((w) => w.startsWith(`${target} failed`)),
    );
    if (failed && failed.length > 0)
      warn('imagemaker.gpgFailed', {
        user: p.user,
        homedir: `${p.home}/.gnupg`,
        reason: failed[0]!.split('\n').slice(-1)[0],
      });
    if (p.key.state === 'public-only')
      sys.report.info(
        tr('imagemaker.keyPublicOnly', { user: p.user, publicKey: publicKeyPathOf(p.user) }),
      );
    if (p.key.state === 'reuse')
      sys.report.info(tr('imagemaker.keyReused', { user: p.user, fingerprint: p.key.fingerprint }));
    const privateKeyPath = planned.privateKeys.get(p.user);
    return {
      user: p.user,
      scopes: p.scopes,
      home: p.home,
      created: !p.exists,
      key: {
        ...(p.key.fingerprint ? { fingerprint: p.key.fingerprint } : {}),
        email: p.key.email,
        state:
          p.key.state === 'generate'
            ? 'generated'
            : p.key.state === 'reuse'
              ? 'reused'
              : 'public-only',
        publicKeyPath: publicKeyPathOf(p.user),
        ...(privateKeyPath ? { privateKeyPath } : {}),
        gpgImported: !report.dryRun && steps !== undefined && failed?.length === 0,
      },
    };
  });
  const policyRecord = report.changes.find((c) => c.kind === 'versioned');
  return {
    makers,
    bindings: planned.bindings,
    policy: {
      changed: policyRecord !== undefined,
      ...(policyRecord?.detail ? { version: policyRecord.detail.replace(/^-> /, '') } : {}),
    },
    publishedChanged: done.has(`file ${PUBLISHED_POLICY}`),
    personalPolicies: [...planned.personal]
      .filter(([, path]) => done.has(`file ${path}`))
      .map(([name]) => name),
    changes: report.changes,
    report,
    warnings,
    dryRun: report.dryRun,
  };
}

/** The environment of a gpg child: PATH and locale only, nothing of root's own gpg settings. */
function gpgEnv(sys: System): Record<string, string | undefined> {
  return {
    PATH: sys.env['PATH'],
    LANG: 'C',
    LC_ALL: 'C',
  };
}
