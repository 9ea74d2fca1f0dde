/**
 * The one way test-utils runs a node helper script as root in a private mount namespace (`unshare --mount
 * --propagation private`), so what the script mounts stays with the command it then runs.
 */
import { execa } from 'execa';

export function runNodeInPrivateMountNs(
  script: string,
  scriptArgs: readonly string[],
  options: { readonly env?: Record<string, string | undefined>; readonly timeoutMs: number },
) {
  return execa(
    'unshare',
    ['--mount', '--propagation', 'private', '--', process.execPath, script, ...scriptArgs],
    { reject: false, ...(options.env ? { env: options.env } : {}), timeout: options.timeoutMs },
  );
}
