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
export {
  formatRegistriesD,
  lookasideFor,
  mergeRegistriesD,
  parseRegistriesDFile,
  updateRegistriesDText,
} from './registries-d.ts';
export type { MergedRegistriesD, RegistriesDConfig, RegistryNamespace } from './registries-d.ts';
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
