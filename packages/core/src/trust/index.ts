/** @podsec/core/trust: keys, simple signing, digests, the lookaside store and the policy engine. */
export {
  exportPublicKey,
  generateKey,
  formatRevocationFile,
  keyInfo,
  passphraseFromBytes,
  readPassphrase,
  readPassphraseFile,
  readPrivateKey,
  readPublicKeys,
} from './keys.ts';
export type {
  GeneratedKey,
  GenerateKeyOptions,
  KeyInfo,
  PassphraseReaders,
  PassphraseSource,
} from './keys.ts';
export {
  checkSignatureDigest,
  DEFAULT_CREATOR,
  formatSimpleSigningPayload,
  MAX_SIGNATURE_SIZE,
  parseSimpleSigningPayload,
  parseStoredSignature,
  signSimpleSigning,
  SIMPLE_SIGNING_TYPE,
  verifySimpleSigning,
} from './simple-signing.ts';
export type {
  SignatureWarning,
  SignSimpleSigningOptions,
  SimpleSigningPayload,
  StoredSignature,
  VerifiedSignature,
  VerifySimpleSigningOptions,
} from './simple-signing.ts';
export {
  detectManifestMediaType,
  isDigest,
  manifestDigest,
  MEDIA_TYPES,
  parseDigest,
} from './digest.ts';
export type { DigestAlgorithm, ParsedDigest } from './digest.ts';
export {
  listSignatures,
  lookasideRepositoryPath,
  readSignatures,
  signatureLocation,
  writeSignature,
} from './lookaside.ts';
export type {
  FetchFunction,
  ReadSignaturesOptions,
  SignatureEntry,
  WriteSignatureOptions,
  WriteSignatureResult,
} from './lookaside.ts';
export { matchesSignedIdentity } from './identity.ts';
export { isTrustedKey, readTrustedKeys, verifierFingerprint } from './trusted-keys.ts';
export type { TrustedKey, VerifierKey } from './trusted-keys.ts';
export { readNativeSigningKey, signSimpleSigningNatively } from './native-sign.ts';
export type { NativeSigningKey, NativeSignOptions } from './native-sign.ts';
export { signingKeyIds } from './inspect.ts';
export {
  createEvaluationContext,
  evaluateImage,
  manifestMatchesDigest,
  parseImageSignatures,
} from './policy-engine.ts';
export { requirementsFor, scopeCandidates } from './requirements.ts';
export type { RequirementsDecision } from './requirements.ts';
export type {
  EvaluationContext,
  EvaluationContextOptions,
  EvaluationResult,
  ImageToEvaluate,
  RequirementResult,
  SignatureResult,
} from './policy-engine.ts';
