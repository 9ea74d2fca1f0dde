import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem } from '@podsec/test-utils';
import { writeVersioned } from './versioned.ts';

describe('writeVersioned', () => {
  it('keeps a regular file, writes a version and points the live name to it', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { 'etc/containers/policy.json': '{"old":1}\n' },
    });
    const r = await writeVersioned(sys, '/etc/containers/policy.json', '{"new":1}\n', {
      prefix: 'policy_',
    });
    assert.deepEqual(r, {
      changed: true,
      version: '/etc/containers/policy_20250801-120000',
      backup: '/etc/containers/policy.json.20250801-120000.bak',
    });
    assert.equal(await sys.fs.readlink('/etc/containers/policy.json'), 'policy_20250801-120000');
    assert.equal(await sys.fs.readText('/etc/containers/policy.json'), '{"new":1}\n');
    assert.equal(
      await sys.fs.readText('/etc/containers/policy.json.20250801-120000.bak'),
      '{"old":1}\n',
    );
  });
  it('never overwrites a version written in the same second, and is idempotent', async (t) => {
    const sys = await createTestSystem(t, { tree: {} });
    await writeVersioned(sys, '/etc/containers/policy.json', 'a\n', { prefix: 'policy_' });
    const r2 = await writeVersioned(sys, '/etc/containers/policy.json', 'b\n', {
      prefix: 'policy_',
    });
    assert.equal(r2.version, '/etc/containers/policy_20250801-120000.1');
    assert.equal(await sys.fs.readText('/etc/containers/policy_20250801-120000'), 'a\n');
    assert.deepEqual(
      await writeVersioned(sys, '/etc/containers/policy.json', 'b\n', { prefix: 'policy_' }),
      { changed: false },
    );
  });
  it('changes nothing in dry-run mode', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { 'etc/containers/policy.json': 'x' },
      dryRun: true,
    });
    await writeVersioned(sys, '/etc/containers/policy.json', 'y', { prefix: 'policy_' });
    assert.deepEqual(await sys.fs.readdir('/etc/containers'), ['policy.json']);
  });
});
