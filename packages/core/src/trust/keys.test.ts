import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { isPodsecError } from '../errors.ts';
import {
  exportPublicKey,
  generateKey,
  keyInfo,
  passphraseFromBytes,
  readPassphrase,
  readPassphraseFile,
  readPrivateKey,
  readPublicKeys,
} from './keys.ts';
import type { GeneratedKey } from './keys.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const code =
  (c: string) =>
  (e: unknown): boolean =>
    isPodsecError(e) && e.code === c;

let ed: GeneratedKey;
let rsa: GeneratedKey;

before(async () => {
  ed = await generateKey({
    type: 'ed25519',
    name: 'Ed Signer',
    email: 'ed@example.org',
    passphrase: 'secret',
  });
  rsa = await generateKey({ name: 'Rsa Signer', email: 'rsa@example.org', expiresInDays: 30 });
});

describe('generateKey', () => {
  it('makes an RSA 4096 key by default with the given user id', async () => {
    const [key] = await readPublicKeys(rsa.publicKeyBinary);
    assert.equal(key?.getAlgorithmInfo().algorithm, 'rsaEncryptSign');
    assert.equal(key?.getAlgorithmInfo().bits, 4096);
    assert.deepEqual(rsa.userIds, ['Rsa Signer <rsa@example.org>']);
    assert.match(rsa.fingerprint, /^[0-9A-F]{40}$/);
  });

  it('makes a v4 EdDSA key for ed25519, readable by GnuPG 2.2', async () => {
    const [key] = await readPublicKeys(ed.publicKeyArmored);
    assert.equal(key?.getAlgorithmInfo().algorithm, 'eddsaLegacy');
    assert.equal(key?.keyPacket.version, 4);
  });

  it('sets the expiry from expiresInDays', async () => {
    const info = await keyInfo((await readPublicKeys(rsa.publicKeyBinary))[0] as openpgp.PublicKey);
    assert.ok(info.expires !== undefined);
    const days = (info.expires.getTime() - info.created.getTime()) / 86400_000;
    assert.ok(Math.abs(days - 30) < 0.01, String(days));
  });

  it('refuses a non-positive lifetime', async () => {
    await assert.rejects(
      generateKey({ name: 'x', email: 'x@example.org', type: 'ed25519', expiresInDays: 0 }),
      code('KEY_GENERATE_FAILED'),
    );
  });

  it('encrypts the private key when a passphrase is given', async () => {
    const key = await openpgp.readPrivateKey({ armoredKey: ed.privateKeyArmored });
    assert.equal(key.isDecrypted(), false);
  });
});

describe('readPublicKeys', () => {
  it('reads binary and armoured keys, as bytes or text', async () => {
    for (const input of [ed.publicKeyBinary, ed.publicKeyArmored, enc(ed.publicKeyArmored)]) {
      const keys = await readPublicKeys(input);
      assert.deepEqual(
        keys.map((k) => k.getFingerprint().toUpperCase()),
        [ed.fingerprint],
      );
    }
  });

  it('reads keyrings of several keys, binary concatenated or several armour blocks', async () => {
    const binary = new Uint8Array([...ed.publicKeyBinary, ...rsa.publicKeyBinary]);
    const armored = `${ed.publicKeyArmored}\n${rsa.publicKeyArmored}`;
    for (const input of [binary, armored]) {
      const fprs = (await readPublicKeys(input)).map((k) => k.getFingerprint().toUpperCase());
      assert.deepEqual(fprs.sort(), [ed.fingerprint, rsa.fingerprint].sort());
    }
  });

  it('reduces secret keys to public keys', async () => {
    const keys = await readPublicKeys(rsa.privateKeyArmored);
    assert.equal(keys[0]?.isPrivate(), false);
  });

  it('refuses empty or garbage input', async () => {
    for (const bad of [
      new Uint8Array(),
      enc('hello'),
      'no key here',
      new Uint8Array([0x99, 0x01, 0x0d, 1, 2]),
    ]) {
      await assert.rejects(readPublicKeys(bad), code('KEY_INVALID'));
    }
  });
});

