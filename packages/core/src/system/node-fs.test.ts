import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRootFs } from './node-fs.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

async function tempRoot(t: TestContext): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'podsec-fs-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

describe('createRootFs', () => {
  it('maps absolute system paths under the root', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc'));
    await writeFile(path.join(root, 'etc/hosts'), 'x\n');
    const fs = createRootFs(root);
    assert.equal(await fs.readText('/etc/hosts'), 'x\n');
    assert.equal(await fs.resolve('/etc/hosts'), path.join(root, 'etc/hosts'));
  });

  it('refuses a path whose .. segments leave the root', async (t) => {
    const root = await tempRoot(t);
    const fs = createRootFs(root);
    await assert.rejects(fs.readText('/../../etc/passwd'), { code: 'FS_ROOT_ESCAPE' });
    const name = `podsec-escape-${path.basename(root)}`;
    await assert.rejects(fs.writeFileAtomic(`/etc/../../${name}`, 'y'), { code: 'FS_ROOT_ESCAPE' });
    assert.equal((await readdir(path.dirname(root))).includes(name), false);
  });

  it('refuses a symlink whose relative target climbs out of the root', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc'));
    await symlink('../../../../../../../../etc', path.join(root, 'etc/evil'));
    const fs = createRootFs(root);
    await assert.rejects(fs.readText('/etc/evil/passwd'), { code: 'FS_ROOT_ESCAPE' });
    await assert.rejects(fs.writeFileAtomic('/etc/evil/podsec-test', 'y'), {
      code: 'FS_ROOT_ESCAPE',
    });
  });

  it('takes an absolute symlink target inside the root, never the host file', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc'));
    await writeFile(path.join(root, 'etc/passwd'), 'rooted\n');
    await symlink('/etc/passwd', path.join(root, 'etc/link'));
    const fs = createRootFs(root);
    assert.equal(await fs.readText('/etc/link'), 'rooted\n');
  });

  it('rejects relative paths', async (t) => {
    const fs = createRootFs(await tempRoot(t));
    await assert.rejects(fs.readText('etc/passwd'), { code: 'FS_RELATIVE_PATH' });
  });
});

describe('writeFileAtomic', () => {
  it('replaces the content, sets the mode and keeps a uniquely named backup', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'f'), 'old\n');
    const now = new Date(2025, 7, 1, 12, 0, 0);
    const fs = createRootFs(root, { now: () => now });
    const r1 = await fs.writeFileAtomic('/f', 'new\n', { mode: 0o600 });
    const r2 = await fs.writeFileAtomic('/f', 'newer\n', { mode: 0o600 });
    assert.equal(await readFile(path.join(root, 'f'), 'utf8'), 'newer\n');
    assert.equal((await stat(path.join(root, 'f'))).mode & 0o777, 0o600);
    assert.equal(r1.backup, '/f.20250801-120000.bak');
    assert.equal(r2.backup, '/f.20250801-120000.1.bak');
    assert.equal(await readFile(path.join(root, 'f.20250801-120000.bak'), 'utf8'), 'old\n');
    assert.equal(await readFile(path.join(root, 'f.20250801-120000.1.bak'), 'utf8'), 'new\n');
  });

  it('changes nothing when the content, mode and owner are already right', async (t) => {
    const root = await tempRoot(t);
    const fs = createRootFs(root);
    await fs.writeFileAtomic('/f', 'same\n', { mode: 0o644 });
    const r = await fs.writeFileAtomic('/f', 'same\n', { mode: 0o644 });
    assert.equal(r.changed, false);
    assert.deepEqual(await readdir(root), ['f']);
  });

  it('leaves the old file intact when the writer is killed before the rename', async (t) => {
    const root = await tempRoot(t);
    const target = path.join(root, 'policy.json');
    await writeFile(target, '{"old":true}\n');
    const child = execa(
      process.execPath,
      ['--conditions=podsec-source', path.join(here, 'test-helpers/atomic-writer.ts'), root],
      {
        reject: false,
        stdout: 'pipe',
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('before-rename')) resolve();
      });
      void child.then(() => reject(new Error('writer exited before the rename point')));
    });
    child.kill('SIGKILL');
    await child;
    assert.equal(await readFile(target, 'utf8'), '{"old":true}\n');
  });
});

describe('withLock', () => {
  it('loses no update when many processes read-modify-write one file at once', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'counter'), '0');
    const workers = 6;
    const rounds = 15;
    const script = path.join(here, 'test-helpers/lock-incrementer.ts');
    await Promise.all(
      Array.from({ length: workers }, () =>
        execa(process.execPath, ['--conditions=podsec-source', script, root, String(rounds)]),
      ),
    );
    assert.equal(await readFile(path.join(root, 'counter'), 'utf8'), String(workers * rounds));
    assert.equal((await readdir(root)).filter((n) => n.includes('.lock')).length, 0);
  });

  it('takes over the lock of a process that died', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'f'), '');
    await writeFile(path.join(root, 'f.lock'), '999999999');
    const fs = createRootFs(root);
    assert.equal(await fs.withLock('/f', async () => 'ran', { timeoutMs: 2000 }), 'ran');
  });

  it('times out while a live process holds the lock', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'f.lock'), String(process.pid));
    const fs = createRootFs(root);
    await assert.rejects(
      fs.withLock('/f', async () => 'ran', { timeoutMs: 100 }),
      { code: 'FS_LOCK_TIMEOUT' },
    );
  });
});

describe('withLock in a fresh root', () => {
  it('creates the directory of the lock file (e.g. /run)', async (t) => {
    const fs = createRootFs(await tempRoot(t));
    assert.equal(await fs.withLock('/run/podsec.lock', async () => 'ran'), 'ran');
  });
});
