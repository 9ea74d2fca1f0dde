import { UsageError } from '@podsec/core';
import {
  createEvaluationContext,
  evaluateImage,
  keyInfo,
  readPassphrase,
  readPrivateKey,
  readPublicKeys,
  readSignatures,
  requirementsFor,
  signingKeyIds,
  signSimpleSigning,
  verifySimpleSigning,
  writeSignature,
  type EvaluationResult,
  type RequirementsDecision,
} from '@podsec/core/trust';
import { lookasideFor, type Policy, type PolicyRequirement } from '@podsec/core/config';
import type { System } from '@podsec/core/system';
import { fetchManifest, type FetchManifestOptions } from './image-source.ts';
import { readTrustConfig, type TrustConfigOptions } from './trust-config.ts';

/** One row of `podsec-trust show`. */
export interface ScopeRow {
  readonly transport: string;
  readonly scope: string;
  readonly requirements: readonly string[];
}

function describeRequirement(r: PolicyRequirement): string {
  if (r.type === 'signedBy') {
    const keys =
      r.keyPath ?? r.keyPaths?.join(',') ?? (r.keyData !== undefined ? '<keyData>' : '?');
    const identity = r.signedIdentity ? ` identity=${r.signedIdentity.type}` : '';
    return `signedBy ${keys}${identity}`;
  }
  return r.type;
}

/** Every scope of a policy, default first (pure). */
export function planScopeTable(policy: Policy): ScopeRow[] {
  const rows: ScopeRow[] = [
    { transport: '*', scope: 'default', requirements: policy.default.map(describeRequirement) },
  ];
  for (const [transport, scopes] of Object.entries(policy.transports ?? {})) {
    for (const [scope, reqs] of Object.entries(scopes))
      rows.push({
        transport,
        scope: scope === '' ? '""' : scope,
        requirements: reqs.map(describeRequirement),
      });
  }
  return rows;
}

/** Result of {@link showTrust}. */
export interface ShowTrustResult {
  readonly policyPath: string;
  readonly scopes?: readonly ScopeRow[];
  readonly image?: string;
  readonly decision?: RequirementsDecision & { readonly described: readonly string[] };
}

/** The requirements of the policy, or those that apply to `image` and why. */
export async function showTrust(
  sys: System,
  image: string | undefined,
  o: TrustConfigOptions = {},
): Promise<ShowTrustResult> {
  const cfg = await readTrustConfig(sys, o);
  if (image === undefined)
    return { policyPath: cfg.policyPath, scopes: planScopeTable(cfg.policy) };
  const decision = requirementsFor(cfg.policy, 'docker', image.replace(/^docker:\/\//, ''));
  return {
    policyPath: cfg.policyPath,
    image,
    decision: { ...decision, described: decision.requirements.map(describeRequirement) },
  };
}

/** One signature as `podsec-trust verify` reports it. */
export interface SignatureReport {
  readonly index: number;
  readonly valid: boolean;
  readonly reason?: string;
  readonly keyFingerprint?: string;
  readonly keyIds?: readonly string[];
  readonly userIds?: readonly string[];
  readonly creator?: string;
  readonly timestamp?: number;
  readonly identity?: string;
  readonly digestMatches?: boolean;
}

/** Result of {@link verifyTrust}. */
export interface VerifyTrustResult {
  readonly image: string;
  readonly digest: string;
  readonly lookaside: string | undefined;
  readonly signatures: readonly SignatureReport[];
  readonly verdict: EvaluationResult;
}

/** Options of {@link verifyTrust}. */
export interface VerifyTrustOptions extends TrustConfigOptions, FetchManifestOptions {
  /** Extra public key files (host paths) to recognise signers by. */
  readonly keys?: readonly string[];
  /** Overrides registries.d. */
  readonly lookaside?: string;
}

type PublicKeys = Awaited<ReturnType<typeof readPublicKeys>>;

async function knownKeys(
  sys: System,
  policy: Policy,
  extra: readonly string[],
): Promise<PublicKeys> {
  const out: PublicKeys = [];
  const ctx = createEvaluationContext(sys.fs);
  for (const scopes of Object.values(policy.transports ?? {})) {
    for (const reqs of Object.values(scopes)) {
      for (const r of reqs)
        if (r.type === 'signedBy') out.push(...(await ctx.loadKeys(r).catch(() => [])));
    }
  }
  for (const r of policy.default)
    if (r.type === 'signedBy') out.push(...(await ctx.loadKeys(r).catch(() => [])));
  for (const f of extra) out.push(...(await readPublicKeys(await sys.hostFs.readFile(f))));
  return out;
}

/**
 * Every signature of an image: who made it (key, user id), creator, time, identity, whether it is valid,
 * and the policy's verdict with the reason. Answers "who signed this image?".
 */
export async function verifyTrust(
  sys: System,
  image: string,
  o: VerifyTrustOptions = {},
): Promise<VerifyTrustResult> {
  const cfg = await readTrustConfig(sys, o);
  const m = await fetchManifest(sys, image, o);
  const base = o.lookaside ?? lookasideFor(cfg.registriesD, m.reference);
  const blobs =
    base === undefined ? [] : await readSignatures(base, m.reference, m.digest, { fs: sys.fs });
  const keys = await knownKeys(sys, cfg.policy, o.keys ?? []);
  const signatures: SignatureReport[] = [];
  for (const [i, blob] of blobs.entries()) {
    try {
      const v = await verifySimpleSigning(blob, keys);
      signatures.push({
        index: i + 1,
        valid: true,
        keyFingerprint: v.keyFingerprint,
        userIds: v.userIds,
        ...(v.payload.creator === undefined ? {} : { creator: v.payload.creator }),
        ...(v.payload.timestamp === undefined ? {} : { timestamp: v.payload.timestamp }),
        identity: v.payload.dockerReference,
        digestMatches: v.payload.manifestDigest === m.digest,
      });
    } catch (e) {
      const keyIds = await signingKeyIds(blob).catch(() => []);
      signatures.push({
        index: i + 1,
        valid: false,
        reason: e instanceof Error ? e.message : String(e),
        keyIds,
      });
    }
  }
  const verdict = await evaluateImage(
    cfg.policy,
    { transport: 'docker', reference: m.reference, manifest: m.manifest, signatures: blobs },
    createEvaluationContext(sys.fs),
  );
  return { image: m.reference, digest: m.digest, lookaside: base, signatures, verdict };
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
      : await readPassphrase({ file: o.passphraseFile }, (p) => sys.hostFs.readFile(p));
  const privateKey = await readPrivateKey(await sys.hostFs.readFile(o.key), passphrase);
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
  const w = await writeSignature(base, identity, m.digest, blob, { fs: sys.fs });
  const info = await keyInfo(privateKey);
  return {
    image: m.reference,
    identity,
    digest: m.digest,
    keyFingerprint: info.fingerprint,
    location: w.location,
  };
}
