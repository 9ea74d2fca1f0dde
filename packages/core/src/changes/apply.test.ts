import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { baseTree, createTestSystem, snapshotTree, withFaults } from '@podsec/test-utils';
import { applyChanges } from './apply.ts';
import { formatChangeReport } from './format.ts';
import type { Change } from './types.ts';
import { validateChanges } from './validate.ts';

const TREE = {
  ...baseTree,
  'etc/containers/policy.json': '{"old":true}\n',
  'etc/hosts': '127.0.0.1 localhost\n',
};

/** A list touching every kind. */
const LIST: Change[] = [
  { kind: 'group', name: 'podsectest', system: true },
  { kind: 'dir', path: '/var/sigstore', mode: 0o755, uid: 0, gid: 0 },
  { kind: 'dir', path: '/var/sigstore/sigstore', mode: 0o1775, uid: 0, gid: 'podsectest' },
  { kind: 'file', path: '/var/sigstore/index.html', content: 'hi\n', mode: 0o644, uid: 0, gid: 0 },
  { kind: 'file', path: '/etc/hosts', content: '127.0.0.1 localhost\n10.0.0.1 registry.local\n' },
  { kind: 'symlink', path: '/etc/nginx/sites-enabled/x.conf', target: '../sites-available/x.conf' },
  {
    kind: 'versioned',
    path: '/etc/containers/policy.json',
    prefix: 'policy_',
    content: '{"new":true}\n',
  },
  { kind: 'remove', path: '/etc/containers/stale.conf' },
];

