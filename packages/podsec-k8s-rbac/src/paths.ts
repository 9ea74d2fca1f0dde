/** Home directories of RBAC users (the original assumes /home/<user>). */
export const HOME_BASE = '/home';
/** Group of every RBAC user. */
export const K8S_GROUP = 'k8s';
/** Group every RBAC user joins (created by the podsec package). */
export const PODMAN_GROUP = 'podman';
/** Signer of client certificates for the API server. */
export const CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
/** Default certificate lifetime in days (the original's 5 years; signers cap it, usually at 1 year). */
export const DEFAULT_DAYS = 1825;
export const USERADD = '/usr/sbin/useradd';

/** /home/<user>. */
export const homeOf = (user: string): string => `${HOME_BASE}/${user}`;
/** The SSH account the original fetched the cluster CA with (the rootless cluster's account). */
export const CA_SSH_ACCOUNT = 'u7s-admin';
/** Where a control-plane node keeps the cluster CA (rootless and rootfull alike). */
export const CA_SSH_PATH = '/etc/kubernetes/pki/ca.crt';
/** Largest CA bundle read (a few KB in practice). */
export const MAX_CA_BYTES = 1024 * 1024;
