/**
 * podsec-create-podmanusers against its own container user: while root runs `--existing` again and again
 * (confined: the machine's / is read-only, only the scratch root is writable), the user swaps its ~/.config
 * with a symlink to the tree's /etc in a tight loop (renameat2 RENAME_EXCHANGE, as the user). A won race
 * would create /etc/containers owned by the user, or chown and chmod the tree's /etc; nothing outside the
 * user's home (and the sub-id files the command owns) may change.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  baseTree,
  createTestSystem,
  raceConfigSwap,
  requireAttackTools,
  runProgram,
  snapshotTree,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-podmanusers.ts';

const VICTIM = fileURLToPath(new URL('./test-helpers/attack-victim.ts', import.meta.url));
const PROCESSES = 2;
const ROUNDS = 15;

const outside = async (root: string) =>
  Object.fromEntries(
    Object.entries(await snapshotTree(root)).filter(
      ([rel]) => !rel.startsWith('home/cu/') && !rel.startsWith('run/') && !rel.endsWith('.lock'),
    ),
  );

describe('podsec-create-podmanusers against a user swapping ~/.config for a symlink to /etc', () => {
  it('never changes anything outside the user’s home, however the race goes', async (t) => {
    if (!requireAttackTools(t)) return;
    const system = await createTestSystem(t, {
      tree: { ...baseTree, 'home/.keep': '', 'etc/containers/policy.json': '{"default":[]}\n' },
    });
    const root = system.root;
    const made = await runProgram(cli, ['cu', '--no-password'], { system });
    assert.equal(made.code, 0, made.stderr);
    const user = (await system.users.getUser('cu'))!;
    await raceConfigSwap(t, {
      root,
      home: path.join(root, 'home/cu'),
      uid: user.uid,
      gid: user.gid,
      victim: VICTIM,
      args: () => [root, String(ROUNDS), 'cu'],
      processes: PROCESSES,
      rounds: ROUNDS,
      outside,
    });
  });
});
