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
});
