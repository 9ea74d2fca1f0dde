/**
 * A real zombie of this host for tests of process liveness: sh starts a short sleep in the background, prints its
 * pid and becomes `sleep 30`, which never reaps it. The background child outlives the exec (a `true` could exit and
 * be reaped by sh itself before the exec). Resolves once /proc says state Z; the parent is killed after the test.
 */
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import type { TestContext } from 'node:test';

export async function spawnZombie(t: TestContext): Promise<{ zombie: number; parent: number }> {
  const parent = execa('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], {
    stdin: 'ignore',
    stderr: 'ignore',
    reject: false,
  });
  t.after(() => {
    parent.kill('SIGKILL');
  });
  // the first line, or nothing when sh ends first (then no pid: the assertion below says so)
  const line = await new Promise<string>((resolve) => {
    parent.stdout.once('data', (d: Buffer) => resolve(String(d)));
    void parent.then(() => resolve(''));
  });
  const zombie = Number(line.trim());
  let state = '';
  for (let i = 0; i < 300 && state !== 'Z'; i++) {
    const stat = await readFile(`/proc/${zombie}/stat`, 'utf8').catch(() => '');
    state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state !== 'Z') await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(state, 'Z', 'the background child became a zombie');
  return { zombie, parent: parent.pid! };
}
