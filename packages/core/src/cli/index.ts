export { runCli, requireRoot, parseBooleanArgument, EXIT_INTERNAL } from './run-cli.ts';
export { PodsecError, UsageError } from '../errors.ts';
export { readHiddenLine } from './prompt.ts';
export type { HiddenLineOptions } from './prompt.ts';
export {
  CONTAINERS_BOOLEAN_FLAGS,
  normalizeContainersFlags,
  saveOciOptions,
  sourceTlsVerify,
  tlsVerifyOption,
} from './containers-flags.ts';
export type {
  CliContext,
  CliDefinition,
  CommonOptions,
  ExitCodeMap,
  RunCliOptions,
} from './run-cli.ts';
export { Command, Option, Argument, InvalidArgumentError } from '@commander-js/extra-typings';