describe('applyChanges', () => {
  it('applies every kind of change, then a re-run has nothing to do', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { ...TREE, 'etc/containers/stale.conf': 'x' },
    });
    const r = await applyChanges(sys, LIST);
    assert.equal(r.changed, true);
    assert.equal(r.changes.length, LIST.length);
    const gid = (await sys.users.getGroup('podsectest'))!.gid;
    assert.deepEqual(await sys.fs.stat('/var/sigstore/sigstore').then((s) => [s?.mode, s?.gid]), [
      0o1775,
      gid,
    ]);
    assert.equal(await sys.fs.readText('/var/sigstore/index.html'), 'hi\n');
    assert.equal(
      await sys.fs.readlink('/etc/nginx/sites-enabled/x.conf'),
      '../sites-available/x.conf',
    );
    assert.equal(await sys.fs.readlink('/etc/containers/policy.json'), 'policy_20250801-120000');
    assert.equal(await sys.fs.readText('/etc/containers/policy.json'), '{"new":true}\n');
    assert.equal(await sys.fs.exists('/etc/containers/stale.conf'), false);
    // the regular file and /etc/hosts were kept
    assert.deepEqual([...r.backups].sort(), [
      '/etc/containers/policy.json.20250801-120000.bak',
      '/etc/hosts.20250801-120000.bak',
    ]);
    assert.equal(
      await sys.fs.readText('/etc/containers/policy.json.20250801-120000.bak'),
      '{"old":true}\n',
    );
    const again = await applyChanges(sys, LIST);
    assert.deepEqual(
      { changed: again.changed, changes: again.changes, unchanged: again.unchanged },
      { changed: false, changes: [], unchanged: LIST.length },
    );
    assert.deepEqual(formatChangeReport(again), ['Nothing to change']);
  });

  it('--dry-run lists exactly what the real run then applies, and changes nothing', async (t) => {
    const dry = await createTestSystem(t, { tree: TREE, dryRun: true });
    const before = await snapshotTree(dry.root);
    const planned = await applyChanges(dry, LIST);
    assert.deepEqual(await snapshotTree(dry.root), before);
    assert.equal(planned.dryRun, true);
    const real = await createTestSystem(t, { tree: TREE });
    const applied = await applyChanges(real, LIST);
    assert.deepEqual(planned.changes, applied.changes);
    assert.match(formatChangeReport(planned)[0]!, /nothing was changed/);
    assert.ok(
      planned.changes.some(
        (c) => c.kind === 'versioned' && c.detail === '-> policy_20250801-120000',
      ),
    );
  });

  it('validates the whole list first: a bad last change leaves the tree unchanged', async (t) => {
    const sys = await createTestSystem(t, { tree: { ...TREE, 'etc/x/file': 'f' } });
    const before = await snapshotTree(sys.root);
    const bad: Change[][] = [
      [...LIST, { kind: 'file', path: '/etc/x', content: 'a directory is in the way' }],
      [...LIST, { kind: 'dir', path: '/etc/x/file/sub' }],
      [...LIST, { kind: 'dir', path: '/var/y', gid: 'no_such_group' }],
      [...LIST, { kind: 'file', path: '/etc/hosts', content: 'twice' }],
      [...LIST, { kind: 'group', name: 'Bad Name' }],
      [...LIST, { kind: 'file', path: 'relative/path', content: '' }],
      [...LIST, { kind: 'versioned', path: '/etc/a', prefix: '../x', content: '' }],
      [...LIST, { kind: 'file', path: '/etc/missing', mode: 0o600 }],
    ];
    for (const list of bad) {
      await assert.rejects(applyChanges(sys, list), { code: 'CHANGES_INVALID' });
      assert.deepEqual(await snapshotTree(sys.root), before);
    }
    await assert.rejects(validateChanges(sys, bad[0]!), /\/etc\/x: exists and is not a file/);
  });

  it('a named owner may be a group created earlier in the list, not later', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    await assert.rejects(
      validateChanges(sys, [
        { kind: 'dir', path: '/srv/a', gid: 'latergroup' },
        { kind: 'group', name: 'latergroup' },
      ]),
      { code: 'CHANGES_INVALID' },
    );
    await validateChanges(sys, [
      { kind: 'group', name: 'latergroup' },
      { kind: 'dir', path: '/srv/a', gid: 'latergroup' },
    ]);
  });

  it('the live versioned file exists and parses before and after every write step', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const live = path.join(sys.root, 'etc/containers/policy.json');
    const check = async () => {
      const doc = JSON.parse(await readFile(live, 'utf8')) as Record<string, boolean>;
      assert.ok(doc['old'] === true || doc['new'] === true);
    };
    const f = withFaults(sys, { onStep: check });
    await applyChanges(f.system, [
      {
        kind: 'versioned',
        path: '/etc/containers/policy.json',
        prefix: 'policy_',
        content: '{"new":true}\n',
      },
    ]);
    await check();
    assert.ok(f.steps.length >= 3, JSON.stringify(f.steps));
    // and a second switch from a symlinked version to the next
    await applyChanges(f.system, [
      {
        kind: 'versioned',
        path: '/etc/containers/policy.json',
        prefix: 'policy_',
        content: '{"new":true,"v":2}\n',
      },
    ]);
    assert.equal(await sys.fs.readlink('/etc/containers/policy.json'), 'policy_20250801-120000.1');
  });

  it('a user change creates the account once and later only adds missing groups', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const list: Change[] = [
      { kind: 'group', name: 'pgrp' },
      { kind: 'user', name: 'puser', options: { createHome: false, groups: ['pgrp'] } },
    ];
    await applyChanges(sys, list);
    assert.ok((await sys.users.groupsOf('puser')).includes('pgrp'));
    const more: Change[] = [
      ...list,
      { kind: 'group', name: 'pgrp2' },
      { kind: 'user', name: 'puser', options: { createHome: false, groups: ['pgrp', 'pgrp2'] } },
    ];
    await assert.rejects(applyChanges(sys, more), /listed twice/);
    const r = await applyChanges(sys, [more[2]!, more[3]!]);
    assert.deepEqual(
      r.changes.map((c) => [c.kind, c.action, c.detail]),
      [
        ['group', 'create', undefined],
        ['user', 'update', 'groups +pgrp2'],
      ],
    );
  });

  it('a failing run change is a warning when asked, an error otherwise', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const r = await applyChanges(sys, [
      { kind: 'run', file: 'false', args: [], onFailure: 'warn' },
    ]);
    assert.equal(r.warnings.length, 1);
    await assert.rejects(applyChanges(sys, [{ kind: 'run', file: 'false', args: [] }]), {
      code: 'PROC_FAILED',
    });
  });

  it('users: a new user with its password and sub ids, an existing one put into its primary group; a re-run has nothing to do', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    await sys.users.ensureGroup('podsecprim', { system: true });
    await sys.users.addUser('podsecold', { createHome: false });
    const list: Change[] = [
      { kind: 'user', name: 'podsecnew', options: { group: 'podsecprim', createHome: false } },
      { kind: 'password', user: 'podsecnew', secret: 'Plain-Secret-1' },
      { kind: 'subids', path: '/etc/subuid', user: 'podsecnew' },
      { kind: 'subids', path: '/etc/subgid', user: 'podsecnew', count: 1000 },
      { kind: 'user', name: 'podsecold', options: { group: 'podsecprim' } },
    ];
    const dry = await applyChanges({ ...sys, dryRun: true }, list);
    const steps: string[] = [];
    const r = await applyChanges(sys, list, { onStep: (c) => steps.push(c.kind) });
    assert.deepEqual(r.changes, dry.changes);
    assert.deepEqual(steps, ['user', 'password', 'subids', 'subids', 'user']);
    assert.deepEqual(
      r.changes.map((c) => `${c.action} ${c.kind} ${c.target} ${c.detail ?? ''}`.trim()),
      [
        'create user podsecnew',
        'update password podsecnew',
        'create subids /etc/subuid podsecnew 65536 ids',
        'create subids /etc/subgid podsecnew 1000 ids',
        'update user podsecold group podsecprim',
      ],
    );
    const gid = (await sys.users.getGroup('podsecprim'))!.gid;
    assert.equal((await sys.users.getUser('podsecold'))!.gid, gid);
    assert.match(await sys.fs.readText('/etc/shadow'), /^podsecnew:\$6\$[^:]+:/m);
    assert.ok((await sys.users.subgids()).some((x) => x.owner === 'podsecnew' && x.count === 1000));
    // the password is set again whenever it is listed; everything else is in place
    const again = await applyChanges(
      sys,
      list.filter((c) => c.kind !== 'password'),
    );
    assert.equal(again.changed, false);
  });

  it('a password is validated with the list: several lines or a ":" in plain text change nothing', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const before = await snapshotTree(sys.root);
    for (const secret of ['a\nb', 'a:b', '']) {
      await assert.rejects(
        applyChanges(sys, [
          { kind: 'group', name: 'podsecprim' },
          { kind: 'password', user: 'root', secret },
        ]),
        { code: 'CHANGES_INVALID' },
      );
    }
    await assert.rejects(
      applyChanges(sys, [{ kind: 'password', user: 'nosuchuser', secret: 'x' }]),
      /nosuchuser does not exist/,
    );
    assert.deepEqual(await snapshotTree(sys.root), before);
  });

  it('a run change in a directory runs there pinned by descriptor, with stdin, credentials and a warning on failure', async (t) => {
    const sys = await createTestSystem(t, { tree: { ...TREE, 'srv/box/.keep': '' } });
    const r = await applyChanges(sys, [
      {
        kind: 'run',
        file: 'sh',
        args: ['-c', 'cat > out; id -u >> out'],
        cwd: '/srv/box',
        input: 'in\n',
      },
      { kind: 'run', file: 'false', args: [], cwd: '/srv/box', onFailure: 'warn' },
    ]);
    assert.equal(r.changes[0]!.target, 'sh -c cat > out; id -u >> out (in /srv/box)');
    assert.equal(
      await readFile(path.join(sys.root, 'srv/box/out'), 'utf8'),
      `in\n${process.getuid!()}\n`,
    );
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^false \(in \/srv\/box\) failed \(exit 1\)/);
  });
});

