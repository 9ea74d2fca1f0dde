/** podsec-k8s-rbac: Kubernetes users, client certificates, role bindings, role reports and who-can. */
export type { AccessAttributes, Binding, KubeApi, RoleObject } from './kube/kube-api.ts';
export { createKubeApi } from './kube/kube-api-adapter.ts';
export type { KubeApiSource } from './kube/kube-api-adapter.ts';
export {
  buildUserKubeconfig,
  callerKubeconfigPath,
  parseKubeconfig,
  planAdminContext,
  resolveCluster,
} from './kube/kubeconfig.ts';
export type { ClusterInfo, KubeConfigDoc } from './kube/kubeconfig.ts';
export {
  checkNamespaceFor,
  parseGroup,
  parseNamespace,
  parseObjectName,
  parseRoleType,
  parseSubjectName,
  parseUserAtRemote,
  parseUserName,
  PRIVILEGED_GROUPS,
  ROLE_TYPES,
} from './validate.ts';
export type { RoleType, RoleTypeWord } from './validate.ts';
export {
  newBinding,
  planBind,
  planRemoveUser,
  planUnbind,
  userSubject,
} from './bindings/plan-binding.ts';
export type { BindingPlan, BindingRequest } from './bindings/plan-binding.ts';
export { applyBindingPlan, bindRole, unbindRole } from './bindings/bind.ts';
export { offboardUser } from './bindings/offboard.ts';
export type { OffboardEntry, OffboardResult } from './bindings/offboard.ts';
export type { BindingOptions, BindingResult } from './bindings/bind.ts';
export { buildReport, formatReport, matchBindings, unbindCommand } from './userroles/report.ts';
export type {
  MatchedBinding,
  OutputFormat,
  UserRoleEntry,
  UserRolesReport,
} from './userroles/report.ts';
export { getUserRoles } from './userroles/get-userroles.ts';
export type { GetUserRolesOptions, GetUserRolesResult } from './userroles/get-userroles.ts';
export {
  formatGrants,
  isAllowed,
  parseAccessQuery,
  ruleAllows,
  whoCan,
} from './whocan/evaluate.ts';
export type { AccessQuery, Grant, RbacObjects } from './whocan/evaluate.ts';
export { readRbacObjects, whoCanInCluster } from './whocan/who-can.ts';
export { createCsr, generatePrivateKey, parseCsr } from './pki/csr.ts';
export type { GeneratedKey, KeyType, Subject } from './pki/csr.ts';
export { verifyCertificate } from './pki/verify.ts';
export type { ExpectedCertificate, VerifiedCertificate } from './pki/verify.ts';
export { createKubeconfig } from './kubeconfig/create-kubeconfig.ts';
export type {
  CreateKubeconfigOptions,
  CreateKubeconfigResult,
  KubeConnector,
} from './kubeconfig/create-kubeconfig.ts';
export { createUser, planUser } from './users/create-user.ts';
export type { CreateUserOptions, CreateUserResult } from './users/create-user.ts';
export { createRemotePlace } from './remote/create-remoteplace.ts';
export type {
  CreateRemotePlaceOptions,
  CreateRemotePlaceResult,
} from './remote/create-remoteplace.ts';
export { rbacMessages } from './messages.ts';
