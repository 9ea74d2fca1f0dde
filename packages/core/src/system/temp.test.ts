import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { makeTempDir, onSignalCleanup, removeOnSignal, runSignalCleanup } from './temp.ts';
import { UsageError } from '../errors.ts';

describe('temporary paths removed on signals', () => {
  it('runSignalCleanup runs the hooks and removes registered directories and files, not forgotten ones', async (t) => {
    const parent = await mkdtemp(path.join(tmpdir(), 'podsec-temp-test-'));
    t.after(() => rm(parent, { recursive: true, force: true }));
    const a = await makeTempDir(parent, 'a');
    await writeFile(path.join(a.path, 'x'), 'x');
    const b = await makeTempDir(parent, 'b');
    b.forget();
    const file = path.join(parent, 'file.tmp');
    await writeFile(file, 'y');
    removeOnSignal(file);
    let hooked = 0;
    onSignalCleanup(() => hooked++);
    runSignalCleanup();
    assert.equal(hooked, 1);
    assert.equal(existsSync(a.path), false);
    assert.equal(existsSync(file), false);
    assert.equal(existsSync(b.path), true);
    // remove() after the cleanup is harmless; the hooks ran once
    await a.remove();
    runSignalCleanup();
    assert.equal(hooked, 1);
  });

  it('makeTempDir creates a private directory that remove() deletes', async (t) => {
    const parent = await mkdtemp(path.join(tmpdir(), 'podsec-temp-test-'));
    t.after(() => rm(parent, { recursive: true, force: true }));
    const d = await makeTempDir(parent, 'work');
    assert.match(path.basename(d.path), /^work-/);
    await d.remove();
    assert.equal(existsSync(d.path), false);
  });

  it('makeTempDir in a missing or non-directory parent is a usage error naming the parent', async (t) => {
    const parent = await mkdtemp(path.join(tmpdir(), 'podsec-temp-test-'));
    t.after(() => rm(parent, { recursive: true, force: true }));
    const file = path.join(parent, 'file');
    await writeFile(file, '');
    for (const [where, reason] of [
      [path.join(parent, 'missing'), 'no such directory'],
      [file, 'not a directory'],
    ] as const) {
      await assert.rejects(makeTempDir(where, 'work'), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.code, 'TEMP_DIR_UNUSABLE');
        assert.equal(e.message, `cannot create a temporary directory in ${where}: ${reason}`);
        return true;
      });
    }
  });
});
