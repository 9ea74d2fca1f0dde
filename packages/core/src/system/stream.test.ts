import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { startStreamingProcess } from './stream.ts';
import { runSignalCleanup } from './temp.ts';

const env = { PATH: process.env['PATH'] };

async function work(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-stream-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function drain(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.length;
  return n;
}

describe('startStreamingProcess', () => {
  it('streams a piped stdout and counts its bytes', async () => {
    const p = await startStreamingProcess('head', ['-c', '3000000', '/dev/zero'], {
      env,
      stdout: 'pipe',
    });
    assert.equal(await drain(p.stdout), 3_000_000);
    assert.equal(p.bytesOut, 3_000_000);
    assert.deepEqual(await p.finish(), { exitCode: 0, stderr: '' });
  });

  it('kills a child that writes more than maxStdoutBytes and fails the stream', async () => {
    const p = await startStreamingProcess('cat', ['/dev/zero'], {
      env,
      stdout: 'pipe',
      maxStdoutBytes: 1024 * 1024,
    });
    await assert.rejects(drain(p.stdout), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'PROC_OUTPUT_LIMIT');
      return true;
    });
    assert.ok(p.bytesOut > 1024 * 1024 && p.bytesOut < 8 * 1024 * 1024, String(p.bytesOut));
    const exit = await p.finish();
    assert.equal(exit.signal, 'SIGKILL');
  });

  it('reads stdin from a file and writes stdout into a new file (never over an existing one)', async (t) => {
    const dir = await work(t);
    const input = path.join(dir, 'in');
    await writeFile(input, 'hello, pipe\n');
    const out = path.join(dir, 'out');
    const p = await startStreamingProcess('cat', [], {
      env,
      stdin: { file: input },
      stdout: { createFile: out, mode: 0o600 },
    });
    assert.equal((await p.finish({ sync: true })).exitCode, 0);
    assert.equal(await readFile(out, 'utf8'), 'hello, pipe\n');
    await assert.rejects(
      startStreamingProcess('cat', [], {
        env,
        stdin: { file: input },
        stdout: { createFile: out, mode: 0o600 },
      }),
      (e: Error & { code?: string }) => e.code === 'PROC_SPAWN_FAILED',
    );
    assert.equal(await readFile(out, 'utf8'), 'hello, pipe\n');
  });

  it('takes writes on a piped stdin, waiting while the pipe is full', async () => {
    const p = await startStreamingProcess('wc', ['-c'], { env, stdin: 'pipe', stdout: 'pipe' });
    const out: Uint8Array[] = [];
    const reading = (async () => {
      for await (const c of p.stdout) out.push(c);
    })();
    const chunk = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 8; i++) await p.write(chunk);
    assert.equal((await p.finish()).exitCode, 0);
    await reading;
    assert.equal(Buffer.concat(out).toString().trim(), String(8 * 1024 * 1024));
  });

  it('reports the exit code and the stderr of a failing child', async () => {
    const p = await startStreamingProcess('sh', ['-c', 'echo broken >&2; exit 3'], {
      env,
      stdout: 'pipe',
    });
    assert.equal(await drain(p.stdout), 0);
    assert.deepEqual(await p.finish(), { exitCode: 3, stderr: 'broken\n' });
  });

  it('a signal that ends the command kills the child and removes its unfinished output file', async (t) => {
    const dir = await work(t);
    const out = path.join(dir, 'out');
    const p = await startStreamingProcess('sleep', ['30'], {
      env,
      stdout: { createFile: out, mode: 0o600 },
    });
    assert.ok(existsSync(out));
    runSignalCleanup();
    const exit = await p.finish();
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(existsSync(out), false);
  });
});
