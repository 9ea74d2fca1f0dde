import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { spawnZombie } from '@podsec/test-utils';
import { createRootFs } from '../system/node-fs.ts';
import type { System } from '../system/types.ts';
import { readNamespaceState } from './state.ts';

describe('readNamespaceState', () => {
  it('reads child_pid and the marker, and never follows a link planted in the user-writable state dir', async (t) => {
    const d = await mkdtemp(path.join(tmpdir(), 'podsec-state-'));
    t.after(() => rm(d, { recursive: true, force: true }));
    const uid = process.geteuid!();
    const sys = { hostFs: createRootFs('/') } as unknown as System;
    // the real state: this process stands for the namespace's PID 1
    const good = path.join(d, 'good');
    await mkdir(good);
    await writeFile(path.join(good, 'child_pid'), `${process.pid}\n`);
    await writeFile(path.join(good, 'ready'), `${process.pid}\n`);
    assert.equal(
      (await readNamespaceState(sys, { stateDir: good, uid, marker: 'ready' })).ready,
      true,
    );
    // the same files reached through links in a directory its user (anyone here) can write
    const evil = path.join(d, 'evil');
    await mkdir(evil);
    await chmod(evil, 0o777);
    await symlink(path.join(good, 'child_pid'), path.join(evil, 'child_pid'));
    await symlink(path.join(good, 'ready'), path.join(evil, 'ready'));
    const s = await readNamespaceState(sys, { stateDir: evil, uid, marker: 'ready' });
    assert.equal(s.ready, false);
    assert.equal(s.childPid, undefined);
    assert.equal(s.reason, 'no child_pid');
    // a symlinked state dir itself, sitting in that writable directory
    await symlink(good, path.join(evil, 'state'));
    const s2 = await readNamespaceState(sys, {
      stateDir: path.join(evil, 'state'),
      uid,
      marker: 'ready',
    });
    assert.equal(s2.ready, false);
    assert.equal(s2.childPid, undefined);
  });

  it('a zombie child_pid is not a running namespace (its /proc entry stays until it is reaped)', async (t) => {
    const d = await mkdtemp(path.join(tmpdir(), 'podsec-state-'));
    t.after(() => rm(d, { recursive: true, force: true }));
    const { zombie } = await spawnZombie(t);
    await writeFile(path.join(d, 'child_pid'), `${zombie}\n`);
    await writeFile(path.join(d, 'ready'), `${zombie}\n`);
    const sys = { hostFs: createRootFs('/') } as unknown as System;
    const s = await readNamespaceState(sys, {
      stateDir: d,
      uid: process.geteuid!(),
      marker: 'ready',
    });
    assert.equal(s.ready, false);
    assert.equal(s.reason, `process ${zombie} is gone or not the user's`);
  });
});
