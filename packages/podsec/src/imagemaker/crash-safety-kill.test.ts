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
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crashEveryStep, runCrashChild, runProgram, type TestSystem } from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-imagemakeruser.ts';
import { PASSPHRASE_FILE, prepareServer } from './test-helpers/server-root.ts';

const CLI_MODULE = fileURLToPath(
  new URL('../cli/podsec-create-imagemakeruser.ts', import.meta.url),
);
const PATH_WITHOUT_GPG = '/usr/sbin:/sbin';
const ARGS = [
  '--key-type',
  'ed25519',
  '--passphrase-file',
  PASSPHRASE_FILE,
  '--no-password',
  'a@registry.local/c10f',
  'b@registry.local',
];
const RANDOM =
  /(^home\/[a-z]+\/\.config\/podsec\/signing-key\.asc|^var\/sigstore\/keys\/[a-z]+\.pgp|^home\/[a-z]+\/\.gnupg\/openpgp-revocs\.d\/[0-9A-F]{40}\.rev)$/;
/** The revocation certificate is named by the new key's fingerprint. */
const stableName = (rel: string): string =>
  rel.replace(/\/[0-9A-F]{40}\.rev$/, '/<fingerprint>.rev');

async function policiesParse(root: string, step: number): Promise<void> {
  for (const file of ['etc/containers/policy.json', 'var/sigstore/keys/policy.json']) {
    const text = await readFile(path.join(root, file), 'utf8').catch((e: Error) => {
      // the published copy is new with this run (the server had none yet)
      if (file.startsWith('var')) return '{}';
      throw new Error(`step ${step}: ${file} is missing: ${e.message}`);
    });
    assert.doesNotThrow(() => JSON.parse(text), `step ${step}: ${file} does not parse`);
  }
}

const options = (t: TestContext) => ({
  prepare: async () => (await prepareServer(t, { path: PATH_WITHOUT_GPG })).system,
  rootOf: (s: TestSystem) => s.root,
  invariant: policiesParse,
  random: (rel: string) => RANDOM.test(rel),
  stableName,
  rerun: (sys: TestSystem) => runProgram(cli, [...ARGS, '--existing'], { system: sys }),
});

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
