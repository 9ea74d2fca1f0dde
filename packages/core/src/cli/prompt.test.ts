import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { requireCommand } from '@podsec/test-utils';
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
    const r = await execa(
      'python3',
      [
        '-c',
        PTY,
        process.execPath,
        '--conditions=podsec-source',
        '--input-type=module',
        '-e',
        main,
      ],
      { env: { LANG: 'C', ANSWER: 'Hunter2 secret' }, timeout: 60_000, reject: false },
    );
    assert.equal(r.exitCode, 0, `${r.stderr}\n${r.stdout}`);
    const out = r.stdout;
    assert.match(out, /Secret: /);
    assert.doesNotMatch(out, /Hunter2/, 'the answer is never echoed');
    assert.match(out, new RegExp(`RESULT:${Buffer.from('Hunter2 secret').toString('hex')}`));
  });
});

/** Runs argv[1:] in a pty, types $ANSWER at the prompt, prints what the terminal showed. */
const PTY = `
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
def more(deadline):
    global out
    r, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    out += chunk
    return bool(chunk)
deadline = time.time() + 50
while b'Secret: ' not in out:
    if not more(deadline):
        raise SystemExit('no prompt in %r' % out)
os.write(fd, os.environ['ANSWER'].encode() + b'\\r')
while more(deadline):
    pass
os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf8', 'replace'))
`;
