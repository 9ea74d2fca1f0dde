/** podsec-k8s: library API (implemented by later issues). */
export const PACKAGE_NAME = 'podsec-k8s';
