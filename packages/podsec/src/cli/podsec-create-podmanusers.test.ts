import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { createProcessRunner, type RunOptions } from '@podsec/core/system';
import { baseTree, createTestSystem, FakeRunner, runProgram, type Tree } from '@podsec/test-utils';
import { snapshotTree as snapshot } from '@podsec/test-utils';
import { planPodmanUsers } from '../users/podman-users.ts';
import { cli } from './podsec-create-podmanusers.ts';

const real = createProcessRunner({ PATH: process.env['PATH'] });
/** Host directories chattr +i was applied to, in call order, per runner. */
const chattrDirs = new WeakMap<FakeRunner, string[]>();

/**
 * The real shadow tools under --prefix; chattr/lsattr scripted (a temp tree made immutable could not be
 * cleaned up, and chattr is only applied to the running system), with state so that re-runs see it.
 */
function tools(o: { failUseradd?: string; chattrFails?: boolean } = {}) {
  const immutable = new Set<string>();
  const dirs: string[] = [];
  // chattr/lsattr run inside the directory pinned by descriptor ("." in a /proc/<pid>/fd/<n> cwd)
  const target = (args: readonly string[], ro?: RunOptions) => {
    const last = args[args.length - 1]!;
    return last === '.' && ro?.cwd ? realpathSync(ro.cwd) : last;
  };
  const runner = new FakeRunner(real);
  chattrDirs.set(runner, dirs);
  return runner
    .on('chattr', (args, ro) => {
      if (o.chattrFails) return { exitCode: 1, stderr: 'Operation not supported' };
      immutable.add(target(args, ro));
      dirs.push(target(args, ro));
      return {};
    })
    .on('lsattr', (args, ro) => ({
      stdout: `${immutable.has(target(args, ro)) ? '----i---------e-------' : '--------------e-------'} ${args[args.length - 1]}\n`,
    }))
    .on('useradd', (args) =>
      o.failUseradd && args.includes(o.failUseradd)
        ? { exitCode: 9, stderr: 'useradd: cannot lock /etc/passwd' }
        : real.run('useradd', args),
    );
}

async function system(
  t: TestContext,
  o: {
    uid?: number;
    proc?: FakeRunner;
    runningSystem?: boolean;
    tree?: Tree;
  } = {},
) {
  const proc = o.proc ?? tools();
  const sys = await createTestSystem(t, {
    tree: { ...baseTree, 'home/.keep': '', ...o.tree },
    proc,
    ...(o.uid === undefined ? {} : { uid: o.uid }),
  });
  return { sys: o.runningSystem === false ? sys : { ...sys, root: '/' }, root: sys.root, proc };
}

const calls = (p: FakeRunner) => p.calls.map(([f, a]) => [f, ...a].join(' '));

describe('planPodmanUsers', () => {
  it('validates every name first and refuses existing users unless --existing', () => {
    assert.throws(() => planPodmanUsers([], new Set(), {}), { code: 'PODUSERS_NO_USERS' });
    for (const bad of ['../x', 'Bad Name', '', 'a/b', '-x'])
      assert.throws(
        () => planPodmanUsers(['ok', bad], new Set(), {}),
        { code: 'USAGE_BAD_NAME' },
        bad,
      );
    assert.throws(() => planPodmanUsers(['u1'], new Set(['u1']), {}), {
      code: 'PODUSERS_USER_EXISTS',
    });
    assert.deepEqual(planPodmanUsers(['u1', 'u1', 'u2'], new Set(['u1']), { existing: true }), [
      'u1',
      'u2',
    ]);
  });
});

