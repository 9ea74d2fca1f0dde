import { Command, Option, type CliContext, type CliDefinition } from '@podsec/core/cli';
import { exitCodes, printPlatform } from './podsec-get-platform.fast.ts';

export { exitCodes };

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
    .action((ignored, opts) => printPlatform(ctx, ignored, opts));
}

/** The podsec-get-platform binary. */
export const cli: CliDefinition = {
  name: 'podsec-get-platform',
  create: createProgram,
  exitCodes,
  mutates: false,
};
