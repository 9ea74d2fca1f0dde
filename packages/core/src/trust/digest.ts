/**
 * Manifest digests (OCI / Docker distribution "algorithm:hex") and manifest media type detection.
 * A manifest digest is always computed over the exact bytes stored in the registry.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.ts';

/** Digest algorithms accepted in image and signature digests. */
export const DIGEST_ALGORITHMS = ['sha256', 'sha512'] as const;
/** One of {@link DIGEST_ALGORITHMS}. */
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** A validated digest split into its parts. */
export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  /** Lower-case hex, 64 (sha256) or 128 (sha512) characters. */
  readonly hex: string;
  /** `algorithm:hex`. */
  readonly digest: string;
}

/** Manifest media types podsec knows (containers/image `manifest` package names). */
export const MEDIA_TYPES = {
  dockerV2Schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerV2Schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerV2Schema2: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

function isDigestAlgorithm(s: string): s is DigestAlgorithm {
  return (DIGEST_ALGORITHMS as readonly string[]).includes(s);
}

/**
 * Digest of a manifest as `'<algorithm>:<hex>'`, computed over the exact bytes given.
 * @throws UsageError `DIGEST_UNSUPPORTED_ALGORITHM`
 */
export function manifestDigest(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  if (!isDigestAlgorithm(algorithm)) {
    throw new UsageError(
      'DIGEST_UNSUPPORTED_ALGORITHM',
      `unsupported digest algorithm "${String(algorithm)}"`,
    );
  }
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/**
 * Validate `sha256:<64 hex>` or `sha512:<128 hex>` (lower-case hex only, as go-digest requires).
 * @throws UsageError `DIGEST_INVALID`, `DIGEST_UNSUPPORTED_ALGORITHM`
 */
export function parseDigest(s: string): ParsedDigest {
  if (typeof s !== 'string') throw new UsageError('DIGEST_INVALID', 'digest must be a string');
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(s);
  if (m === null) throw new UsageError('DIGEST_INVALID', `invalid digest "${s}"`);
  const algorithm = m[1] as string;
  const hex = m[2] as string;
  if (!isDigestAlgorithm(algorithm)) {
    throw new UsageError('DIGEST_UNSUPPORTED_ALGORITHM', `unsupported digest algorithm in "${s}"`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new UsageError('DIGEST_INVALID', `invalid ${algorithm} digest "${s}"`);
  }
  return { algorithm, hex, digest: s };
}

/** True when `s` is a valid digest per {@link parseDigest}. */
export function isDigest(s: string): boolean {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Media type of a manifest: its `mediaType` member when present, else guessed from its shape
 * (as containers/image `GuessMIMEType`). `undefined` when the bytes are not a JSON object.
 */
export function detectManifestMediaType(bytes: Uint8Array): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const m = doc as Record<string, unknown>;
  if (typeof m['mediaType'] === 'string' && m['mediaType'] !== '') return m['mediaType'];
  if (m['schemaVersion'] === 1) {
    return 'signatures' in m ? MEDIA_TYPES.dockerV2Schema1Signed : MEDIA_TYPES.dockerV2Schema1;
  }
  if (m['schemaVersion'] === 2) {
    if (Array.isArray(m['manifests'])) return MEDIA_TYPES.ociIndex;
    if (typeof m['config'] === 'object' && m['config'] !== null) {
      const configType = (m['config'] as Record<string, unknown>)['mediaType'];
      // A docker v2s2 manifest always carries mediaType; a config of docker type without it is still docker.
      if (configType === 'application/vnd.docker.container.image.v1+json')
        return MEDIA_TYPES.dockerV2Schema2;
      return MEDIA_TYPES.ociManifest;
    }
  }
  return undefined;
}
