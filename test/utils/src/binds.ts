/**
 * Runs a command as root with some files of the host replaced, for it alone: in a private mount namespace each
 * `source` is bind-mounted over its `target` (a copy of /etc/subuid without a line, a device node of another
 * mode over /dev/net/tun), so a test can break a prerequisite of the machine without changing it for the other
 * processes that share it.
 */
import { fileURLToPath } from 'node:url';
import { runNodeInPrivateMountNs } from './mount-ns.ts';

const BINDS = fileURLToPath(new URL('./binds.mjs', import.meta.url));

/** One replacement: `source` (a host path) appears at `target`. */
export interface Bind {
  readonly source: string;
  readonly target: string;
}

/**
 * `file args` in a private mount namespace with `binds` applied, in exactly `env` (default: this PATH only);
 * resolves with execa's result, never rejects.
 */
export function runWithBinds(
  binds: readonly Bind[],
  file: string,
  args: readonly string[],
  options: { readonly env?: Record<string, string | undefined>; readonly timeoutMs?: number } = {},
) {
  return runNodeInPrivateMountNs(
    BINDS,
    [
      String(binds.length),
      ...binds.flatMap((b) => [b.source, b.target]),
      JSON.stringify(options.env ?? { PATH: process.env['PATH'] }),
      file,
      ...args,
    ],
    { timeoutMs: options.timeoutMs ?? 60_000 },
  );
}
