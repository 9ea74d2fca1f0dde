// isLiveProcess against real processes of this host: a running one, a real zombie (a child whose parent never
// waits: sh execs sleep after starting it) and a pid that does not exist.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { createTestSystem } from '@podsec/test-utils';
import { isLiveProcess } from './proc.ts';

describe('isLiveProcess', () => {
  it('a running process is live; a zombie, a pid that does not exist and garbage are not', async (t) => {
    const sys = await createTestSystem(t);
    // sh starts a short sleep in the background, prints its pid and becomes `sleep 30`, which never reaps it; the
    // background child outlives the exec (a `true` could exit and be reaped by sh itself before the exec)
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    t.after(() => parent.kill('SIGKILL'));
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const zombie = Number(String(line).trim());
    let state = '';
    for (let i = 0; i < 200 && state !== 'Z'; i++) {
      const stat = await readFile(`/proc/${zombie}/stat`, 'utf8').catch(() => '');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z') await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(state, 'Z', 'the background child became a zombie');
    assert.equal(await isLiveProcess(sys, zombie), false);
    assert.equal(await isLiveProcess(sys, parent.pid!), true);
    assert.equal(await isLiveProcess(sys, process.pid), true);
    assert.equal(await isLiveProcess(sys, 2 ** 22 + 1), false);
    assert.equal(await isLiveProcess(sys, -1), false);
    assert.equal(await isLiveProcess(sys, 1.5), false);
  });
});
