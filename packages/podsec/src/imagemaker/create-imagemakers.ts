/**
 * podsec-create-imagemakeruser, the I/O part (§6, docs/files.md#policyjson; each weakness fix is cited where it is made).
 * Everything is checked and every key generated in memory before the first change; the system policy and
 * its published copy are switched last, under the podsec lock, after all keys were exported.
 */
import { errorMessage, NotFoundError, PodsecError, UsageError } from '@podsec/core';
import {
  generateKey as coreGenerateKey,
  keyInfo,
  readPrivateKey,
  readPublicKeys,
  type GeneratedKey,
  type GenerateKeyOptions,
} from '@podsec/core/trust';
import { parsePolicy, formatPolicy } from '@podsec/core/config';
import { allocateSubIds, runOrThrow, type System } from '@podsec/core/system';
import { writeVersioned, type WriteVersionedResult } from '../config-files/versioned.ts';
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
  readonly policy: WriteVersionedResult;
  /** The published copy `/var/sigstore/keys/policy.json` was rewritten. */
  readonly publishedChanged: boolean;
  /** Personal policies written (users). */
  readonly personalPolicies: readonly string[];
  /** Every change made (or, in dry-run, planned), in order. */
  readonly changes: readonly string[];
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
 * Make image makers (§6): accounts in `podman` + `podman_dev`, a signing key each (private key in
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
  const warnings: string[] = [];
  const warn = (key: string, params: Record<string, unknown>): void => {
    const text = tr(key, params);
    warnings.push(text);
    sys.report.warn(text);
  };

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
  const groupIds: Record<string, number> = {};
  for (const g of [PODMAN_GROUP, PODMAN_DEV_GROUP]) {
    const entry = await sys.users.getGroup(g);
    if (!entry)
      throw new NotFoundError('IMAGEMAKER_NO_GROUP', `group ${g} does not exist`, {
        details: { group: g },
      });
    groupIds[g] = entry.gid;
  }
  const podmanGid = groupIds[PODMAN_GROUP]!;
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
      }
    }
  }

  const changes: string[] = [];
  const ctx: ApplyContext = { sys, tr, changes, warn, podmanGid };
  const apply = async (): Promise<CreateImageMakersResult> => {
    // Re-read under the lock: another run may have changed the policy since the check above.
    const current = parsePolicy((await sys.fs.readTextIfExists(POLICY_JSON)) ?? policyText);
    const plan = planMakerPolicy(current, makers, {
      force: o.force ?? false,
      policyPath: POLICY_JSON,
    });
    const results: MakerResult[] = [];
    for (const p of plans) results.push(await applyMaker(ctx, p));
    await applySignatureDirs(ctx, makers);
    const keysDir = await sys.fs.stat(SIGSTORE_KEYS);
    if (keysDir && (keysDir.mode & 0o022) !== 0)
      warn('imagemaker.keysDirWritable', { dir: SIGSTORE_KEYS });

    // docs/weaknesses.md#w11-transactional-image-maker-creation: the policy switches only now, after every key was exported
    const text = formatPolicy(plan.policy);
    const policy = await writeVersioned(sys, POLICY_JSON, text, {
      prefix: 'policy_',
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    if (policy.changed) {
      changes.push(`point ${POLICY_JSON} to ${policy.version ?? ''}`);
      if (sys.dryRun)
        sys.report.info(
          tr('imagemaker.wouldChange', {
            change: `write ${policy.version ?? ''} and point ${POLICY_JSON} to it`,
          }),
        );
    }
    const publishedChanged = await writeIfDifferent(ctx, PUBLISHED_POLICY, text, {
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    const personal = formatPolicy(planPersonalPolicy(plan.policy));
    const personalPolicies = await refreshPersonalPolicies(
      ctx,
      personal,
      plans.map((p) => p.user),
    );
    return {
      makers: results,
      bindings: plan.bindings,
      policy,
      publishedChanged,
      personalPolicies,
      changes,
      warnings,
      dryRun: sys.dryRun,
    };
  };
  if (sys.dryRun) return apply();
  await sys.fs.mkdir(PODSEC_LOCK.slice(0, PODSEC_LOCK.lastIndexOf('/')));
  return sys.fs.withLock(PODSEC_LOCK, apply);
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

interface ApplyContext {
  readonly sys: System;
  readonly tr: ImagemakerTranslate;
  readonly changes: string[];
  readonly warn: (key: string, params: Record<string, unknown>) => void;
  readonly podmanGid: number;
}

/** Record a change; run it unless dry-run. */
async function change(ctx: ApplyContext, desc: string, fn: () => Promise<unknown>): Promise<void> {
  ctx.changes.push(desc);
  if (ctx.sys.dryRun) {
    ctx.sys.report.info(ctx.tr('imagemaker.wouldChange', { change: desc }));
    return;
  }
  ctx.sys.report.debug(desc);
  await fn();
}

async function writeIfDifferent(
  ctx: ApplyContext,
  path: string,
  content: string,
  w: { readonly mode: number; readonly uid: number; readonly gid: number },
): Promise<boolean> {
  const st = await ctx.sys.fs.stat(path);
  if (st?.kind === 'file' && st.mode === w.mode && st.uid === w.uid && st.gid === w.gid) {
    if ((await ctx.sys.fs.readText(path)) === content) return false;
  }
  await change(ctx, `write ${path} (${w.mode.toString(8)} ${w.uid}:${w.gid})`, () =>
    ctx.sys.fs.writeFileAtomic(path, content, { ...w, backup: false }),
  );
  return true;
}

/**
 * Directories below a user's home, created when missing and refused when a component is not a plain
 * directory (a symlinked `~/.config` would make root write elsewhere).
 */
async function ensureUserDirs(
  ctx: ApplyContext,
  home: string,
  rel: string,
  owner: { readonly uid: number; readonly gid: number },
  leafMode: number,
): Promise<boolean> {
  const parts = rel.split('/');
  let cur = home;
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i]!}`;
    const st = await ctx.sys.fs.stat(cur);
    if (st === undefined) {
      const mode = i === parts.length - 1 ? leafMode : 0o755;
      const path = cur;
      await change(
        ctx,
        `create directory ${path} (${mode.toString(8)} ${owner.uid}:${owner.gid})`,
        () => ctx.sys.fs.mkdir(path, { mode, ...owner }),
      );
    } else if (st.kind !== 'dir') {
      ctx.warn('imagemaker.unsafeDir', {
        path: cur,
        reason: st.kind === 'symlink' ? 'is a symbolic link' : 'is not a directory',
      });
      return false;
    } else if (st.uid !== owner.uid && st.uid !== 0) {
      ctx.warn('imagemaker.unsafeDir', { path: cur, reason: `owned by uid ${st.uid}` });
      return false;
    }
  }
  return true;
}

async function applyMaker(ctx: ApplyContext, p: MakerPlan): Promise<MakerResult> {
  const { sys } = ctx;
  if (!p.exists) {
    await change(
      ctx,
      `create user ${p.user} (useradd -g ${PODMAN_GROUP} -G ${PODMAN_DEV_GROUP} -d ${p.home} -m)`,
      () =>
        sys.users.addUser(p.user, {
          group: PODMAN_GROUP,
          groups: [PODMAN_DEV_GROUP],
          home: p.home,
          createHome: true,
        }),
    );
  } else {
    const have = await sys.users.groupsOf(p.user);
    const missing = [PODMAN_GROUP, PODMAN_DEV_GROUP].filter((g) => !have.includes(g));
    if (missing.length > 0) {
      await change(ctx, `add user ${p.user} to ${missing.join(',')}`, () =>
        sys.users.addToGroups(p.user, missing),
      );
    }
  }
  // rootless podman needs subordinate ids
  for (const file of ['/etc/subuid', '/etc/subgid'] as const) {
    const ranges = file === '/etc/subuid' ? await sys.users.subuids() : await sys.users.subgids();
    if (!ranges.some((r) => r.owner === p.user)) {
      await change(ctx, `allocate subordinate ids of ${p.user} in ${file}`, () =>
        allocateSubIds(sys.fs, p.user, file),
      );
    }
  }
  if (!p.exists && p.password != null) {
    const password = p.password;
    await change(ctx, `set the password of ${p.user}`, async () => {
      // PAM on the real root; a prefixed root has no PAM stack, so chroot with an explicit method
      const args = sys.root === '/' ? [] : ['-c', 'SHA512', '-R', sys.root];
      await runOrThrow(sys.proc, 'chpasswd', args, { input: `${p.user}:${password}\n` });
    });
  }
  const entry = await sys.users.getUser(p.user);
  const owner = { uid: entry?.uid ?? -1, gid: ctx.podmanGid };

  let privateKeyPath: string | undefined;
  let gpgImported = false;
  if (p.key.state !== 'public-only') {
    privateKeyPath = `${p.home}/${SIGNING_KEY_IN_HOME}`;
    if (
      p.key.state === 'generate' &&
      (await ensureUserDirs(ctx, p.home, '.config/podsec', owner, 0o700))
    ) {
      const path = privateKeyPath;
      await change(ctx, `write the private key ${path} (600 ${p.user})`, () =>
        sys.fs.writeFileAtomic(path, p.key.privateKeyArmored ?? '', {
          mode: 0o600,
          ...owner,
          backup: false,
        }),
      );
    }
    gpgImported = await importIntoGnupg(ctx, p, owner);
  } else {
    sys.report.info(
      ctx.tr('imagemaker.keyPublicOnly', { user: p.user, publicKey: publicKeyPathOf(p.user) }),
    );
  }
  if (p.key.state === 'reuse')
    sys.report.info(
      ctx.tr('imagemaker.keyReused', { user: p.user, fingerprint: p.key.fingerprint }),
    );
  // docs/weaknesses.md#w7-permissions-of-varsigstore: the public key is written by root, not by the maker
  if (p.key.publicKeyArmored !== undefined || (sys.dryRun && p.key.state === 'generate')) {
    await writeIfDifferent(ctx, publicKeyPathOf(p.user), p.key.publicKeyArmored ?? '', {
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
  }
  if (await ensureUserDirs(ctx, p.home, '.config/containers/registries.d', owner, 0o755)) {
    await writeIfDifferent(ctx, `${p.home}/${PERSONAL_REGISTRIES_D}`, formatMakerRegistriesD(), {
      mode: 0o644,
      ...owner,
    });
  }
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
      gpgImported,
    },
  };
}

/**
 * `gpg --homedir ~/.gnupg --batch --import`, so that `podman push --sign-by <email>` finds the key. gpg runs
 * as the maker (setpriv), never as root: `~/.gnupg` is the maker's, and its `gpg.conf` can name programs
 * (`agent-program`) that root would otherwise start; `--no-options` keeps even the maker's own gpg.conf out
 * of this run. Files gpg creates are the maker's by construction, so nothing is chowned afterwards.
 */
async function importIntoGnupg(
  ctx: ApplyContext,
  p: MakerPlan,
  owner: { readonly uid: number; readonly gid: number },
): Promise<boolean> {
  const { sys } = ctx;
  const gnupg = `${p.home}/.gnupg`;
  try {
    await runOrThrow(sys.proc, 'gpg', ['--version'], {
      env: { ...gpgEnv(sys), HOME: '/nonexistent' },
    });
  } catch {
    ctx.warn('imagemaker.gpgMissing', { user: p.user, path: `${p.home}/${SIGNING_KEY_IN_HOME}` });
    return false;
  }
  const st = await sys.fs.stat(gnupg);
  if (st !== undefined && (st.kind !== 'dir' || (st.uid !== owner.uid && st.uid !== 0))) {
    ctx.warn('imagemaker.unsafeDir', {
      path: gnupg,
      reason: st.kind === 'symlink' ? 'is a symbolic link' : 'not a directory of the user',
    });
    return false;
  }
  const fpr = p.key.fingerprint ?? '';
  const asMaker = async (homedir: string) => ({
    runAs: { uid: owner.uid, gid: owner.gid },
    env: { ...gpgEnv(sys), HOME: await sys.fs.resolve(p.home), GNUPGHOME: homedir },
  });
  if (st !== undefined && !sys.dryRun) {
    // files root's gpg left in earlier versions become the maker's (by descriptor, links not followed)
    await sys.fs.chownTree(gnupg, owner.uid, owner.gid);
    const homedir = await sys.fs.resolve(gnupg);
    const run = await asMaker(homedir);
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
      run,
    );
    await sys.proc
      .run('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], run)
      .catch(() => undefined);
    if (r.exitCode === 0 && r.stdout.includes(`fpr:::::::::${fpr}:`)) return true;
  }
  try {
    await change(ctx, `import the key ${fpr || '(new)'} of ${p.user} into ${gnupg}`, async () => {
      if (st === undefined) await sys.fs.mkdir(gnupg, { mode: 0o700, ...owner });
      const homedir = await sys.fs.resolve(gnupg);
      const run = await asMaker(homedir);
      const base = ['--homedir', homedir, '--no-options', '--batch', '--no-tty', '--quiet'];
      try {
        await runOrThrow(sys.proc, 'gpg', [...base, '--import'], {
          ...run,
          input: p.key.privateKeyArmored ?? '',
        });
        await runOrThrow(sys.proc, 'gpg', [...base, '--import-ownertrust'], {
          ...run,
          input: `${fpr}:6:\n`,
        });
      } finally {
        await sys.proc
          .run('gpgconf', ['--homedir', homedir, '--kill', 'gpg-agent'], run)
          .catch(() => undefined);
      }
    });
  } catch (e) {
    ctx.warn('imagemaker.gpgFailed', {
      user: p.user,
      homedir: gnupg,
      reason: errorMessage(e).split('\n').slice(-1)[0],
    });
    return false;
  }
  return !sys.dryRun;
}

/** The environment of a gpg child: PATH and locale only, nothing of root's own gpg settings. */
function gpgEnv(sys: System): Record<string, string | undefined> {
  return {
    PATH: sys.env['PATH'],
    LANG: 'C',
    LC_ALL: 'C',
  };
}

/** docs/weaknesses.md#w7-permissions-of-varsigstore, docs/weaknesses.md#w8-shared-paths-in-the-signature-store: per-scope signature directories owned by their maker; shared parents root:podman_dev with the sticky bit. */
async function applySignatureDirs(ctx: ApplyContext, makers: readonly MakerSpec[]): Promise<void> {
  const { sys } = ctx;
  const devGid = (await sys.users.getGroup(PODMAN_DEV_GROUP))?.gid ?? 0;
  for (const d of planSignatureDirs(makers)) {
    for (const other of d.sharedWith)
      ctx.warn('imagemaker.sharedSignatureDir', { dir: d.dir, scope: d.scope, other });
    const uid = (await sys.users.getUser(d.user))?.uid;
    const rel = d.dir.slice(SIGSTORE_SIGNATURES.length + 1).split('/');
    let cur = SIGSTORE_SIGNATURES;
    for (let i = 0; i < rel.length; i++) {
      cur = `${cur}/${rel[i]!}`;
      const leaf = i === rel.length - 1;
      const st = await sys.fs.stat(cur);
      const path = cur;
      if (st === undefined) {
        const opts = leaf
          ? { mode: 0o755, uid: uid ?? 0, gid: ctx.podmanGid }
          : { mode: 0o1775, uid: 0, gid: devGid };
        await change(
          ctx,
          `create signature directory ${path} (${opts.mode.toString(8)} ${leaf ? d.user : `root:${PODMAN_DEV_GROUP}`})`,
          () => sys.fs.mkdir(path, opts),
        );
      } else if (leaf && st.kind === 'dir' && uid !== undefined && st.uid !== uid) {
        if (st.uid === 0) {
          await change(ctx, `give signature directory ${path} to ${d.user}`, () =>
            sys.fs.chown(path, uid, ctx.podmanGid),
          );
        } else {
          ctx.warn('imagemaker.sharedSignatureDir', {
            dir: path,
            scope: d.scope,
            other: `uid ${st.uid}`,
          });
        }
      }
    }
  }
}

/**
 * docs/weaknesses.md#w12-personal-policies: refresh the personal policy of every `podman_dev` member (homes from passwd) and of this run's
 * makers; nobody else's files are touched.
 */
async function refreshPersonalPolicies(
  ctx: ApplyContext,
  content: string,
  makers: readonly string[],
): Promise<string[]> {
  const { sys } = ctx;
  const dev = await sys.users.getGroup(PODMAN_DEV_GROUP);
  const passwd = await sys.users.passwd();
  const names = new Set<string>(makers);
  for (const u of passwd)
    if (dev && (dev.members.includes(u.name) || u.gid === dev.gid)) names.add(u.name);
  const written: string[] = [];
  for (const name of names) {
    const u = passwd.find((e) => e.name === name);
    const home = u?.home ?? `${HOME_BASE}/${name}`;
    const owner = { uid: u?.uid ?? -1, gid: ctx.podmanGid };
    if (u && (await sys.fs.stat(home))?.kind !== 'dir') continue;
    if (!(await ensureUserDirs(ctx, home, '.config/containers', owner, 0o755))) continue;
    if (
      await writeIfDifferent(ctx, `${home}/${PERSONAL_POLICY}`, content, { mode: 0o644, ...owner })
    )
      written.push(name);
  }
  return written;
}
