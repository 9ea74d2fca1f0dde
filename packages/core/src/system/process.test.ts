import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requireAttackTools } from '@podsec/test-utils';
import { createProcessRunner } from './process.ts';
import { runSignalCleanup } from './temp.ts';

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

describe('createProcessRunner run', () => {
  const proc = createProcessRunner({ PATH: process.env['PATH'], BASE: 'base', GONE: 'x' });

  it('returns exit code, stdout and stderr unchanged (no final newline stripped), and takes input', async () => {
    const r = await proc.run('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'hello\n' });
    assert.deepEqual(r, { exitCode: 3, stdout: 'hello\n', stderr: 'err\n' });
  });

  it('passes exactly the environment given (base, then options; undefined removes)', async () => {
    const r = await proc.run('env', [], { env: { EXTRA: '1', GONE: undefined } });
    const names = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0])
      .sort();
    assert.deepEqual(names, ['BASE', 'EXTRA', 'PATH']);
  });

  it('returns raw bytes with binary, decoded text otherwise (also across chunk boundaries)', async () => {
    const b = await proc.run('printf', ['\\377\\000\\001'], { binary: true });
    assert.deepEqual([...(b.stdoutBytes ?? [])], [255, 0, 1]);
    const big = await proc.run('sh', [
      '-c',
      'i=0; while [ $i -lt 30000 ]; do printf "ж"; i=$((i+1)); done',
    ]);
    assert.equal(big.stdout, 'ж'.repeat(30000));
  });

  it('kills a child that runs past its timeout and says so', async () => {
    const t0 = Date.now();
    const r = await proc.run('sleep', ['30'], { timeoutMs: 200 });
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGTERM');
    assert.equal(r.exitCode, 128);
  });

  it('a program that cannot start is PROC_SPAWN_FAILED', async () => {
    await assert.rejects(proc.run('/nonexistent/tool', []), {
      code: 'PROC_SPAWN_FAILED',
      message: /cannot run \/nonexistent\/tool/,
    });
  });

  it('does not fail when the child exits without reading its input', async () => {
    const r = await proc.run('true', [], { input: 'x'.repeat(4 * 1024 * 1024) });
    assert.equal(r.exitCode, 0);
  });

  it('a signal that ends the command kills the running child first', async () => {
    const running = proc.run('sleep', ['30']);
    await new Promise((r) => setTimeout(r, 200));
    runSignalCleanup();
    const r = await running;
    assert.equal(r.signal, 'SIGKILL');
  });
});
