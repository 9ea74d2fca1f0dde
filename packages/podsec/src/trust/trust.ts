import { errorMessage, UsageError } from '@podsec/core';
import {
  createEvaluationContext,
  evaluateImage,
  keyInfo,
  manifestMatchesDigest,
  parseStoredSignature,
  readPassphrase,
  readPrivateKey,
  readSignatures,
  readTrustedKeys,
  verifierFingerprint,
  signingKeyIds,
  signSimpleSigning,
  verifySimpleSigning,
  writeSignature,
  type EvaluationContext,
  type EvaluationResult,
  type SignatureWarning,
  type StoredSignature,
  type VerifiedSignature,
  type VerifierKey,
} from '@podsec/core/trust';
import { lookasideFor, type Policy, type SignedByRequirement } from '@podsec/core/config';
import type { System } from '@podsec/core/system';
import { fetchManifest, type FetchedManifest, type FetchManifestOptions } from './image-source.ts';
import { readTrustConfig, type TrustConfigOptions } from './trust-config.ts';
import { readSecretFile } from '@podsec/core/system';

export { planScopeTable, showTrust } from './show.ts';
export type { ScopeRow, ShowTrustResult } from './show.ts';

/** A weakness of a signature that the node's tools accept all the same. */
export interface SignatureWeakness {
  readonly code: SignatureWarning['code'];
  readonly message: string;
  readonly params: SignatureWarning['params'];
}

/** One signature as `podsec-trust verify` reports it. */
export interface SignatureReport {
  readonly index: number;
  readonly valid: boolean;
  readonly reason?: string;
  /** `simple-signing`, `sigstore-json` (not judged by signedBy), or absent when the blob has no known format. */
  readonly format?: StoredSignature['format'];
  readonly keyFingerprint?: string;
  readonly keyIds?: readonly string[];
  readonly userIds?: readonly string[];
  readonly creator?: string;
  readonly timestamp?: number;
  readonly identity?: string;
  readonly digestMatches?: boolean;
  /** Why a valid signature is weak (SHA-1, DSA, RSA-1024, made in the future); empty when it is sound. */
  readonly warnings?: readonly SignatureWeakness[];
  /**
   * `false` for a signature after those that decided an accepted image: it was read (a malformed one still refuses
   * the image) but not verified, as containers/image stops at the first accepted signature; `valid` is then false
   * and `reason` says so. Absent for every signature that was examined.
   */
  readonly examined?: false;
}

/** Result of {@link verifyTrust}. */
export interface VerifyTrustResult {
  readonly image: string;
  readonly digest: string;
  readonly lookaside: string | undefined;
  readonly signatures: readonly SignatureReport[];
  readonly verdict: EvaluationResult;
  /** Weaknesses of the signatures the policy accepted the image by (empty for a rejected image). */
  readonly warnings: readonly (SignatureWeakness & { readonly signature: number })[];
}

/** Options of {@link verifyTrust}. */
export interface VerifyTrustOptions extends TrustConfigOptions, FetchManifestOptions {
  /** Extra public key files (host paths) to recognise signers by. */
  readonly keys?: readonly string[];
  /** Overrides registries.d. */
  readonly lookaside?: string;
  /** The manifest, when the caller already started fetching it. @default fetchManifest(image) */
  readonly manifest?: Promise<FetchedManifest>;
}

type PublicKeys = VerifierKey[];

async function knownKeys(
  sys: System,
  ctx: EvaluationContext,
  policy: Policy,
  extra: readonly string[],
): Promise<PublicKeys> {
  const requirements: SignedByRequirement[] = [];
  for (const scopes of Object.values(policy.transports ?? {}))
    for (const reqs of Object.values(scopes))
      for (const r of reqs) if (r.type === 'signedBy') requirements.push(r);
  for (const r of policy.default) if (r.type === 'signedBy') requirements.push(r);
  const loaded = await Promise.all([
    ...requirements.map((r) => ctx.loadKeys(r).catch(() => [])),
    ...extra.map(async (f) => readTrustedKeys(await sys.hostFs.readFile(f))),
  ]);
  // one key object per fingerprint: a keyring named by several scopes is parsed (and searched) once
  const seen = new Set<string>();
  const out: PublicKeys = [];
  for (const k of loaded.flat()) {
    const fpr = verifierFingerprint(k);
    if (!seen.has(fpr)) {
      seen.add(fpr);
      out.push(k);
    }
  }
  return out;
}

