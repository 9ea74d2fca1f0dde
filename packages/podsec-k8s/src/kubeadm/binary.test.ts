// The real kubeadm must belong to root and be writable by nobody else, all the way up. Needs root (chown).
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createRootFs } from '@podsec/core/system';
import { checkTrustedBinary, planKubeadmPath, planKubectlPath } from './binary.ts';

const isRoot = process.geteuid?.() === 0;
const fs = createRootFs('/');
const user = { uid: 65534, gid: 65534 };

describe('checkTrustedBinary', { skip: !isRoot && 'needs root (chown)' }, () => {
  it('accepts a root-owned binary in root-owned dirs, through a root-owned link and a sticky /tmp', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-bin-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o755);
    await copyFile('/bin/true', path.join(dir, 'kubeadm'));
    await chmod(path.join(dir, 'kubeadm'), 0o755);
    await symlink('kubeadm', path.join(dir, 'link'));
    assert.equal(
      await checkTrustedBinary(fs, path.join(dir, 'kubeadm'), user),
      path.join(dir, 'kubeadm'),
    );
    assert.equal(
      await checkTrustedBinary(fs, path.join(dir, 'link'), user),
      path.join(dir, 'kubeadm'),
    );
  });

  it('refuses a binary or a directory above it that another user can change, and one the user cannot run', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-bin-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o755);
    const sub = path.join(dir, 'bin');
    await mkdir(sub, { mode: 0o755 });
    const bin = path.join(sub, 'kubeadm');
    await copyFile('/bin/true', bin);
    await chmod(bin, 0o775);
    await assert.rejects(checkTrustedBinary(fs, bin, user), {
      code: 'KUBEADM_BINARY_UNTRUSTED',
      message: /writable by group or others/,
    });
    await chmod(bin, 0o755);
    await chown(bin, 65534, 65534);
    await assert.rejects(checkTrustedBinary(fs, bin, user), {
      code: 'KUBEADM_BINARY_UNTRUSTED',
      message: /belongs to uid 65534/,
    });
    await chown(bin, 0, 0);
    await chmod(sub, 0o777);
    await assert.rejects(checkTrustedBinary(fs, bin, user), {
      code: 'KUBEADM_BINARY_UNTRUSTED',
      message: new RegExp(`${sub} is writable`),
    });
    await chmod(sub, 0o700);
    await assert.rejects(checkTrustedBinary(fs, bin, user), { code: 'KUBEADM_BINARY_UNREACHABLE' });
    await chmod(sub, 0o755);
    // a link owned by the user is a way to swap the binary
    const link = path.join(dir, 'link');
    await symlink(bin, link);
    await fs.chown(link, 65534, 65534);
    await assert.rejects(checkTrustedBinary(fs, link, user), {
      code: 'KUBEADM_BINARY_UNTRUSTED',
      message: /link .* does not belong to root/,
    });
    await assert.rejects(checkTrustedBinary(fs, path.join(dir, 'missing'), user), {
      code: 'KUBEADM_BINARY_MISSING',
    });
  });

  it('takes U7S_KUBEADM, then $PODSEC_K8S_BIN/kubeadm, then /usr/bin/kubeadm, never PATH', () => {
    assert.equal(
      planKubeadmPath({ U7S_KUBEADM: '/opt/k/kubeadm', PODSEC_K8S_BIN: '/x' }),
      '/opt/k/kubeadm',
    );
    assert.equal(planKubeadmPath({ PODSEC_K8S_BIN: '/x/bin/' }), '/x/bin/kubeadm');
    assert.equal(planKubeadmPath({ PATH: '/usr/libexec/podsec/u7s/bin' }), '/usr/bin/kubeadm');
  });

  it('takes kubectl from U7S_KUBECTL, then $PODSEC_K8S_BIN/kubectl, then /usr/bin/kubectl, never PATH', () => {
    assert.equal(
      planKubectlPath({ U7S_KUBECTL: '/opt/k/kubectl', PODSEC_K8S_BIN: '/x' }),
      '/opt/k/kubectl',
    );
    assert.equal(planKubectlPath({ PODSEC_K8S_BIN: '/x/bin/' }), '/x/bin/kubectl');
    assert.equal(planKubectlPath({ PATH: '/usr/local/bin' }), '/usr/bin/kubectl');
  });
});
