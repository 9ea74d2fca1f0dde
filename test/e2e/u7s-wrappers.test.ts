// The PATH shadows of the u7s helper directory, run as installed (packages/podsec-k8s/libexec/<tool>, a POSIX sh
// script that hands its arguments to the bundled `podsec-u7s wrap <tool>`). The real systemctl is a stand-in here:
// PID 1 of this machine is not systemd, so there is no user manager of u7s-admin that a real systemctl could reach;
// the stand-in records the argv it is given and exits with a chosen status. (rootlessctl is tested for real against
// a running namespace in u7s-kubeadm-control-plane.test.ts.) Needs `npm run build` (npm test builds first) and root
// (the stand-in must belong to root, as the wrapper checks).
import assert from 'node:assert/strict';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LIBEXEC = path.join(repo, 'packages/podsec-k8s/libexec');
const isRoot = process.geteuid?.() === 0;

describe('the systemctl PATH shadow', { skip: !isRoot && 'needs root' }, () => {
  let dir = '';
  let fake = '';
  let record = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'u7s-systemctl-'));
    await chmod(dir, 0o755);
    fake = path.join(dir, 'systemctl');
    record = path.join(dir, 'argv');
    // one argument per line, then the status the test asks for
    await writeFile(
      fake,
      `#!/bin/sh\n: > "${record}"\nfor a in "$@"; do printf '%s\\n' "$a" >> "${record}"; done\necho active\nexit "\${FAKE_EXIT:-0}"\n`,
      { mode: 0o755 },
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const systemctl = (args: readonly string[], env: Record<string, string>) =>
    execa(path.join(LIBEXEC, 'systemctl'), args, {
      reject: false,
      env: { PATH: process.env['PATH'], LANG: 'C', U7S_SYSTEMCTL: fake, ...env },
      extendEnv: false,
      timeout: 60_000,
      stdin: 'ignore',
    });
  const recorded = async () => (await readFile(record, 'utf8')).split('\n').slice(0, -1);

  it("as u7s-admin it reaches u7s-admin's user manager: --user -M u7s-admin@ -T, then the arguments", async () => {
    const r = await systemctl(['restart', 'kubelet'], { USER: 'u7s-admin' });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'active');
    assert.deepEqual(await recorded(), ['--user', '-M', 'u7s-admin@', '-T', 'restart', 'kubelet']);
  });

  it('for root the arguments are unchanged, verbatim (spaces, options, --help)', async () => {
    const args = ['is-active', '--quiet', 'a b', '--help', '-v', '--', "it's"];
    const r = await systemctl(args, { USER: 'root' });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(await recorded(), args);
  });

  it("passes the real systemctl's exit status through, without a message of its own", async () => {
    const r = await systemctl(['is-active', 'kubelet'], { USER: 'u7s-admin', FAKE_EXIT: '3' });
    assert.equal(r.exitCode, 3);
    assert.equal(r.stderr, '');
  });

  it('refuses a real systemctl that another user can change (126) or that is missing (127), running nothing', async (t) => {
    const other = await mkdtemp(path.join(tmpdir(), 'u7s-systemctl-other-'));
    t.after(() => rm(other, { recursive: true, force: true }));
    await chmod(other, 0o755);
    const planted = path.join(other, 'systemctl');
    const ran = path.join(other, 'ran');
    await writeFile(planted, `#!/bin/sh\ntouch "${ran}"\n`, { mode: 0o755 });
    await chown(planted, 65534, 65534);
    const r = await systemctl(['status'], { USER: 'root', U7S_SYSTEMCTL: planted });
    assert.equal(r.exitCode, 126, r.stderr);
    assert.match(r.stderr, /refusing to run .*belongs to uid 65534, not root/);
    await assert.rejects(readFile(ran));
    const missing = await systemctl(['status'], {
      USER: 'root',
      U7S_SYSTEMCTL: path.join(other, 'nothing'),
    });
    assert.equal(missing.exitCode, 127, missing.stderr);
    assert.match(missing.stderr, /the real systemctl .* does not exist/);
  });
});
