/**
 * Pure naming of podsec-load-sign-oci (docs/commands/podsec-load-sign-oci.md#files-read-and-written, docs/files.md#oci-archives, docs/weaknesses.md#w15-loading-oci-archives fixes): which archive reference is pushed
 * under which registry name, and which legacy `k8s-c10f2` aliases are made.
 */
import { escapeForTerminal, isArchitecture, UsageError } from '@podsec/core';
import { parseDockerReference } from '@podsec/core/config';
import { LEGACY_C10F_PREFIX, REGISTRY_HOST } from '../paths.ts';

/** Annotation holding the image name in index.json (the only one read, docs/weaknesses.md#w15-loading-oci-archives). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Platform whose images also get the legacy alias. */
export const LEGACY_ALIAS_PLATFORM = 'c10f';

/** Target and registry arguments, validated (exit codes 4, 6-8 of docs/commands/podsec-load-sign-oci.md#exit-codes). */
export interface LoadTarget {
  /** `<registry>/<path>`: where images of the archive's platform go. */
  readonly regName: string;
  /** The registry host (first component of regName). */
  readonly registryHost: string;
  /** True when the 4th argument named the target. */
  readonly explicit: boolean;
}

/**
 * Validate the arguments that need no file system (in the order of docs/commands/podsec-load-sign-oci.md#exit-codes).
 * @throws UsageError `OCI_TARGET_NO_PATH` (exit 1), `OCI_UNKNOWN_ARCH` (3), `OCI_REGISTRY_MISSING` (4), `OCI_REGISTRY_NO_DOT` (5)
 */
export function planLoadTarget(o: {
  readonly arch: string;
  readonly target?: string | undefined;
  /** The platform (U7S_PLATFORM / os-release); needed without a target. */
  readonly platform?: string | undefined;
  /** @default registry.local */
  readonly registryHost?: string | undefined;
}): LoadTarget {
  let regName: string;
  if (o.target !== undefined) {
    const t = o.target.replace(/\/+$/, '');
    if (!t.includes('/')) {
      throw new UsageError('OCI_TARGET_NO_PATH', `missing path after registry name ${o.target}`, {
        details: { target: o.target },
      });
    }
    regName = t;
  } else {
    if (o.platform === undefined || o.platform === '') {
      throw new UsageError(
        'OCI_PLATFORM_UNKNOWN',
        'the platform is unknown: set U7S_PLATFORM, use --platform or name the target',
        { details: {} },
      );
    }
    regName = `${o.registryHost ?? REGISTRY_HOST}/${o.platform}`;
  }
  return { regName, registryHost: regName.split('/')[0] ?? '', explicit: o.target !== undefined };
}

/** Second half of the argument checks, after the archive was found (exit codes 6-8 of docs/commands/podsec-load-sign-oci.md#exit-codes). */
export function checkLoadArguments(arch: string, target: LoadTarget): void {
  if (!isArchitecture(arch)) {
    throw new UsageError(
      'OCI_UNKNOWN_ARCH',
      `unknown architecture ${arch}: use amd64, arm64, arm, ppc64le or 386`,
      { details: { arch } },
    );
  }
  if (target.registryHost === '')
    throw new UsageError('OCI_REGISTRY_MISSING', 'registry name is missing', { details: {} });
  if (!target.registryHost.includes('.')) {
    throw new UsageError(
      'OCI_REGISTRY_NO_DOT',
      `registry name ${target.registryHost} must contain a dot`,
      { details: { registry: target.registryHost } },
    );
  }
  try {
    parseDockerReference(`${target.regName}/x`);
  } catch (e) {
    throw new UsageError('OCI_TARGET_INVALID', `invalid target ${target.regName}`, {
      details: { target: target.regName },
      cause: e,
    });
  }
}

/** One image of the archive and where it goes. */
export interface PlannedImage {
  /** `org.opencontainers.image.ref.name` in the archive, e.g. `c10f/pause:3.9`. */
  readonly ref: string;
  /** Registry reference it is pushed to and signed for. */
  readonly target: string;
  /** Legacy alias (`<host>/k8s-c10f2/<rest>`), only for refs under `c10f/`. */
  readonly alias?: string;
}

