// u7s-admin's provisioning as one change list, under --root of a temp tree with the real shadow tools
// (useradd/groupadd --prefix): the dry run lists what the real run applies, a second run applies nothing,
// and a containers directory of an earlier podman is moved aside before the link replaces it.
import assert from 'node:assert/strict';
import { lstat, mkdir, readlink, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { baseTree, createTestSystem, snapshotTree } from '@podsec/test-utils';
import { ensureU7sAdmin } from './provision.ts';

const tree = {
  ...baseTree,
  'etc/subuid': '',
  'etc/subgid': '',
  'var/lib/.keep': '',
  'run/.keep': '',
};
const LIBEXEC = '/usr/libexec/podsec/u7s/bin';

async function systems(t: TestContext) {
  const real = await createTestSystem(t, { tree });
  return { real, dry: { ...real, dryRun: true } };
}

describe('ensureU7sAdmin', () => {
  it('dry run lists exactly what the real run applies; a second run applies nothing', async (t) => {
    const { real, dry } = await systems(t);
    const before = await snapshotTree(real.root);
    const planned = await ensureU7sAdmin(dry, { libexec: LIBEXEC });
    assert.deepEqual(await snapshotTree(real.root), before, 'the dry run changed nothing');
    const applied = await ensureU7sAdmin(real, { libexec: LIBEXEC });
    const runtime = (c: { target: string }) =>
      c.target.replace(`/run/user/${applied.uid}`, '/run/user/<uid of u7s-admin>');
    assert.deepEqual(
      planned.changes.map((c) => ({ ...c, target: runtime(c) })),
      applied.changes.map((c) => ({ ...c, target: runtime(c) })),
    );
    assert.ok(applied.changes.some((c) => c.kind === 'user' && c.action === 'create'));
    const home = path.join(real.root, 'var/lib/u7s-admin');
    assert.equal((await stat(home)).mode & 0o7777, 0o700);
    assert.equal((await stat(home)).uid, applied.uid);
    assert.equal(
      await readlink(path.join(home, '.local/share/containers')),
      'usernetes/containers',
    );
    assert.equal((await stat(path.join(real.root, 'etc/kubernetes'))).uid, applied.uid);
    assert.equal((await stat(path.join(real.root, LIBEXEC.slice(1), 'rootlesskit.sh'))).uid, 0);
    const again = await ensureU7sAdmin(real, { libexec: LIBEXEC });
    assert.deepEqual(again.changes, []);
    assert.equal(again.report.changed, false);
  });

  it('moves an earlier containers directory aside, in the dry run too', async (t) => {
    const { real, dry } = await systems(t);
    await ensureU7sAdmin(real, { libexec: LIBEXEC });
    const data = path.join(real.root, 'var/lib/u7s-admin/.local/share');
    await rm(path.join(data, 'containers'));
    await mkdir(path.join(data, 'containers/storage'), { recursive: true });
    const planned = await ensureU7sAdmin(dry, { libexec: LIBEXEC });
    const applied = await ensureU7sAdmin(real, { libexec: LIBEXEC });
    assert.deepEqual(planned.changes, applied.changes);
    assert.deepEqual(
      applied.changes.map((c) => `${c.kind} ${c.target}`),
      [
        'rename /var/lib/u7s-admin/.local/share/containers',
        'symlink /var/lib/u7s-admin/.local/share/containers',
      ],
    );
    assert.ok((await lstat(path.join(data, 'containers'))).isSymbolicLink());
    assert.ok((await stat(path.join(data, 'containers.old/storage'))).isDirectory());
  });

  it('refuses a /var/lib/podsec/u7s of another owner before any change', async (t) => {
    const { real } = await systems(t);
    await mkdir(path.join(real.root, 'var/lib/podsec/u7s'), { recursive: true });
    const before = await snapshotTree(real.root);
    await assert.rejects(ensureU7sAdmin(real, { libexec: LIBEXEC }), { code: 'U7S_BAD_TREE' });
    assert.deepEqual(await snapshotTree(real.root), before);
  });
});
