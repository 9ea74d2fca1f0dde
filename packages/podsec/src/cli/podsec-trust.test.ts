import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey } from '@podsec/core/trust';
import {
  buildTinyImage,
  createTestSystem,
  runProgram,
  snapshotTree,
  startRegistry,
  type TestRegistry,
  type TinyImage,
} from '@podsec/test-utils';
import { cli } from './podsec-trust.ts';

// Real docker-registry, buildah and skopeo: podsec-trust signs an image in a registry, then tells who signed it.
describe('podsec-trust', () => {
  let registry: TestRegistry;
  let signed: TinyImage;
  let unsigned: TinyImage;
  let dir: string;
  let keyFile: string;
  let otherKeyFile: string;
  let passFile: string;
  let fingerprint: string;
  const policyFor = (host: string) =>
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          [`${host}/podsec`]: [
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker.pgp' },
          ],
        },
      },
    });

  before(async () => {
    registry = await startRegistry();
    signed = await buildTinyImage(registry.host, 'podsec/signed', '1', { contents: 'signed' });
    unsigned = await buildTinyImage(registry.host, 'podsec/unsigned', '1', {
      contents: 'unsigned',
    });
    dir = await mkdtemp(path.join(tmpdir(), 'podsec-trust-'));
    const key = await generateKey({
      type: 'ed25519',
      name: 'Maker',
      email: 'maker@example.org',
      passphrase: 'secret',
    });
    const other = await generateKey({ type: 'ed25519', name: 'Other', email: 'other@example.org' });
    fingerprint = key.fingerprint;
    keyFile = path.join(dir, 'maker.asc');
    otherKeyFile = path.join(dir, 'other.asc');
    passFile = path.join(dir, 'pass');
    await writeFile(keyFile, key.privateKeyArmored, { mode: 0o600 });
    await writeFile(otherKeyFile, other.privateKeyArmored, { mode: 0o600 });
    await writeFile(passFile, 'secret\n', { mode: 0o600 });
    await writeFile(path.join(dir, 'maker.pub.asc'), key.publicKeyArmored);
  });
  after(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function trustRoot(t: Parameters<typeof createTestSystem>[0]) {
    return createTestSystem(t, {
      tree: {
        'etc/containers/policy.json': policyFor(registry.host),
        'etc/containers/registries.d/default.yaml':
          'default-docker:\n  lookaside: file:///var/sigstore/sigstore/\n  lookaside-staging: file:///var/sigstore/sigstore/\n',
        'var/sigstore/keys/maker.pgp': await readFile(path.join(dir, 'maker.pub.asc'), 'utf8'),
      },
    });
  }

  it('signs into the lookaside, then reports the signer and the policy accepts', async (t) => {
    const system = await trustRoot(t);
    // --dry-run checks everything and names the signature file, but writes nothing
    const args = ['sign', signed.reference, '--key', keyFile, '--passphrase-file', passFile];
    const dry = await runProgram(cli, [...args, '--insecure', '--json', '--dry-run'], { system });
    assert.equal(dry.code, 0, dry.stderr);
    const dryOut = JSON.parse(dry.stdout);
    assert.equal(dryOut.dryRun, true);
    const none = await runProgram(cli, ['verify', signed.reference, '--insecure', '--json'], {
      system,
    });
    assert.equal(JSON.parse(none.stdout).signatures.length, 0, 'the dry run wrote a signature');
    const s = await runProgram(
      cli,
      [
        'sign',
        signed.reference,
        '--key',
        keyFile,
        '--passphrase-file',
        passFile,
        '--insecure',
        '--json',
      ],
      { system },
    );
    assert.equal(s.code, 0, s.stderr);
    const signedOut = JSON.parse(s.stdout);
    assert.equal(signedOut.digest, signed.digest);
    assert.equal(signedOut.keyFingerprint, fingerprint);
    assert.equal(signedOut.location, dryOut.location);
    const v = await runProgram(cli, ['verify', signed.reference, '--insecure', '--json'], {
      system,
    });
    assert.equal(v.code, 0, v.stderr);
    const r = JSON.parse(v.stdout);
    assert.equal(r.signatures.length, 1);
    assert.equal(r.signatures[0].valid, true);
    assert.equal(r.signatures[0].keyFingerprint, fingerprint);
    assert.deepEqual(r.signatures[0].userIds, ['Maker <maker@example.org>']);
    assert.equal(r.signatures[0].identity, signed.reference);
    assert.equal(r.verdict.accepted, true);
    const text = await runProgram(cli, ['verify', signed.reference, '--insecure'], { system });
    assert.match(text.stdout, /signature-1: valid, key [0-9A-F]+ \(Maker <maker@example.org>\)/);
    assert.match(text.stdout, /policy: +ACCEPTED/);
  });

  it('sign refuses a key or passphrase file others may read, a symlink and an oversized file, changing nothing', async (t) => {
    const system = await trustRoot(t);
    const open = path.join(dir, 'pass-0640');
    await writeFile(open, 'secret\n', { mode: 0o640 });
    await chmod(open, 0o640);
    const openKey = path.join(dir, 'key-0644.asc');
    await writeFile(openKey, await readFile(keyFile), { mode: 0o644 });
    await chmod(openKey, 0o644);
    const link = path.join(dir, 'pass-link');
    await symlink(passFile, link);
    const big = path.join(dir, 'pass-big');
    await writeFile(big, 'x'.repeat(65 * 1024), { mode: 0o600 });
    const before = await snapshotTree(system.root);
    for (const [extra, re] of [
      [['--key', keyFile, '--passphrase-file', open], /mode 0640 lets others read/],
      [['--key', openKey, '--passphrase-file', passFile], /mode 0644 lets others read/],
      [['--key', keyFile, '--passphrase-file', link], /symbolic link/],
      [['--key', keyFile, '--passphrase-file', big], /larger than 65536 bytes/],
    ] as const) {
      const r = await runProgram(cli, ['sign', signed.reference, ...extra, '--insecure'], {
        system,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.deepEqual(await snapshotTree(system.root), before);
    }
  });

  it('exits 3 and says why when the image is unsigned or signed by an unknown key', async (t) => {
    const system = await trustRoot(t);
    const u = await runProgram(cli, ['verify', unsigned.reference, '--insecure'], { system });
    assert.equal(u.code, 3);
    assert.match(u.stdout, /signatures: none/);
    assert.match(u.stderr, /the policy rejects/);
    const s = await runProgram(
      cli,
      ['sign', unsigned.reference, '--key', otherKeyFile, '--insecure'],
      { system },
    );
    assert.equal(s.code, 0, s.stderr);
    const v = await runProgram(cli, ['verify', unsigned.reference, '--insecure', '--json'], {
      system,
    });
    assert.equal(v.code, 3);
    const r = JSON.parse(v.stdout);
    assert.equal(r.signatures[0].valid, false);
    assert.equal(r.signatures[0].keyIds.length, 1);
  });

  it('shows the scopes of the policy and the one that applies to an image', async (t) => {
    const system = await trustRoot(t);
    const all = await runProgram(cli, ['show'], { system });
    assert.equal(all.code, 0);
    assert.match(all.stdout, /\*\s+default\s+reject/);
    assert.match(
      all.stdout,
      new RegExp(
        `docker\\s+${registry.host.replace(/\./g, '\\.')}/podsec\\s+signedBy /var/sigstore/keys/maker.pgp`,
      ),
    );
    const one = await runProgram(cli, ['show', `${registry.host}/podsec/x:1`, '--json'], {
      system,
    });
    assert.equal(JSON.parse(one.stdout).decision.scope, `${registry.host}/podsec`);
    const other = await runProgram(cli, ['show', 'docker.io/library/alpine'], { system });
    assert.match(other.stdout, /scope: +default/);
  });

  it('refuses a malformed policy with a clear error', async (t) => {
    const system = await createTestSystem(t, {
      tree: { 'etc/containers/policy.json': '{"default":[{"type":"reject"}],"bogus":1}' },
    });
    const r = await runProgram(cli, ['show'], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bogus/);
  });
});
