import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { requireAttackTools, requireCommand } from '@podsec/test-utils';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  generateKey,
  manifestDigest,
  readPassphraseFile,
  readPrivateKey,
  readPublicKeys,
  signSimpleSigning,
  verifySimpleSigning,
  type GenerateKeyOptions,
} from '@podsec/core/trust';
import { SIGNING_KEY_IN_HOME } from '../paths.ts';
import { createImageMakers } from './create-imagemakers.ts';
import { PASSPHRASE_FILE, prepareServer, snapshotTree } from './test-helpers/server-root.ts';

const secrets = { passphrase: async () => 'correct horse', password: async () => null };
const key = { type: 'ed25519' as const };

describe('createImageMakers', () => {
  it('12.3-8 [fix]: a failing key generation leaves policy, published copy, personal policies and accounts unchanged', async (t) => {
    const { system } = await prepareServer(t);
    await createImageMakers(system, {
      makers: [{ user: 'first', scope: 'registry.local' }],
      key,
      ...secrets,
    });
    const before = await snapshotTree(system.root);
    let calls = 0;
    const failing = async (o: GenerateKeyOptions) => {
      calls += 1;
      if (calls === 2) throw new Error('injected: no key');
      return generateKey(o);
    };
    await assert.rejects(
      createImageMakers(system, {
        makers: [
          { user: 'second', scope: 'registry.local/a' },
          { user: 'third', scope: 'registry.local/b' },
        ],
        key,
        ...secrets,
        generateKey: failing,
      }),
      (e: { code?: string }) => e.code === 'IMAGEMAKER_KEY_FAILED',
    );
    assert.equal(calls, 2);
    assert.deepEqual(await snapshotTree(system.root), before);
    assert.equal(await system.users.getUser('second'), undefined);
  });

  it('refuses a generated key that cannot sign now (expired)', async (t) => {
    const { system } = await prepareServer(t);
    const before = await snapshotTree(system.root);
    const expired = (o: GenerateKeyOptions) =>
      generateKey({ ...o, date: new Date(2020, 0, 1), expiresInDays: 1 });
    await assert.rejects(
      createImageMakers(system, {
        makers: [{ user: 'x', scope: 'registry.local' }],
        key,
        ...secrets,
        generateKey: expired,
      }),
      (e: { code?: string }) => e.code === 'IMAGEMAKER_KEY_UNUSABLE',
    );
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('the stored private key, unlocked with the passphrase file, signs what the published key verifies', async (t) => {
    const { system } = await prepareServer(t);
    const r = await createImageMakers(system, {
      makers: [{ user: 'signer', scope: 'registry.local/c10f' }],
      key,
      ...secrets,
    });
    const home = r.makers[0]!.home;
    assert.equal(r.makers[0]!.key.privateKeyPath, `${home}/${SIGNING_KEY_IN_HOME}`);
    const armored = await readFile(path.join(system.root, home, SIGNING_KEY_IN_HOME), 'utf8');
    assert.match(armored, /BEGIN PGP PRIVATE KEY BLOCK/);
    await assert.rejects(
      readPrivateKey(armored),
      (e: { code?: string }) => e.code === 'KEY_PASSPHRASE_REQUIRED',
      'protected',
    );
    const passphrase = await readPassphraseFile(PASSPHRASE_FILE, (f) => system.hostFs.readFile(f));
    const privateKey = await readPrivateKey(armored, passphrase);
    const manifest = new TextEncoder().encode('{"schemaVersion":2}');
    const digest = manifestDigest(manifest);
    const sig = await signSimpleSigning({
      privateKey,
      dockerReference: 'registry.local/c10f/pause:3.9',
      manifestDigest: digest,
    });
    const published = await readPublicKeys(
      await readFile(path.join(system.root, 'var/sigstore/keys/signer.pgp')),
    );
    const v = await verifySimpleSigning(sig, published);
    assert.deepEqual(
      [v.payload.dockerReference, v.payload.manifestDigest],
      ['registry.local/c10f/pause:3.9', digest],
    );
    assert.equal(v.keyFingerprint, r.makers[0]!.key.fingerprint);
  });

  it('uses --name/--email templates and RSA 4096 by default', async (t) => {
    const { system } = await prepareServer(t, { tree: { 'etc/hostname': 'sigsrv\n' } });
    const r = await createImageMakers(system, {
      makers: [{ user: 'rsa', scope: 'registry.local' }],
      key: { name: 'Maker {user}' },
      ...secrets,
    });
    assert.equal(r.makers[0]!.key.email, 'rsa@sigsrv');
    const [pub] = await readPublicKeys(
      await readFile(path.join(system.root, 'var/sigstore/keys/rsa.pgp')),
    );
    assert.deepEqual(pub!.getUserIDs(), ['Maker rsa <rsa@sigsrv>']);
    assert.equal(pub!.getAlgorithmInfo().algorithm, 'rsaEncryptSign');
    assert.equal(pub!.getAlgorithmInfo().bits, 4096);
  });

  it('refuses one literal --email for several new keys', async (t) => {
    const { system } = await prepareServer(t);
    await assert.rejects(
      createImageMakers(system, {
        makers: [
          { user: 'a', scope: 'r.local/a' },
          { user: 'b', scope: 'r.local/b' },
        ],
        key: { ...key, email: 'x@example.org' },
        ...secrets,
      }),
      (e: { code?: string }) => e.code === 'IMAGEMAKER_EMAIL_AMBIGUOUS',
    );
  });

  it('keeps a published key without a podsec private key (made by the original with gpg)', async (t) => {
    const { system } = await prepareServer(t);
    await system.users.addUser('legacy', { group: 'podman' });
    const old = await generateKey({
      type: 'ed25519',
      name: 'legacy',
      email: 'legacy@example.org',
      date: new Date(2025, 0, 1),
    });
    await system.fs.writeFileAtomic('/var/sigstore/keys/legacy.pgp', old.publicKeyArmored);
    const r = await createImageMakers(system, {
      makers: [{ user: 'legacy', scope: 'registry.local' }],
      existing: true,
      key,
      ...secrets,
    });
    assert.equal(r.makers[0]!.key.state, 'public-only');
    assert.equal(r.makers[0]!.key.fingerprint, old.fingerprint);
    assert.equal(await system.fs.readText('/var/sigstore/keys/legacy.pgp'), old.publicKeyArmored);
  });

  it('refuses a published key that does not match the stored private key', async (t) => {
    const { system } = await prepareServer(t);
    await createImageMakers(system, {
      makers: [{ user: 'm', scope: 'registry.local' }],
      key,
      ...secrets,
    });
    const other = await generateKey({ type: 'ed25519', name: 'o', email: 'o@example.org' });
    await system.fs.writeFileAtomic('/var/sigstore/keys/m.pgp', other.publicKeyArmored);
    await assert.rejects(
      createImageMakers(system, {
        makers: [{ user: 'm', scope: 'registry.local' }],
        existing: true,
        key,
        ...secrets,
      }),
      (e: { code?: string }) => e.code === 'IMAGEMAKER_KEY_MISMATCH',
    );
  });

  it("gives an existing root-owned namespace directory to its maker, never another maker's", async (t) => {
    const { system } = await prepareServer(t);
    await system.fs.mkdir('/var/sigstore/sigstore/ns', { mode: 0o755 });
    await system.fs.mkdir('/var/sigstore/sigstore/taken', { mode: 0o755, uid: 4242, gid: 4242 });
    const r = await createImageMakers(system, {
      makers: [
        { user: 'n', scope: 'registry.local/ns' },
        { user: 'o', scope: 'registry.local/taken' },
      ],
      key,
      ...secrets,
    });
    assert.equal(
      (await system.fs.stat('/var/sigstore/sigstore/ns'))!.uid,
      (await system.users.getUser('n'))!.uid,
    );
    assert.equal((await system.fs.stat('/var/sigstore/sigstore/taken'))!.uid, 4242);
    assert.ok(r.warnings.some((w) => w.includes('/var/sigstore/sigstore/taken')));
  });

  it('creates shared parents of nested scopes root:podman_dev with the sticky bit', async (t) => {
    const { system } = await prepareServer(t);
    await createImageMakers(system, {
      makers: [{ user: 'deep', scope: 'registry.local/a/b' }],
      key,
      ...secrets,
    });
    const parent = (await system.fs.stat('/var/sigstore/sigstore/a'))!;
    assert.deepEqual([parent.mode, parent.uid, parent.gid], [0o1775, 0, 501]);
    assert.equal(
      (await system.fs.stat('/var/sigstore/sigstore/a/b'))!.uid,
      (await system.users.getUser('deep'))!.uid,
    );
  });

  it('refuses an existing maker whose ~/.config is a symbolic link, before any change', async (t) => {
    const { system } = await prepareServer(t);
    await system.users.addUser('sly', { group: 'podman' });
    await system.fs.symlink('/etc', '/home/sly/.config');
    const before = await snapshotTree(system.root);
    await assert.rejects(
      createImageMakers(system, {
        makers: [{ user: 'sly', scope: 'registry.local' }],
        existing: true,
        key,
        ...secrets,
      }),
      (e: { code?: string }) => e.code === 'IMAGEMAKER_UNSAFE_DIR',
    );
    assert.deepEqual(await snapshotTree(system.root), before);
  });
});

describe('createImageMakers and the maker’s GnuPG configuration', () => {
  it('never runs a program the maker names in ~/.gnupg/gpg.conf (agent-program), and imports as the maker', async (t) => {
    if (!requireAttackTools(t)) return;
    if (requireCommand(t, 'gpg') === undefined) return;
    const { system } = await prepareServer(t);
    const makers = [{ user: 'gm', scope: 'registry.local/gm' }];
    const first = await createImageMakers(system, { makers, key, ...secrets });
    assert.equal(first.makers[0]!.key.gpgImported, true);
    const home = path.join(system.root, first.makers[0]!.home);
    const gnupg = path.join(home, '.gnupg');
    const uid = (await stat(home)).uid;
    // the maker's trap: a program that leaves a marker (and then behaves like gpg-agent)
    const trap = await mkdtemp(path.join(tmpdir(), 'podsec-trap-'));
    t.after(() => rm(trap, { recursive: true, force: true }));
    await chmod(trap, 0o777);
    const marker = path.join(trap, 'marker');
    const program = path.join(trap, 'agent.sh');
    await writeFile(program, `#!/bin/sh\ntouch ${marker}\nexec gpg-agent "$@"\n`, { mode: 0o755 });
    // a fresh keyring, so that the second run imports again, with the planted configuration
    await execa('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent'], { reject: false });
    await rm(gnupg, { recursive: true, force: true });
    await mkdir(gnupg, { mode: 0o700 });
    await writeFile(path.join(gnupg, 'gpg.conf'), `agent-program ${program}\n`);
    await execa('chown', ['-R', `${uid}:${uid}`, gnupg]);
    const second = await createImageMakers(system, { makers, key, ...secrets, existing: true });
    assert.equal(second.makers[0]!.key.gpgImported, true);
    assert.equal(existsSync(marker), false, 'agent-program from the maker’s gpg.conf was run');
    // gpg ran as the maker: everything it made in ~/.gnupg is the maker's
    for (const name of await readdir(gnupg)) {
      assert.equal((await lstat(path.join(gnupg, name))).uid, uid, name);
    }
    const listed = await execa(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${uid}`,
        '--clear-groups',
        '--',
        'gpg',
        '--homedir',
        gnupg,
        '--no-options',
        '--batch',
        '--list-secret-keys',
        '--with-colons',
      ],
      { reject: false, env: { PATH: process.env['PATH'], HOME: home } },
    );
    assert.match(listed.stdout, new RegExp(`fpr:::::::::${second.makers[0]!.key.fingerprint}:`));
    await execa('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent'], { reject: false });
  });
});

describe('createImageMakers: revocation certificate of a new key', () => {
  it('leaves ~/.gnupg/openpgp-revocs.d/<FPR>.rev (0600, the maker’s) as gpg does, and importing it revokes the key', async (t) => {
    if (requireCommand(t, 'gpg') === undefined) return;
    const { system } = await prepareServer(t);
    const r = await createImageMakers(system, {
      makers: [{ user: 'rv', scope: 'registry.local/rv' }],
      key,
      ...secrets,
    });
    const m = r.makers[0]!;
    const fpr = m.key.fingerprint!;
    const uid = (await system.users.getUser('rv'))!.uid;
    const dir = path.join(system.root, m.home, '.gnupg/openpgp-revocs.d');
    const file = path.join(dir, `${fpr}.rev`);
    const st = await lstat(file);
    assert.ok(st.isFile(), file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, uid);
    const dirSt = await lstat(dir);
    assert.equal(dirSt.mode & 0o777, 0o700);
    assert.equal(dirSt.uid, uid);
    const text = await readFile(file, 'utf8');
    assert.ok(text.includes(fpr), 'the file names the key');
    assert.match(text, /^:-----BEGIN PGP PUBLIC KEY BLOCK-----$/m, 'protected by the colon');

    // a scratch keyring holding only the maker's public key
    const scratch = await mkdtemp(path.join(tmpdir(), 'podsec-revoke-'));
    t.after(async () => {
      await execa('gpgconf', ['--homedir', scratch, '--kill', 'gpg-agent'], { reject: false });
      await rm(scratch, { recursive: true, force: true });
    });
    const gpg = (args: string[], input?: string) =>
      execa('gpg', ['--homedir', scratch, '--batch', '--no-tty', ...args], {
        reject: false,
        env: { PATH: process.env['PATH'], LANG: 'C' },
        ...(input === undefined ? {} : { input }),
      });
    const imported = await gpg(['--import', path.join(system.root, m.key.publicKeyPath)]);
    assert.equal(imported.exitCode, 0, imported.stderr);
    const validity = async () =>
      (await gpg(['--list-keys', '--with-colons', fpr])).stdout
        .split('\n')
        .find((l) => l.startsWith('pub:'))
        ?.split(':')[1];
    assert.notEqual(await validity(), 'r');
    // the file as it is revokes nothing (the colon); without the colon it revokes the key
    await gpg(['--import', file]);
    assert.notEqual(await validity(), 'r');
    const revoked = await gpg(['--import'], text.replace(/^:-----BEGIN/m, '-----BEGIN'));
    assert.equal(revoked.exitCode, 0, revoked.stderr);
    assert.equal(await validity(), 'r');
  });
});