const NOT_EXAMINED =
  'not examined: the policy had already accepted the image (podman and skopeo stop there too)';

const contentKey = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/**
 * Every signature of an image: who made it (key, user id), creator, time, identity, whether it is valid,
 * and the policy's verdict with the reason. Answers "who signed this image?". Each signature is verified
 * once, against every key the policy names (and `keys`); the policy's requirements reuse that result. When the
 * policy accepts the image by a signature, the signatures after the last one it examined are reported as not
 * examined (`examined: false`), as containers/image never looks at them.
 */
export async function verifyTrust(
  sys: System,
  image: string,
  o: VerifyTrustOptions = {},
): Promise<VerifyTrustResult> {
  // skopeo fetches the manifest while the configuration and the keys are read
  const manifest = o.manifest ?? fetchManifest(sys, image, o);
  manifest.catch(() => {});
  const cfg = await readTrustConfig(sys, o);
  const ctx = createEvaluationContext(sys.fs);
  const keysPromise = knownKeys(sys, ctx, cfg.policy, o.keys ?? []);
  keysPromise.catch(() => {});
  const m = await manifest;
  const base = o.lookaside ?? lookasideFor(cfg.registriesD, m.reference);
  const [blobs, keys] = await Promise.all([
    base === undefined
      ? Promise.resolve([])
      : readSignatures(base, m.reference, m.digest, { fs: sys.fs }),
    keysPromise,
  ]);
  // one time for the whole image: every signature and key is judged at the same instant (and keys are checked once);
  // the wall clock, as gpgme judges them
  const now = new Date();
  const outcomes = new Map<string, Promise<VerifiedSignature>>();
  const verifyOnce = (data: Uint8Array): Promise<VerifiedSignature> => {
    const k = contentKey(data);
    let p = outcomes.get(k);
    if (p === undefined) {
      p = verifySimpleSigning(data, keys, { now });
      p.catch(() => {});
      outcomes.set(k, p);
    }
    return p;
  };
  // the policy first: like containers/image it examines no signature after the first one it accepts
  const verdict = await evaluateImage(
    cfg.policy,
    { transport: 'docker', reference: m.reference, manifest: m.manifest, signatures: blobs },
    {
      loadKeys: (r) => ctx.loadKeys(r),
      // one verification against every known key, shared with the report below, when the requirement trusts its
      // signer; else the requirement's own answer
      async verify(data, trusted) {
        const v = await verifyOnce(data).catch(() => undefined);
        if (v !== undefined && trusted.some((k) => verifierFingerprint(k) === v.keyFingerprint))
          return v;
        return verifySimpleSigning(data, trusted, { now });
      },
    },
  );
  // the report: every signature the policy examined, and all of them when it did not accept by a signature
  let examined = blobs.length;
  const bySignature = verdict.results.filter((r) => r.type === 'signedBy');
  if (verdict.accepted && bySignature.length > 0)
    examined = Math.max(
      ...bySignature.map((r) => Math.max(-1, ...(r.signatures ?? []).map((x) => x.index)) + 1),
    );
  const signatures = await Promise.all(
    blobs.map(async (blob, i): Promise<SignatureReport> => {
      const index = i + 1;
      if (i >= examined)
        return {
          index,
          valid: false,
          examined: false,
          reason: NOT_EXAMINED,
        };
      let stored: StoredSignature;
      try {
        stored = parseStoredSignature(blob);
      } catch (e) {
        return { index, valid: false, reason: errorMessage(e) };
      }
      if (stored.format !== 'simple-signing')
        return {
          index,
          valid: false,
          format: stored.format,
          reason: 'a sigstore signature: not judged by signedBy requirements',
        };
      try {
        const v = await verifyOnce(stored.data);
        return {
          index,
          valid: true,
          format: stored.format,
          keyFingerprint: v.keyFingerprint,
          userIds: v.userIds,
          ...(v.payload.creator === undefined ? {} : { creator: v.payload.creator }),
          ...(v.payload.timestamp === undefined ? {} : { timestamp: v.payload.timestamp }),
          identity: v.payload.dockerReference,
          digestMatches: manifestMatchesDigest(m.manifest, v.payload.manifestDigest),
          warnings: v.warnings.map(({ code, message, params }) => ({ code, message, params })),
        };
      } catch (e) {
        const keyIds = await signingKeyIds(stored.data).catch(() => []);
        return { index, valid: false, format: stored.format, reason: errorMessage(e), keyIds };
      }
    }),
  );
  const accepting = new Set<number>();
  if (verdict.accepted)
    for (const r of verdict.results)
      for (const s of r.signatures ?? []) if (s.accepted) accepting.add(s.index + 1);
  const warnings = signatures.flatMap((s) =>
    accepting.has(s.index) ? (s.warnings ?? []).map((w) => ({ signature: s.index, ...w })) : [],
  );
  return { image: m.reference, digest: m.digest, lookaside: base, signatures, verdict, warnings };
}

