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
export { isRecord } from './util.ts';
export {
  ARCHITECTURES,
  isArchitecture,
  mapArchitecture,
  parseOsRelease,
  planPlatform,
} from './platform.ts';
export type { Architecture, PlatformInfo, PlatformSource } from './platform.ts';

// trust library: keys, simple signing, digests, lookaside store, policy engine
export {
  exportPublicKey,
  generateKey,
  keyInfo,
  passphraseFromBytes,
  readPassphrase,
  readPassphraseFile,
  readPrivateKey,
  readPublicKeys,
} from './trust/keys.ts';
export type {
  GeneratedKey,
  GenerateKeyOptions,
  KeyInfo,
  PassphraseReaders,
  PassphraseSource,
} from './trust/keys.ts';
export {
  checkSignatureDigest,
  DEFAULT_CREATOR,
  formatSimpleSigningPayload,
  MAX_SIGNATURE_SIZE,
  parseSimpleSigningPayload,
  signSimpleSigning,
  SIMPLE_SIGNING_TYPE,
  verifySimpleSigning,
} from './trust/simple-signing.ts';
export type {
  SignSimpleSigningOptions,
  SimpleSigningPayload,
  VerifiedSignature,
  VerifySimpleSigningOptions,
} from './trust/simple-signing.ts';
export {
  detectManifestMediaType,
  isDigest,
  manifestDigest,
  MEDIA_TYPES,
  parseDigest,
} from './trust/digest.ts';
export type { DigestAlgorithm, ParsedDigest } from './trust/digest.ts';
export {
  listSignatures,
  lookasideRepositoryPath,
  readSignatures,
  signatureLocation,
  writeSignature,
} from './trust/lookaside.ts';
export type {
  FetchFunction,
  ReadSignaturesOptions,
  SignatureEntry,
  WriteSignatureOptions,
  WriteSignatureResult,
} from './trust/lookaside.ts';
export { matchesSignedIdentity } from './trust/identity.ts';
export { signingKeyIds } from './trust/inspect.ts';
export {
  createEvaluationContext,
  evaluateImage,
  requirementsFor,
  scopeCandidates,
} from './trust/policy-engine.ts';
export type {
  EvaluationContext,
  EvaluationContextOptions,
  EvaluationResult,
  ImageToEvaluate,
  RequirementResult,
  RequirementsDecision,
  SignatureResult,
} from './trust/policy-engine.ts';

// containers configuration models
export {
  dockerScopes,
  forbiddenTransports,
  formatPolicy,
  getDefaultType,
  KNOWN_TRANSPORTS,
  notSignedScopes,
  parsePolicy,
  parsePolicyValue,
  setDockerScope,
  signedScopes,
} from './config/policy.ts';
export type {
  Policy,
  PolicyRequirement,
  SignedByRequirement,
  SignedIdentity,
  TransportScopes,
} from './config/policy.ts';
export {
  DockerReference,
  dockerScopeCandidates,
  isValidDigest,
  isValidDockerScope,
  isValidTag,
  parseCanonicalReference,
  parseDockerReference,
} from './config/reference.ts';
export {
  formatRegistriesD,
  lookasideFor,
  mergeRegistriesD,
  parseRegistriesDFile,
  updateRegistriesDText,
} from './config/registries-d.ts';
export type {
  MergedRegistriesD,
  RegistriesDConfig,
  RegistryNamespace,
} from './config/registries-d.ts';
export { ensureInsecureRegistry, parseRegistriesConf } from './config/registries-conf.ts';
export type {
  EnsureInsecureResult,
  RegistriesConf,
  RegistryEntry,
  RegistryMirror,
} from './config/registries-conf.ts';
export { parseStorageConf, updateStorageConf } from './config/storage-conf.ts';
export type { StorageSettings } from './config/storage-conf.ts';
export { getContainersConfValue, setContainersConfValue } from './config/containers-conf.ts';
