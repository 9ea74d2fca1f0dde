// isLiveProcess against real processes of this host: a running one, a real zombie (a child whose parent never
// waits: sh execs sleep after starting it) and a pid that does not exist.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem, spawnZombie } from '@podsec/test-utils';
import { isLiveProcess } from './proc.ts';

describe('isLiveProcess', () => {
  it('a running process is live; a zombie, a pid that does not exist and garbage are not', async (t) => {
    const sys = await createTestSystem(t);
    const { zombie, parent } = await spawnZombie(t);
    assert.equal(await isLiveProcess(sys, zombie), false);
    assert.equal(await isLiveProcess(sys, parent), true);
    assert.equal(await isLiveProcess(sys, process.pid), true);
    assert.equal(await isLiveProcess(sys, 2 ** 22 + 1), false);
    assert.equal(await isLiveProcess(sys, -1), false);
    assert.equal(await isLiveProcess(sys, 1.5), false);
  });
});
