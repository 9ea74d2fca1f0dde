import {
  mapArchitecture,
  parseOsRelease,
  planPlatform,
  type Architecture,
  type PlatformInfo,
} from '@podsec/core';
import type { System } from '@podsec/core/system';
import { OS_RELEASE } from '../paths.ts';

/** Result of {@link getPlatform}. */
export interface GetPlatformResult extends PlatformInfo {
  /** Image architecture of this CPU; absent when unsupported. */
  readonly arch?: Architecture;
  /** The machine name when it is not a supported architecture. */
  readonly unsupportedMachine?: string;
}

/**
 * Determines the platform (image-name prefix of the ALT branch) from `U7S_PLATFORM` or `/etc/os-release`
 * under the root, and the CPU architecture. Throws `PLATFORM_UNKNOWN`.
 */
export async function getPlatform(
  sys: System,
  options: { readonly machine?: string } = {},
): Promise<GetPlatformResult> {
  const preset = sys.env['U7S_PLATFORM'];
  if (preset) sys.report.info(`The predefined platform ${preset} is used`);
  const text = preset ? undefined : await sys.fs.readTextIfExists(OS_RELEASE);
  const info = planPlatform(text === undefined ? undefined : parseOsRelease(text), preset);
  const machine = options.machine ?? process.arch;
  try {
    return { ...info, arch: mapArchitecture(machine) };
  } catch {
    return { ...info, unsupportedMachine: machine };
  }
}
