/**
 * podsec-load-sign-oci (docs/commands/podsec-load-sign-oci.md, docs/weaknesses.md#w15-loading-oci-archives): extract a per-architecture OCI archive safely, push every image
 * straight from the OCI layout to the registry with skopeo, sign the manifest as stored with the maker's
 * key in-process and store the signature in the maker's lookaside staging area. Stops at the first failure.
 */
import {
  errorMessage,
  ExternalCommandError,
  isPodsecError,
  NotFoundError,
  UsageError,
} from '@podsec/core';
// the trust library (openpgp) is loaded on first use, while the archive is extracted: see loadSignOci
import type * as TrustLibrary from '@podsec/core/trust';
type Trust = typeof TrustLibrary;
import { lookasideFor } from '@podsec/core/config';
import { checkSigstoreServer } from '../host/role.ts';
import { readRegistriesD } from '../config-files/registries-d.ts';
import { readSecretFile, resolveHostPath } from '@podsec/core/system';
import {
  LOOKASIDE_WRITE_URL,
  PODMAN_DEV_GROUP,
  REGISTRIES_D,
  SIGNING_KEY_IN_HOME,
  USER_REGISTRIES_D_IN_HOME,
} from '../paths.ts';
import { getPlatform } from '../platform/get-platform.ts';
import {
  diskSink,
  extractArchive,
  readArchive,
  type ArchiveHost,
  type ExtractLimits,
  type System,
} from '@podsec/core/system';
import { parseDockerReference } from '@podsec/core/config';
import {
  LayoutSink,
  MAX_MANIFEST,
  nativeAccessRefused,
  probeNativePush,
  RegistryPusher,
  sha256,
  type NativeTarget,
  type PushProbe,
} from './registry-push.ts';
import {
  checkLoadArguments,
  isPlainHttpRegistry,
  parseIndexRefs,
  planLoadImages,
  planLoadTarget,
  REF_NAME_ANNOTATION,
  type LoadPlan,
  type PlannedImage,
} from './plan-load.ts';

/** Largest index.json accepted (a layout of a few thousand images is well below). */
export const MAX_INDEX_SIZE = 4 * 1024 * 1024;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** The part of an OCI index.json read here. */
interface OciIndex {
  readonly manifests?: readonly {
    readonly mediaType?: unknown;
    readonly digest?: unknown;
    readonly annotations?: Readonly<Record<string, unknown>>;
  }[];
}

/**
 * The digest skopeo will push for `ref`: the descriptor's own digest when it names a single image manifest (pushed
 * unchanged); undefined for an image index (skopeo picks an instance) or anything unexpected.
 */
function singleManifestDigest(index: OciIndex, ref: string): string | undefined {
  const m = index.manifests?.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
  if (m?.mediaType !== OCI_MANIFEST) return undefined;
  return typeof m.digest === 'string' && DIGEST_RE.test(m.digest) ? m.digest : undefined;
}

