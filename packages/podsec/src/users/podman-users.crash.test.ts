/**
 * Deterministic crash test of podsec-create-podmanusers: the command is interrupted before each of its write
 * steps in turn (an injected error in-process on the emulated running system, where chattr is one of the
 * steps; SIGKILL in a child process under --root). After each, the tree is the old one, the new one, or a
 * re-run with --existing (the accounts made before the interruption exist now) completes it.
 */
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createProcessRunner, type RunOptions } from '@podsec/core/system';
import {
  baseTree,
  crashEveryStep,
  createTestSystem,
  FakeRunner,
  runCrashChild,
  runProgram,
  withFaults,
  type TestSystem,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-podmanusers.ts';

const CLI_MODULE = fileURLToPath(new URL('../cli/podsec-create-podmanusers.ts', import.meta.url));
const TREE = { ...baseTree, 'home/.keep': '' };
const ARGS = ['u1', 'u2', '--no-password'];
const RERUN = ['u1', 'u2', '--existing'];

/**
 * The real shadow tools; chattr/lsattr scripted with state (a temp tree made immutable could not be removed
 * by the test, and the command applies chattr only to the running system).
 */
function tools(): FakeRunner {
  const immutable = new Set<string>();
  const target = (args: readonly string[], ro?: RunOptions) =>
    args.at(-1) === '.' && ro?.cwd ? realpathSync(ro.cwd) : String(args.at(-1));
  return new FakeRunner(createProcessRunner({ PATH: process.env['PATH'] }))
    .on('chattr', (args, ro) => {
      immutable.add(target(args, ro));
      return {};
    })
    .on('lsattr', (args, ro) => ({
      stdout: `${immutable.has(target(args, ro)) ? '----i---------e-----' : '--------------e-----'} .\n`,
    }));
}

describe('podsec-create-podmanusers crash safety', () => {
  it('an error at every write step (running system, chattr included) leaves the old tree, the new one, or one a re-run completes', async (t) => {
    const r = await crashEveryStep<TestSystem>({
      prepare: async () => {
        const sys = await createTestSystem(t, { tree: TREE, proc: tools() });
        return { ...sys, root: '/' };
      },
      rootOf: (s) => s.fs.root,
      run: async (sys, failAt) => {
        const f = withFaults(sys, failAt === undefined ? {} : { failAt });
        const out = await runProgram(cli, ARGS, { system: f.system });
        return { code: out.code, fired: f.fired() };
      },
      rerun: (sys) => runProgram(cli, RERUN, { system: sys }),
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 8, `only ${r.steps} write steps`);
  });

  it('SIGKILL before every write step (child process, --root): the same', async (t) => {
    const r = await crashEveryStep<TestSystem>({
      prepare: () => createTestSystem(t, { tree: TREE }),
      rootOf: (s) => s.root,
      concurrency: 4,
      run: async (sys, at) => {
        const out = await runCrashChild(CLI_MODULE, ['--root', sys.root, ...ARGS], {
          ...(at === undefined ? {} : { at }),
        });
        return { code: out.code ?? 137, fired: out.signal === 'SIGKILL' };
      },
      rerun: (sys) => runProgram(cli, RERUN, { system: sys }),
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 8, `only ${r.steps} write steps`);
  });
});
