import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createRootFs } from './node-fs.ts';
import { readSecretFile, resolveHostPath } from './secret.ts';

async function dir(t: TestContext) {
  const d = await mkdtemp(path.join(tmpdir(), 'podsec-secret-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}
const sys = { hostFs: createRootFs('/'), identity: { uid: process.geteuid!(), gid: 0 } };

describe('readSecretFile', () => {
  it('reads a 0600 or 0400 file of the caller', async (t) => {
    const d = await dir(t);
    for (const mode of [0o600, 0o400]) {
      await writeFile(path.join(d, `s${mode}`), 'secret\n', { mode });
      assert.equal(
        Buffer.from(await readSecretFile(sys, path.join(d, `s${mode}`))).toString(),
        'secret\n',
      );
    }
  });

  it('refuses a missing file, a symlink, a directory, a group- or world-accessible file, a foreign owner, and an oversized file', async (t) => {
    const d = await dir(t);
    const f = (n: string) => path.join(d, n);
    await writeFile(f('ok'), 'x', { mode: 0o600 });
    await symlink(f('ok'), f('link'));
    await writeFile(f('group'), 'x', { mode: 0o640 });
    await chmod(f('group'), 0o640);
    await writeFile(f('world'), 'x', { mode: 0o604 });
    await chmod(f('world'), 0o604);
    await writeFile(f('foreign'), 'x', { mode: 0o600 });
    await writeFile(f('big'), 'x'.repeat(100), { mode: 0o600 });
    const cases: [string, RegExp, number?][] = [
      ['missing', /not found/],
      ['link', /symbolic link/],
      ['group', /mode 0640/],
      ['world', /mode 0604/],
      ['big', /larger than 10 bytes/, 10],
    ];
    if (process.geteuid?.() === 0) {
      await chown(f('foreign'), 4711, 4711);
      cases.push(['foreign', /owned by uid 4711/]);
    }
    cases.push([d, /not a regular file/]);
    for (const [name, re, max] of cases) {
      await assert.rejects(
        readSecretFile(sys, name.startsWith('/') ? name : f(name), max ? { maxBytes: max } : {}),
        re,
        name,
      );
    }
  });

  it('refuses a FIFO without blocking on it', async (t) => {
    const d = await dir(t);
    const { execa } = await import('execa');
    await execa('mkfifo', ['-m', '600', path.join(d, 'fifo')]);
    await assert.rejects(readSecretFile(sys, path.join(d, 'fifo')), /not a regular file/);
  });
});

describe('resolveHostPath', () => {
  it('makes a command-line path absolute and refuses an empty one or a NUL byte', () => {
    assert.equal(resolveHostPath('a/../b', '/srv'), '/srv/b');
    assert.equal(resolveHostPath('/x/y', '/srv'), '/x/y');
    assert.throws(() => resolveHostPath('', '/srv'), { code: 'HOST_PATH_INVALID' });
    assert.throws(() => resolveHostPath('a\0b', '/srv'), { code: 'HOST_PATH_INVALID' });
  });
});
