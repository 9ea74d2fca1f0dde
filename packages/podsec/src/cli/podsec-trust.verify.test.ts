import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoTime } from './podsec-trust.verify.ts';

describe('isoTime', () => {
  it('prints what Date#toISOString prints, for every time an OpenPGP signature can carry', () => {
    // the epoch, ends of minutes, days, years and centuries, a leap day, a fraction, the last uint32 second
    const times = [
      0,
      1,
      59,
      60,
      86_399,
      86_400,
      946_684_799,
      951_782_400,
      1_796_185_747,
      1.5,
      2 ** 32 - 1,
    ];
    for (let s = 0; s < 2 ** 32; s += 7_654_321) times.push(s);
    for (const s of times) assert.equal(isoTime(s), new Date(s * 1000).toISOString(), String(s));
  });
});
