/**
 * Deterministic crash test of podsec-create-imagemakeruser: the command is interrupted before each of its
 * write steps in turn (an injected error in-process, SIGKILL in a child process). After each, policy.json
 * and its published copy exist and parse, and the tree is the old one, the new one, or a re-run completes
 * it; the re-run says --existing, since the accounts made before the interruption exist now. Keys are
 * random per run, so they are compared by kind, mode and owner. gpg is left out of PATH: an interrupted
 * import would leave the maker's gpg-agent running; the import steps are covered by the command's tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crashEveryStep, runProgram, withFaults, type TestSystem } from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-imagemakeruser.ts';
import { CRASH_ARGS as ARGS, crashOptions as options } from './test-helpers/crash-fixture.ts';

describe('podsec-create-imagemakeruser crash safety', () => {
  it('an error at every write step leaves the old tree, the new tree, or one a re-run completes', async (t) => {
    const r = await crashEveryStep<TestSystem>({
      ...options(t),
      run: async (sys, failAt) => {
        const f = withFaults(sys, failAt === undefined ? {} : { failAt });
        const out = await runProgram(cli, ARGS, { system: f.system });
        return { code: out.code, fired: f.fired() };
      },
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 20, `only ${r.steps} write steps`);
  });
});