/** Options of {@link signTrust}. */
export interface SignTrustOptions extends TrustConfigOptions, FetchManifestOptions {
  /** Armored private key file (host path). */
  readonly key: string;
  /** Passphrase file (host path); none for an unprotected key. */
  readonly passphraseFile?: string;
  /** `file://` base or directory; default: the write lookaside of registries.d. */
  readonly lookaside?: string;
  /** Identity to sign for. @default the image reference */
  readonly identity?: string;
}

/** Result of {@link signTrust}. */
export interface SignTrustResult {
  readonly image: string;
  readonly identity: string;
  readonly digest: string;
  readonly keyFingerprint: string;
  readonly location: string;
  /** Set when nothing was written (`--dry-run`). */
  readonly dryRun?: boolean;
}

/** Signs an image in its registry and stores the signature in a `file://` lookaside. */
export async function signTrust(
  sys: System,
  image: string,
  o: SignTrustOptions,
): Promise<SignTrustResult> {
  const passphrase =
    o.passphraseFile === undefined
      ? undefined
      : await readPassphrase({ file: o.passphraseFile }, (p) => readSecretFile(sys, p));
  // a private key is a secret too: no link, nobody else may read it, bounded
  const keyBytes = await readSecretFile(sys, o.key, { maxBytes: 1024 * 1024 });
  const privateKey = await readPrivateKey(keyBytes, passphrase);
  const m = await fetchManifest(sys, image, o);
  let base = o.lookaside;
  if (base === undefined)
    base = lookasideFor((await readTrustConfig(sys, o)).registriesD, m.reference, { write: true });
  if (base === undefined)
    throw new UsageError(
      'TRUST_NO_LOOKASIDE',
      `no lookaside configured for ${m.reference}: give --lookaside`,
      { details: { image: m.reference } },
    );
  if (base.startsWith('/')) base = `file://${base}`;
  if (!base.startsWith('file://'))
    throw new UsageError(
      'TRUST_LOOKASIDE_NOT_FILE',
      `signatures can only be written to a file:// lookaside, not ${base}`,
      { details: { url: base } },
    );
  const identity = o.identity ?? m.reference;
  const blob = await signSimpleSigning({
    privateKey,
    dockerReference: identity,
    manifestDigest: m.digest,
  });
  // with --root the lookaside directory is a system path under the root
  // --dry-run: everything is checked and the signature made, but only its location is reported
  const w = await writeSignature(base, identity, m.digest, blob, {
    fs: sys.fs,
    ...(sys.dryRun ? { dryRun: true } : {}),
  });
  const info = await keyInfo(privateKey);
  return {
    image: m.reference,
    identity,
    digest: m.digest,
    keyFingerprint: info.fingerprint,
    location: w.location,
    ...(sys.dryRun ? { dryRun: true } : {}),
  };
}
