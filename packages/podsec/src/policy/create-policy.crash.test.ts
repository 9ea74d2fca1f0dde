/**
 * Deterministic crash test of podsec-create-policy: the command is interrupted before each of its write
 * steps in turn (an injected error in-process, SIGKILL in a child process); after each, policy.json exists
 * and parses and the tree is the old one, the new one, or a re-run converges to the new one.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  baseTree,
  crashEveryStep,
  createTestSystem,
  runCrashChild,
  runProgram,
  withFaults,
  type TestSystem,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-policy.ts';

const IP = '192.168.10.5';
const CLI_MODULE = fileURLToPath(new URL('../cli/podsec-create-policy.ts', import.meta.url));
/** A server that has the distribution's files: every kind of change happens (groups, hosts, dirs, versions, helpers). */
const TREE = {
  ...baseTree,
  'etc/hosts': '127.0.0.1 localhost\n',
  'run/utmp': '',
  'etc/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}\n',
  'etc/containers/registries.conf': 'unqualified-search-registries = ["registry.altlinux.org"]\n',
  'proc/sys/kernel/unprivileged_userns_clone': '1\n',
  'usr/bin/newuidmap': { content: 'x', mode: 0o4755 },
  'usr/bin/newgidmap': { content: 'x', mode: 0o4755 },
};

async function policyParses(root: string, step: number): Promise<void> {
  const file = path.join(root, 'etc/containers/policy.json');
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new Error(`step ${step}: policy.json is missing: ${e.message}`);
  });
  assert.doesNotThrow(() => JSON.parse(text), `step ${step}: policy.json does not parse`);
}

describe('podsec-create-policy crash safety', () => {
  it('an error at every write step leaves the old tree, the new tree, or one a re-run completes', async (t) => {
    const prepare = () => createTestSystem(t, { tree: TREE, localAddresses: [IP] });
    const r = await crashEveryStep<TestSystem>({
      prepare,
      rootOf: (s) => s.root,
      invariant: policyParses,
      run: async (sys, failAt) => {
        const f = withFaults(sys, failAt === undefined ? {} : { failAt });
        const out = await runProgram(cli, [IP], { system: f.system });
        return { code: out.code, fired: f.fired() };
      },
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 15, `only ${r.steps} write steps`);
  });

  it('SIGKILL before every write step (child process) leaves policy.json valid and a re-run converges', async (t: TestContext) => {
    const r = await crashEveryStep<TestSystem>({
      prepare: () => createTestSystem(t, { tree: TREE, localAddresses: [IP] }),
      rootOf: (s) => s.root,
      invariant: policyParses,
      concurrency: 4,
      run: async (sys, at) => {
        const out = await runCrashChild(CLI_MODULE, ['--root', sys.root, IP], {
          localAddresses: [IP],
          ...(at === undefined ? {} : { at }),
        });
        return { code: out.code ?? 137, fired: out.signal === 'SIGKILL' };
      },
      // the re-run in-process: what is tested is the state the kill left
      rerun: (sys) => runProgram(cli, [IP], { system: sys }),
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 15, `only ${r.steps} write steps`);
  });
});
