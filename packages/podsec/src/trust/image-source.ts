import { UsageError } from '@podsec/core';
import { createHash } from 'node:crypto';
import { parseDockerReference } from '@podsec/core/config';
import { runOrThrow, type System } from '@podsec/core/system';

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

/**
 * Fetches the raw manifest of `image` with `skopeo inspect --raw` (the real client: registries.conf,
 * mirrors and credentials apply) and computes its digest over the exact bytes.
 */
export async function fetchManifest(
  sys: System,
  image: string,
  options: FetchManifestOptions = {},
): Promise<FetchedManifest> {
  const ref = parseDockerReference(image.replace(/^docker:\/\//, ''));
  const reference = ref.toString();
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
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  return { reference, manifest, digest };
}
