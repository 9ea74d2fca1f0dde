import { UsageError } from '@podsec/core';
import { createHash } from 'node:crypto';
import { parseDockerReference } from '@podsec/core/config';
import { runOrThrow, type System } from '@podsec/core/system';
import { fetchManifestDirect } from './registry-client.ts';

/** The manifest of an image as its registry stores it. */
export interface FetchedManifest {
  /** Canonical docker reference (`registry.local/c10f/pause:3.9`). */
  readonly reference: string;
  readonly manifest: Uint8Array;
  readonly digest: string;
}

/** Options of {@link fetchManifest}. */
export interface FetchManifestOptions {
  /** Plain HTTP / unverified TLS to the registry. @default false */
  readonly insecure?: boolean;
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Fetches the raw manifest of `image` from its registry (registry-client.ts), or with `skopeo inspect --raw` where
 * that client steps aside (mirrors, certs.d, credential helpers, any answer but the manifest ...), and computes its
 * digest over the exact bytes.
 */
export async function fetchManifest(
  sys: System,
  image: string,
  options: FetchManifestOptions = {},
): Promise<FetchedManifest> {
  const ref = parseDockerReference(image.replace(/^docker:\/\//, ''));
  const reference = ref.toString();
  const direct = await fetchManifestDirect(sys, ref, { insecure: options.insecure === true });
  if (direct.ok) {
    const digest = sha256(direct.manifest);
    // a reference by digest must name these bytes; anything else is for skopeo to judge
    if (ref.digest === undefined || ref.digest === digest)
      return { reference, manifest: direct.manifest, digest };
    sys.report.debug(`manifest of ${reference} does not match its digest: asking skopeo`);
  } else sys.report.debug(`manifest of ${reference} through skopeo: ${direct.why}`);
  const args = [
    'inspect',
    '--raw',
    ...(options.insecure ? ['--tls-verify=false'] : []),
    `docker://${reference}`,
  ];
  const r = await runOrThrow(sys.proc, 'skopeo', args, { binary: true, timeoutMs: 120_000 }).catch(
    (e: unknown) => {
      throw new UsageError(
        'TRUST_MANIFEST_UNAVAILABLE',
        `cannot fetch the manifest of ${reference}`,
        {
          cause: e,
          details: { image: reference },
        },
      );
    },
  );
  const manifest = r.stdoutBytes ?? new TextEncoder().encode(r.stdout);
  // digested here (not with the trust library) so that this module stays small: it runs before openpgp loads
  return { reference, manifest, digest: sha256(manifest) };
}
