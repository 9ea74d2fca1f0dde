/**
 * Policy engine: which requirements of a containers-policy.json apply to an image (most specific
 * scope, as containers/image's `requirementsForImageRef`), and whether an image with its manifest and
 * simple-signing signatures satisfies all of them (`IsRunningImageAllowed`).
 */
import type { Policy, PolicyRequirement, SignedByRequirement } from '../config/policy.ts';
import { parseDockerReference } from '../config/reference.ts';
import type { DockerReference } from '../config/reference.ts';
import type { FileSystem } from '../system/types.ts';
import {
  detectManifestMediaType,
  manifestDigest as defaultManifestDigest,
  MEDIA_TYPES,
} from './digest.ts';
import { matchesSignedIdentity } from './identity.ts';
import { readTrustedKeys as defaultReadPublicKeys } from './trusted-keys.ts';
import type { VerifierKey } from './trusted-keys.ts';
import { parseStoredSignature, verifySimpleSigning } from './simple-signing.ts';
import type { VerifiedSignature } from './simple-signing.ts';
import { errorMessage } from '../errors.ts';
import { requirementsFor } from './requirements.ts';

export { requirementsFor, scopeCandidates } from './requirements.ts';
export type { RequirementsDecision } from './requirements.ts';

/** The image being accepted. */
export interface ImageToEvaluate {
  /** containers/image transport name, e.g. `docker`. */
  readonly transport: string;
  /** Transport-specific reference; for docker `host[:port]/repo[:tag|@digest]`. */
  readonly reference: string;
  /** The manifest bytes exactly as stored (digests are computed over them). */
  readonly manifest: Uint8Array;
  /** Raw simple-signing signature blobs (`signature-1`, ...). */
  readonly signatures: readonly Uint8Array[];
  /** Docker identity for non-docker transports (e.g. containers-storage); docker uses `reference`. */
  readonly dockerReference?: string;
}

/** Outcome of one signature under a signedBy requirement. */
export interface SignatureResult {
  readonly index: number;
  readonly accepted: boolean;
  readonly reason: string;
  readonly keyFingerprint?: string;
  readonly dockerReference?: string;
  readonly manifestDigest?: string;
}

/** Outcome of one requirement. */
export interface RequirementResult {
  readonly type: PolicyRequirement['type'];
  readonly accepted: boolean;
  readonly reason: string;
  /**
   * Per-signature details (signedBy only), in order up to the first accepted signature: as in containers/image,
   * the signatures after it are not examined.
   */
  readonly signatures?: readonly SignatureResult[];
}

/** Outcome of {@link evaluateImage}. */
export interface EvaluationResult {
  /** True only when every requirement accepted. */
  readonly accepted: boolean;
  readonly scope: string;
  readonly isDefault: boolean;
  readonly reason: string;
  readonly results: readonly RequirementResult[];
}

/** Verifies one signature blob against trusted keys; throws on any failure. */
export type VerifyFunction = (
  blob: Uint8Array,
  trustedKeys: readonly VerifierKey[],
) => Promise<Pick<VerifiedSignature, 'payload' | 'keyFingerprint'>>;

/** Services of an evaluation: key loading (cached) and signature verification. */
export interface EvaluationContext {
  /** Public keys of a signedBy requirement (keyPath, keyPaths or keyData). */
  loadKeys(requirement: SignedByRequirement): Promise<readonly VerifierKey[]>;
  readonly verify: VerifyFunction;
}

/** Options of {@link createEvaluationContext}. */
export interface EvaluationContextOptions {
  /** @default trusted-keys.ts readTrustedKeys */
  readonly readPublicKeys?: (data: Uint8Array | string) => Promise<readonly VerifierKey[]>;
  /** @default simple-signing.ts verifySimpleSigning */
  readonly verify?: VerifyFunction;
}

/**
 * An evaluation context that reads key files through `fs` (system paths) and caches parsed keys per
 * keyPath / keyData for its lifetime.
 */
