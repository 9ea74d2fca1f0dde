import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

describe('setPrimaryGroup under a root', () => {
  it("takes the gid from the tree's /etc/group, not the host's, and keeps a backup", async (t) => {
    const sys = await createTestSystem(t, {
      tree: {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nu:x:1500:1500::/home/u:/bin/sh\n',
        // a gid no host group has: a host lookup could not produce it
        'etc/group': 'root:x:0:\nu:x:1500:\npodman:x:4321:\n',
      },
    });
    await sys.users.setPrimaryGroup('u', 'podman');
    assert.equal((await sys.users.getUser('u'))?.gid, 4321);
    assert.equal((await sys.fs.readdir('/etc')).filter((n) => n.startsWith('passwd.')).length, 1);
    await assert.rejects(sys.users.setPrimaryGroup('u', 'nogroup-here'), {
      code: 'GROUP_NOT_FOUND',
    });
    await assert.rejects(sys.users.setPrimaryGroup('nobody-here', 'podman'), {
      code: 'USER_NOT_FOUND',
    });
  });
});

describe('addUser under a root', () => {
  it('refuses to let useradd --prefix follow a symlinked <root>/home out of the root', async (t) => {
    const sys = await createTestSystem(t);
    const outside = await mkdtemp(path.join(tmpdir(), 'podsec-outside-'));
    t.after(() => rm(outside, { recursive: true, force: true }));
    await symlink(outside, path.join(sys.root, 'home'));
    await assert.rejects(sys.users.addUser('u', { createHome: true }), {
      code: 'USER_HOME_UNSAFE',
    });
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await sys.users.getUser('u'), undefined);
  });
});
