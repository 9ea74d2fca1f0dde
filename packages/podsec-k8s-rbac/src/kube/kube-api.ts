import type {
  V1CertificateSigningRequest,
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1ConfigMap,
  V1Namespace,
  V1Role,
  V1RoleBinding,
} from '@kubernetes/client-node';
import { isPodsecError } from '@podsec/core';

/** A binding of either kind; `namespace` undefined means a ClusterRoleBinding. */
export type Binding = V1RoleBinding | V1ClusterRoleBinding;
/** A role of either kind. */
export type RoleObject = V1Role | V1ClusterRole;

/** Attributes of an access review (SelfSubjectAccessReview or SubjectAccessReview). */
export interface AccessAttributes {
  readonly verb: string;
  readonly group?: string;
  readonly resource?: string;
  readonly subresource?: string;
  readonly name?: string;
  readonly namespace?: string;
  /** A non-resource URL such as /healthz (then resource fields are unused). */
  readonly path?: string;
}

/**
 * The Kubernetes API calls podsec-k8s-rbac makes, and nothing more (design B5). The adapter in
 * `kube-api-adapter.ts` implements it over @kubernetes/client-node; every method throws
 * {@link KubeApiError} with `details.status` (0 when the server was not reached).
 */
export interface KubeApi {
  /** GET /version: the server's gitVersion. */
  version(): Promise<string>;
  /** GET /api: the discovery document's kind (`APIVersions`). */
  discoveryKind(): Promise<string>;
  selfSubjectAccessReview(attrs: AccessAttributes): Promise<boolean>;
  subjectAccessReview(
    subject: { readonly user: string; readonly groups?: readonly string[] },
    attrs: AccessAttributes,
  ): Promise<boolean>;
  /** POST selfsubjectreviews: who the credentials are. */
  selfSubjectReview(): Promise<{ username: string; groups: string[] }>;
  readNamespace(name: string): Promise<V1Namespace>;
  readConfigMap(namespace: string, name: string): Promise<V1ConfigMap>;
  readRole(namespace: string, name: string): Promise<V1Role>;
  readClusterRole(name: string): Promise<V1ClusterRole>;
  /** All Roles of all namespaces (paged by the adapter). */
  listRoles(): Promise<V1Role[]>;
  listClusterRoles(): Promise<V1ClusterRole[]>;
  /** `namespace` undefined: ClusterRoleBinding. */
  readBinding(namespace: string | undefined, name: string): Promise<Binding>;
  createBinding(namespace: string | undefined, body: Binding): Promise<Binding>;
  /** PUT with the body's resourceVersion (409 on a lost update). */
  replaceBinding(namespace: string | undefined, body: Binding): Promise<Binding>;
  /** DELETE with uid and resourceVersion preconditions. */
  deleteBinding(
    namespace: string | undefined,
    name: string,
    preconditions: { readonly uid?: string; readonly resourceVersion?: string },
  ): Promise<void>;
  listClusterRoleBindings(): Promise<V1ClusterRoleBinding[]>;
  /** RoleBindings of all namespaces in one (paged) list. */
  listRoleBindings(): Promise<V1RoleBinding[]>;
  readCsr(name: string): Promise<V1CertificateSigningRequest>;
  createCsr(body: V1CertificateSigningRequest): Promise<V1CertificateSigningRequest>;
  replaceCsrApproval(body: V1CertificateSigningRequest): Promise<V1CertificateSigningRequest>;
  deleteCsr(name: string): Promise<void>;
}

/** Error codes of the API layer (each binary maps them to exit 3). */
export const API_ERROR_CODES = [
  'RBAC_API_UNREACHABLE',
  'RBAC_API_UNAUTHORIZED',
  'RBAC_API_FORBIDDEN',
  'RBAC_API_NOT_FOUND',
  'RBAC_API_CONFLICT',
  'RBAC_API_ERROR',
] as const;

/** HTTP status of a KubeApiError (0 = not reached), or undefined for other errors. */
export function apiStatus(e: unknown): number | undefined {
  if (isPodsecError(e) && e.code.startsWith('RBAC_API_')) {
    const s = e.details?.['status'];
    return typeof s === 'number' ? s : undefined;
  }
  return undefined;
}

export const isNotFound = (e: unknown): boolean => apiStatus(e) === 404;
export const isConflict = (e: unknown): boolean => apiStatus(e) === 409;
