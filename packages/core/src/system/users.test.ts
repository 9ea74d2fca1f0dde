import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem } from '@podsec/test-utils';
import { parseGroup, parsePasswd, validateName } from './users.ts';

describe('validateName', () => {
  for (const bad of ['', '-rf', 'Bad Name', 'a;b', '../x', 'x$(id)', 'A', 'a'.repeat(33), '1abc']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => validateName(bad), { code: 'USAGE_BAD_NAME' });
    });
  }
  it('accepts portable names', () => {
    for (const good of ['imagemaker', 'u7s-admin', '_svc', 'bob_2'])
      assert.equal(validateName(good), good);
  });
});

describe('parsePasswd / parseGroup', () => {
  it('reads fields and members', () => {
    assert.deepEqual(parsePasswd('bob:x:1000:999:Bob:/home/bob:/bin/sh\n')[0], {
      name: 'bob',
      uid: 1000,
      gid: 999,
      gecos: 'Bob',
      home: '/home/bob',
      shell: '/bin/sh',
    });
    assert.deepEqual(parseGroup('podman:x:999:bob,alice\n')[0], {
      name: 'podman',
      gid: 999,
      members: ['bob', 'alice'],
    });
  });
  it('refuses a corrupt number instead of guessing', () => {
    assert.throws(() => parsePasswd('bob:x:abc:1::/h:/bin/sh\n'), { code: 'USERDB_CORRUPT' });
  });
});

describe('createUserDatabase (real groupadd/useradd --prefix)', () => {
  it('creates a group and a user in a temp root that the database reads back', async (t) => {
    const sys = await createTestSystem(t);
    assert.equal(await sys.users.ensureGroup('podman', { system: true }), true);
    assert.equal(await sys.users.ensureGroup('podman', { system: true }), false);
    await sys.users.ensureGroup('podman_dev', { system: true });
    await sys.users.addUser('imagemaker', { group: 'podman', groups: ['podman_dev'] });
    const user = await sys.users.getUser('imagemaker');
    const podman = await sys.users.getGroup('podman');
    assert.ok(user && podman);
    assert.equal(user.gid, podman.gid);
    assert.equal(user.home, '/home/imagemaker');
    assert.deepEqual(await sys.users.groupsOf('imagemaker'), ['podman', 'podman_dev']);
    assert.ok(await sys.fs.exists('/home/imagemaker'));
    await assert.rejects(sys.users.addUser('imagemaker'), { code: 'USER_EXISTS' });
  });

  it('never passes a bad name to the tools', async (t) => {
    const sys = await createTestSystem(t);
    await assert.rejects(sys.users.addUser('-o'), { code: 'USAGE_BAD_NAME' });
    await assert.rejects(sys.users.ensureGroup('a b'), { code: 'USAGE_BAD_NAME' });
    assert.equal(await sys.fs.readText('/etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  });
});
