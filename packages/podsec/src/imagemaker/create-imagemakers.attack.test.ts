/**
 * podsec-create-imagemakeruser against its own maker: while root runs the command again and again (confined:
 * the machine's / is read-only, only the scratch root is writable), the maker swaps its ~/.config with a
 * symlink to the root's /etc in a tight loop (renameat2 RENAME_EXCHANGE, as the maker's uid). Won races
 * would put the maker's accept-anything personal policy into /etc/containers or its registries.d there;
 * nothing outside the maker's tree and the files the command owns may change, and every policy version
 * root writes stays the system's (default reject).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { raceConfigSwap, requireAttackTools, runProgram, snapshotTree } from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-imagemakeruser.ts';
import { PASSPHRASE_FILE, prepareServer } from './test-helpers/server-root.ts';

const VICTIM = fileURLToPath(new URL('./test-helpers/attack-victim.ts', import.meta.url));
const PROCESSES = 3;
const ROUNDS = 10;

/** What the command may change: the maker's home, the signature store, the system policy and its versions, locks. */
const owned = (rel: string) =>
  rel.startsWith('home/atk/') ||
  rel.startsWith('var/sigstore/') ||
  rel.startsWith('run/') ||
  /^etc\/containers\/policy(\.json|_\d{8}-\d{6}(\.\d+)?)$/.test(rel);

const outside = async (root: string) =>
  Object.fromEntries(Object.entries(await snapshotTree(root)).filter(([rel]) => !owned(rel)));

describe('podsec-create-imagemakeruser against a maker swapping ~/.config for a symlink to /etc', () => {
  it('never writes outside the maker’s tree, however the race goes', async (t) => {
    if (!requireAttackTools(t)) return;
    const { system } = await prepareServer(t, { path: '/usr/sbin:/sbin' });
    const root = system.root;
    const made = await runProgram(
      cli,
      [
        '--key-type',
        'ed25519',
        '--passphrase-file',
        PASSPHRASE_FILE,
        '--no-password',
        'atk@registry.local/first',
      ],
      { system },
    );
    assert.equal(made.code, 0, made.stderr);
    const maker = (await system.users.getUser('atk'))!;
    const { failed } = await raceConfigSwap(t, {
      root,
      home: path.join(root, 'home/atk'),
      uid: maker.uid,
      gid: maker.gid,
      victim: VICTIM,
      args: (p) => [root, String(ROUNDS), 'atk', String(p * ROUNDS)],
      processes: PROCESSES,
      rounds: ROUNDS,
      outside,
    });
    // every policy version root wrote stays the system's
    for (const name of await readdir(path.join(root, 'etc/containers'))) {
      if (!name.startsWith('policy')) continue;
      const doc = JSON.parse(await readFile(path.join(root, 'etc/containers', name), 'utf8'));
      assert.equal(doc.default[0].type, 'reject', `${name} is the system policy`);
    }
    assert.ok(failed > 0, 'some runs met the link');
    const bound = Object.keys(
      JSON.parse(await readFile(path.join(root, 'etc/containers/policy.json'), 'utf8')).transports
        .docker,
    ).filter((s) => /\/s\d+$/.test(s)).length;
    t.diagnostic(`runs that got through to the policy switch: ${bound}`);
  });
});
