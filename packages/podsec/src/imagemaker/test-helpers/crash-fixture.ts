/**
 * The shared fixture of the two crash tests of podsec-create-imagemakeruser (the error half and the SIGKILL
 * half, one file each for the suite's per-file timeout): the arguments, what differs by chance between runs
 * (new keys), the invariant (policy.json and its published copy exist and parse) and the re-run with
 * --existing. gpg is left out of PATH: an interrupted import would leave the maker's gpg-agent running; the
 * import steps are covered by the command's tests.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { runProgram, type TestSystem } from '@podsec/test-utils';
import { cli } from '../../cli/podsec-create-imagemakeruser.ts';
import { PASSPHRASE_FILE, prepareServer } from './server-root.ts';

export const PATH_WITHOUT_GPG = '/usr/sbin:/sbin';

export const CRASH_ARGS = [
  '--key-type',
  'ed25519',
  '--passphrase-file',
  PASSPHRASE_FILE,
  '--no-password',
  'a@registry.local/c10f',
  'b@registry.local',
];

/** Keys are random per run: compared by kind, mode and owner. */
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

/** The options of `crashEveryStep` both halves share; the re-run says --existing (the accounts exist now). */
export const crashOptions = (t: TestContext) => ({
  prepare: async () => (await prepareServer(t, { path: PATH_WITHOUT_GPG })).system,
  rootOf: (s: TestSystem) => s.root,
  invariant: policiesParse,
  random: (rel: string) => RANDOM.test(rel),
  stableName,
  rerun: (sys: TestSystem) => runProgram(cli, [...CRASH_ARGS, '--existing'], { system: sys }),
});
