/** @podsec/core: the system boundary, errors, localisation, platform detection and the trust library. */
export {
  errorMessage,
  ExternalCommandError,
  InternalError,
  isPodsecError,
  KubeApiError,
  NotFoundError,
  PodsecError,
  UsageError,
  VerificationError,
} from './errors.ts';
export { createTranslator, detectLanguage, formatMessage } from './i18n.ts';
export type { Catalog, Language, Translator } from './i18n.ts';
export { coreMessages } from './messages.ts';
export { escapeForTerminal, isRecord } from './util.ts';
// the one resolver of host paths named on the command line (light: no System needed)
export { resolveHostPath } from './system/secret.ts';
export {
  ARCHITECTURES,
  isArchitecture,
  mapArchitecture,
  parseOsRelease,
  planPlatform,
} from './platform.ts';
export type { Architecture, PlatformInfo, PlatformSource } from './platform.ts';
