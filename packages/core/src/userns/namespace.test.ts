// Real RootlessKit namespaces as a real system user (needs root, rootlesskit, slirp4netns, nsenter, setpriv).
// /dev/net/tun is root-only on this machine: allowTun() opens it to the user for the test and restores it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  allowTun,
  createTestSystem,
  freePort,
  removeTestUser,
  requireCommands,
} from '@podsec/test-utils';
import { createNodeSystem, createMemoryReporter, type System } from '../system/index.ts';
import { planEnter } from './enter.ts';
import { ensureNamespaceUser, startUserNamespace, type UserNamespace } from './index.ts';

const USER = 'psuserns-t';
const HOME = `/var/lib/${USER}`;
const isRoot = process.geteuid?.() === 0;

function hostSystem(): System {
  return createNodeSystem({
    env: { PATH: process.env['PATH'] },
    report: createMemoryReporter(),
    tag: 'test',
  });
}

async function connectRead(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => c.write('ping\n'));
    let data = '';
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.on('data', (d) => (data += String(d)));
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
}

describe('user namespace of a real system user', { skip: !isRoot && 'needs root' }, () => {
  const sys = hostSystem();
  let uid = 0;
  let gid = 0;
  let ns: UserNamespace | undefined;

  before(async () => {
    await removeTestUser(USER);
  });
  after(async () => {
    await ns?.stop(2000);
    await removeTestUser(USER);
  });

  it('provisions the user idempotently: system uid, one subuid/subgid range, 0700 home', async () => {
    const first = await ensureNamespaceUser(sys, { name: USER, home: HOME });
    uid = first.uid;
    gid = first.gid;
    assert.ok(uid > 0 && uid < 1000, `system uid, got ${uid}`);
    assert.ok(first.changes.length > 0);
    const subuid = await readFile('/etc/subuid', 'utf8');
    const subgid = await readFile('/etc/subgid', 'utf8');
    assert.equal(subuid.split('\n').filter((l) => l.startsWith(`${USER}:`)).length, 1);
    assert.equal(first.subuid.count, 65536);
    const again = await ensureNamespaceUser(sys, { name: USER, home: HOME });
    assert.deepEqual(again.changes, []);
    assert.equal(await readFile('/etc/subuid', 'utf8'), subuid);
    assert.equal(await readFile('/etc/subgid', 'utf8'), subgid);
    const st = await sys.fs.stat(HOME);
    assert.deepEqual([st?.mode, st?.uid], [0o700, uid]);
  });

  it('starts, is entered as pseudo-root, forwards a port, restarts after a crash and stops with nothing left', async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv', 'socat'])) return;
    await allowTun(t);
    const runtimeDir = `/run/user/${uid}`;
    const stateDir = `${runtimeDir}/rk`;
    const hostPort = await freePort();
    const user = { name: USER, uid, gid, home: HOME };
    const started = Date.now();
    ns = await startUserNamespace(sys, {
      user,
      stateDir,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME,
        USER,
        XDG_RUNTIME_DIR: runtimeDir,
      },
      readyMarker: 'ready',
      rootlesskit: {
        cidr: '10.96.0.0/12',
        copyUp: ['/etc', '/run', '/var/lib', '/etc/sysconfig'],
        payload: [
          'sh',
          '-c',
          'while [ ! -s "$ROOTLESSKIT_STATE_DIR/child_pid" ]; do sleep 0.05; done; ' +
            'cat "$ROOTLESSKIT_STATE_DIR/child_pid" > "$ROOTLESSKIT_STATE_DIR/ready"; exec sleep infinity',
        ],
      },
      ports: [{ proto: 'tcp', parentIP: '127.0.0.1', parentPort: hostPort, childPort: 8080 }],
      readyTimeoutMs: 20_000,
    });
    t.diagnostic(`namespace ready in ${Date.now() - started} ms`);
    assert.ok(ns.plan.omitted.some((o) => o.flag === '--copy-up=/etc/sysconfig'));
    assert.ok(ns.plan.omitted.some((o) => o.flag.startsWith('--evacuate-cgroup2')));

    const id = await ns.run(['id', '-u']);
    assert.equal(id.stdout.trim(), '0');
    const map = await ns.run(['cat', '/proc/self/uid_map']);
    const rows = map.stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(rows[0], [0, uid, 1]);
    assert.equal(rows[1]?.[2], 65536);
    // the entering process is u7s-admin's on the host
    const hostUid = await ns.run(['sh', '-c', 'cat /proc/$$/status']);
    assert.match(hostUid.stdout, /^Uid:\s+0\s/m);

    const forwards = await ns.ports.list();
    assert.deepEqual(
      forwards.map((f) => [f.spec.parentIP, f.spec.parentPort, f.spec.childPort, f.spec.proto]),
      [['127.0.0.1', hostPort, 8080, 'tcp']],
    );
    // a server inside, reached from the host through the forward
    const pid1 = await ns.childPid();
    const server = planEnter({ pid: pid1, user, self: sys.identity }, [
      'socat',
      'TCP-LISTEN:8080,reuseaddr,fork',
      'SYSTEM:echo inside-$(id -u)',
    ]);
    const srv = await sys.daemons.start({
      name: 'server',
      file: server.file,
      args: server.args,
      env: { PATH: process.env['PATH'] },
      ready: {
        probe: async () => (await connectRead(hostPort)).includes('inside'),
        timeoutMs: 10_000,
      },
    });
    assert.equal((await connectRead(hostPort)).trim(), 'inside-0');
    // the server's host uid is the namespace user's
    const status = await readFile(`/proc/${srv.pid()}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'));
    await srv.stop();

    // killing PID 1 of the namespace: the supervisor restarts it, with the forward again
    process.kill(pid1, 'SIGKILL');
    const deadline = Date.now() + 20_000;
    while ((ns.daemon.restarts() < 1 || ns.daemon.state() !== 'ready') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(ns.daemon.restarts(), 1);
    assert.notEqual(await ns.childPid(), pid1);
    assert.equal((await ns.ports.list()).length, 1);
    assert.equal((await ns.run(['id', '-u'])).stdout.trim(), '0');

    const stopStart = Date.now();
    await ns.stop(5000);
    t.diagnostic(`stopped in ${Date.now() - stopStart} ms`);
    assert.deepEqual(await sys.daemons.userProcesses(uid), []);
    await assert.rejects(ns.childPid(), { code: 'USERNS_NOT_RUNNING' });
    ns = undefined;
  });

  it('the readiness wait keeps its timeout when the API socket accepts and never answers', async (t) => {
    if (!requireCommands(t, ['rootlesskit', 'slirp4netns', 'nsenter', 'setpriv', 'socat'])) return;
    await allowTun(t);
    const runtimeDir = `/run/user/${uid}`;
    const user = { name: USER, uid, gid, home: HOME };
    const started = Date.now();
    await assert.rejects(
      startUserNamespace(sys, {
        user,
        stateDir: `${runtimeDir}/rk-mute`,
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME,
          USER,
          XDG_RUNTIME_DIR: runtimeDir,
        },
        rootlesskit: {
          cidr: '10.96.0.0/12',
          copyUp: ['/etc', '/run'],
          // the payload puts a mute API in place of RootlessKit's (it accepts every connection and never answers),
          // and only then writes the ready marker: before the swap the namespace does not count as ready, so the
          // probe cannot be answered by the real API first
          payload: [
            'sh',
            '-c',
            'd="$ROOTLESSKIT_STATE_DIR"; sock="$d/api.sock"; ' +
              'while [ ! -S "$sock" ] || [ ! -s "$d/child_pid" ]; do sleep 0.05; done; rm -f "$sock"; ' +
              'socat UNIX-LISTEN:"$sock",fork SYSTEM:"sleep 60" & ' +
              'while [ ! -S "$sock" ]; do sleep 0.05; done; ' +
              'cat "$d/child_pid" > "$d/mute-ready.tmp"; mv -f "$d/mute-ready.tmp" "$d/mute-ready"; wait',
          ],
        },
        readyMarker: 'mute-ready',
        readyTimeoutMs: 2000,
        restart: false,
      }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'DAEMON_FAILED');
        assert.match(e.message, /not ready after 2000 ms/);
        return true;
      },
    );
    const ms = Date.now() - started;
    t.diagnostic(`gave up after ${ms} ms (ready timeout 2000 ms, one API request may take 10 s)`);
    // the probe's requests end with the budget, not after their own 10 s
    assert.ok(ms < 2000 + 1500, `${ms} ms`);
    assert.deepEqual(await sys.daemons.userProcesses(uid), []);
  });

  it('refuses a user without subordinate ids, naming /etc/subuid', async () => {
    const tsys = await createTestSystem(undefined, {});
    await assert.rejects(
      startUserNamespace(tsys, {
        user: { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' },
        stateDir: '/run/user/65534/rk',
        env: {},
        rootlesskit: { payload: ['true'] },
      }),
      (e: Error & { code?: string }) =>
        e.code === 'USERNS_NO_SUBIDS' && /\/etc\/subuid/.test(e.message),
    );
  });
});
