/** podsec: the trust domain (policy, image makers, container users, registry and signature server, OCI archives). */
export { getPlatform } from './platform/get-platform.ts';
export type { GetPlatformResult } from './platform/get-platform.ts';