describe('rename changes', () => {
  it('move a directory aside so a link can take its place; refused when the destination exists', async (t) => {
    const sys = await createTestSystem(t, { tree: { ...baseTree, 'srv/data/containers/f': 'x' } });
    const list: Change[] = [
      { kind: 'rename', path: '/srv/data/containers', to: '/srv/data/containers.old' },
      { kind: 'symlink', path: '/srv/data/containers', target: 'usernetes/containers' },
    ];
    const r = await applyChanges(sys, list);
    assert.deepEqual(
      r.changes.map((c) => `${c.action} ${c.kind} ${c.target}`),
      ['update rename /srv/data/containers', 'update symlink /srv/data/containers'],
    );
    assert.equal(await readFile(path.join(sys.root, 'srv/data/containers.old/f'), 'utf8'), 'x');
    assert.equal((await applyChanges(sys, list)).changed, false);
    // a directory again, and the destination taken: nothing moves
    const sys2 = await createTestSystem(t, {
      tree: { ...baseTree, 'srv/data/containers/f': 'x', 'srv/data/containers.old/g': 'y' },
    });
    const before = await snapshotTree(sys2.root);
    await assert.rejects(applyChanges(sys2, list), /containers\.old is in the way/);
    assert.deepEqual(await snapshotTree(sys2.root), before);
  });
});
