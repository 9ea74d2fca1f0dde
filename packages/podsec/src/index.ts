/**
 * podsec: the trust domain of ALT podsec as a library: policy, image makers, container users, registry and
 * signature server, OCI archives. Every function takes a `System` (see @podsec/core) first.
 */
export { getPlatform } from './platform/get-platform.ts';
export type { GetPlatformResult } from './platform/get-platform.ts';

// hosts, role, versioned configuration files
export { bindingsOf, parseHosts, planHostsBinding } from './host/hosts.ts';
export type { HostsEntry, HostsPlan } from './host/hosts.ts';
export { checkSigstoreServer } from './host/role.ts';
export type { SigstoreServerCheck } from './host/role.ts';
export { readRegistriesD, readRegistriesDFiles } from './config-files/registries-d.ts';
export { writeVersioned } from './config-files/versioned.ts';
export type { WriteVersionedOptions, WriteVersionedResult } from './config-files/versioned.ts';

// podsec-create-policy
export {
  createPolicy,
  exportTrustBundle,
  planPolicyChanges,
  readPolicyState,
} from './policy/create-policy.ts';
export type {
  CreatePolicyOptions,
  CreatePolicyResult,
  ExportTrustBundleResult,
  PolicyState,
  TrustSource,
} from './policy/create-policy.ts';
export {
  formatTrustBundle,
  parseRegistryIp,
  parseTrustBundle,
  planHosts,
  planRegistriesD,
  planServerPolicy,
  validateTrust,
} from './policy/plan-policy.ts';
export type { TrustSet, ValidatedTrust } from './policy/plan-policy.ts';
export { fetchTrust } from './policy/fetch-trust.ts';
export type { FetchTrustOptions } from './policy/fetch-trust.ts';

// podsec-create-imagemakeruser
export { createImageMakers } from './imagemaker/create-imagemakers.ts';
export type {
  CreateImageMakersOptions,
  CreateImageMakersResult,
  MakerKeyOptions,
  MakerKeyType,
  MakerResult,
} from './imagemaker/create-imagemakers.ts';
export {
  formatMakerRegistriesD,
  normalizeMakerArgs,
  planMakerPolicy,
  planPersonalPolicy,
  planSignatureDirs,
  publicKeyPathOf,
  signatureDirOf,
} from './imagemaker/plan-imagemakers.ts';
export type { MakerSpec, ScopeBinding } from './imagemaker/plan-imagemakers.ts';

// podsec-create-podmanusers
export { createPodmanUsers, planPodmanUsers } from './users/podman-users.ts';
export type {
  CreatePodmanUsersOptions,
  CreatePodmanUsersResult,
  PasswordSource,
  PodmanUserResult,
} from './users/podman-users.ts';

// podsec-create-services, podsec-serve
export { createServices, UNITS } from './services/create-services.ts';
export type { CreateServicesOptions, CreateServicesResult } from './services/create-services.ts';
export {
  planRegistryConfig,
  renderNginxSite,
  renderRegistryUnit,
} from './services/plan-services.ts';
export { startServices } from './services/serve.ts';
export type { RunningServices, StartServicesOptions } from './services/serve.ts';

// podsec-load-sign-oci, podsec-save-oci
export { createArchiveHost } from '@podsec/core/system';
export { ociMessages } from './oci/messages.ts';
export { loadSignOci } from './oci/load-sign.ts';
export type {
  LoadedImage,
  LoadProgress,
  LoadSignOptions,
  LoadSignResult,
} from './oci/load-sign.ts';
export { parseIndexRefs, planLoadImages, planLoadTarget } from './oci/plan-load.ts';
export { planSaveOci } from './oci/plan-save.ts';
export type { PlanSaveInput, SavePlan } from './oci/plan-save.ts';
export { saveOci } from './oci/save.ts';
export type { SaveOciOptions, SaveOciResult } from './oci/save.ts';

// podsec-trust
export { showTrust, signTrust, verifyTrust, planScopeTable } from './trust/trust.ts';
export type {
  ShowTrustResult,
  SignTrustOptions,
  SignTrustResult,
  VerifyTrustOptions,
  VerifyTrustResult,
} from './trust/trust.ts';

// podsec-quickstart
export {
  planClientPolicy,
  runQuickstart,
  SANDBOX_SERVER_ADDRESS,
} from './quickstart/quickstart.ts';
export type { QuickstartOptions, QuickstartResult } from './quickstart/quickstart.ts';