/** Layer types skopeo pushes to a registry unchanged (an uncompressed layer it would compress). */
const PUSHED_AS_IS = new Set([
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);

/**
 * The blobs an image manifest names (config first), or why the native push steps aside because skopeo would not
 * push this manifest unchanged (another schema, a layer it would compress, a layer with external URLs).
 */
export function manifestBlobs(bytes: Uint8Array): { blobs: string[] } | { why: string } {
  let m: {
    schemaVersion?: unknown;
    mediaType?: unknown;
    config?: { digest?: unknown };
    layers?: unknown;
  };
  try {
    m = JSON.parse(new TextDecoder().decode(bytes)) as typeof m;
  } catch {
    return { why: 'the manifest is not JSON' };
  }
  if (typeof m !== 'object' || m === null || m.schemaVersion !== 2)
    return { why: 'the manifest is not of schema 2' };
  if (m.mediaType !== undefined && m.mediaType !== OCI_MANIFEST)
    return { why: `the manifest is of type ${JSON.stringify(m.mediaType)}` };
  const config = m.config?.digest;
  if (typeof config !== 'string' || !DIGEST_RE.test(config))
    return { why: 'the manifest names no sha256 config' };
  if (!Array.isArray(m.layers)) return { why: 'the manifest has no layers list' };
  const blobs = [config];
  for (const l of m.layers as { mediaType?: unknown; digest?: unknown; urls?: unknown }[]) {
    if (typeof l?.digest !== 'string' || !DIGEST_RE.test(l.digest))
      return { why: 'a layer has no sha256 digest' };
    if (typeof l.mediaType !== 'string' || !PUSHED_AS_IS.has(l.mediaType))
      return { why: `layer ${l.digest} is of type ${JSON.stringify(l.mediaType)}` };
    if (l.urls !== undefined) return { why: `layer ${l.digest} has external URLs` };
    blobs.push(l.digest);
  }
  return { blobs };
}

/** Options of {@link loadSignOci}. */
export interface LoadSignOptions {
  /** Archive path on this host. */
  readonly archive: string;
  readonly arch: string;
  /** E-mail of the signer; must be a user id of the key. */
  readonly signerEmail: string;
  /** `<registry>/<path>` (4th argument). */
  readonly target?: string | undefined;
  /** Registry host of the 3-argument form instead of registry.local; also skips the server check (sandbox). */
  readonly registryHost?: string | undefined;
  /** Expected platform instead of U7S_PLATFORM / os-release. */
  readonly platform?: string | undefined;
  /** Accept a platform mismatch without asking. */
  readonly yes?: boolean;
  /** Asks whether to continue after a platform mismatch; absent = not interactive. */
  readonly confirm?: (archivePlatform: string, expected: string) => Promise<boolean>;
  /** Armoured or binary private key file on this host. @default ~/.config/podsec/signing-key.asc of the caller */
  readonly keyFile?: string | undefined;
  /** Passphrase file on this host. */
  readonly passphraseFile?: string | undefined;
  /** Lookaside base to write to (file://, a system path under --root). @default from registries.d */
  readonly lookaside?: string | undefined;
  /** Parent of the private temp directory. @default $TMPDIR or /var/tmp */
  readonly tmpDir?: string | undefined;
  readonly limits?: ExtractLimits;
  /** TLS verification of the registry. @default false for registry.local and loopback, true otherwise */
  readonly tlsVerify?: boolean | undefined;
  /** Progress per reference. @default English lines through sys.report.progress */
  readonly onProgress?: (p: LoadProgress) => void;
}

/** One step of {@link loadSignOci}. */
export interface LoadProgress {
  readonly n: number;
  readonly total: number;
  readonly source: string;
  readonly reference: string;
  readonly state: 'signed' | 'already-signed' | 'planned';
}

/** One pushed reference. */
export interface LoadedImage {
  readonly reference: string;
  readonly source: string;
  readonly digest: string;
  /** Location of the signature; absent in a dry run. */
  readonly signature?: string;
  /** A valid signature for this digest, identity and key was already there. */
  readonly alreadySigned: boolean;
}

/** Result of {@link loadSignOci}. */
export interface LoadSignResult {
  readonly archivePlatform: string;
  readonly images: readonly PlannedImage[];
  readonly loaded: readonly LoadedImage[];
  readonly lookaside: Readonly<Record<string, string>>;
  readonly dryRun: boolean;
}

async function callerName(sys: System): Promise<string> {
  if (sys.identity.user) return sys.identity.user;
  const entry = (await sys.users.passwd()).find((p) => p.uid === sys.identity.uid);
  if (!entry)
    throw new UsageError(
      'OCI_NOT_IMAGE_MAKER',
      `user id ${sys.identity.uid} is not in the user database`,
      { details: { user: String(sys.identity.uid) } },
    );
  return entry.name;
}

async function homeOf(sys: System, user: string): Promise<string> {
  const entry = await sys.users.getUser(user);
  if (!entry)
    throw new NotFoundError('OCI_NO_HOME', `user ${user} is not in the user database`, {
      details: { user },
    });
  return entry.home;
}

async function loadRegistriesD(sys: System, home: string) {
  const personal = `${home}/${USER_REGISTRIES_D_IN_HOME}`;
  return readRegistriesD(
    sys,
    (await sys.fs.stat(personal))?.kind === 'dir' ? personal : REGISTRIES_D,
  );
}

/** The signing key, unlocked, and checked against the signer's e-mail. */
async function loadKey(
  sys: System,
  o: LoadSignOptions,
  home: string,
  trust: Promise<Trust>,
): Promise<{
  readonly fingerprint: string;
  readonly publicKey: TrustLibrary.VerifierKey;
  readonly sign: (s: SignRequest) => Promise<Uint8Array>;
}> {
  const keyBytes =
    o.keyFile !== undefined
      ? await readSecretFile(sys, resolveHostPath(o.keyFile), { maxBytes: 1024 * 1024 }).catch(
          (e: unknown) => {
            // a key file others may read, a link or an oversized file: core's one-line refusal
            if (isPodsecError(e) && e.code.startsWith('SECRET_') && e.code !== 'SECRET_NOT_FOUND')
              throw e;
            throw new NotFoundError(
              'OCI_KEY_UNREADABLE',
              `cannot read the signing key ${o.keyFile}: ${errorMessage(e)}`,
              { details: { file: o.keyFile }, cause: e },
            );
          },
        )
      : await sys.fs.readFile(`${home}/${SIGNING_KEY_IN_HOME}`).catch((e: unknown) => {
          throw new NotFoundError(
            'OCI_KEY_UNREADABLE',
            `cannot read the signing key ${home}/${SIGNING_KEY_IN_HOME}: use --key`,
            { details: { file: `${home}/${SIGNING_KEY_IN_HOME}` }, cause: e },
          );
        });
  let passphrase: string | undefined;
  if (o.passphraseFile !== undefined) {
    const bytes = await readSecretFile(sys, resolveHostPath(o.passphraseFile)).catch(
      (e: unknown) => {
        // a passphrase file others may read, a link or an oversized file: core's one-line refusal
        if (isPodsecError(e) && e.code.startsWith('SECRET_') && e.code !== 'SECRET_NOT_FOUND')
          throw e;
        throw new UsageError(
          'PASSPHRASE_UNREADABLE',
          `cannot read passphrase file ${o.passphraseFile}`,
          { details: { file: o.passphraseFile }, cause: e },
        );
      },
    );
    passphrase = (await trust).passphraseFromBytes(bytes);
  }
  const t = await trust;
  const email = o.signerEmail.toLowerCase();
  const hasEmail = (userIds: readonly string[]) =>
    userIds.some((u) => (/<([^>]*)>\s*$/.exec(u)?.[1] ?? u).toLowerCase() === email);
  const mismatch = (fingerprint: string) =>
    new UsageError(
      'OCI_SIGNER_MISMATCH',
      `the signing key ${fingerprint} has no user id ${o.signerEmail}`,
      {
        details: { email: o.signerEmail, fingerprint },
      },
    );
  // the usual key (v4 RSA or Ed25519, unprotected or AES/S2K-protected, valid for signing now) is unlocked and used
  // with node:crypto; anything else, a wrong passphrase included, goes through openpgp.js and its messages
  const native = await t.readNativeSigningKey(keyBytes, passphrase, sys.clock.now());
  sys.report.debug(
    `signing key ${native === undefined ? 'read with openpgp.js' : 'read natively (node:crypto)'}`,
  );
  if (native !== undefined) {
    if (!hasEmail(native.userIds)) throw mismatch(native.fingerprint);
    return {
      fingerprint: native.fingerprint,
      publicKey: native.publicKey as TrustLibrary.VerifierKey,
      sign: (s: SignRequest) => Promise.resolve(t.signSimpleSigningNatively(native, s)),
    };
  }
  const { keyInfo, readPrivateKey } = t;
  const key = await readPrivateKey(keyBytes, passphrase).catch((e: unknown) => {
    // the core error carries no details: give the CLI a message that names the option
    if (e instanceof UsageError && e.code === 'KEY_PASSPHRASE_REQUIRED') {
      throw new UsageError(e.code, `${e.message}: use --passphrase-file`, {
        details: {},
        cause: e,
      });
    }
    throw e;
  });
  const info = await keyInfo(key, sys.clock.now());
  if (!hasEmail(info.userIds)) throw mismatch(info.fingerprint);
  if (!info.canSign) {
    throw new UsageError(
      'OCI_KEY_CANNOT_SIGN',
      `the key ${info.fingerprint} cannot sign (expired or revoked)`,
      { details: { fingerprint: info.fingerprint } },
    );
  }
  return {
    fingerprint: info.fingerprint,
    publicKey: key.toPublic() as TrustLibrary.VerifierKey,
    sign: (s: SignRequest) => t.signSimpleSigning({ privateKey: key, ...s }),
  };
}

/** Resolves after the current turn of the event loop (its microtasks and I/O callbacks) has run. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A signature for a push: a new one, or `already` when one of ours is in the store. */
type PreparedSignature =
  | { readonly digest: string; readonly already: true }
  | { readonly digest: string; readonly already: false; readonly blob: Uint8Array };

/** A signature made for a push and, when staged, being written beside it. */
interface StagedSignature {
  readonly early: Promise<PreparedSignature | undefined> | undefined;
  readonly staged:
    | Promise<
        | { readonly digest: string; readonly location: string }
        | { readonly digest: string; readonly error: unknown }
        | undefined
      >
    | undefined;
  /** Whether the registry took the expected digest: the staged signature is renamed into place, or removed. */
  readonly settle: (kept: boolean) => void;
}

/** What is signed for one pushed image. */
interface SignRequest {
  readonly dockerReference: string;
  readonly manifestDigest: string;
  readonly timestamp: number;
}

/**
 * Validate, extract, push and sign (docs/commands/podsec-load-sign-oci.md with the docs/weaknesses.md#w15-loading-oci-archives fixes). The temp directory is removed on every path.
 * @throws UsageError/NotFoundError with the codes of the podsec-load-sign-oci exit table; `OCI_PUSH_FAILED` (exit 9)
 *   names the failed reference and lists the ones done in `details`.
 */
export async function loadSignOci(
  sys: System,
  host: ArchiveHost,
  o: LoadSignOptions,
): Promise<LoadSignResult> {
  // phase timings for --verbose: where the time of a load goes (the first one counts from the start of the process)
  let mark = 0;
  const phase = (what: string) => {
    // process.uptime, not performance.now: the global performance loads node:perf_hooks (~10 ms of a 300 ms run)
    const now = process.uptime() * 1000;
    sys.report.debug(`time: ${what} ${Math.round(now - mark)} ms`);
    mark = now;
  };
  phase('start-up');
  // openpgp takes tens of milliseconds to load: it loads and the key is unlocked while the archive is extracted
  // (into a private temporary directory, which changes nothing), and a failure of the key is still reported
  // before any other (see afterKey)
  const trust: Promise<Trust> = import('@podsec/core/trust');
  trust.catch(() => undefined);
  // 0: the platform (the original runs getPlatform first); unknown is only an error without a target
  let expected = o.platform;
  if (expected === undefined) {
    try {
      expected = (await getPlatform(sys)).platform;
    } catch (e) {
      if (o.target === undefined) throw e;
    }
  }
  // 1: the host-role guard (docs/weaknesses.md#w1-host-role-guard); a sandbox registry named with --registry-host is not the podsec server
  if (o.registryHost === undefined) {
    const role = await checkSigstoreServer(sys);
    if (!role.isServer) {
      throw new UsageError(
        'OCI_NOT_SIGSTORE_SERVER',
        role.message ?? 'this host is not the signature server',
        {
          details: { reason: role.message ?? '' },
        },
      );
    }
  }
  // 2: group membership by the user database (getgrouplist), exact names
  const user = await callerName(sys);
  const groups = await sys.users.groupsOf(user);
  if (!groups.includes(PODMAN_DEV_GROUP)) {
    throw new UsageError(
      'OCI_NOT_IMAGE_MAKER',
      `user ${user} is not a member of the ${PODMAN_DEV_GROUP} group`,
      { details: { user, group: PODMAN_DEV_GROUP } },
    );
  }
  // 4-8: arguments
  const target = planLoadTarget({
    arch: o.arch,
    target: o.target,
    platform: expected,
    registryHost: o.registryHost,
  });
  const archive = host.resolve(o.archive);
  if ((await host.kind(archive)) !== 'file') {
    throw new NotFoundError(
      'OCI_ARCHIVE_MISSING',
      `archive ${o.archive} does not exist or is not a regular file`,
      { details: { archive: o.archive } },
    );
  }
  checkLoadArguments(o.arch, target);
  // key, passphrase and signature store before any work
  const home = await homeOf(sys, user);
  phase('checks');
  // xz is started first (below): its process starts on another core while the registry is asked (the probe goes
  // out as soon as xz runs) and the key is unlocked one turn of the event loop later, on this thread's own time
  // while xz and the registry answer (not before the turn: the probe's request is written in it). Nothing between
  // here and the start of xz waits for the thread pool or the network; should anything fail first, both go ahead
  // after that turn all the same
  let xzRuns!: () => void;
  const xzStarted = Promise.race([new Promise<void>((resolve) => (xzRuns = resolve)), nextTurn()]);
  // when the key, the index and the registry's probe were ready, for the --verbose line of the stream
  const since = process.uptime() * 1000;
  const ready: Record<string, number> = {};
  const readyAt = (what: string) => (ready[what] = Math.round(process.uptime() * 1000 - since));
  // the native push (docs/commands/podsec-load-sign-oci.md#how-the-images-reach-the-registry): its transport is
  // probed while the key loads; a dry run pushes nothing and only extracts
  const tlsVerify = o.tlsVerify ?? !isPlainHttpRegistry(target.registryHost);
  const probe: Promise<PushProbe> = sys.dryRun
    ? Promise.resolve({ ok: false, why: 'a dry run: nothing is pushed' })
    : xzStarted
        .then(() => probeNativePush(sys, target.registryHost, tlsVerify))
        .finally(() => readyAt('probe'));
  const keyLoad = xzStarted.then(nextTurn).then(() => loadKey(sys, o, home, trust));
  keyLoad.then(
    () => readyAt('key'),
    () => undefined,
  );
  let keyFailed = false;
  keyLoad.catch(() => {
    keyFailed = true;
  });
  /** `step`'s result; when it fails, the key's own failure first: the order the checks had one after another. */
  const afterKey = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (e) {
      await keyLoad;
      throw e;
    }
  };
  const registriesD =
    o.lookaside === undefined ? await afterKey(() => loadRegistriesD(sys, home)) : undefined;
  const lookasideOf = (ref: string): string => {
    const url =
      o.lookaside ??
      (registriesD && lookasideFor(registriesD, ref, { write: true })) ??
      LOOKASIDE_WRITE_URL;
    if (!url.startsWith('file:')) {
      throw new UsageError(
        'OCI_LOOKASIDE_NOT_FILE',
        `signatures for ${ref} would go to ${url}: only a file:// lookaside-staging can be written`,
        { details: { ref, url } },
      );
    }
    return url;
  };

  const tmpParent = o.tmpDir ?? sys.env['TMPDIR'] ?? '/var/tmp';
  const tmp = await afterKey(() => host.makeTempDir(host.resolve(tmpParent), 'podsec-oci'));
  /** The first image's signature, made as soon as its native push is decided (see stageSignature). */
  let first:
    | {
        readonly reference: string;
        readonly digest: string;
        readonly made: Promise<PreparedSignature | undefined>;
      }
    | undefined;
  try {
    // 9-13: safe extraction; index.json is checked as soon as it is met (the first member of the archives
    // podsec-save-oci writes), so a bad index or a refused platform stops before the blobs are written
    const indexName = `${o.arch}/index.json`;
    let checked: { plan: LoadPlan; index: OciIndex } | undefined;
    const timestamp = () => Math.floor(sys.clock.now().getTime() / 1000);
    /** A valid signature of ours for this reference and digest in the store, else a new one (not yet written). */
    const prepareSignature = async (
      base: string,
      reference: string,
      digest: string,
    ): Promise<PreparedSignature> => {
      const [{ readSignatures, verifySimpleSigning }, signer] = await Promise.all([trust, keyLoad]);
      const have = await readSignatures(base, reference, digest, { fs: sys.fs }).catch(
        () => [] as Uint8Array[],
      );
      for (const blob of have) {
        try {
          const v = await verifySimpleSigning(blob, [signer.publicKey]);
          if (v.payload.dockerReference === reference && v.payload.manifestDigest === digest)
            return { digest, already: true as const };
        } catch {
          // somebody else's or a broken signature: not ours
        }
      }
      const blob = await signer.sign({
        dockerReference: reference,
        manifestDigest: digest,
        timestamp: timestamp(),
      });
      return { digest, already: false as const, blob };
    };
    /**
     * The signature of `reference` at `expectedDigest` (the digest its push will give), made now (or `made` before)
     * and, when `stage`, written beside the push: renamed into place only once `settle(true)` says the registry took
     * that digest (docs/commands/podsec-load-sign-oci.md#signing-beside-the-push); `settle(false)` removes it.
     */
    const stageSignature = (
      base: string,
      reference: string,
      expectedDigest: string | undefined,
      stage: boolean,
      made?: Promise<PreparedSignature | undefined>,
    ): StagedSignature => {
      const early =
        expectedDigest === undefined
          ? undefined
          : (made ?? prepareSignature(base, reference, expectedDigest).catch(() => undefined));
      let settle: (kept: boolean) => void = () => {};
      const putDone = new Promise<boolean>((resolve) => (settle = resolve));
      const staged =
        early === undefined || !stage
          ? undefined
          : early.then(async (sig) =>
              sig === undefined || sig.already
                ? undefined
                : (await trust)
                    .writeSignature(base, reference, sig.digest, sig.blob, {
                      fs: sys.fs,
                      gate: async () => {
                        if (!(await putDone)) throw new Error('not pushed with this digest');
                      },
                    })
                    .then(
                      (w) => ({ digest: sig.digest, location: w.location }),
                      (e: unknown) => ({ digest: sig.digest, error: e }),
                    ),
            );
      return { early, staged, settle };
    };
    // a bad key is reported before the archive is judged and before a platform question is asked; a good index
    // does not wait for the key, so the extraction goes on while it loads
    const checkIndex = (bytes: Uint8Array) => afterKey(() => judgeIndex(bytes));
    const judgeIndex = async (bytes: Uint8Array) => {
      readyAt('index');
      const text = new TextDecoder().decode(bytes);
      const refs = parseIndexRefs(text);
      const plan: LoadPlan = planLoadImages(refs, target, expected);
      // 12-13: platform mismatch: --yes, or a confirmation on a terminal
      if (plan.mismatch) {
        await keyLoad;
        const ok =
          o.yes === true ||
          (o.confirm !== undefined && (await o.confirm(plan.archivePlatform, expected ?? '')));
        if (!ok) {
          throw new UsageError(
            'OCI_PLATFORM_MISMATCH',
            `the archive platform ${plan.archivePlatform} differs from ${expected ?? ''}`,
            {
              details: { archivePlatform: plan.archivePlatform, platform: expected ?? '' },
            },
          );
        }
        if (plan.archivePlatform.startsWith('k8s-')) {
          throw new UsageError(
            'OCI_K8S_PLATFORM',
            `archives of platform ${plan.archivePlatform} (k8s- prefix) are not supported`,
            {
              details: { archivePlatform: plan.archivePlatform },
            },
          );
        }
      }
      const parsedIndex = JSON.parse(text) as OciIndex;
      checked = { plan, index: parsedIndex };
      // native when the registry answers anonymously and every image is one manifest skopeo would push unchanged
      const p = await probe;
      const manifests = plan.images.map((img) => singleManifestDigest(parsedIndex, img.ref));
      const unlisted = plan.images.find((_, i) => manifests[i] === undefined);
      const why = !p.ok
        ? p.why
        : unlisted !== undefined
          ? `${unlisted.ref} is not a single image manifest in index.json`
          : await nativeAccessRefused(
              sys,
              plan.images.map((img) => img.target),
            );
      sys.report.debug(
        why === undefined && p.ok
          ? `push: native, blobs streamed from the archive to ${p.base}`
          : `push: skopeo copy from the extracted archive (${why ?? ''})`,
      );
      if (why === undefined && p.ok) {
        const firstImage = plan.images[0] as PlannedImage;
        native = {
          pusher: new RegistryPusher(sys, p),
          repo: parseDockerReference(firstImage.target).path,
          reference: firstImage.target,
          manifests: new Set(manifests as string[]),
        };
        // its signature is made while the blobs stream (the registry's time: this thread waits); it is written
        // beside its manifest's push, as the others (nothing reaches the signature store before the blobs are in)
        const digest = manifests[0] as string;
        let base: string | undefined;
        try {
          base = lookasideOf(firstImage.target);
        } catch {
          // refused where the queue is made, as before
        }
        if (base !== undefined)
          first = {
            reference: firstImage.target,
            digest,
            // (a turn later: the blob uploads of the members behind index.json go out first)
            made: nextTurn()
              .then(() => prepareSignature(base, firstImage.target, digest))
              .catch(() => undefined),
          };
      }
    };
    let native: NativeTarget | undefined;
    // a key that fails stops the extraction at its next file
    const extractHost: ArchiveHost = {
      ...host,
      createFile: async (file, mode) => {
        if (keyFailed) await keyLoad;
        return host.createFile(file, mode);
      },
    };
    // until the index is judged every member is extracted; then the blobs go to the registry
    const sink = new LayoutSink(diskSink(extractHost, archive, tmp), {
      arch: o.arch,
      archive,
      before: async () => {
        if (keyFailed) await keyLoad;
        // nothing reaches the registry before the key is known to be good
        if (native !== undefined && !sink.native) {
          await keyLoad;
          sink.goNative(native);
        }
      },
    });
    const free = await host.freeSpace(tmp).catch(() => undefined);
    // (the host of the reader says when xz runs)
    const readHost: ArchiveHost = {
      ...host,
      xzDecompress: (...a) => host.xzDecompress(...a).finally(xzRuns),
    };
    const extracted = await afterKey(() =>
      readArchive(readHost, archive, sink, {
        ...o.limits,
        free,
        dest: tmp,
        inspect: [{ name: indexName, maxSize: MAX_INDEX_SIZE, onMember: checkIndex }],
      }).then(
        // the small blobs still uploading beside the stream; a failure of the stream itself comes first
        async (r) => {
          await sink.settle();
          return r;
        },
        async (e: unknown) => {
          await sink.settle().catch(() => undefined);
          throw e;
        },
      ),
    );
    await keyLoad;
    const { writeSignature } = await trust;
    phase(
      `signing key and ${native !== undefined ? `native push of the blobs (${sink.counts()})` : 'extract'} (${extracted.files} files, ${extracted.bytes} bytes, at the same time; ready after ${Object.entries(
        ready,
      )
        .map(([k, v]) => `${k} ${v} ms`)
        .join(', ')})`,
    );
    const layout = `${tmp}/${o.arch}`;
    if (native === undefined && (await host.kind(layout)) !== 'dir') {
      throw new UsageError('OCI_ARCH_DIR_MISSING', `the archive has no ${o.arch}/ directory`, {
        details: { arch: o.arch },
      });
    }
    if (checked === undefined) {
      throw new UsageError('OCI_INDEX_MISSING', `the archive has no ${o.arch}/index.json`, {
        details: { arch: o.arch },
      });
    }
    const { plan, index } = checked;
    const queue: { source: string; reference: string; ref: string; from: 'oci' | 'docker' }[] = [];
    for (const img of plan.images) {
      queue.push({
        source: `oci:${layout}:${img.ref}`,
        reference: img.target,
        ref: img.ref,
        from: 'oci',
      });
      if (img.alias !== undefined)
        queue.push({
          source: `docker://${img.target}`,
          reference: img.alias,
          ref: img.ref,
          from: 'docker',
        });
    }
    const lookaside: Record<string, string> = {};
    for (const q of queue) lookaside[q.reference] = lookasideOf(q.reference);
    const progress =
      o.onProgress ??
      ((p: LoadProgress) => {
        const what =
          p.state === 'planned'
            ? `would push ${p.source} to`
            : p.state === 'signed'
              ? 'pushed and signed'
              : 'pushed (already signed)';
        sys.report.progress(`[${p.n}/${p.total}] ${what} ${p.reference}`);
      });
    if (sys.dryRun) {
      for (const [i, q] of queue.entries())
        progress({
          n: i + 1,
          total: queue.length,
          source: q.source,
          reference: q.reference,
          state: 'planned',
        });
      return {
        archivePlatform: plan.archivePlatform,
        images: plan.images,
        loaded: [],
        lookaside,
        dryRun: true,
      };
    }

    const loaded: LoadedImage[] = [];
    /** Blobs each repository is known to have (the upload repository: what the stream uploaded or found). */
    const present = new Map<string, Set<string>>();
    if (native !== undefined) present.set(native.repo, sink.uploaded);
    const has = (repo: string) => present.get(repo) ?? present.set(repo, new Set()).get(repo)!;
    /** What was pushed natively, by reference: the alias is put from it. */
    const pushed = new Map<string, { bytes: Uint8Array; blobs: readonly string[] }>();
    /**
     * Put `bytes` as `reference` natively, after every blob it names is in the repository (known, found by HEAD,
     * uploaded from the spool, or mounted from `from`); false when the registry mounts no blobs (skopeo then).
     */
    const putImage = async (
      n: NativeTarget,
      reference: string,
      image: { bytes: Uint8Array; blobs: readonly string[] },
      from: string,
      digest: string,
    ): Promise<boolean> => {
      const ref = parseDockerReference(reference);
      const repo = ref.path;
      const have = has(repo);
      for (const blob of image.blobs) {
        if (have.has(blob)) continue;
        const file = sink.spooled.get(blob);
        if (await n.pusher.hasBlob(repo, blob)) {
          // present
        } else if (file !== undefined) {
          await n.pusher.uploadBlob(repo, blob, file.size, host.readStream(`${tmp}/${file.rel}`));
        } else if (repo !== from && has(from).has(blob)) {
          if (!(await n.pusher.mountBlob(repo, blob, from))) {
            sys.report.debug(`push: skopeo copy for ${reference} (the registry mounts no blobs)`);
            return false;
          }
        } else
          throw new Error(
            `blob ${blob} named by the manifest of ${reference} is neither in the archive nor in the registry`,
          );
        have.add(blob);
      }
      const put = await n.pusher.putManifest(repo, ref.tag ?? 'latest', OCI_MANIFEST, image.bytes);
      if (put !== digest)
        throw new Error(`the registry stored the manifest as ${put}, not as ${digest}`);
      pushed.set(reference, image);
      return true;
    };
    /** For an alias (a docker:// source): the image pushed natively before it, which it copies unchanged. */
    const aliasOf = (q: (typeof queue)[number]) => {
      const src = q.source.slice('docker://'.length);
      const image = pushed.get(src);
      return image === undefined ? undefined : { src, image, digest: sha256(image.bytes) };
    };
    /**
     * Push `q` natively: an image of the archive from its manifest there, an alias (the docker copy skopeo makes with
     * --preserve-digests) from the image pushed before it; undefined when skopeo must push it after all (a manifest
     * skopeo would not push unchanged, a registry that mounts no blobs).
     */
    const pushNatively = async (
      q: (typeof queue)[number],
      n: NativeTarget,
    ): Promise<string | undefined> => {
      if (q.from === 'docker') {
        const alias = aliasOf(q);
        if (alias === undefined) return undefined;
        const from = parseDockerReference(alias.src).path;
        return (await putImage(n, q.reference, alias.image, from, alias.digest))
          ? alias.digest
          : undefined;
      }
      const digest = singleManifestDigest(index, q.ref);
      if (digest === undefined) return undefined;
      const spooled = sink.spooled.get(digest);
      const bytes =
        sink.kept.get(digest) ??
        (spooled === undefined
          ? undefined
          : await host.readFile(`${tmp}/${spooled.rel}`, MAX_MANIFEST));
      if (bytes === undefined || sha256(bytes) !== digest)
        throw new Error(`the manifest ${digest} of ${q.ref} is not in the archive`);
      const named = manifestBlobs(bytes);
      if ('why' in named) {
        sys.report.debug(`push: skopeo copy for ${q.ref} after all (${named.why})`);
        return undefined;
      }
      return (await putImage(n, q.reference, { bytes, blobs: named.blobs }, n.repo, digest))
        ? digest
        : undefined;
    };
    /** The layout on disk for skopeo: the extraction, or a second one when the blobs were streamed. */
    let layoutNow: string | undefined = sink.native ? undefined : layout;
    const extractedLayout = async (): Promise<string> => {
      if (layoutNow !== undefined) return layoutNow;
      const again = `${tmp}/again`;
      await host.mkdir(again, 0o700);
      await extractArchive(host, archive, again, o.limits);
      phase('extract (for skopeo)');
      return (layoutNow = `${again}/${o.arch}`);
    };
    let nativeLeft = native;
    for (const [i, q] of queue.entries()) {
      const reference = q.reference;
      const base = lookaside[reference] as string;
      const digestFile = `${tmp}/digest-${i + 1}`;
      try {
        // the manifest of a single-image entry is pushed as stored, and an alias copies it unchanged: sign its
        // digest while it is pushed
        const expectedDigest =
          q.from === 'oci' ? singleManifestDigest(index, q.ref) : aliasOf(q)?.digest;
        // (the first image's was made while the blobs streamed)
        const { early, staged, settle } = stageSignature(
          base,
          reference,
          expectedDigest,
          nativeLeft !== undefined,
          i === 0 && first?.reference === reference && first.digest === expectedDigest
            ? first.made
            : undefined,
        );
        /** The staged signature when the push gave its digest (else it is removed, as nothing is stored). */
        const keepStaged = async (digest: string | undefined) => {
          settle(digest !== undefined && digest === expectedDigest);
          const w = await staged;
          if (w === undefined || w.digest !== digest) return undefined;
          if ('error' in w) throw w.error;
          return w.location;
        };
        let digest =
          nativeLeft !== undefined
            ? await pushNatively(q, nativeLeft).catch(async (e: unknown) => {
                await keepStaged(undefined);
                await early;
                throw e;
              })
            : undefined;
        if (digest !== undefined) phase(`native push ${q.source}`);
        const stagedLocation = await keepStaged(digest);
        if (digest === undefined) {
          // skopeo from here on: this image's manifest or blobs could not go natively
          if (q.from === 'oci') nativeLeft = undefined;
          const source = q.from === 'oci' ? `oci:${await extractedLayout()}:${q.ref}` : q.source;
          const args = [
            '--override-arch',
            o.arch,
            'copy',
            '--quiet',
            '--digestfile',
            digestFile,
            ...(q.from === 'docker' ? ['--preserve-digests', `--src-tls-verify=${tlsVerify}`] : []),
            `--dest-tls-verify=${tlsVerify}`,
            source,
            `docker://${reference}`,
          ];
          const r = await sys.proc.run('skopeo', args, { timeoutMs: 3_600_000 });
          phase(`skopeo copy ${q.source}`);
          if (r.exitCode !== 0) {
            await early;
            throw new ExternalCommandError(
              'PROC_FAILED',
              r.stderr.trim().split('\n').slice(-3).join('\n') || `skopeo exit code ${r.exitCode}`,
            );
          }
          digest = new TextDecoder().decode(await host.readFile(digestFile, 1024)).trim();
        }
        const ready = await early;
        const sig =
          ready?.digest === digest ? ready : await prepareSignature(base, reference, digest);
        phase(`signature${ready?.digest === digest ? ' (made during the push)' : ''}`);
        const location = sig.already
          ? undefined
          : (stagedLocation ??
            (await writeSignature(base, reference, digest, sig.blob, { fs: sys.fs })).location);
        phase(
          stagedLocation === undefined ? 'signature write' : 'signature write (beside the push)',
        );
        loaded.push({
          reference,
          source: q.source,
          digest,
          alreadySigned: sig.already,
          ...(location ? { signature: location } : {}),
        });
        progress({
          n: i + 1,
          total: queue.length,
          source: q.source,
          reference,
          state: sig.already ? 'already-signed' : 'signed',
        });
      } catch (e) {
        const why = errorMessage(e);
        throw new ExternalCommandError(
          'OCI_PUSH_FAILED',
          `pushing or signing ${reference} failed: ${why}`,
          {
            details: {
              reference,
              reason: why,
              done: loaded.map((l) => l.reference).join(', ') || '-',
            },
            cause: e,
          },
        );
      }
    }
    return {
      archivePlatform: plan.archivePlatform,
      images: plan.images,
      loaded,
      lookaside,
      dryRun: false,
    };
  } finally {
    // (a first signature made for a load that failed before its push is forgotten: nothing was written)
    await first?.made;
    await host.removeTree(tmp);
    phase('cleanup');
  }
}
