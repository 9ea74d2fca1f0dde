import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { requireCommand, runInPty } from '@podsec/test-utils';
import { readHiddenLine } from './prompt.ts';

/** A stream that answers `text` once the prompt has resumed it. */
function answering(text: string): PassThrough {
  const s = new PassThrough();
  const resume = s.resume.bind(s);
  s.resume = () => {
    setImmediate(() => s.write(text));
    return resume();
  };
  return s;
}

describe('readHiddenLine', () => {
  it('reads one line of a stream that is not a terminal, with backspace editing, bounded', async () => {
    let shown = '';
    const w = (s: string) => (shown += s);
    assert.equal(await readHiddenLine(answering('pa\u007fass\nrest'), w, 'Secret: '), 'pass');
    assert.equal(shown, 'Secret: \n');
    await assert.rejects(readHiddenLine(answering('x'.repeat(20)), w, '', { maxBytes: 10 }), {
      code: 'PROMPT_TOO_LONG',
    });
    await assert.rejects(readHiddenLine(answering('ab\u0003'), w, ''), { code: 'PROMPT_ABORTED' });
    const ended = new PassThrough();
    ended.end();
    await assert.rejects(readHiddenLine(ended, w, ''), { code: 'PROMPT_ABORTED' });
  });

  it('refuses a stream that is not a terminal with requireTty, with the caller error', async () => {
    const mine = () => Object.assign(new Error('mine'), { code: 'MINE' });
    await assert.rejects(
      readHiddenLine(answering('x\n'), () => undefined, '', { requireTty: true, aborted: mine }),
      { code: 'MINE' },
    );
  });

  // A real terminal (python3's pty module): raw mode, no echo of what is typed.
  it('on a terminal: shows the prompt, does not echo the answer, returns it', async (t) => {
    if (requireCommand(t, 'python3') === undefined) return;
    const prompt = fileURLToPath(new URL('./prompt.ts', import.meta.url));
    const main =
      `const { readHiddenLine } = await import(${JSON.stringify(pathToFileURL(prompt).href)});` +
      `const a = await readHiddenLine(process.stdin, (s) => process.stderr.write(s), 'Secret: ', { requireTty: true });` +
      `process.stdout.write('RESULT:' + Buffer.from(a).toString('hex') + '\\n');`;
    const r = await runInPty(
      process.execPath,
      ['--conditions=podsec-source', '--input-type=module', '-e', main],
      { env: { LANG: 'C' }, steps: [{ expect: 'Secret: ', send: 'Hunter2 secret' }] },
    );
    assert.equal(r.code, 0, r.out);
    const out = r.out;
    assert.match(out, /Secret: /);
    assert.doesNotMatch(out, /Hunter2/, 'the answer is never echoed');
    assert.match(out, new RegExp(`RESULT:${Buffer.from('Hunter2 secret').toString('hex')}`));
  });
});
