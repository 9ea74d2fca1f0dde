/** Pure planning of podsec-save-oci (docs/commands/podsec-save-oci.md with the docs/weaknesses.md#w16-saving-oci-archives fixes). */
import { ARCHITECTURES, isArchitecture, UsageError, type Architecture } from '@podsec/core';
import { ALT_REGISTRY } from '../paths.ts';
import { isPlainHttpRegistry } from './plan-load.ts';

/** Default transport prefix of the sources. */
export const DEFAULT_TRANSPORT = 'docker://';

/** Inputs of {@link planSaveOci}: the positional arguments and options. */
export interface PlanSaveInput {
  readonly args: readonly string[];
  /** `--transport`. @default docker:// (or the positional transport) */
  readonly transport?: string | undefined;
  /** `--registry`. @default $U7S_ALTREGISTRY, else registry.altlinux.org */
  readonly registry?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `--src-tls-verify`. @default false for loopback registries over docker://, else skopeo's default */
  readonly srcTlsVerify?: boolean | undefined;
}

/** One skopeo copy. */
export interface PlannedCopy {
  readonly image: string;
  /** `<transport><registry>/<image>`. */
  readonly source: string;
}

/** Result of {@link planSaveOci}. */
export interface SavePlan {
  readonly dir: string;
  readonly archs: readonly Architecture[];
  readonly transport: string;
  readonly registry: string;
  readonly images: readonly string[];
  readonly copies: readonly PlannedCopy[];
  /** Extra skopeo copy flags for the source. */
  readonly sourceFlags: readonly string[];
}

/** A positional transport: `docker://`, `oci:`, `containers-storage:` or `containers-storage:[<spec>]`. */
export function isTransportArgument(s: string): boolean {
  return /^[a-z][a-z0-9-]*:(\/\/)?$/.test(s) || /^containers-storage:\[[^\]]*\]$/.test(s);
}

/**
 * Validate the arguments (every architecture, at least one image) and list the copies.
 * @throws UsageError `SAVE_NO_DIR`, `SAVE_NO_IMAGES` (exit 1), `SAVE_UNKNOWN_ARCH` (exit 2)
 */
export function planSaveOci(input: PlanSaveInput): SavePlan {
  const [dir, archList, ...rest] = input.args;
  if (dir === undefined || dir === '')
    throw new UsageError('SAVE_NO_DIR', 'Image archiving directory not specified', { details: {} });
  if (archList === undefined)
    throw new UsageError('SAVE_NO_IMAGES', 'No list of images specified', { details: {} });
  const archs: Architecture[] = [];
  for (const a of archList === 'all' ? [...ARCHITECTURES] : archList.split(',')) {
    if (!isArchitecture(a))
      throw new UsageError('SAVE_UNKNOWN_ARCH', `unknown architecture ${a}`, {
        details: { arch: a },
      });
    if (!archs.includes(a)) archs.push(a);
  }
  let transport = input.transport ?? DEFAULT_TRANSPORT;
  let images = rest;
  if (rest[0] !== undefined && isTransportArgument(rest[0])) {
    // legacy positional transport (docs/commands/podsec-save-oci.md#synopsis); --transport wins
    transport = input.transport ?? rest[0];
    images = rest.slice(1);
  }
  if (images.length === 0)
    throw new UsageError('SAVE_NO_IMAGES', 'No list of images specified', { details: {} });
  const registry = input.registry ?? (input.env?.['U7S_ALTREGISTRY'] || ALT_REGISTRY);
  const copies = images.map((image) => ({
    image,
    source: `${transport}${registry === '' ? '' : `${registry}/`}${image}`,
  }));
  const srcTlsVerify =
    input.srcTlsVerify ??
    (transport === 'docker://' && isPlainHttpRegistry(registry) ? false : undefined);
  return {
    dir,
    archs,
    transport,
    registry,
    images,
    copies,
    sourceFlags: srcTlsVerify === undefined ? [] : [`--src-tls-verify=${srcTlsVerify}`],
  };
}
