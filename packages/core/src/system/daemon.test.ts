import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createDaemonLauncher, planRunAs, type DaemonEvent } from './daemon.ts';

const launcher = createDaemonLauncher({ uid: process.geteuid?.() ?? 0 });
const env = { PATH: process.env['PATH'] };
const isRoot = process.geteuid?.() === 0;

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-daemon-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('planRunAs', () => {
  it('leaves the command alone for the same user and wraps it in setpriv for root', () => {
    assert.deepEqual(planRunAs({ uid: 5 }, { uid: 5, gid: 5 }, 'id', ['-u']), {
      file: 'id',
      args: ['-u'],
    });
    assert.deepEqual(planRunAs({ uid: 0 }, { uid: 999, gid: 995 }, 'id', ['-u']), {
      file: 'setpriv',
      args: ['--reuid=999', '--regid=995', '--init-groups', '--', 'id', '-u'],
    });
  });
  it('refuses to switch users without root', () => {
    assert.throws(() => planRunAs({ uid: 5 }, { uid: 6, gid: 6 }, 'id', []), {
      code: 'DAEMON_NOT_ROOT',
    });
  });
});

describe('createDaemonLauncher', () => {
  it('waits for readiness, then stop kills the whole session including a child that ignores SIGTERM', async (t) => {
    const dir = await tempDir(t);
    const marker = path.join(dir, 'ready');
    const d = await launcher.start({
      name: 'sh',
      file: 'sh',
      args: [
        '-c',
        `(trap '' TERM; while :; do sleep 1; done) & sleep 0.2; : > ${marker}; while :; do sleep 1; done`,
      ],
      env,
      ready: { probe: () => exists(marker), timeoutMs: 5000 },
    });
    assert.equal(d.state(), 'ready');
    const sid = d.pid()!;
    assert.ok((await launcher.sessionProcesses(sid)).length >= 2);
    await d.stop(300);
    assert.deepEqual(await launcher.sessionProcesses(sid), []);
    assert.equal(d.state(), 'stopped');
  });

  it('restarts a crashed daemon and becomes ready again', async (t) => {
    const dir = await tempDir(t);
    const events: DaemonEvent['type'][] = [];
    const d = await launcher.start({
      name: 'sleeper',
      file: 'sh',
      args: ['-c', `echo $$ > ${dir}/pid; exec sleep 60`],
      env,
      ready: { probe: () => exists(`${dir}/pid`), timeoutMs: 5000 },
      restart: { policy: 'on-failure', delayMs: 50 },
      onEvent: (e) => events.push(e.type),
    });
    const first = d.pid()!;
    await rm(`${dir}/pid`);
    process.kill(first, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while ((d.restarts() < 1 || d.state() !== 'ready') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(d.restarts(), 1);
    assert.equal(d.state(), 'ready');
    assert.notEqual(d.pid(), first);
    await d.stop();
    assert.deepEqual(events, [
      'started',
      'ready',
      'exited',
      'restarting',
      'started',
      'ready',
      'exited',
      'stopped',
    ]);
  });

  it('rejects with the output tail when the daemon exits before it is ready, leaving nothing running', async () => {
    await assert.rejects(
      launcher.start({
        name: 'broken',
        file: 'sh',
        args: ['-c', 'echo boom >&2; exit 3'],
        env,
        ready: { probe: () => Promise.resolve(false), timeoutMs: 5000 },
      }),
      (e: Error & { code?: string }) =>
        e.code === 'DAEMON_FAILED' && /exit code 3/.test(e.message) && /boom/.test(e.message),
    );
  });

  it('gives up after the readiness timeout and kills the process group', async () => {
    const started = Date.now();
    let pid = 0;
    await assert.rejects(
      launcher.start({
        name: 'slow',
        file: 'sleep',
        args: ['30'],
        env,
        ready: { probe: () => Promise.resolve(false), timeoutMs: 300, intervalMs: 50 },
        onEvent: (e) => {
          if (e.type === 'started') pid = e.pid!;
        },
      }),
      /not ready after 300 ms/,
    );
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await launcher.sessionProcesses(pid), []);
  });

  it('runs a daemon as another user when root', { skip: !isRoot && 'needs root' }, async (t) => {
    const dir = await tempDir(t);
    await writeFile(`${dir}/x`, '');
    let pid = 0;
    const status = () => readFile(`/proc/${pid}/status`, 'utf8');
    const d = await launcher.start({
      name: 'nobody',
      file: 'sleep',
      args: ['30'],
      env,
      user: { uid: 65534, gid: 65534, name: 'nobody' },
      // ready once setpriv has exec'd sleep
      ready: { probe: async () => (await status()).includes('Name:\tsleep') },
      onEvent: (e) => {
        if (e.type === 'started') pid = e.pid!;
      },
    });
    assert.match(await status(), /^Uid:\s+65534\s+65534/m);
    assert.match(await status(), /^CapEff:\s+0+$/m);
    assert.ok((await launcher.userProcesses(65534)).includes(d.pid()!));
    await d.stop();
  });

  it('spawnDetached writes stdout and stderr to the log file (0600, truncated, a link not followed)', async (t) => {
    const dir = await tempDir(t);
    const log = path.join(dir, 'run.log');
    await writeFile(log, 'an older and much longer run\n'.repeat(10), { mode: 0o644 });
    const c = launcher.spawnDetached({
      name: 'logged',
      file: 'sh',
      args: ['-c', 'echo out; echo err >&2'],
      env,
      logFile: log,
    });
    assert.ok(c.pid !== undefined);
    for (let i = 0; i < 200 && c.running(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.running(), false);
    assert.equal(await readFile(log, 'utf8'), 'out\nerr\n');
    // the mode of a file that existed stays; a new one is 0600
    const fresh = path.join(dir, 'new.log');
    const d = launcher.spawnDetached({ name: 'n', file: 'true', args: [], env, logFile: fresh });
    for (let i = 0; i < 200 && d.running(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await stat(fresh)).mode & 0o777, 0o600);
    // a symlink planted as the log file is refused, and its target not truncated
    const target = path.join(dir, 'target');
    await writeFile(target, 'keep');
    await symlink(target, path.join(dir, 'link.log'));
    assert.throws(
      () =>
        launcher.spawnDetached({
          name: 'l',
          file: 'true',
          args: [],
          env,
          logFile: path.join(dir, 'link.log'),
        }),
      { code: 'PROC_SPAWN_FAILED', message: /ELOOP/ },
    );
    assert.equal(await readFile(target, 'utf8'), 'keep');
  });

  it('exec returns the exit status of a foreground program', async () => {
    assert.equal(await launcher.exec({ file: 'sh', args: ['-c', 'exit 7'], env }), 7);
  });

  it('replace becomes the program: same pid, its output and exit status, only the given environment', async () => {
    // a real process (replacing the test runner is not an option) that replaces itself with sh
    const script = `import { createDaemonLauncher } from ${JSON.stringify(new URL('./daemon.ts', import.meta.url).href)};
console.error('pid', process.pid);
createDaemonLauncher({ uid: 0 }).replace({ file: '/bin/sh', args: ['-c', 'echo "$$ $FOO $HOME"; exit 7'], env: { FOO: 'bar' } });
console.error('not reached');`;
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...env, HOME: '/nonexistent' },
      timeout: 30_000,
    });
    assert.equal(r.status, 7, r.stderr);
    const pid = /^pid (\d+)$/m.exec(r.stderr)?.[1];
    assert.equal(r.stdout, `${pid} bar \n`);
    assert.doesNotMatch(r.stderr, /not reached/);
    assert.throws(() => launcher.replace({ file: '/nonexistent/prog', args: [], env }), {
      code: 'PROC_SPAWN_FAILED',
    });
  });
});
