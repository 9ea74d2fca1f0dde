import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem } from '@podsec/test-utils';
import { allocateSubIds, planSubIdRange } from './subid.ts';
import { parseSubIds } from './users.ts';

function assertNoOverlap(ranges: ReadonlyArray<{ start: number; count: number }>) {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    assert.ok(
      prev.start + prev.count <= sorted[i]!.start,
      `overlap at ${prev.start}+${prev.count} / ${sorted[i]!.start}`,
    );
  }
}

describe('planSubIdRange', () => {
  it('finds the first gap big enough', () => {
    const taken = [
      { owner: 'a', start: 100000, count: 65536 },
      { owner: 'b', start: 300000, count: 10 },
    ];
    assert.equal(planSubIdRange(taken, 65536, 100000, 1e9), 165536);
    assert.equal(planSubIdRange(taken, 200000, 100000, 1e9), 300010);
  });
  it('fails when the id space is exhausted', () => {
    assert.throws(
      () => planSubIdRange([{ owner: 'a', start: 100000, count: 100 }], 100, 100000, 100150),
      { code: 'SUBID_EXHAUSTED' },
    );
  });
});

describe('allocateSubIds', () => {
  it('never overlaps across 100 allocations (sequential and concurrent), honouring foreign entries', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { 'etc/subuid': 'legacy:150000:1000\nother:400000:70000\n' },
    });
    const names = Array.from({ length: 100 }, (_, i) => `user${i}`);
    // half at once (the lock serialises them), half one after another
    await Promise.all(
      names.slice(0, 50).map((n) => allocateSubIds(sys.fs, n, '/etc/subuid', { count: 65536 })),
    );
    for (const n of names.slice(50))
      await allocateSubIds(sys.fs, n, '/etc/subuid', { count: 4096 });
    const ranges = parseSubIds(await sys.fs.readText('/etc/subuid'));
    assert.equal(ranges.length, 102);
    assertNoOverlap(ranges);
    for (const r of ranges) assert.ok(r.start >= 100000);
  });

  it('is idempotent for a user that already has a range', async (t) => {
    const sys = await createTestSystem(t, { tree: { 'etc/subgid': 'bob:200000:65536\n' } });
    const r = await allocateSubIds(sys.fs, 'bob', '/etc/subgid');
    assert.deepEqual(r, { range: { owner: 'bob', start: 200000, count: 65536 }, created: false });
    assert.equal(await sys.fs.readText('/etc/subgid'), 'bob:200000:65536\n');
  });
});
