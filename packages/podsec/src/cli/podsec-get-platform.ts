import {
  Command,
  Option,
  PodsecError,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { getPlatform } from '../platform/get-platform.ts';

/** Exit codes of podsec-get-platform. */
export const exitCodes = { PLATFORM_UNKNOWN: 2, PLATFORM_ARCH_UNSUPPORTED: 3 } as const;

function createProgram(ctx: CliContext) {
  return new Command('podsec-get-platform')
    .description(
      'Print the platform of this ALT system (image-name prefix of the branch: c10f, p10, p11, sisyphus ...).\n' +
        'U7S_PLATFORM, when set, wins. Exit codes: 0 ok, 1 usage, 2 platform unknown, 3 unsupported CPU (--arch).',
    )
    .option('--arch', 'print the CPU architecture (amd64, arm64, arm, ppc64le, 386) instead')
    .addOption(
      new Option(
        '--machine <name>',
        'take this machine name (uname -m) instead of this CPU',
      ).hideHelp(),
    )
    .argument('[ignored...]')
    .action(async (ignored, opts) => {
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
          {
            details: { machine: r.unsupportedMachine },
          },
        );
      }
      ctx.system.report.result(opts.arch ? (r.arch ?? '') : r.platform, {
        platform: r.platform,
        arch: r.arch,
        source: r.source,
      });
    });
}

/** The podsec-get-platform binary. */
export const cli: CliDefinition = {
  name: 'podsec-get-platform',
  create: createProgram,
  exitCodes,
  mutates: false,
};
