import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execa } from 'execa';

const here = new URL('./stderr.ts', import.meta.url).href;

describe('writeStderr', () => {
  it('writes every byte to a pipe in order without loading node:net', async () => {
    const script = `
      const { writeStderr } = await import(${JSON.stringify(here)});
      writeStderr('one\\n');
      writeStderr('два ' + 'x'.repeat(200000) + '\\n');
      const net = process.moduleLoadList.includes('NativeModule net');
      process.stdout.write(JSON.stringify(net));
    `;
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    assert.equal(r.stderr, `one\nдва ${'x'.repeat(200000)}`);
    // stdout on a pipe is a socket: net is checked before the first write to stdout
    assert.equal(r.stdout, 'false');
  });

  it('drops the text when nobody reads standard error (EPIPE) instead of failing', async () => {
    const script = `
      const { writeStderr } = await import(${JSON.stringify(here)});
      for (let i = 0; i < 100; i++) writeStderr('x'.repeat(100000));
      process.stdout.write('done');
    `;
    const child = execa(process.execPath, ['--input-type=module', '-e', script], {
      stderr: 'pipe',
      reject: false,
    });
    child.stderr.destroy();
    const r = await child;
    assert.equal(r.stdout, 'done');
    assert.equal(r.exitCode, 0);
  });
});
