/**
 * podsec-create-podmanusers against its own container user: while root runs `--existing` again and again
 * (confined: the machine's / is read-only, only the scratch root is writable), the user swaps its ~/.config
 * with a symlink to the tree's /etc in a tight loop (renameat2 RENAME_EXCHANGE, as the user). A won race
 * would create /etc/containers owned by the user, or chown and chmod the tree's /etc; nothing outside the
 * user's home (and the sub-id files the command owns) may change.
 */
import assert from 'node:assert/strict';
import { lchown, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  baseTree,
  createTestSystem,
  requireAttackTools,
  runConfined,
  runProgram,
  snapshotTree,
  startSwapper,
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
    const home = path.join(root, 'home/cu');
    await symlink('../../etc', path.join(home, 'etc-link'));
    await lchown(path.join(home, 'etc-link'), user.uid, user.gid);
    const before = await outside(root);
    const swapper = await startSwapper(t, {
      uid: user.uid,
      gid: user.gid,
      a: path.join(home, '.config'),
      b: path.join(home, 'etc-link'),
    });
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        runConfined([root], process.execPath, [
          '--conditions=podsec-source',
          VICTIM,
          root,
          String(ROUNDS),
          'cu',
        ]),
      ),
    );
    const swaps = await swapper.stop();
    const stats = results.map((r) => {
      assert.equal(r.exitCode, 0, String(r.stderr));
      return JSON.parse(String(r.stdout)) as {
        exit: Record<string, number>;
        refused: number;
        readOnly: number;
      };
    });
    t.diagnostic(`${PROCESSES * ROUNDS} runs, ${swaps} swaps: ${JSON.stringify(stats)}`);
    assert.ok(swaps > 1000, `the user really raced (${swaps} swaps)`);
    assert.deepEqual(await outside(root), before, 'nothing outside the user’s home changed');
    assert.equal(
      stats.reduce((n, s) => n + s.readOnly, 0),
      0,
      JSON.stringify(stats),
    );
    const failed = stats.reduce((n, s) => n + (ROUNDS - (s.exit['0'] ?? 0)), 0);
    assert.equal(
      stats.reduce((n, s) => n + s.refused, 0),
      failed,
      JSON.stringify(stats),
    );
  });
});
