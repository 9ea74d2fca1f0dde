// u7s-admin's provisioning as one change list, under --root of a temp tree with the real shadow tools
// (useradd/groupadd --prefix): the dry run lists what the real run applies, a second run applies nothing,
// a containers directory of an earlier podman is moved aside before the link replaces it, the missing groups
// (podman, systemd-journal) are created and listed, and a useradd that really fails (every system uid taken in
// the tree's login.defs range) ends the run loudly with nothing left half done.
import assert from 'node:assert/strict';
import { lstat, mkdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { baseTree, createTestSystem, runProgram, snapshotTree } from '@podsec/test-utils';
import { cli } from '../cli/podsec-u7s.ts';
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
    // the tree has no podman or systemd-journal group (the original's %pre then silently made no account):
    // both are created, first, and shown in the change list of the dry run and of the real run
    const groups = (l: typeof planned.changes) =>
      l.filter((c) => c.kind === 'group').map((c) => `${c.action} ${c.target} ${c.detail}`);
    for (const l of [planned.changes, applied.changes])
      assert.deepEqual(groups(l), [
        'create u7s-admin system',
        'create podman system',
        'create systemd-journal system',
      ]);
    assert.equal(applied.changes[3]?.kind, 'user');
    assert.deepEqual(await real.users.groupsOf('u7s-admin'), [
      'u7s-admin',
      'podman',
      'systemd-journal',
    ]);
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

  it('a useradd that fails stops it loudly: exit 11, one line, the groups it made removed, nothing changed', async (t) => {
    const real = await createTestSystem(t, {
      tree: {
        ...tree,
        // the system uid range of this tree is one uid, and it is taken: the real useradd -r finds none free
        'etc/login.defs': 'SYS_UID_MIN 100\nSYS_UID_MAX 100\n',
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nsys:x:100:100::/:/usr/sbin/nologin\n',
      },
    });
    const before = await snapshotTree(real.root);
    // the shadow tools keep their own backups (group-, gshadow-): not a change of the account database
    const state = async () =>
      Object.fromEntries(
        Object.entries(await snapshotTree(real.root)).filter(([p]) => !/^etc\/\w+-$/.test(p)),
      );
    const r = await runProgram(cli, ['provision', '--libexec', LIBEXEC], { system: real });
    assert.equal(r.code, 11, r.stderr);
    assert.match(
      r.stderr,
      /^podsec-u7s: cannot create user u7s-admin: useradd exited 4: useradd: Can't get unique (system )?UID[^\n]*; nothing was changed\n$/,
    );
    assert.equal(r.stdout, '');
    assert.deepEqual(await state(), before);
    assert.equal(await real.users.getGroup('podman'), undefined);
    // the same in Russian, and a re-run once the range is fixed creates everything
    const ru = await runProgram(cli, ['provision', '--libexec', LIBEXEC], {
      system: real,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(ru.code, 11);
    assert.match(ru.stderr, /useradd завершился с кодом 4: .*; ничего не изменено\n$/);
    await writeFile(path.join(real.root, 'etc/login.defs'), 'SYS_UID_MIN 100\nSYS_UID_MAX 999\n');
    const fixed = await runProgram(cli, ['provision', '--libexec', LIBEXEC], { system: real });
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.ok(await real.users.getUser('u7s-admin'));
  });
});
