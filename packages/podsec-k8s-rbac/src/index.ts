/** podsec-k8s-rbac: library API (implemented by later issues). */
export const PACKAGE_NAME = 'podsec-k8s-rbac';
