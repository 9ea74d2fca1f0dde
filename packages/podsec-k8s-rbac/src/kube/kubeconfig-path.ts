import path from 'node:path';
import { resolveHostPath } from '@podsec/core';

/** The kubeconfig file the caller uses: --kubeconfig, else the first of $KUBECONFIG, else ~/.kube/config. */
export function callerKubeconfigPath(
  env: Readonly<Record<string, string | undefined>>,
  explicit?: string,
): string {
  if (explicit !== undefined) return resolveHostPath(explicit);
  const first = env['KUBECONFIG']?.split(':').find((p) => p !== '');
  if (first) return resolveHostPath(first);
  return path.join(env['HOME'] ?? '/root', '.kube', 'config');
}
