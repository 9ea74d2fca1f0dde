import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runBin } from '@podsec/test-utils';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(repo, 'packages/podsec/bundle/podsec-quickstart.mjs');

/** Content hash of the host files the quickstart must not touch. */
async function hostState(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const files = ['/etc/hosts', '/etc/passwd', '/etc/group', '/etc/subuid', '/etc/subgid'];
  for (const d of ['/etc/containers', '/etc/containers/registries.d']) {
    if (existsSync(d)) for (const n of await readdir(d)) files.push(path.join(d, n));
  }
  for (const f of files) {
    const s = await stat(f).catch(() => undefined);
    if (s?.isFile())
      out[f] = createHash('sha256')
        .update(await readFile(f))
        .digest('hex');
    else out[f] = s ? 'dir' : 'absent';
  }
  return out;
}

// The README's main job, end to end with the real docker-registry, nginx, buildah, skopeo and useradd.
describe('podsec-quickstart (bundled binary)', () => {
  it('builds a signed-image trust domain in a sandbox: signed image pulled, unsigned refused, host /etc untouched', async (t) => {
    assert.ok(existsSync(BIN), `${BIN} missing: run npm run build first`);
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-qs-e2e-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o711); // the sandbox's users reach their homes through it
    const sandbox = path.join(dir, 'sandbox');
    const before = await hostState();
    const r = await runBin(BIN, ['--dir', sandbox, '--json'], {
      env: { PATH: process.env['PATH'] ?? '' },
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.ok, true);
    const names = result.steps.map((s: { step: string }) => s.step);
    for (const want of [
      'podsec-create-policy',
      'podsec-create-imagemakeruser',
      'podsec-save-oci',
      'podsec-load-sign-oci',
      'skopeo pulls the signed image',
      'skopeo refuses the unsigned image',
    ]) {
      assert.ok(names.includes(want), `step ${want} missing`);
    }
    assert.match(r.stderr, /A signature was required|rejected/);
    // the maker's own gpg keyring got the key (gpg ran as the maker and could reach its home)
    assert.doesNotMatch(r.stderr, /Could not import the key/);
    const gnupg = path.join(sandbox, 'root/home/imagemaker/.gnupg');
    const kbx = await stat(path.join(gnupg, 'pubring.kbx'));
    assert.equal(kbx.uid, (await stat(path.join(sandbox, 'root/home/imagemaker'))).uid);
    assert.ok((await readdir(path.join(gnupg, 'private-keys-v1.d'))).length > 0);
    assert.deepEqual(await hostState(), before);
    // the trust domain really is in the sandbox
    const policy = JSON.parse(
      await readFile(path.join(sandbox, 'root/etc/containers/policy.json'), 'utf8'),
    );
    assert.deepEqual(policy.default, [{ type: 'reject' }]);
    assert.ok(existsSync(path.join(sandbox, 'root/var/sigstore/keys/imagemaker.pgp')));
  });

  it('refuses a sandbox directory under a parent other users cannot search, before any change', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-qs-e2e-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o700);
    const r = await runBin(BIN, ['--dir', path.join(dir, 'sandbox')], {
      env: { PATH: process.env['PATH'] ?? '' },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /is not reachable by other users .*mode 0700/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(await readdir(dir), []);
  });

  it('refuses a sandbox directory that is not empty, changing nothing', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-qs-e2e-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await import('node:fs/promises').then((f) => f.writeFile(path.join(dir, 'precious'), 'x'));
    const r = await runBin(BIN, ['--dir', dir], { env: { PATH: process.env['PATH'] ?? '' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not empty/);
    assert.deepEqual(await readdir(dir), ['precious']);
  });
});
