// The u7s namespace for real: u7s-admin is created on this host, podsec-u7s runs as a real process (start
// daemonises its supervisor), and the test removes the user afterwards. Needs root, rootlesskit, slirp4netns,
// nsenter, setpriv and socat. /dev/net/tun is root-only on this machine: allowTun() makes it usable by
// u7s-admin for the duration of the test and restores it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import {
  allowTun,
  freePort,
  lockTestUser,
  removeTestUser,
  requireCommands,
} from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';
import { runU7s as u7s, U7S_MAIN } from '../test-helpers/u7s-runner.ts';

const isRoot = process.geteuid?.() === 0;
const main = U7S_MAIN;
const launcher = createDaemonLauncher({ uid: 0 });
const HOME = '/var/lib/u7s-admin';

async function connectRead(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => c.write('x\n'));
    let data = '';
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.on('data', (d) => (data += String(d)));
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
}

describe('podsec-u7s with a real u7s-admin', { skip: !isRoot && 'needs root' }, () => {
  let libexec = '';
  let release: (() => Promise<void>) | undefined;
  before(async () => {
    // other test files (and worktrees) create and remove u7s-admin too: one at a time
    release = await lockTestUser('u7s-admin');
    await removeTestUser('u7s-admin');
    // a data dir a run that died left, of a former u7s-admin
    await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
    libexec = await mkdtemp(path.join(tmpdir(), 'u7s-libexec-'));
    await chmod(libexec, 0o755);
  });
  after(async () => {
    await u7s(['stop', '--timeout', '10']);
    await removeTestUser('u7s-admin');
    await rm(libexec, { recursive: true, force: true });
    await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
    await release?.();
  });

  it('check 27: start for a real u7s-admin without subordinate ids is refused at once, naming /etc/subuid', async (t) => {
    // a system account made by useradd gets no /etc/subuid or /etc/subgid line
    await execa('useradd', ['--system', '--no-create-home', '--home-dir', HOME, 'u7s-admin']);
    t.after(() => removeTestUser('u7s-admin'));
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    assert.doesNotMatch(await readFile('/etc/subuid', 'utf8'), /^u7s-admin:/m);
    const t0 = Date.now();
    const r = await u7s(['start', '--libexec', libexec, '--parent-ip', '127.0.0.1']);
    const ms = Date.now() - t0;
    t.diagnostic(`refused in ${ms} ms`);
    // refused by start itself (exit 3, one line naming the file), not reported as a namespace that never got ready
    assert.equal(r.exitCode, 3, r.stderr);
    assert.match(r.stderr, /\/etc\/subuid has no range for u7s-admin/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(ms < 10_000, `${ms} ms`);
    // nothing was started
    assert.deepEqual(await launcher.userProcesses(uid), []);
    assert.equal(existsSync('/run/podsec/u7s/supervisor.json'), false);
  });

  it('provisions u7s-admin: system user, podman group, one subid range, 0700 trees, root-owned helpers', async () => {
    // the dry run lists exactly what the real run then applies, and changes nothing
    const before = await readFile('/etc/passwd', 'utf8');
    const dry = await u7s(['provision', '--libexec', libexec, '--json', '--dry-run']);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.equal(await readFile('/etc/passwd', 'utf8'), before);
    const r = await u7s(['provision', '--libexec', libexec, '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    type Report = { dryRun: boolean; changes: { kind: string; target: string }[]; uid: number };
    const planned = JSON.parse(dry.stdout) as Report;
    const applied = JSON.parse(r.stdout) as Report;
    assert.equal(planned.dryRun, true);
    assert.ok(applied.changes.length > 10, r.stdout);
    // the one name a dry run cannot know: the uid useradd picks
    const runtime = (c: { target: string }) =>
      c.target.replace(`/run/user/${applied.uid}`, '/run/user/<uid of u7s-admin>');
    assert.deepEqual(
      planned.changes.map((c) => ({ ...c, target: runtime(c) })),
      applied.changes.map((c) => ({ ...c, target: runtime(c) })),
    );
    const id = await execa('id', ['u7s-admin']);
    assert.match(id.stdout, /groups=.*\(podman\)/);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    assert.ok(uid < 1000);
    const subuid = await readFile('/etc/subuid', 'utf8');
    const subgid = await readFile('/etc/subgid', 'utf8');
    assert.equal(subuid.split('\n').filter((l) => l.startsWith('u7s-admin:')).length, 1);
    assert.equal(subgid.split('\n').filter((l) => l.startsWith('u7s-admin:')).length, 1);
    const st = await execa('stat', [
      '-c',
      '%n %a %U',
      '/var/lib/u7s-admin',
      '/var/lib/podsec/u7s/etcd',
      '/var/lib/podsec/u7s/log/kubeapi',
      `${libexec}/rootlesskit.sh`,
    ]);
    assert.deepEqual(st.stdout.split('\n'), [
      '/var/lib/u7s-admin 700 u7s-admin',
      '/var/lib/podsec/u7s/etcd 700 u7s-admin',
      '/var/lib/podsec/u7s/log/kubeapi 700 u7s-admin',
      `${libexec}/rootlesskit.sh 755 root`,
    ]);
    assert.equal(
      (await execa('readlink', ['/var/lib/u7s-admin/.local/share/containers'])).stdout,
      'usernetes/containers',
    );
    // a second run changes nothing
    const again = await u7s(['provision', '--libexec', libexec]);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /nothing changed/);
    assert.equal(await readFile('/etc/subuid', 'utf8'), subuid);
  });

  /** After a failed start: no process of u7s-admin, no state dir, no supervisor status. */
  async function assertNothingLeft(uid: number) {
    assert.deepEqual(await launcher.userProcesses(uid), []);
    assert.equal(existsSync(`/run/user/${uid}/usernetes/rootlesskit`), false);
    assert.equal(existsSync('/run/podsec/u7s/supervisor.json'), false);
    assert.equal((await u7s(['status'])).exitCode, 2);
  }

  it('an invalid node address is refused before anything starts (one line, exit 1)', async () => {
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    for (const bad of ['192.0.2', '192.0.2.256', '192.0.2.010', '::1', '192.0.2.10/32']) {
      const r = await u7s(['start', '--libexec', libexec, '--extip', bad]);
      assert.equal(r.exitCode, 1, `${bad}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), `podsec-u7s: invalid address "${bad}"`);
      await assertNothingLeft(uid);
    }
  });

  /** `start … --timeout 8 <extra>` that must fail in the child phase: exit 4, one line; with its wall time. */
  async function failedStart(t: TestContext, extra: readonly string[]) {
    const t0 = Date.now();
    const r = await u7s([
      'start',
      '--libexec',
      libexec,
      '--parent-ip',
      '127.0.0.1',
      '--timeout',
      '8',
      ...extra,
    ]);
    const ms = Date.now() - t0;
    t.diagnostic(`start gave up after ${ms} ms (--timeout 8)`);
    assert.equal(r.exitCode, 4, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    return { r, ms };
  }

  it('check 37: the node-address wait follows --timeout: tap0 never carries 0.0.0.0, start fails in one line, nothing left', async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv'])) return;
    await allowTun(t);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    // 0.0.0.0 is a dotted quad, and `ip addr add 0.0.0.0/32 dev tap0` succeeds but adds nothing: the one address
    // the kernel never puts on tap0, so the child phase's wait for it cannot be satisfied
    const { r, ms } = await failedStart(t, ['--extip', '0.0.0.0']);
    assert.match(
      r.stderr.trim(),
      /^podsec-u7s: the namespace did not come up: tap0 did not take the node address 0\.0\.0\.0\/32 within [1-7] s \(log of podsec-u7s run: \/run\/podsec\/u7s\/run\.log\)$/,
    );
    // within the budget of --timeout, not the child's default of 30 s
    assert.ok(ms < 8000 + 2500, `${ms} ms`);
    await assertNothingLeft(uid);
  });

  it('the CRI socket wait: a payload whose socket never appears fails start within --timeout, naming the socket', async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv'])) return;
    await allowTun(t);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    const socket = `/run/user/${uid}/usernetes/crio/crio.sock`;
    const { r, ms } = await failedStart(t, ['--', 'sleep', 'infinity']);
    assert.equal(
      r.stderr.trim().replace(/within \d+ s/, 'within N s'),
      `podsec-u7s: the namespace did not come up: the CRI socket ${socket} did not appear within N s (log of podsec-u7s run: /run/podsec/u7s/run.log)`,
    );
    assert.ok(ms < 8000 + 2500, `${ms} ms`);
    // the payload went with it
    await assertNothingLeft(uid);
  });

  it('the CRI socket wait: a socket that appears late is waited for, then the namespace is ready', async (t) => {
    if (
      !requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv', 'socat', 'mkfifo'])
    )
      return;
    await allowTun(t);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    const socket = `/run/user/${uid}/usernetes/crio/crio.sock`;
    const stateDir = `/run/user/${uid}/usernetes/rootlesskit`;
    // the payload stands in for CRI-O: it listens on the socket only when the test says so (a line in the FIFO)
    const go = path.join(libexec, 'cri-go');
    await execa('mkfifo', ['-m', '0666', go]);
    t.after(() => rm(go, { force: true }));
    let done = false;
    const starting = u7s([
      'start',
      '--libexec',
      libexec,
      '--parent-ip',
      '127.0.0.1',
      '--timeout',
      '30',
      '--',
      'sh',
      '-c',
      'read go < "$0" && exec socat UNIX-LISTEN:"$U7S_CRI_SOCKET",fork SYSTEM:true',
      go,
    ]).finally(() => (done = true));
    t.after(() => u7s(['stop', '--timeout', '10']));
    // the payload runs (blocked on the FIFO) ...
    const payloadRuns = async () => {
      for (const pid of await launcher.userProcesses(uid))
        if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('read go'))
          return true;
      return false;
    };
    for (let i = 0; i < 300 && !(await payloadRuns()); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(await payloadRuns(), 'the payload did not start');
    // ... and for a second the namespace is not ready: no marker, no socket, start still waiting
    for (let i = 0; i < 20; i++) {
      assert.equal(existsSync(`${stateDir}/_child_pid.u7s-ready`), false);
      assert.equal(existsSync(socket), false);
      assert.equal(done, false);
      await new Promise((r) => setTimeout(r, 50));
    }
    await writeFile(go, 'go\n');
    const r = await starting;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok((await stat(socket)).isSocket());
    const status = await u7s(['status']);
    assert.equal(status.exitCode, 0, status.stderr);
    const stop = await u7s(['stop']);
    assert.equal(stop.exitCode, 0, stop.stderr);
    assert.deepEqual(await launcher.userProcesses(uid), []);
  });

  it("a start that fails says why: the end of the background supervisor's log", async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv'])) return;
    await allowTun(t);
    // a libexec without the namespace's child script: RootlessKit cannot run its payload
    const empty = await mkdtemp(path.join(tmpdir(), 'u7s-libexec-empty-'));
    await chmod(empty, 0o755);
    t.after(() => rm(empty, { recursive: true, force: true }));
    const r = await u7s(['start', '--libexec', empty, '--parent-ip', '127.0.0.1']);
    assert.equal(r.exitCode, 4, r.stderr);
    assert.match(
      r.stderr,
      /did not become ready \(log of podsec-u7s run: \/run\/podsec\/u7s\/run\.log\):\n/,
    );
    // the supervisor's own error, with RootlessKit's output naming the missing script
    assert.match(r.stderr, /podsec-u7s: rootlesskit did not become ready/);
    assert.match(r.stderr, new RegExp(`${empty}/`));
    assert.equal((await stat('/run/podsec/u7s/run.log')).mode & 0o777, 0o600);
    assert.equal((await u7s(['status'])).exitCode, 2);
  });

  it('start, enter as pseudo-root, forward, restart after a crash, stop with no process left', async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv', 'socat'])) return;
    await allowTun(t);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    const down = await u7s(['enter', '--wait', '1', '--', 'true']);
    assert.equal(down.exitCode, 2);
    assert.match(down.stderr, /RootlessKit not running\?/);

    const start = await u7s([
      'start',
      '--libexec',
      libexec,
      '--parent-ip',
      '127.0.0.1',
      '--extip',
      '192.0.2.10',
      '--json',
    ]);
    assert.equal(start.exitCode, 0, start.stderr);
    const again = await u7s(['start', '--libexec', libexec, '--parent-ip', '127.0.0.1']);
    assert.equal(again.exitCode, 0);
    assert.match(again.stdout, /already running/);

    const id = await u7s(['enter', '--', 'id', '-u']);
    assert.equal(id.stdout.trim(), '0', id.stderr);
    // root's cwd out of u7s-admin's reach (a clone under /root, 0700): the command starts in the user's home
    const rootOnly = await mkdtemp(path.join(tmpdir(), 'u7s-root-cwd-'));
    t.after(() => rm(rootOnly, { recursive: true, force: true }));
    const pwd = await u7s(['enter', '--', 'pwd'], { cwd: rootOnly });
    assert.equal(pwd.exitCode, 0, pwd.stderr);
    assert.equal(pwd.stdout.trim(), '/var/lib/u7s-admin');
    // check 29: a cwd u7s-admin can open is kept, also when root enters on its behalf
    const reachable = await mkdtemp(path.join(tmpdir(), 'u7s-cwd-'));
    t.after(() => rm(reachable, { recursive: true, force: true }));
    await chmod(reachable, 0o755);
    const here = await u7s(['enter', '--', 'pwd'], { cwd: reachable });
    assert.equal(here.exitCode, 0, here.stderr);
    assert.equal(here.stdout.trim(), reachable);
    // without a command: $SHELL, with no arguments, as pseudo-root, in that cwd
    const shell = path.join(reachable, 'probe-shell');
    await writeFile(shell, '#!/bin/sh\necho "shell $# $(id -u) $(pwd)"\n', { mode: 0o755 });
    const sh = await u7s(['enter'], { cwd: reachable, env: { SHELL: shell } });
    assert.equal(sh.exitCode, 0, sh.stderr);
    assert.equal(sh.stdout.trim(), `shell 0 0 ${reachable}`);
    assert.equal((await u7s(['enter', '--', 'sh', '-c', 'exit 7'])).exitCode, 7);
    const inside = await u7s([
      'enter',
      '--',
      'sh',
      '-c',
      'ip -4 -o addr show dev tap0; cat /proc/sys/net/ipv4/ip_forward; readlink /run/crio/crio.sock',
    ]);
    assert.match(inside.stdout, /192\.0\.2\.10\/32/);
    assert.doesNotMatch(inside.stdout, /10\.96\.0\.100/);
    assert.match(inside.stdout, /^1$/m);
    assert.match(inside.stdout, new RegExp(`/run/user/${uid}/usernetes/crio/crio.sock`));

    const list = await u7s(['ports', 'list', '--json']);
    const specs = (
      JSON.parse(list.stdout) as { spec: { parentPort: number; proto: string } }[]
    ).map((p) => `${p.spec.parentPort}/${p.spec.proto}`);
    assert.deepEqual(specs.sort(), ['10250/tcp', '10255/tcp', '10256/tcp', '6053/udp', '8472/udp']);

    const port = await freePort();
    const add = await u7s(['ports', 'add', `127.0.0.1:${port}:8080/tcp`]);
    assert.equal(add.exitCode, 0, add.stderr);
    // the server runs through `podsec-u7s enter` in its own session, so that stopping it ends socat too
    const server = await launcher.start({
      name: 'server',
      file: process.execPath,
      args: [
        '--conditions=podsec-source',
        main,
        'enter',
        '--',
        'socat',
        'TCP-LISTEN:8080,reuseaddr,fork',
        'SYSTEM:echo inside-$(id -u)',
      ],
      env: { PATH: process.env['PATH'], LANG: 'C' },
    });
    let answer = '';
    for (let i = 0; i < 100 && !answer.includes('inside'); i++) {
      answer = await connectRead(port).catch(() => '');
      if (!answer) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(answer.trim(), 'inside-0');
    // the server inside is u7s-admin's process on the host
    const socats = [];
    for (const pid of await launcher.userProcesses(uid))
      if ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'socat')
        socats.push(pid);
    assert.ok(socats.length >= 1);
    await server.stop(2000);
    const rm1 = await u7s(['ports', 'remove', `127.0.0.1:${port}:8080/tcp`]);
    assert.equal(rm1.exitCode, 0, rm1.stderr);

    // kill PID 1 of the namespace: the supervisor restarts it
    const status = JSON.parse((await u7s(['status', '--json'])).stdout) as { childPid: number };
    process.kill(status.childPid, 'SIGKILL');
    let after: { childPid?: number; running?: boolean; supervisor?: { restarts: number } } = {};
    for (let i = 0; i < 200; i++) {
      const s = await u7s(['status', '--json']);
      after = s.exitCode === 0 ? JSON.parse(s.stdout) : {};
      if (
        after.running &&
        after.childPid !== status.childPid &&
        (after.supervisor?.restarts ?? 0) >= 1
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(after.running);
    assert.notEqual(after.childPid, status.childPid);
    assert.equal(after.supervisor?.restarts, 1);
    assert.equal((await u7s(['enter', '--', 'id', '-u'])).stdout.trim(), '0');

    const stop = await u7s(['stop']);
    assert.equal(stop.exitCode, 0, stop.stderr);
    assert.deepEqual(await launcher.userProcesses(uid), []);
    assert.equal((await u7s(['status'])).exitCode, 2);
  });
});