describe('podsec-create-podmanusers', () => {
  it('row 1: non-root and no arguments exit 1 with no side effects', async (t) => {
    const { sys, root, proc } = await system(t, { uid: 1000 });
    const before = await snapshot(root);
    const r = await runProgram(cli, ['u1', '--no-password'], { system: sys });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /root rights/);
    const none = await runProgram(cli, [], { system: { ...sys, identity: { uid: 0, gid: 0 } } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /Format:\n\tpodsec-create-podmanusers <username> \.\.\./);
    assert.deepEqual(await snapshot(root), before);
    assert.deepEqual(proc.calls, []);
  });

  it('row 3: invalid names exit 1 and nothing is created', async (t) => {
    for (const bad of ['../x', 'Bad Name', '']) {
      const { sys, root, proc } = await system(t);
      const before = await snapshot(root);
      const r = await runProgram(cli, ['u1', bad, '--no-password'], { system: sys });
      assert.equal(r.code, 1, bad);
      assert.deepEqual(await snapshot(root), before);
      assert.deepEqual(proc.calls, []);
    }
  });

  it('row 2: u1 u2 get group podman (created once, first), a root-owned ~/.config, an empty immutable ~/.config/containers 0500 and sub ids', async (t) => {
    const { sys, root, proc } = await system(t);
    const r = await runProgram(cli, ['u1', 'u2', '--no-password'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const c = calls(proc);
    assert.equal(c.filter((x) => x.startsWith('groupadd')).length, 1);
    assert.match(c[0]!, /^groupadd --prefix \S+ -r -- podman$/);
    const gid = (await sys.users.getGroup('podman'))!.gid;
    const snap = await snapshot(root);
    for (const u of ['u1', 'u2']) {
      const entry = (await sys.users.getUser(u))!;
      assert.equal(entry.gid, gid);
      assert.deepEqual(await sys.users.groupsOf(u), ['podman']); // no podman_dev
      assert.equal(entry.home, `/home/${u}`);
      assert.equal(snap[`home/${u}/.config`], 'dir 755 0:0');
      assert.equal(snap[`home/${u}/.config/containers`], `dir 500 ${entry.uid}:${gid}`);
      assert.equal(
        Object.keys(snap).filter((k) => k.startsWith(`home/${u}/.config/containers/`)).length,
        0,
      );
      const at = chattrDirs.get(proc)!.indexOf(`${root}/home/${u}/.config/containers`);
      assert.ok(at >= 0, `chattr +i on the containers directory of ${u}`);
      const chattr = c.map((x, i) => (x === 'chattr +i -- .' ? i : -1)).filter((i) => i >= 0)[at]!;
      assert.ok(
        chattr > c.findIndex((x) => x.startsWith('useradd') && x.endsWith(` ${u}`)),
        'chattr after the account and directory',
      );
      assert.ok((await sys.users.subuids()).some((x) => x.owner === u && x.count === 65536));
      assert.ok((await sys.users.subgids()).some((x) => x.owner === u));
    }
    assert.match(
      (await readFile(`${root}/etc/shadow`, 'utf8')).split('\n').find((l) => l.startsWith('u1:'))!,
      /^u1:!/,
    ); // locked
  });

  it('a second run (with --existing) changes nothing; without --existing it refuses an existing user', async (t) => {
    const { sys, root } = await system(t);
    assert.equal((await runProgram(cli, ['u1', '--no-password'], { system: sys })).code, 0);
    const before = await snapshot(root);
    const refused = await runProgram(cli, ['u1', '--no-password'], { system: sys });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already exists; give --existing/);
    const again = await runProgram(cli, ['u1', '--existing', '--json'], { system: sys });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).changed, false);
    assert.deepEqual(await snapshot(root), before);
  });

  it('row 4: useradd failing for u2 gives a non-zero exit, u1 is complete, nothing relative to the working directory', async (t) => {
    const { sys, root } = await system(t, { proc: tools({ failUseradd: 'u2' }) });
    const r = await runProgram(cli, ['u1', 'u2', 'u3', '--no-password'], { system: sys });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /user u2 failed: [\s\S]*cannot lock/);
    assert.match(r.stderr, /completed before it: u1/);
    const snap = await snapshot(root);
    assert.match(snap['home/u1/.config/containers']!, /^dir 500 /);
    assert.equal(await sys.users.getUser('u3'), undefined);
    assert.deepEqual(
      Object.keys(snap).filter((k) => k.endsWith('.config')),
      ['home/u1/.config'],
    );
    assert.equal(existsSync(path.join(process.cwd(), '.config', 'containers')), false);
  });

  it('--password-file: plain text is hashed by chpasswd, a crypt hash is stored as is; never on a command line', async (t) => {
    const hash =
      '$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij';
    const { sys, root, proc } = await system(t, {
      tree: {
        'root/pw': { content: 'Plain-Secret-1\n', mode: 0o600 },
        'root/hash': { content: `${hash}\n`, mode: 0o600 },
      },
    });
    assert.equal(
      (await runProgram(cli, ['u1', '--password-file', `${root}/root/pw`], { system: sys })).code,
      0,
    );
    assert.equal(
      (await runProgram(cli, ['u2', '--password-file', `${root}/root/hash`], { system: sys })).code,
      0,
    );
    const shadow = await readFile(`${root}/etc/shadow`, 'utf8');
    assert.match(shadow, /^u1:\$6\$[^:]+:/m);
    assert.ok(shadow.includes(`u2:${hash}:`));
    assert.ok(!calls(proc).some((c) => c.includes('Plain-Secret-1') || c.includes(hash)));
  });

  it('--password-file must be the caller’s 0600 file: a readable-by-others file is refused, nothing done', async (t) => {
    const { sys, root, proc } = await system(t, { tree: { 'root/pw': 'Plain-Secret-1\n' } });
    const before = await snapshot(root);
    const r = await runProgram(cli, ['u1', '--password-file', `${root}/root/pw`], { system: sys });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing the secret file .*mode 0644/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await snapshot(root), before);
    assert.deepEqual(proc.calls, []);
  });

  it('without a terminal it needs --password-file or --no-password (exit 1, nothing done)', async (t) => {
    const { sys, root, proc } = await system(t);
    const before = await snapshot(root);
    const r = await runProgram(cli, ['u1'], { system: sys, isTTY: false });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--password-file <file> or --no-password/);
    assert.deepEqual(await snapshot(root), before);
    assert.deepEqual(proc.calls, []);
  });

  it('on a terminal asks twice for the password and gives it to chpasswd on stdin only', async (t) => {
    const { sys, root, proc } = await system(t);
    const stdin = Readable.from(['Tty-Secret-9\r', 'Tty-Secret-9\r']);
    const r = await runProgram(cli, ['u1'], { system: sys, isTTY: true, stdin });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Enter the password for the container users \(u1\)/);
    assert.match(await readFile(`${root}/etc/shadow`, 'utf8'), /^u1:\$6\$/m);
    assert.ok(!calls(proc).some((c) => c.includes('Tty-Secret-9')));
  });

  it('--dry-run lists the changes and changes nothing', async (t) => {
    const { sys, root } = await system(t);
    const before = await snapshot(root);
    const r = await runProgram(cli, ['u1', '--no-password', '--dry-run', '--json'], {
      system: sys,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).changed, true);
    assert.deepEqual(await snapshot(root), before);
  });

  it('--dry-run --json prints exactly the change list the real run then applies', async (t) => {
    const dry = await system(t);
    const planned = JSON.parse(
      (
        await runProgram(cli, ['u1', 'u2', '--no-password', '--dry-run', '--json'], {
          system: dry.sys,
        })
      ).stdout,
    );
    const real = await system(t);
    const r = await runProgram(cli, ['u1', 'u2', '--no-password', '--json'], { system: real.sys });
    assert.equal(r.code, 0, r.stderr);
    const applied = JSON.parse(r.stdout);
    assert.equal(planned.dryRun, true);
    assert.equal(applied.dryRun, false);
    assert.deepEqual(applied.changes, planned.changes);
    assert.deepEqual(
      applied.changes.map((c: { kind: string }) => c.kind),
      ['group', ...['u1', 'u2'].flatMap(() => ['user', 'dir', 'dir', 'run', 'subids', 'subids'])],
    );
    assert.equal(
      JSON.parse(
        (await runProgram(cli, ['u1', 'u2', '--existing', '--json'], { system: real.sys })).stdout,
      ).changed,
      false,
    );
  });

  it('a user failing validation stops the run before any change, even for the users listed before it', async (t) => {
    const { sys, root, proc } = await system(t);
    await runProgram(cli, ['u1', '--no-password'], { system: { ...sys, root } });
    await (await import('node:fs/promises')).chmod(`${root}/home/u1/.config/containers`, 0o700);
    await writeFile(`${root}/home/u1/.config/containers/storage.conf`, '');
    const before = await snapshot(root);
    const calledBefore = proc.calls.length;
    const r = await runProgram(cli, ['u3', 'u1', '--existing', '--no-password'], { system: sys });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /user u1 failed: .*is not empty.*completed before it: -/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await snapshot(root), before);
    assert.equal(await sys.users.getUser('u3'), undefined);
    assert.ok(proc.calls.slice(calledBefore).every(([f]) => f === 'lsattr'));
  });

  it('away from the running system, or where chattr fails, says why the directory is not immutable', async (t) => {
    const other = await system(t, { runningSystem: false });
    const r = await runProgram(cli, ['u1', '--no-password', '--json'], { system: other.sys });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      JSON.parse(r.stdout).users[0].immutableReason,
      /only applied to the running system/,
    );
    assert.ok(!calls(other.proc).some((c) => c.startsWith('chattr')));
    const failing = await system(t, { proc: tools({ chattrFails: true }) });
    const f = await runProgram(cli, ['u1', '--no-password'], { system: failing.sys });
    assert.equal(f.code, 0);
    assert.match(f.stderr, /not made immutable: chattr \+i failed: Operation not supported/);
  });

  it('--existing refuses a non-empty ~/.config/containers and a symlinked ~/.config', async (t) => {
    const { sys, root } = await system(t);
    await runProgram(cli, ['u1', 'u2', '--no-password'], { system: { ...sys, root: root } });
    // make the states an existing account may be in (no immutable bit: root differs from "/")
    await (await import('node:fs/promises')).chmod(`${root}/home/u1/.config/containers`, 0o700);
    await writeFile(
      `${root}/home/u1/.config/containers/policy.json`,
      '{"default":[{"type":"insecureAcceptAnything"}]}',
    );
    const r = await runProgram(cli, ['u1', '--existing'], { system: sys });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not empty/);
    await (await import('node:fs/promises')).rm(`${root}/home/u2/.config`, { recursive: true });
    await mkdir(`${root}/elsewhere`);
    await symlink('/elsewhere', `${root}/home/u2/.config`);
    const s = await runProgram(cli, ['u2', '--existing'], { system: sys });
    assert.equal(s.code, 2);
    assert.match(s.stderr, /not a directory \(a symlink\?\)/);
    assert.equal((await snapshot(root))['elsewhere'], 'dir 755 0:0');
  });

  it('documents the limits of the lockdown in --help', async (t) => {
    const { sys } = await system(t);
    const r = await runProgram(cli, ['--help'], { system: sys });
    assert.equal(r.code, 0);
    for (const w of ['XDG_CONFIG_HOME', 'CONTAINERS_REGISTRIES_CONF', '--signature-policy', 'HOME'])
      assert.ok(r.stdout.includes(w), w);
  });
});
