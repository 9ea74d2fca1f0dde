import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { baseTree, createTestSystem, runProgram, snapshotTree } from '@podsec/test-utils';
import { cli } from './podsec-k8s-rbac-create-user.ts';

// the real shadow tools (useradd, groupadd, chpasswd) under --prefix/--root of a temp tree
async function system(t: TestContext, o: { podman?: boolean; uid?: number } = {}) {
  return createTestSystem(t, {
    tree: {
      ...baseTree,
      'etc/group': `root:x:0:\n${o.podman === false ? '' : 'podman:x:990:\n'}`,
      'etc/gshadow': {
        content: `root:*::\n${o.podman === false ? '' : 'podman:!::\n'}`,
        mode: 0o640,
      },
      'home/.keep': '',
    },
    ...(o.uid === undefined ? {} : { uid: o.uid }),
  });
}

describe('podsec-k8s-rbac-create-user', () => {
  it('creates the user in podman and k8s with a private home and ~/.kube owned user:k8s', async (t) => {
    const sys = await system(t);
    const r = await runProgram(cli, ['u1'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const passwd = await readFile(path.join(sys.root, 'etc/passwd'), 'utf8');
    const group = await readFile(path.join(sys.root, 'etc/group'), 'utf8');
    const uid = Number(/^u1:x:(\d+):/m.exec(passwd)?.[1]);
    const k8s = /^k8s:x:(\d+):(.*)$/m.exec(group);
    assert.ok(k8s, 'group k8s exists');
    assert.ok(Number(k8s[1]) < 1000, 'k8s is a system group');
    assert.match(k8s[2]!, /\bu1\b/);
    assert.match(group, /^podman:x:990:u1$/m);
    const home = await stat(path.join(sys.root, 'home/u1'));
    const kube = await stat(path.join(sys.root, 'home/u1/.kube'));
    assert.deepEqual(
      [home.mode & 0o7777, home.uid, home.gid, kube.mode & 0o7777, kube.uid, kube.gid],
      [0o700, uid, Number(k8s[1]), 0o700, uid, Number(k8s[1])],
    );
    assert.match(r.stderr + r.stdout, /password of u1 is locked/);
  });

  it('keeps the original home mode 0770 with --compat-home-mode and sets a password from stdin', async (t) => {
    const sys = await system(t);
    const r = await runProgram(cli, ['u1', '--compat-home-mode', '--password-stdin'], {
      system: sys,
      stdin: Readable.from(['s3cret\n']),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await stat(path.join(sys.root, 'home/u1'))).mode & 0o7777, 0o770);
    const shadow = await readFile(path.join(sys.root, 'etc/shadow'), 'utf8');
    assert.match(shadow, /^u1:\$[^:]+:/m, 'a password hash is set');
  });

  it('exits 2 for a non-root caller and creates nothing', async (t) => {
    const sys = await system(t, { uid: 1000 });
    const before = await snapshotTree(sys.root);
    const r = await runProgram(cli, ['u1'], { system: sys });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /root/);
    assert.deepEqual(await snapshotTree(sys.root), before);
  });

  it('exits 1 for a wrong argument count or a bad name, and creates nothing', async (t) => {
    const sys = await system(t);
    const before = await snapshotTree(sys.root);
    for (const args of [[], ['u1', 'u2'], ['Bad/Name'], ['a@b'], ['system:x'], ['a'.repeat(33)]]) {
      const r = await runProgram(cli, args, { system: sys });
      assert.equal(r.code, 1, args.join(' '));
    }
    assert.deepEqual(await snapshotTree(sys.root), before);
  });

  it('exits 2 for an existing account or home and changes nothing', async (t) => {
    const sys = await system(t);
    assert.equal((await runProgram(cli, ['u1'], { system: sys })).code, 0);
    const before = await snapshotTree(sys.root);
    const again = await runProgram(cli, ['u1'], { system: sys });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
    assert.deepEqual(await snapshotTree(sys.root), before);
  });

  it('exits 2 without the podman group and leaves no account or home behind', async (t) => {
    const sys = await system(t, { podman: false });
    const r = await runProgram(cli, ['u1'], { system: sys });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /group podman does not exist/);
    assert.ok(!existsSync(path.join(sys.root, 'home/u1')));
    assert.doesNotMatch(await readFile(path.join(sys.root, 'etc/passwd'), 'utf8'), /^u1:/m);
  });

  it('shows the steps with --dry-run and --json and changes nothing', async (t) => {
    const sys = await system(t);
    const before = await snapshotTree(sys.root);
    const r = await runProgram(cli, ['u1', '--dry-run', '--json'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { dryRun: boolean; changes: Array<{ kind: string }> };
    assert.equal(doc.dryRun, true);
    assert.deepEqual(
      doc.changes.map((c) => c.kind),
      ['group', 'user', 'password', 'chmod', 'mkdir', 'chown'],
    );
    assert.deepEqual(await snapshotTree(sys.root), before);
  });
});
