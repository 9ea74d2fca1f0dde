import assert from 'node:assert/strict';
import {
  chmod,
  chown,
  lchown,
  mkdir,
  mkdtemp,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requireAttackTools, runConfined, snapshotTree, startSwapper } from '@podsec/test-utils';

const VICTIM = fileURLToPath(new URL('./test-helpers/fs-victim.ts', import.meta.url));
const MAKER = 4711;

/** A scratch root with an /etc worth attacking and a home the maker owns (and so can rename in). */
async function scratch(t: TestContext) {
  const root = await mkdtemp(path.join(tmpdir(), 'podsec-attack-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'etc/containers'), { recursive: true });
  await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await writeFile(path.join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(path.join(root, 'etc/shadow'), 'root:*:::::::\n', { mode: 0o640 });
  await writeFile(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(
    path.join(root, 'etc/containers/policy.json'),
    '{"default":[{"type":"reject"}]}\n',
  );
  // the maker must reach its home: the scratch root is traversable like a real /
  await chmod(root, 0o755);
  const home = path.join(root, 'home/maker');
  await mkdir(path.join(home, '.config/containers'), { recursive: true });
  await mkdir(path.join(home, 'box'));
  for (const d of [
    home,
    path.join(home, '.config'),
    path.join(home, '.config/containers'),
    path.join(home, 'box'),
  ])
    await chown(d, MAKER, MAKER);
  // the maker's links: one absolute (a raw kernel walk would reach the machine's /etc, which the
  // confinement makes read-only), one relative that stays inside the scratch root
  await symlink('/etc', path.join(home, 'abs'));
  await symlink('../../etc', path.join(home, 'rel'));
  // lchown: chown would follow `abs` and hand the machine's /etc to the maker (it did, until this was found)
  for (const l of ['abs', 'rel']) await lchown(path.join(home, l), MAKER, MAKER);
  return { root, home };
}

describe('createRootFs against a user swapping its directories for symlinks', () => {
  it('never changes anything outside the user tree, however the race goes', async (t) => {
    if (!requireAttackTools(t)) return;
    const hostEtc = await stat('/etc');
    const { root, home } = await scratch(t);
    const before = await snapshotTree(path.join(root, 'etc'));
    const a = await startSwapper(t, {
      uid: MAKER,
      gid: MAKER,
      a: path.join(home, '.config'),
      b: path.join(home, 'abs'),
    });
    const b = await startSwapper(t, {
      uid: MAKER,
      gid: MAKER,
      a: path.join(home, 'box'),
      b: path.join(home, 'rel'),
    });
    const results = [];
    for (let run = 0; run < 4; run++) {
      const r = await runConfined([root], process.execPath, [
        '--conditions=podsec-source',
        VICTIM,
        root,
        '60',
        String(MAKER),
      ]);
      assert.equal(r.exitCode, 0, String(r.stderr));
      results.push(JSON.parse(String(r.stdout)) as { ok: number; errors: Record<string, number> });
    }
    const swaps = (await a.stop()) + (await b.stop());
    assert.ok(swaps > 1000, `the attacker really raced (${swaps} swaps)`);
    assert.deepEqual(
      await snapshotTree(path.join(root, 'etc')),
      before,
      'the root /etc is untouched',
    );
    // and the machine's own /etc (the target of the absolute link) kept its owner, through setup and race
    const etcNow = await stat('/etc');
    assert.deepEqual(
      [etcNow.uid, etcNow.gid],
      [hostEtc.uid, hostEtc.gid],
      "the machine's /etc owner",
    );
    const codes = new Set(results.flatMap((r) => Object.keys(r.errors)));
    // the confinement makes a raw follow to the machine's /etc fail with EROFS: it must never happen
    assert.equal(codes.has('EROFS'), false, JSON.stringify(results));
    // the operations did run (and some were refused when they met a link)
    assert.ok(
      results.every((r) => r.ok > 0),
      JSON.stringify(results),
    );
    assert.ok(codes.has('FS_UNSAFE_PATH'), JSON.stringify(results));
  });
});