describe('readPrivateKey', () => {
  it('decrypts a protected key with its passphrase', async () => {
    const key = await readPrivateKey(ed.privateKeyArmored, 'secret');
    assert.equal(key.isDecrypted(), true);
  });

  it('refuses a wrong or missing passphrase', async () => {
    await assert.rejects(
      readPrivateKey(ed.privateKeyArmored, 'wrong'),
      code('KEY_PASSPHRASE_WRONG'),
    );
    await assert.rejects(readPrivateKey(ed.privateKeyArmored), code('KEY_PASSPHRASE_REQUIRED'));
  });

  it('reads an unprotected binary private key', async () => {
    const armored = await openpgp.readPrivateKey({ armoredKey: rsa.privateKeyArmored });
    const key = await readPrivateKey(armored.write());
    assert.equal(key.getFingerprint().toUpperCase(), rsa.fingerprint);
  });

  it('refuses a public key', async () => {
    await assert.rejects(readPrivateKey(rsa.publicKeyArmored), code('KEY_INVALID'));
  });
});

describe('exportPublicKey', () => {
  it('exports only the public part, binary or armoured', async () => {
    const priv = await readPrivateKey(rsa.privateKeyArmored);
    const bin = exportPublicKey(priv, 'binary');
    assert.deepEqual(bin, rsa.publicKeyBinary);
    const arm = exportPublicKey(priv, 'armored');
    assert.match(arm, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    assert.doesNotMatch(arm, /PRIVATE/);
  });
});

describe('keyInfo', () => {
  it('reports fingerprint, key id, user ids, dates and signing capability', async () => {
    const [key] = await readPublicKeys(ed.publicKeyBinary);
    const info = await keyInfo(key as openpgp.PublicKey);
    assert.equal(info.fingerprint, ed.fingerprint);
    assert.equal(info.keyId, ed.fingerprint.slice(-16));
    assert.deepEqual(info.userIds, ['Ed Signer <ed@example.org>']);
    assert.equal(info.expires, undefined);
    assert.equal(info.canSign, true);
    assert.equal(info.revoked, false);
  });

  it('reports an expired key as unable to sign', async () => {
    const [key] = await readPublicKeys(rsa.publicKeyBinary);
    const info = await keyInfo(key as openpgp.PublicKey, new Date(Date.now() + 31 * 86400_000));
    assert.equal(info.canSign, false);
  });

  it('reports a revoked key', async () => {
    const priv = await readPrivateKey(ed.privateKeyArmored, 'secret');
    const { publicKey } = await openpgp.revokeKey({ key: priv, format: 'object' });
    const info = await keyInfo(publicKey);
    assert.equal(info.revoked, true);
    assert.equal(info.canSign, false);
  });
});

describe('readPassphrase', () => {
  const files: Record<string, string> = {
    '/run/pw': 'hunter2\n',
    '/run/pw2': 'two\n\n',
    '/run/bare': 'bare',
    '/dev/fd/3': 'from-fd\n',
  };
  const readFile = async (p: string): Promise<Uint8Array> => {
    const v = files[p];
    if (v === undefined) throw new Error(`ENOENT: ${p}`);
    return enc(v);
  };

  it('strips exactly one trailing newline from a passphrase file', async () => {
    assert.equal(await readPassphraseFile('/run/pw', readFile), 'hunter2');
    assert.equal(await readPassphraseFile('/run/pw2', readFile), 'two\n');
    assert.equal(await readPassphraseFile('/run/bare', readFile), 'bare');
  });

  it('reads a file descriptor through readFd, or /dev/fd/<n> by default', async () => {
    assert.equal(await readPassphrase({ fd: 3 }, readFile), 'from-fd');
    assert.equal(
      await readPassphrase({ fd: 7 }, { readFile, readFd: async (fd) => enc(`fd${fd}\n`) }),
      'fd7',
    );
  });

  it('reports unreadable sources and invalid descriptors', async () => {
    await assert.rejects(
      readPassphrase({ file: '/missing' }, readFile),
      code('PASSPHRASE_UNREADABLE'),
    );
    await assert.rejects(readPassphrase({ fd: -1 }, readFile), code('PASSPHRASE_INVALID'));
    await assert.rejects(readPassphrase({ fd: 9 }, readFile), code('PASSPHRASE_UNREADABLE'));
  });

  it('refuses bytes that are not UTF-8', () => {
    assert.throws(
      () => passphraseFromBytes(new Uint8Array([0xff, 0x0a])),
      code('PASSPHRASE_INVALID'),
    );
  });
});
