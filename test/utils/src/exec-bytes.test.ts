import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execBytes } from './exec-bytes.ts';

describe('execBytes', () => {
  it('keeps a final LF and CR LF of binary output (execa would strip them)', async () => {
    // the last bytes of a key packet can be anything; 0x0a and 0x0d 0x0a are the ones execa strips
    const lf = await execBytes(process.execPath, [
      '-e',
      'process.stdout.write(Buffer.from([0x99, 1, 10]))',
    ]);
    assert.deepEqual([...lf], [0x99, 1, 10]);
    const crlf = await execBytes(process.execPath, [
      '-e',
      'process.stdout.write(Buffer.from([7, 13, 10]))',
    ]);
    assert.deepEqual([...crlf], [7, 13, 10]);
  });

  it('passes input through and rejects on a failing tool', async () => {
    const echoed = await execBytes('cat', [], { input: Buffer.from('a\n\n') });
    assert.equal(Buffer.from(echoed).toString(), 'a\n\n');
    await assert.rejects(execBytes('false', []));
  });
});
