// create-remoteplace against Debian's real openssh-server, started on a loopback port with a throw-away host
// key and a throw-away account whose home holds the kubeconfig to fetch.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import {
  createTestSystem,
  freePort,
  requireCommands,
  runProgram,
  whichCommand,
} from '@podsec/test-utils';
import { cli } from './podsec-k8s-rbac-create-remoteplace.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: "https://10.0.0.1:6443"}
users:
- name: u1
  user: {token: x}
contexts:
- name: default
  context: {cluster: kubernetes, user: u1}
current-context: default
`;

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on ${port}`);
}

describe('podsec-k8s-rbac-create-remoteplace (real sshd on 127.0.0.1)', () => {
  let dir = '';
  let port = 0;
  let account = '';
  let sshd: ResultPromise | undefined;
  let ready = false;

  before(async () => {
    if (!['sshd', 'scp', 'ssh-keygen'].every((c) => whichCommand(c) !== undefined)) return;
    dir = await mkdtemp(path.join(tmpdir(), 'rbac-sshd-'));
    await chmod(dir, 0o755);
    account = `podsecrp${randomBytes(3).toString('hex')}`;
    const home = path.join(dir, 'remote-home');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'other_key')]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
    // '*' is "no password" but not "locked": sshd without PAM refuses locked accounts
    await execa('useradd', ['-M', '-d', home, '-s', '/bin/sh', '-p', '*', account]);
    await mkdir(path.join(home, '.kube'), { recursive: true });
    await writeFile(path.join(home, '.kube/config'), KUBECONFIG, { mode: 0o600 });
    const { stdout: ids } = await execa('id', ['-u', account]);
    for (const p of [home, path.join(home, '.kube'), path.join(home, '.kube/config')])
      await chown(p, Number(ids), Number(ids));
    await writeFile(path.join(dir, 'authorized_keys'), await readFile(path.join(dir, 'id.pub')));
    port = await freePort();
    await writeFile(
      path.join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_key')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        `AllowUsers ${account}`,
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'Subsystem sftp /usr/lib/openssh/sftp-server',
        '',
      ].join('\n'),
    );
    // privilege separation directory sshd requires (Debian creates it at service start)
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], {
      reject: false,
    });
    await waitForPort(port, 10_000);
    const hostPub = (await readFile(path.join(dir, 'host_key.pub'), 'utf8')).split(' ');
    const otherPub = (await readFile(path.join(dir, 'other_key.pub'), 'utf8')).split(' ');
    await writeFile(
      path.join(dir, 'known_hosts'),
      `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`,
    );
    await writeFile(
      path.join(dir, 'wrong_hosts'),
      `[127.0.0.1]:${port} ${otherPub[0]} ${otherPub[1]}\n`,
    );
    ready = true;
  });

  after(async () => {
    sshd?.kill('SIGTERM');
    await sshd;
    if (account) await execa('userdel', [account], { reject: false });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(t: TestContext, args: string[], home: string) {
    const system = await createTestSystem(t, {
      env: { HOME: home, PATH: process.env['PATH'] },
    });
    return runProgram(
      cli,
      [
        ...args,
        '--user',
        account,
        '--port',
        String(port),
        '--identity-file',
        path.join(dir, 'id'),
        '--batch',
      ],
      { system },
    );
  }

  it('copies ~/.kube/config from the host into $HOME/.kube (0700) as config (0600)', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    const r = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'known_hosts')],
      home,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), KUBECONFIG);
    assert.equal((await stat(path.join(home, '.kube/config'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(home, '.kube'))).mode & 0o777, 0o700);

    // C3: an existing config is kept without --force, replaced with a backup with --force
    await writeFile(path.join(home, '.kube/config'), 'old: true\n', { mode: 0o600 });
    const again = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'known_hosts')],
      home,
    );
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; use --force/);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), 'old: true\n');
    const forced = await run(
      t,
      ['127.0.0.1', '--force', '--known-hosts-file', path.join(dir, 'known_hosts')],
      home,
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), KUBECONFIG);
    const backups = (await readdir(path.join(home, '.kube'))).filter((f) => f.endsWith('.bak'));
    assert.equal(backups.length, 1);
    assert.equal(await readFile(path.join(home, '.kube', backups[0]!), 'utf8'), 'old: true\n');
  });

  it('refuses a host whose key does not match known_hosts (exit 5), writing nothing', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    const r = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'wrong_hosts')],
      home,
    );
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /host key of 127\.0\.0\.1 not verified/);
    assert.ok(!existsSync(path.join(home, '.kube')));
  });

  it('refuses an unknown host key too (no trust on first use)', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    await writeFile(path.join(dir, 'empty_hosts'), '');
    const r = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'empty_hosts')],
      home,
    );
    assert.equal(r.code, 5, r.stderr);
    assert.ok(!existsSync(path.join(home, '.kube')));
  });

  it('exits 3 when the remote file is missing or not a kubeconfig, creating no local file', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready) return;
    const remote = path.join(dir, 'remote-home/.kube/config');
    const home = await mkdtemp(path.join(dir, 'local-'));
    await writeFile(remote, 'just: text\n');
    const bad = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'known_hosts')],
      home,
    );
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stderr, /is not a kubeconfig/);
    await rm(remote);
    const missing = await run(
      t,
      ['127.0.0.1', '--known-hosts-file', path.join(dir, 'known_hosts')],
      home,
    );
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /cannot copy/);
    assert.ok(!existsSync(path.join(home, '.kube')));
    await writeFile(remote, KUBECONFIG);
  });

  it('exits 1 for a wrong argument count or a host that looks like an option', async (t) => {
    const system = await createTestSystem(t, { env: { HOME: '/nonexistent' } });
    for (const args of [[], ['a', 'b'], ['-oProxyCommand=x']]) {
      const r = await runProgram(cli, args, { system });
      assert.equal(r.code, 1, args.join(' '));
    }
  });
});