export function createEvaluationContext(
  fs: Pick<FileSystem, 'readFile'>,
  options: EvaluationContextOptions = {},
): EvaluationContext {
  const read = options.readPublicKeys ?? defaultReadPublicKeys;
  const cache = new Map<string, Promise<readonly VerifierKey[]>>();
  const cached = (
    key: string,
    load: () => Promise<readonly VerifierKey[]>,
  ): Promise<readonly VerifierKey[]> => {
    let p = cache.get(key);
    if (p === undefined) {
      p = load();
      cache.set(key, p);
    }
    return p;
  };
  const fromPath = (path: string): Promise<readonly VerifierKey[]> =>
    cached(`path:${path}`, async () => {
      let data: Uint8Array;
      try {
        data = await fs.readFile(path);
      } catch (e) {
        throw new Error(`cannot read key file ${path}: ${errorMessage(e)}`, { cause: e });
      }
      try {
        return await read(data);
      } catch (e) {
        throw new Error(`cannot read keys from ${path}: ${errorMessage(e)}`, { cause: e });
      }
    });
  return {
    verify: options.verify ?? verifySimpleSigning,
    async loadKeys(requirement) {
      if (requirement.keyPath !== undefined) return fromPath(requirement.keyPath);
      if (requirement.keyPaths !== undefined) {
        const all = await Promise.all(requirement.keyPaths.map(fromPath));
        return all.flat();
      }
      if (requirement.keyData !== undefined) {
        const data = requirement.keyData;
        return cached(`data:${data}`, () => read(Buffer.from(data, 'base64')));
      }
      throw new Error('not exactly one of keyPath, keyPaths and keyData specified');
    },
  };
}

/**
 * Whether `digest` names `manifest` as containers/image decides it (`manifest.MatchesDigest`): the exact
 * string of the manifest's SHA-256 digest; a digest in another algorithm never matches. Signed schema 1
 * manifests (digested without their JWS signatures there) are not supported and never match.
 */
export function manifestMatchesDigest(manifest: Uint8Array, digest: string): boolean {
  if (detectManifestMediaType(manifest) === MEDIA_TYPES.dockerV2Schema1Signed) return false;
  return digest === defaultManifestDigest(manifest, 'sha256');
}

/** Outcome of reading the stored signatures of an image as containers/image does. */
type ParsedSignatures =
  | { readonly ok: true; readonly simple: readonly { index: number; data: Uint8Array }[] }
  | { readonly ok: false; readonly reason: string };

/**
 * The simple-signing signatures among `blobs`. A blob in no known format makes containers/image refuse the
 * image (the error comes from reading the signatures, before any is verified); sigstore ones are skipped.
 */
export function parseImageSignatures(blobs: readonly Uint8Array[]): ParsedSignatures {
  const simple: { index: number; data: Uint8Array }[] = [];
  for (const [index, blob] of blobs.entries()) {
    let parsed;
    try {
      parsed = parseStoredSignature(blob);
    } catch (e) {
      return { ok: false, reason: `parsing signature ${index + 1}: ${errorMessage(e)}` };
    }
    if (parsed.format === 'simple-signing') simple.push({ index, data: parsed.data });
  }
  return { ok: true, simple };
}

