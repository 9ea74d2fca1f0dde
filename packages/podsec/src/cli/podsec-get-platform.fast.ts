// The action of podsec-get-platform and its fast path (no commander): `podsec-get-platform [--json] [--arch]`.
import { PodsecError } from '@podsec/core';
import { takeCommonFlags, type CliContext, type FastCliDefinition } from '@podsec/core/cli/fast';
import { getPlatform } from '../platform/get-platform.ts';

/** Exit codes of podsec-get-platform. */
export const exitCodes = { PLATFORM_UNKNOWN: 2, PLATFORM_ARCH_UNSUPPORTED: 3 } as const;

/** Prints the platform (or with `arch` the CPU architecture); `--json` prints both. */
export async function printPlatform(
  ctx: CliContext,
  ignored: readonly string[],
  opts: { readonly arch?: boolean; readonly machine?: string },
): Promise<void> {
  if (ignored.length > 0)
    ctx.stderr(`podsec-get-platform: extra arguments ignored: ${ignored.join(' ')}\n`);
  const r = await getPlatform(
    ctx.system,
    opts.machine === undefined ? {} : { machine: opts.machine },
  );
  if ((opts.arch || ctx.options.json) && r.arch === undefined) {
    throw new PodsecError(
      'PLATFORM_ARCH_UNSUPPORTED',
      `unsupported CPU architecture "${r.unsupportedMachine}"`,
      { details: { machine: r.unsupportedMachine } },
    );
  }
  ctx.system.report.result(opts.arch ? (r.arch ?? '') : r.platform, {
    platform: r.platform,
    arch: r.arch,
    source: r.source,
  });
}

/** `podsec-get-platform` with only `--json`, `--arch`, `-v`/`--verbose`, `--debug`; anything else: commander. */
export const fast: FastCliDefinition = {
  name: 'podsec-get-platform',
  exitCodes,
  parse(argv) {
    const { options, rest } = takeCommonFlags(argv);
    let arch = false;
    for (const a of rest) {
      if (a === '--arch') arch = true;
      else return undefined;
    }
    return { options, run: (ctx) => printPlatform(ctx, [], arch ? { arch } : {}) };
  },
};
