/**
 * `signedIdentity` matching: does the docker reference claimed by a signature satisfy the policy
 * rule for the image being accepted? Same semantics as containers/image `policy_reference_match.go`.
 */
import type { SignedIdentity } from '../config/policy.ts';
import { parseCanonicalReference, parseDockerReference } from '../config/reference.ts';
import type { DockerReference } from '../config/reference.ts';

function tryParse(text: string): DockerReference | undefined {
  try {
    return parseDockerReference(text);
  } catch {
    return undefined;
  }
}

/** matchRepoDigestOrExact on parsed values: by tag the strings must be equal, by digest only the repositories. */
function matchRepoDigestOrExact(intended: DockerReference, signature: DockerReference): boolean {
  if (signature.isNameOnly) return false;
  if (intended.tag !== undefined) return signature.toString() === intended.toString();
  if (intended.digest !== undefined) {
    // The digest itself is compared against the manifest separately by the signedBy check.
    return signature.name === intended.name;
  }
  return false;
}

/** `remapIdentity`: replace `prefix` by `signedPrefix` at a path-component boundary of the repository name. */
function remap(
  ref: DockerReference,
  prefix: string,
  signedPrefix: string,
): DockerReference | undefined {
  const name = ref.name;
  const matches =
    name.length === prefix.length
      ? name === prefix
      : name.startsWith(prefix) && name[prefix.length] === '/';
  if (!matches) return ref;
  const rewritten = signedPrefix + ref.toString().slice(prefix.length);
  try {
    return parseCanonicalReference(rewritten);
  } catch {
    return undefined;
  }
}

/**
 * Whether `signatureDockerReference` (from a signature payload) is accepted for the image whose own
 * docker reference is `imageRef` (`undefined` when the image has no docker identity, e.g. `dir:`),
 * under `rule` (absent means `matchRepoDigestOrExact`, the signedBy default).
 * - `matchExact`: both must carry a tag or digest and be equal as strings;
 * - `matchRepoDigestOrExact`: equal when the image is referenced by tag, same repository when by digest;
 * - `matchRepository`: same repository;
 * - `exactReference` / `exactRepository`: compared with the configured value, not the image;
 * - `remapIdentity`: the image reference's `prefix` is rewritten to `signedPrefix`, then matchRepoDigestOrExact.
 * The signature reference is normalised (`busybox:1` means `docker.io/library/busybox:1`); unparsable
 * references never match.
 */
export function matchesSignedIdentity(
  rule: SignedIdentity | undefined,
  imageRef: string | DockerReference | undefined,
  signatureDockerReference: string,
): boolean {
  const signature = tryParse(signatureDockerReference);
  if (signature === undefined) return false;
  const type = rule?.type ?? 'matchRepoDigestOrExact';
  if (rule?.type === 'exactReference') {
    const intended = tryParse(rule.dockerReference);
    if (intended === undefined || intended.isNameOnly || signature.isNameOnly) return false;
    return signature.toString() === intended.toString();
  }
  if (rule?.type === 'exactRepository') {
    const intended = tryParse(rule.dockerRepository);
    return intended !== undefined && signature.name === intended.name;
  }
  if (imageRef === undefined) return false;
  const intended = typeof imageRef === 'string' ? tryParse(imageRef) : imageRef;
  if (intended === undefined) return false;
  switch (type) {
    case 'matchExact':
      if (intended.isNameOnly || signature.isNameOnly) return false;
      return signature.toString() === intended.toString();
    case 'matchRepository':
      return signature.name === intended.name;
    case 'remapIdentity': {
      if (rule?.type !== 'remapIdentity') return false;
      const remapped = remap(intended, rule.prefix, rule.signedPrefix);
      return remapped !== undefined && matchRepoDigestOrExact(remapped, signature);
    }
    default:
      return matchRepoDigestOrExact(intended, signature);
  }
}
