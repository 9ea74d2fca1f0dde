// Runs podsec-u7s from the sources as a real process for the namespace tests: a clean environment (PATH, LANG=C and
// how `start` runs itself again in the background), no stdin, never rejecting (the tests read the exit code).
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The entry point of podsec-u7s from the sources. */
export const U7S_MAIN = fileURLToPath(new URL('./podsec-u7s-main.ts', import.meta.url));
/** The argv that runs it (also what `start` spawns as its background supervisor). */
export const U7S_NODE = [process.execPath, '--conditions=podsec-source', U7S_MAIN] as const;

/** Runs `podsec-u7s args…`; `env` is added to the clean environment. */
export function runU7s(
  args: readonly string[],
  o: { timeout?: number; cwd?: string; env?: Record<string, string> } = {},
) {
  return execa(U7S_NODE[0], [...U7S_NODE.slice(1), ...args], {
    reject: false,
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    env: {
      PATH: process.env['PATH'],
      LANG: 'C',
      PODSEC_U7S_SELF: JSON.stringify(U7S_NODE),
      ...o.env,
    },
    extendEnv: false,
    timeout: o.timeout ?? 60_000,
    stdin: 'ignore',
  });
}
