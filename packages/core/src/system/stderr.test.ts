import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execa } from 'execa';

const here = new URL('./stderr.ts', import.meta.url).href;

describe('writeStderr, writeStdout', () => {
  it('write every byte to a pipe in order without loading node:net', async () => {
    const script = `
      const { writeStderr, writeStdout } = await import(${JSON.stringify(here)});
      writeStderr('one\\n');
      writeStdout('out ');
      writeStderr('два ' + 'x'.repeat(200000) + '\\n');
      writeStdout('три ' + 'y'.repeat(200000) + ' ');
      writeStdout(JSON.stringify(process.moduleLoadList.includes('NativeModule net')));
    `;
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], {
      stdout: 'pipe',
      stderr: 'pipe',
    });
    assert.equal(r.stderr, `one\nдва ${'x'.repeat(200000)}`);
    assert.equal(r.stdout, `out три ${'y'.repeat(200000)} false`);
  });

  it('keep the order once a full non-blocking descriptor sent text through the stream', async () => {
    // a non-blocking pipe nobody reads yet: the first large write fills it (EAGAIN), the rest must queue behind
    const script = `
      const { writeStdout } = await import(${JSON.stringify(here)});
      process.stdout._handle?.setBlocking?.(false);
      writeStdout('a'.repeat(1 << 20));
      for (let i = 0; i < 100; i++) writeStdout(String(i % 10));
    `;
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], {
      stdout: 'pipe',
    });
    assert.equal(r.stdout, 'a'.repeat(1 << 20) + '0123456789'.repeat(10));
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
