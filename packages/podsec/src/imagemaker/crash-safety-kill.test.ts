/**
 * Deterministic crash test of podsec-create-imagemakeruser, the SIGKILL half (its own file: the suite's
 * per-file timeout); see crash-safety.test.ts for the error half: the command is interrupted before each of its
 * write steps in turn (an injected error in-process, SIGKILL in a child process). After each, policy.json
 * and its published copy exist and parse, and the tree is the old one, the new one, or a re-run completes
 * it; the re-run says --existing, since the accounts made before the interruption exist now. Keys are
 * random per run, so they are compared by kind, mode and owner. gpg is left out of PATH: an interrupted
 * import would leave the maker's gpg-agent running; the import steps are covered by the command's tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crashEveryStep, runCrashChild, type TestSystem } from '@podsec/test-utils';
import {
  CRASH_ARGS as ARGS,
  crashOptions as options,
  PATH_WITHOUT_GPG,
} from './test-helpers/crash-fixture.ts';

const CLI_MODULE = fileURLToPath(
  new URL('../cli/podsec-create-imagemakeruser.ts', import.meta.url),
);

describe('podsec-create-imagemakeruser crash safety (SIGKILL)', () => {
  it('SIGKILL before every write step (child process): the same', async (t) => {
    const r = await crashEveryStep<TestSystem>({
      ...options(t),
      concurrency: 4,
      run: async (sys, at) => {
        const out = await runCrashChild(CLI_MODULE, ['--root', sys.root, ...ARGS], {
          env: { PATH: PATH_WITHOUT_GPG },
          ...(at === undefined ? {} : { at }),
        });
        return { code: out.code ?? 137, fired: out.signal === 'SIGKILL' };
      },
      // the re-run in a child too: a key the child made carries the real time, after the test clock's
      rerun: (sys) =>
        runCrashChild(CLI_MODULE, ['--root', sys.root, ...ARGS, '--existing'], {
          env: { PATH: PATH_WITHOUT_GPG },
        }),
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 20, `only ${r.steps} write steps`);
  });
});
