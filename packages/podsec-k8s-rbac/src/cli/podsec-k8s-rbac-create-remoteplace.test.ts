// create-remoteplace against Debian's real openssh-server, started on a loopback port with a throw-away host
// key and a throw-away account whose home holds the kubeconfig to fetch.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { createTestSystem, requireCommands, runProgram } from '@podsec/test-utils';
import { startTestSshd, type TestSshd } from '../test-helpers/sshd.ts';
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

describe('podsec-k8s-rbac-create-remoteplace (real sshd on 127.0.0.1)', () => {
  let sshd: TestSshd | undefined;
  let dir = '';
  let port = 0;
  let account = '';

  before(async () => {
    sshd = await startTestSshd({ '.kube/config': KUBECONFIG });
    if (sshd) ({ dir, port, account } = sshd);
  });

  after(async () => {
    await sshd?.stop();
  });
  const ready = () => sshd !== undefined;

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
        sshd!.identity,
        '--batch',
      ],
      { system },
    );
  }

  it('copies ~/.kube/config from the host into $HOME/.kube (0700) as config (0600)', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready()) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    const r = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.knownHosts], home);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), KUBECONFIG);
    assert.equal((await stat(path.join(home, '.kube/config'))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(home, '.kube'))).mode & 0o777, 0o700);

    // C3: an existing config is kept without --force, replaced with a backup with --force
    await writeFile(path.join(home, '.kube/config'), 'old: true\n', { mode: 0o600 });
    const again = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.knownHosts], home);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; use --force/);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), 'old: true\n');
    const forced = await run(
      t,
      ['127.0.0.1', '--force', '--known-hosts-file', sshd!.knownHosts],
      home,
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await readFile(path.join(home, '.kube/config'), 'utf8'), KUBECONFIG);
    const backups = (await readdir(path.join(home, '.kube'))).filter((f) => f.endsWith('.bak'));
    assert.equal(backups.length, 1);
    assert.equal(await readFile(path.join(home, '.kube', backups[0]!), 'utf8'), 'old: true\n');
  });

  it('refuses a host whose key does not match known_hosts (exit 5), writing nothing', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready()) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    const r = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.wrongHosts], home);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /host key of 127\.0\.0\.1 not verified/);
    assert.ok(!existsSync(path.join(home, '.kube')));
  });

  it('refuses an unknown host key too (no trust on first use)', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready()) return;
    const home = await mkdtemp(path.join(dir, 'local-'));
    const r = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.emptyHosts], home);
    assert.equal(r.code, 5, r.stderr);
    assert.ok(!existsSync(path.join(home, '.kube')));
  });

  it('exits 3 when the remote file is missing or not a kubeconfig, creating no local file', async (t) => {
    if (!requireCommands(t, ['sshd', 'scp', 'ssh-keygen']) || !ready()) return;
    const remote = path.join(sshd!.home, '.kube/config');
    const home = await mkdtemp(path.join(dir, 'local-'));
    await writeFile(remote, 'just: text\n');
    const bad = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.knownHosts], home);
    assert.equal(bad.code, 3, bad.stderr);
    assert.match(bad.stderr, /is not a kubeconfig/);
    await rm(remote);
    const missing = await run(t, ['127.0.0.1', '--known-hosts-file', sshd!.knownHosts], home);
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
