/** @podsec/core/config: containers configuration models (policy.json, references, registries.d, registries.conf, storage.conf, containers.conf). */
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
} from './policy.ts';
export type {
  Policy,
  PolicyRequirement,
  SignedByRequirement,
  SignedIdentity,
  TransportScopes,
} from './policy.ts';
export {
  DockerReference,
  dockerScopeCandidates,
  isValidDigest,
  isValidDockerScope,
  isValidTag,
  parseCanonicalReference,
  parseDockerReference,
} from './reference.ts';
// the YAML reader and writer of registries.d (formatRegistriesD, mergeRegistriesD, parseRegistriesDFile,
// updateRegistriesDText) are in @podsec/core/config/registries-d: importing this index never loads the YAML library
export {
  lookasideFor,
  mergeParsedRegistriesD,
  parsePlainRegistriesDFile,
  readRegistriesDTexts,
} from './registries-d-plain.ts';
export type {
  LookasideOptions,
  MergedRegistriesD,
  RegistriesDConfig,
  RegistryNamespace,
} from './registries-d-plain.ts';
export { ensureInsecureRegistry, parseRegistriesConf } from './registries-conf.ts';
export type {
  EnsureInsecureResult,
  RegistriesConf,
  RegistryEntry,
  RegistryMirror,
} from './registries-conf.ts';
export { parseStorageConf, updateStorageConf } from './storage-conf.ts';
export type { StorageSettings } from './storage-conf.ts';
export { getContainersConfValue, setContainersConfValue } from './containers-conf.ts';