async function evaluateSignedBy(
  requirement: SignedByRequirement,
  image: ImageToEvaluate,
  imageRef: DockerReference | undefined,
  context: EvaluationContext,
): Promise<RequirementResult> {
  const type = requirement.type;
  // containers/image order: read the signatures (a malformed one refuses the image), then per signature:
  // keys, verification, digest, identity.
  const parsed = parseImageSignatures(image.signatures);
  if (!parsed.ok) return { type, accepted: false, reason: parsed.reason, signatures: [] };
  if (parsed.simple.length === 0) {
    return {
      type,
      accepted: false,
      reason: 'a signature was required, but no signature exists',
      signatures: [],
    };
  }
  if (requirement.keyType !== 'GPGKeys') {
    return {
      type,
      accepted: false,
      reason: `unimplemented keyType ${JSON.stringify(requirement.keyType)}`,
      signatures: [],
    };
  }
  let keys: readonly VerifierKey[];
  try {
    keys = await context.loadKeys(requirement);
  } catch (e) {
    return { type, accepted: false, reason: errorMessage(e), signatures: [] };
  }
  if (keys.length === 0)
    return { type, accepted: false, reason: 'no public keys imported', signatures: [] };
  const results: SignatureResult[] = [];
  for (const { index, data: blob } of parsed.simple) {
    let verified;
    try {
      verified = await context.verify(blob, keys);
    } catch (e) {
      results.push({ index, accepted: false, reason: errorMessage(e) });
      continue;
    }
    const { dockerReference, manifestDigest } = verified.payload;
    const details = { keyFingerprint: verified.keyFingerprint, dockerReference, manifestDigest };
    if (!manifestMatchesDigest(image.manifest, manifestDigest)) {
      results.push({
        index,
        accepted: false,
        reason: `signature for digest ${manifestDigest} does not match`,
        ...details,
      });
      continue;
    }
    if (!matchesSignedIdentity(requirement.signedIdentity, imageRef, dockerReference)) {
      results.push({
        index,
        accepted: false,
        reason: `signature for identity ${dockerReference} is not accepted`,
        ...details,
      });
      continue;
    }
    results.push({
      index,
      accepted: true,
      reason: `signed by ${verified.keyFingerprint} for ${dockerReference}`,
      ...details,
    });
    // one accepted signature is enough: containers/image (signedBy) examines no further one
    break;
  }
  const ok = results.find((r) => r.accepted);
  if (ok !== undefined)
    return {
      type,
      accepted: true,
      reason: `signature ${ok.index + 1} accepted: ${ok.reason}`,
      signatures: results,
    };
  const reason =
    results.length === 1
      ? (results[0] as SignatureResult).reason
      : `none of the signatures were accepted, reasons: ${results.map((r) => r.reason).join('; ')}`;
  return { type, accepted: false, reason, signatures: results };
}

async function evaluateRequirement(
  requirement: PolicyRequirement,
  image: ImageToEvaluate,
  imageRef: DockerReference | undefined,
  context: EvaluationContext,
): Promise<RequirementResult> {
  switch (requirement.type) {
    case 'insecureAcceptAnything':
      return {
        type: requirement.type,
        accepted: true,
        reason: 'insecureAcceptAnything accepts any image',
      };
    case 'reject':
      return {
        type: requirement.type,
        accepted: false,
        reason: 'reject: images are rejected by policy',
      };
    case 'signedBy':
      return evaluateSignedBy(requirement, image, imageRef, context);
    case 'sigstoreSigned':
      return {
        type: requirement.type,
        accepted: false,
        reason: 'sigstoreSigned requirements are not evaluated by podsec; rejected',
      };
    case 'signedBaseLayer':
      return {
        type: requirement.type,
        accepted: false,
        reason: 'signedBaseLayer is not implemented (containers/image rejects it too)',
      };
  }
}

/**
 * Decide whether `image` is accepted by `policy`: every requirement of the governing scope must accept.
 * signedBy accepts iff at least one signature verifies with one of its keys, names the digest of
 * `image.manifest`, and its docker reference satisfies `signedIdentity`. A docker reference by digest
 * must also match the manifest. Never throws for policy failures; they are reported in the result.
 * @throws UsageError `REFERENCE_INVALID` for an invalid docker reference
 */
export async function evaluateImage(
  policy: Policy,
  image: ImageToEvaluate,
  context: EvaluationContext,
): Promise<EvaluationResult> {
  const docker = image.transport === 'docker' || image.transport === 'atomic';
  const parsed = docker ? parseDockerReference(image.reference).withDefaultTag() : undefined;
  const decision = requirementsFor(policy, image.transport, parsed ?? image.reference);
  let imageRef = parsed;
  if (!docker && image.dockerReference !== undefined) {
    try {
      imageRef = parseDockerReference(image.dockerReference).withDefaultTag();
    } catch {
      imageRef = undefined;
    }
  }
  const base = { scope: decision.scope, isDefault: decision.isDefault };
  if (parsed?.digest !== undefined && !manifestMatchesDigest(image.manifest, parsed.digest)) {
    return {
      ...base,
      accepted: false,
      reason: `manifest does not match the digest of ${parsed.toString()}`,
      results: [],
    };
  }
  const results: RequirementResult[] = [];
  for (const requirement of decision.requirements) {
    results.push(await evaluateRequirement(requirement, image, imageRef, context));
  }
  const rejected = results.find((r) => !r.accepted);
  return {
    ...base,
    accepted: rejected === undefined,
    reason:
      rejected === undefined
        ? `accepted (${decision.reason})`
        : `rejected (${decision.reason}): ${rejected.reason}`,
    results,
  };
}
