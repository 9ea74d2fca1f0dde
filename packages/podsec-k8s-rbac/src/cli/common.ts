import { Option, type CliContext, type ExitCodeMap } from '@podsec/core/cli';
import { createKubeApi, type KubeApiSource } from '../kube/kube-api-adapter.ts';
import type { KubeApi } from '../kube/kube-api.ts';
import { callerKubeconfigPath } from '../kube/kubeconfig-path.ts';

/** Exit statuses of every podsec-k8s-rbac binary (0 success). */
export const EXIT = { usage: 1, local: 2, api: 3, csr: 4, verify: 5 } as const;

/** Every error code and its exit status; each binary's table is a subset. */
export const ALL_EXIT_CODES = {
  RBAC_BAD_USER: EXIT.usage,
  RBAC_BAD_NAME: EXIT.usage,
  RBAC_BAD_NAMESPACE: EXIT.usage,
  RBAC_BAD_ROLE_TYPE: EXIT.usage,
  RBAC_NAMESPACE_REQUIRED: EXIT.usage,
  RBAC_NAMESPACE_FORBIDDEN: EXIT.usage,
  RBAC_BAD_GROUP: EXIT.usage,
  RBAC_PRIVILEGED_GROUP: EXIT.usage,
  RBAC_BAD_QUERY: EXIT.usage,
  RBAC_BAD_HOST: EXIT.usage,
  RBAC_BAD_ARGS: EXIT.usage,
  RBAC_NOT_BOUND: EXIT.usage,
  RBAC_UNBIND_MISMATCH: EXIT.usage,
  RBAC_ADMIN_ENTRY_FOREIGN: EXIT.usage,
  RBAC_CONFIG_EXISTS: EXIT.usage,
  RBAC_CSR_INVALID: EXIT.usage,
  RBAC_PASSWORD_ABORTED: EXIT.usage,
  RBAC_PASSWORD_INVALID: EXIT.usage,
  RBAC_PASSWORD_MISMATCH: EXIT.usage,
  RBAC_PASSWORD_FILE: EXIT.usage,
  NOT_ROOT: EXIT.local,
  RBAC_USER_MISSING: EXIT.local,
  RBAC_USER_EXISTS: EXIT.local,
  RBAC_GROUP_MISSING: EXIT.local,
  RBAC_CREATE_USER_FAILED: EXIT.local,
  RBAC_UNSAFE_DIR: EXIT.local,
  RBAC_NOTHING_TO_RENEW: EXIT.local,
  RBAC_NO_HOME: EXIT.local,
  RBAC_KUBECONFIG_MISSING: EXIT.local,
  RBAC_KUBECONFIG_INVALID: EXIT.local,
  RBAC_API_UNREACHABLE: EXIT.api,
  RBAC_API_UNAUTHORIZED: EXIT.api,
  RBAC_API_FORBIDDEN: EXIT.api,
  RBAC_API_NOT_FOUND: EXIT.api,
  RBAC_API_CONFLICT: EXIT.api,
  RBAC_API_ERROR: EXIT.api,
  RBAC_ROLE_MISSING: EXIT.api,
  RBAC_CLUSTERROLE_MISSING: EXIT.api,
  RBAC_NAMESPACE_MISSING: EXIT.api,
  RBAC_ROLEREF_MISMATCH: EXIT.api,
  RBAC_BINDING_MISSING: EXIT.api,
  RBAC_ROLEBINDING_MISSING: EXIT.api,
  RBAC_CSR_FOREIGN: EXIT.api,
  RBAC_REMOTE_COPY_FAILED: EXIT.api,
  RBAC_REMOTE_NOT_KUBECONFIG: EXIT.api,
  RBAC_CSR_DENIED: EXIT.csr,
  RBAC_CSR_TIMEOUT: EXIT.csr,
  RBAC_CERT_INVALID: EXIT.verify,
  RBAC_PROBE_FAILED: EXIT.verify,
  RBAC_CA_UNKNOWN: EXIT.verify,
  RBAC_CSR_SUBJECT: EXIT.verify,
  RBAC_HOST_KEY: EXIT.verify,
  RBAC_CA_INVALID: EXIT.verify,
  RBAC_CONFIG_UNVERIFIED: EXIT.verify,
} as const satisfies ExitCodeMap;

type Code = keyof typeof ALL_EXIT_CODES;

/** The exit-code table of one binary. */
export function exitTable(codes: readonly Code[]): ExitCodeMap {
  return Object.fromEntries(codes.map((c) => [c, ALL_EXIT_CODES[c]]));
}

/** Codes of every command that talks to the API server. */
export const API_CODES: readonly Code[] = [
  'RBAC_API_UNREACHABLE',
  'RBAC_API_UNAUTHORIZED',
  'RBAC_API_FORBIDDEN',
  'RBAC_API_NOT_FOUND',
  'RBAC_API_CONFLICT',
  'RBAC_API_ERROR',
  'RBAC_KUBECONFIG_MISSING',
  'RBAC_KUBECONFIG_INVALID',
];

const MEANING: Record<number, string> = {
  1: 'usage or invalid argument',
  2: 'local precondition (user, home, permissions, kubeconfig)',
  3: 'cluster API error (unreachable, 401, 403, not found, conflict)',
  4: 'certificate request denied, failed or not issued in time',
  5: 'verification failed (key, certificate, CA, identity, host key)',
};

/** The "Exit codes" help text, generated from the binary's table. */
export function exitHelp(table: ExitCodeMap): string {
  const used = [...new Set([1, ...Object.values(table)])].sort();
  return `\nExit codes: 0 success; ${used.map((n) => `${n} ${MEANING[n] ?? ''}`).join('; ')}.`;
}

/** Options of every command that talks to the API server. */
export function kubeOptions(): Option[] {
  return [
    new Option(
      '--kubeconfig <file>',
      'kubeconfig of the caller (default: $KUBECONFIG, ~/.kube/config)',
    ),
    new Option('--context <name>', 'context to use instead of the current one'),
    new Option('--request-timeout <seconds>', 'timeout of each API request').default('15'),
  ];
}

/** What the kube options parse to. */
export interface KubeOpts {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly requestTimeout: string;
}

/** The caller's kubeconfig path and a connector honouring the timeout. */
export function kubeConnection(
  ctx: CliContext,
  o: KubeOpts,
): { file: string; connect: (s: KubeApiSource) => Promise<KubeApi> } {
  const seconds = Number(o.requestTimeout);
  const timeoutMs = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 15_000;
  return {
    file: callerKubeconfigPath(ctx.env, o.kubeconfig),
    connect: (s) => createKubeApi({ ...s, timeoutMs }),
  };
}

/** Opens the caller's KubeApi. */
export async function openKubeApi(ctx: CliContext, o: KubeOpts): Promise<KubeApi> {
  const { file, connect } = kubeConnection(ctx, o);
  return connect({ file, ...(o.context === undefined ? {} : { context: o.context }) });
}
