import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../errors.ts';
import { createRootFs } from './node-fs.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

async function tempRoot(t: TestContext): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'podsec-fs-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** Every fs/promises call and FileHandle is an async resource of its own; synchronous calls are none. */
function threadPoolRequests(): { kinds: string[]; hook: ReturnType<typeof createHook> } {
  const kinds: string[] = [];
  const hook = createHook({
    init: (_id, type) => {
      if (/^(FSREQ|FILEHANDLE)/.test(type)) kinds.push(type);
    },
  }).enable();
  return { kinds, hook };
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

describe('descriptor walk', () => {
  it('follows links out of trusted directories only; refuses one in a directory another user can write', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc'));
    await writeFile(path.join(root, 'etc/f'), 'x');
    await mkdir(path.join(root, 'open'), { mode: 0o777 });
    await chmod(path.join(root, 'open'), 0o777);
    await symlink('/etc', path.join(root, 'open/link'));
    await symlink('/etc', path.join(root, 'trusted-link'));
    const fs = createRootFs(root);
    assert.equal(await fs.readText('/trusted-link/f'), 'x');
    await assert.rejects(fs.readText('/open/link/f'), { code: 'FS_UNSAFE_PATH' });
    await assert.rejects(fs.writeFileAtomic('/open/link/g', 'y'), { code: 'FS_UNSAFE_PATH' });
    await assert.rejects(fs.chmod('/open/link', 0o777), { code: 'FS_UNSAFE_PATH' });
    // chown of the link itself is lchown: the target keeps its owner
    await fs.chown('/open/link', 4711, 4711);
    assert.equal((await stat(path.join(root, 'etc'))).uid, 0);
  });

  it('reads bounded, and reports a directory or FIFO where a file is expected', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'big'), 'x'.repeat(2000));
    await mkdir(path.join(root, 'dir'));
    await execa('mkfifo', [path.join(root, 'fifo')]);
    const fs = createRootFs(root);
    await assert.rejects(fs.readFile('/big', { maxBytes: 1000 }), { code: 'FS_TOO_LARGE' });
    assert.equal((await fs.readFile('/big', { maxBytes: 2000 })).length, 2000);
    await assert.rejects(fs.readFile('/dir'), { code: 'FS_IS_A_DIRECTORY' });
    await assert.rejects(fs.readFile('/fifo'), { code: 'FS_NOT_A_FILE' });
    await assert.rejects(fs.readFile('/missing'), { code: 'FS_NOT_FOUND' });
  });

  it('walks, stats, lists and reads with no thread pool round trip (what a read-only command does)', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc/containers/registries.d'), { recursive: true });
    await writeFile(path.join(root, 'etc/containers/policy.json'), '{}');
    await writeFile(path.join(root, 'etc/containers/registries.d/default.yaml'), 'x: 1\n');
    await symlink('containers', path.join(root, 'etc/c'));
    const fs = createRootFs(root);
    const { kinds, hook } = threadPoolRequests();
    try {
      assert.equal(await fs.readText('/etc/c/policy.json'), '{}');
      assert.equal(await fs.readTextIfExists('/etc/containers/missing.json'), undefined);
      assert.equal((await fs.stat('/etc/containers/policy.json'))?.kind, 'file');
      assert.equal(await fs.exists('/etc/c'), true);
      assert.deepEqual(await fs.readdir('/etc/containers/registries.d'), ['default.yaml']);
      const read = await fs.withDirReader!('/etc/containers/registries.d', (r) =>
        r('default.yaml', 100),
      );
      assert.equal(read.kind, 'file');
    } finally {
      hook.disable();
    }
    assert.deepEqual(kinds, []);
  });

  it('creates directories and takes and releases a lock with no thread pool round trip (the way in of a signature)', async (t) => {
    const root = await tempRoot(t);
    const fs = createRootFs(root);
    const { kinds, hook } = threadPoolRequests();
    let held = false;
    try {
      await fs.mkdir('/var/sigstore/sigstore/app@sha256=1', { mode: 0o750 });
      await fs.mkdir('/var/sigstore/sigstore/app@sha256=1');
      await fs.withLock('/var/sigstore/sigstore/app@sha256=1', () => {
        held = existsSync(path.join(root, 'var/sigstore/sigstore/app@sha256=1.lock'));
        return Promise.resolve();
      });
    } finally {
      hook.disable();
    }
    assert.deepEqual(kinds, []);
    assert.ok(held, 'the lock file exists while the lock is held');
    assert.equal(
      (await stat(path.join(root, 'var/sigstore/sigstore/app@sha256=1'))).mode & 0o777,
      0o750,
    );
    assert.deepEqual(await readdir(path.join(root, 'var/sigstore/sigstore')), ['app@sha256=1']);
  });

  it('reads files whose size fstat does not tell (procfs: 0) and files larger than one read', async (t) => {
    const root = await tempRoot(t);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'abc');
    await writeFile(path.join(root, 'big'), big);
    const fs = createRootFs(root);
    assert.deepEqual(Buffer.from(await fs.readFile('/big')), big);
    // /proc/self/status: st_size 0, contents of a few hundred bytes, read whole
    const status = await createRootFs('/').readText('/proc/self/status');
    assert.match(status, /^Name:/);
    assert.match(status, /\nVmRSS:/);
    await assert.rejects(createRootFs('/').readFile('/proc/self/status', { maxBytes: 10 }), {
      code: 'FS_TOO_LARGE',
    });
  });

  it('reads an integer sysctl whole (it answers only a read at offset 0)', async () => {
    for (const p of ['/proc/sys/fs/inotify/max_user_instances', '/proc/sys/kernel/pid_max'])
      assert.equal(await createRootFs('/').readText(p), await readFile(p, 'utf8'), p);
  });

  it('chownTree changes the tree, lchowns its links and leaves their targets alone', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'home/u/sub'), { recursive: true });
    await writeFile(path.join(root, 'home/u/sub/f'), 'x');
    await writeFile(path.join(root, 'outside'), 'x');
    await symlink('/outside', path.join(root, 'home/u/sub/l'));
    await symlink(path.join(root, 'outside'), path.join(root, 'home/u/abs'));
    const fs = createRootFs(root);
    await fs.chownTree('/home/u', 4711, 4712);
    for (const p of ['home/u', 'home/u/sub', 'home/u/sub/f'])
      assert.equal((await stat(path.join(root, p))).uid, 4711, p);
    assert.equal((await lstat(path.join(root, 'home/u/sub/l'))).uid, 4711);
    assert.equal((await stat(path.join(root, 'outside'))).uid, 0);
  });

  it('removes a tree without following links out of it', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'keep'));
    await writeFile(path.join(root, 'keep/f'), 'x');
    await mkdir(path.join(root, 'gone/sub'), { recursive: true });
    await symlink('/keep', path.join(root, 'gone/sub/l'));
    await symlink(path.join(root, 'keep'), path.join(root, 'gone/abs'));
    const fs = createRootFs(root);
    await fs.remove('/gone', { recursive: true });
    assert.deepEqual((await readdir(root)).sort(), ['keep']);
    assert.deepEqual(await readdir(path.join(root, 'keep')), ['f']);
  });

  it('withDir pins the directory for a tool run inside it', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'd'));
    const fs = createRootFs(root);
    const out = await fs.withDir('/d', async (pinned) => {
      await writeFile(path.join(pinned, 'made'), 'y');
      return (await execa('pwd', [], { cwd: pinned })).stdout;
    });
    assert.equal(out, path.join(root, 'd'));
    assert.equal(await readFile(path.join(root, 'd/made'), 'utf8'), 'y');
  });

  it('withDirReader reads the files of one pinned directory, reports links, FIFOs and sizes, follows nothing', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'd'));
    await writeFile(path.join(root, 'd/f'), 'content');
    await writeFile(path.join(root, 'd/big'), Buffer.alloc(100));
    await writeFile(path.join(root, 'secret'), 'outside');
    await symlink('/secret', path.join(root, 'd/link'));
    await execa('mkfifo', [path.join(root, 'd/fifo')]);
    await mkdir(path.join(root, 'd/sub'));
    const fs = createRootFs(root);
    const got = await fs.withDirReader!('/d', async (read) => {
      const text = async (name: string, max = 1000) => {
        const r = await read(name, max);
        return r.kind === 'file' ? Buffer.from(r.data).toString() : r;
      };
      const first = await text('f');
      // the directory stays the one opened: renamed away and replaced, the reader still sees its files
      await rename(path.join(root, 'd'), path.join(root, 'moved'));
      await mkdir(path.join(root, 'd'));
      await writeFile(path.join(root, 'd/f'), 'planted');
      return {
        first,
        again: await text('f'),
        missing: await text('nothing'),
        link: await text('link'),
        fifo: await text('fifo'),
        sub: await text('sub'),
        big: await text('big', 99),
        fits: ((await read('big', 100)) as { data: Uint8Array }).data.length,
      };
    });
    assert.deepEqual(got, {
      first: 'content',
      again: 'content',
      missing: { kind: 'missing' },
      link: { kind: 'symlink' },
      fifo: { kind: 'other' },
      sub: { kind: 'other' },
      big: { kind: 'too-large', size: 100 },
      fits: 100,
    });
    await fs.withDirReader!('/moved', async (read) => {
      for (const name of ['../secret', '..', '.', '', 'a/b'])
        await assert.rejects(read(name, 10), /FS_UNSAFE_PATH|refusing/, name);
    });
    await assert.rejects(
      fs.withDirReader!('/missing', async () => 'reached'),
      (e: unknown) => e instanceof NotFoundError,
    );
  });

  it('withPinned pins a file, directory or socket; refuses a link in a directory another user can write', async (t) => {
    const root = await tempRoot(t);
    await mkdir(path.join(root, 'etc'));
    await writeFile(path.join(root, 'etc/f'), 'x');
    await mkdir(path.join(root, 'open'));
    await chmod(path.join(root, 'open'), 0o777);
    await symlink('/etc/f', path.join(root, 'open/link'));
    await symlink('/etc', path.join(root, 'open/dirlink'));
    await symlink('/etc', path.join(root, 'trusted-link'));
    const fs = createRootFs(root);
    const got = await fs.withPinned('/trusted-link/f', async (p) => ({
      kind: p.kind,
      text: await readFile(p.path, 'utf8'),
    }));
    assert.deepEqual(got, { kind: 'file', text: 'x' });
    assert.equal(await fs.withPinned('/etc', async (p) => p.kind), 'dir');
    for (const p of ['/open/link', '/open/dirlink/f'])
      await assert.rejects(
        fs.withPinned(p, async () => 'reached'),
        { code: 'FS_UNSAFE_PATH' },
        p,
      );
    await assert.rejects(
      fs.withPinned('/open/missing', async () => 'reached'),
      {
        code: 'FS_NOT_FOUND',
      },
    );
  });

  it('refuses a --root that is missing or a file', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'file'), '');
    await assert.rejects(createRootFs(path.join(root, 'nope')).readText('/etc/passwd'), {
      code: 'FS_ROOT_MISSING',
    });
    await assert.rejects(createRootFs(path.join(root, 'file')).stat('/etc'), {
      code: 'FS_ROOT_NOT_DIR',
    });
  });
});

describe('withLock on a garbage lock file', () => {
  it('reports it at once instead of waiting', async (t) => {
    const root = await tempRoot(t);
    await writeFile(path.join(root, 'f.lock'), 'garbage\n');
    const fs = createRootFs(root);
    const start = Date.now();
    await assert.rejects(
      fs.withLock('/f', async () => 'ran', { timeoutMs: 20_000 }),
      { code: 'FS_LOCK_GARBAGE' },
    );
    assert.ok(Date.now() - start < 2000);
  });
});
