import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requireAttackTools } from '@podsec/test-utils';
import { createProcessRunner } from './process.ts';

describe('createProcessRunner runAs', () => {
  it('runs the tool with the given uid, gid and groups only, in /', async (t) => {
    if (!requireAttackTools(t)) return;
    const proc = createProcessRunner({ PATH: process.env['PATH'] });
    const r = await proc.run(
      'sh',
      ['-c', 'id -u; id -g; id -G; pwd; grep CapEff /proc/self/status'],
      {
        runAs: { uid: 4711, gid: 4712, groups: [4713] },
      },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const [uid, gid, groups, cwd, caps] = r.stdout.trim().split('\n');
    assert.equal(uid, '4711');
    assert.equal(gid, '4712');
    assert.deepEqual(groups!.split(' ').sort(), ['4712', '4713']);
    assert.equal(cwd, '/');
    assert.match(caps!, /CapEff:\s+0+$/);
    const none = await proc.run('id', ['-G'], { runAs: { uid: 4711, gid: 4712 } });
    assert.equal(none.stdout.trim(), '4712');
  });

  it('refuses to "drop" to root or to a missing (negative) user', async () => {
    const proc = createProcessRunner({});
    await assert.rejects(proc.run('id', [], { runAs: { uid: 0, gid: 0 } }), {
      code: 'PROC_BAD_CREDENTIALS',
    });
    await assert.rejects(proc.run('id', [], { runAs: { uid: -1, gid: 5 } }), {
      code: 'PROC_BAD_CREDENTIALS',
    });
  });
});