/** Result of {@link planLoadImages}. */
export interface LoadPlan {
  /** First path component of the first reference. */
  readonly archivePlatform: string;
  /** The archive's platform differs from the expected one (a confirmation is needed). */
  readonly mismatch: boolean;
  readonly images: readonly PlannedImage[];
}

/**
 * Reference names of `index.json` (the ref-name annotation only), in index order.
 * @throws UsageError `OCI_INDEX_INVALID`
 */
export function parseIndexRefs(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError('OCI_INDEX_INVALID', `index.json is not valid JSON`, {
      details: { reason: 'not JSON' },
      cause: e,
    });
  }
  const manifests = (doc as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests) || manifests.length === 0) {
    throw new UsageError('OCI_INDEX_INVALID', 'index.json lists no manifests', {
      details: { reason: 'no manifests' },
    });
  }
  return manifests.map((m: unknown, i) => {
    const ref = (m as { annotations?: Record<string, unknown> } | null)?.annotations?.[
      REF_NAME_ANNOTATION
    ];
    if (typeof ref !== 'string' || ref === '') {
      throw new UsageError(
        'OCI_INDEX_INVALID',
        `manifest ${i + 1} of index.json has no ${REF_NAME_ANNOTATION}`,
        { details: { reason: `manifest ${i + 1} unnamed` } },
      );
    }
    return ref;
  });
}

/**
 * Names per docs/files.md#oci-archives with the docs/weaknesses.md#w15-loading-oci-archives fixes: a ref `<platform>/<rest>` of the archive's platform goes to
 * `<regName>/<rest>`; other refs go to `<registry host>/<ref>`; a ref under `c10f/` also gets the alias
 * `<registry host>/k8s-c10f2/<rest>`. `acceptedPlatform` is the archive platform after a confirmed mismatch.
 * @throws UsageError `OCI_INDEX_INVALID` for a ref that is not `<path>:<tag>`
 */
export function planLoadImages(
  refs: readonly string[],
  target: LoadTarget,
  expectedPlatform: string | undefined,
): LoadPlan {
  const first = refs[0] ?? '';
  const archivePlatform = first.split('/')[0] ?? '';
  const base = `${archivePlatform}/`;
  const images = refs.map((ref): PlannedImage => {
    let parsed;
    const shown = escapeForTerminal(ref);
    try {
      parsed = parseDockerReference(`${target.registryHost}/${ref}`);
    } catch (e) {
      throw new UsageError('OCI_INDEX_INVALID', `invalid image name ${shown} in index.json`, {
        details: { reason: `invalid name ${shown}` },
        cause: e,
      });
    }
    if (parsed.tag === undefined || parsed.digest !== undefined || !ref.includes('/')) {
      throw new UsageError(
        'OCI_INDEX_INVALID',
        `image name ${shown} in index.json is not <platform>/<name>:<tag>`,
        { details: { reason: `invalid name ${shown}` } },
      );
    }
    const underBase = ref.startsWith(base);
    const rest = ref.slice(ref.indexOf('/') + 1);
    const out: PlannedImage = {
      ref,
      target: underBase
        ? `${target.regName}/${ref.slice(base.length)}`
        : `${target.registryHost}/${ref}`,
      ...(ref.startsWith(`${LEGACY_ALIAS_PLATFORM}/`)
        ? { alias: `${target.registryHost}/${LEGACY_C10F_PREFIX}/${rest}` }
        : {}),
    };
    return out;
  });
  return {
    archivePlatform,
    mismatch: expectedPlatform !== undefined && expectedPlatform !== archivePlatform,
    images,
  };
}

/** Registries reached over plain HTTP by default: registry.local (docs/files.md#roles-and-well-known-names) and loopback addresses. */
export function isPlainHttpRegistry(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return (
    name === REGISTRY_HOST ||
    name === 'localhost' ||
    name === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(name)
  );
}
