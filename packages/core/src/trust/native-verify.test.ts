/**
 * The native verifier against openpgp.js, case by case: keys and signatures made with the real gpg (every case of
 * the verdict suites against skopeo — sound, weak, subkey, future, untrusted, MD5, RIPEMD-160, marker packet,
 * tampered — and more key types, layouts and key states). For every case `verifySimpleSigning` (native first) must
 * give exactly what openpgp.js alone gives: the same verified signature, warnings included, or the same error code and
 * message; and the everyday cases must be decided natively, without openpgp.js.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { requireCommands } from '@podsec/test-utils';
import { readPublicKeys } from './keys.ts';
import {
  formatSimpleSigningPayload,
  verifyNatively,
  verifySimpleSigning,
  verifyWithOpenpgp,
} from './simple-signing.ts';
import { readTrustedKeys } from './trusted-keys.ts';

/** gpg --quick-generate-key arguments per key name (algorithm, usage, extra options before the command). */
const KEYS = {
  rsa: ['rsa2048', 'sign'],
  rsa4096: ['rsa4096', 'sign'],
  rsa1024: ['rsa1024', 'sign'],
  dsa: ['dsa2048', 'sign'],
  dsa1024: ['dsa1024', 'sign'],
  p256: ['nistp256', 'sign'],
  p384: ['nistp384', 'sign'],
  p521: ['nistp521', 'sign'],
  ed25519: ['ed25519', 'sign'],
  other: ['rsa2048', 'sign'],
  sub: ['rsa2048', 'cert'],
  future: ['rsa2048', 'sign'],
  expired: ['rsa2048', 'sign'],
  expiring: ['rsa2048', 'sign'],
  revoked: ['rsa2048', 'sign'],
  twouids: ['ed25519', 'sign'],
  uidrevoked: ['ed25519', 'sign'],
} as const;
type KeyName = keyof typeof KEYS;

interface Case {
  readonly name: string;
  readonly trusted: readonly KeyName[];
  readonly signer: KeyName;
  readonly gpgArgs?: readonly string[];
  /** Read the payload from a pipe: gpg writes the literal data with partial body lengths. */
  readonly stdin?: boolean;
  readonly mangle?: (blob: Uint8Array) => Uint8Array;
  /** Decided without openpgp.js (the native verifier accepts it). */
  readonly native: boolean;
}

const year = 365 * 86400;
const now = () => Math.floor(Date.now() / 1000);
const flip = (at: (b: Uint8Array) => number) => (b: Uint8Array) => {
  const c = b.slice();
  const i = at(c);
  c[i] = (c[i] as number) ^ 0x10;
  return c;
};

const CASES: readonly Case[] = [
  { name: 'RSA-2048, gpg defaults', trusted: ['rsa'], signer: 'rsa', native: true },
  { name: 'RSA-4096', trusted: ['rsa4096'], signer: 'rsa4096', native: true },
  { name: 'RSA-1024 (weak)', trusted: ['rsa1024'], signer: 'rsa1024', native: true },
  { name: 'DSA-2048 (weak)', trusted: ['dsa'], signer: 'dsa', native: true },
  {
    name: 'DSA-1024 (weak, SHA-1 self-signature)',
    trusted: ['dsa1024'],
    signer: 'dsa1024',
    native: true,
  },
  { name: 'ECDSA P-256', trusted: ['p256'], signer: 'p256', native: true },
  { name: 'ECDSA P-384', trusted: ['p384'], signer: 'p384', native: true },
  { name: 'ECDSA P-521', trusted: ['p521'], signer: 'p521', native: true },
  { name: 'Ed25519 (EdDSA legacy)', trusted: ['ed25519'], signer: 'ed25519', native: true },
  {
    name: 'two trusted keys, the second signs',
    trusted: ['other', 'rsa'],
    signer: 'rsa',
    native: true,
  },
  { name: 'a key with two user ids', trusted: ['twouids'], signer: 'twouids', native: true },
  { name: 'a key that expires next year', trusted: ['expiring'], signer: 'expiring', native: true },
  {
    name: 'SHA-1 data signature (weak)',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--digest-algo', 'SHA1'],
    native: true,
  },
  {
    name: 'SHA-512',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--digest-algo', 'SHA512'],
    native: true,
  },
  {
    name: 'SHA-224',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--digest-algo', 'SHA224'],
    native: true,
  },
  {
    name: 'ZIP compression',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--compress-algo', 'zip'],
    native: true,
  },
  {
    name: 'no compression',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--compress-algo', 'none'],
    native: true,
  },
  {
    name: 'partial body lengths (payload from a pipe)',
    trusted: ['rsa'],
    signer: 'rsa',
    stdin: true,
    native: true,
  },
  {
    name: 'uncompressed partial body lengths',
    trusted: ['ed25519'],
    signer: 'ed25519',
    stdin: true,
    gpgArgs: ['--compress-algo', 'none'],
    native: true,
  },
  {
    name: 'a creation time in the future (weak)',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--faked-system-time', String(now() + year)],
    native: true,
  },
  { name: 'a signature by an untrusted key', trusted: ['rsa'], signer: 'other', native: true },
  // what openpgp.js decides (the native verifier steps aside)
  { name: 'a signing subkey', trusted: ['sub'], signer: 'sub', native: false },
  {
    name: 'BZip2 compression',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--compress-algo', 'bzip2'],
    native: false,
  },
  {
    name: 'MD5 data signature',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--digest-algo', 'MD5'],
    native: false,
  },
  {
    name: 'RIPEMD-160 data signature',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--digest-algo', 'RIPEMD160'],
    native: false,
  },
  {
    name: 'a key created in the future',
    trusted: ['future'],
    signer: 'future',
    gpgArgs: ['--faked-system-time', String(now() + year + 3600)],
    native: false,
  },
  {
    name: 'a key that expired',
    trusted: ['expired'],
    signer: 'expired',
    gpgArgs: ['--faked-system-time', String(now() - year)],
    native: false,
  },
  { name: 'a revoked key', trusted: ['revoked'], signer: 'revoked', native: false },
  {
    name: 'a key with a revoked user id',
    trusted: ['uidrevoked'],
    signer: 'uidrevoked',
    native: false,
  },
  {
    name: 'a marker packet before the message',
    trusted: ['rsa'],
    signer: 'rsa',
    mangle: (b) => new Uint8Array(Buffer.concat([Buffer.from([0xa8, 3, 0x50, 0x47, 0x50]), b])),
    native: false,
  },
  {
    name: 'a tampered signature (last octets)',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--compress-algo', 'none'],
    mangle: flip((b) => b.length - 3),
    native: false,
  },
  {
    name: 'a tampered payload',
    trusted: ['rsa'],
    signer: 'rsa',
    gpgArgs: ['--compress-algo', 'none'],
    mangle: flip((b) => b.indexOf(0x7b) + 5),
    native: false,
  },
  {
    name: 'tampered compressed data',
    trusted: ['rsa'],
    signer: 'rsa',
    mangle: flip((b) => b.length >> 1),
    native: false,
  },
  {
    name: 'a truncated message',
    trusted: ['rsa'],
    signer: 'rsa',
    mangle: (b) => b.subarray(0, b.length - 40),
    native: false,
  },
];

interface Setup {
  readonly work: string;
  readonly keyFile: (k: KeyName) => string;
  sign(c: Case): Promise<Uint8Array>;
}

let setup: Promise<Setup> | undefined;
let cleanup: (() => Promise<void>) | undefined;
after(async () => {
  await cleanup?.();
});

async function makeSetup(): Promise<Setup> {
  const work = await mkdtemp(path.join(tmpdir(), 'podsec-native-verify-'));
  const gnupg = path.join(work, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  const env = { GNUPGHOME: gnupg, LANG: 'C' };
  cleanup = async () => {
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false });
    await rm(work, { recursive: true, force: true });
  };
  const gpg = (args: readonly string[], input?: Uint8Array) =>
    execa('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
      env,
      encoding: 'buffer',
      // signatures byte for byte: execa strips a final 0x0a by default, and one in 256 signatures ends in it
      stripFinalNewline: false,
      ...(input === undefined ? {} : { input }),
    });
  const fpr = async (k: KeyName) =>
    Buffer.from((await gpg(['--with-colons', '--list-keys', `<${k}@podsec.test>`])).stdout)
      .toString()
      .split('\n')
      .find((l) => l.startsWith('fpr:'))
      ?.split(':')[9] as string;
  for (const [k, [algo, usage]] of Object.entries(KEYS) as [KeyName, readonly string[]][]) {
    const uid = `${k} <${k}@podsec.test>`;
    const time =
      k === 'future'
        ? ['--faked-system-time', String(now() + year)]
        : k === 'expired'
          ? ['--faked-system-time', String(now() - 2 * year)]
          : [];
    const expiry = k === 'expired' || k === 'expiring' ? '1y' : 'never';
    await gpg([...time, '--quick-generate-key', uid, algo as string, usage as string, expiry]);
  }
  await gpg(['--quick-add-key', await fpr('sub'), 'rsa2048', 'sign', 'never']);
  await gpg(['--quick-add-uid', await fpr('twouids'), 'second <second@podsec.test>']);
  await gpg(['--quick-add-uid', await fpr('uidrevoked'), 'gone <gone@podsec.test>']);
  await gpg(['--quick-revoke-uid', await fpr('uidrevoked'), 'gone <gone@podsec.test>']);
  const payload = path.join(work, 'payload.json');
  await writeFile(
    payload,
    formatSimpleSigningPayload({
      dockerReference: 'registry.local/app:1',
      manifestDigest: `sha256:${'ab'.repeat(32)}`,
      creator: 'gpg',
      timestamp: now(),
    }),
  );
  // gpg signs no more with a revoked key: its signature is made before the revocation is imported
  const signBy = async (c: Case): Promise<Uint8Array> => {
    const args = [...(c.gpgArgs ?? []), '--local-user', `<${c.signer}@podsec.test>`, '--sign'];
    const out = c.stdin
      ? (await gpg(args, await readFile(payload))).stdout
      : (await gpg([...args, '--output', '-', payload])).stdout;
    const blob = new Uint8Array(out);
    return c.mangle ? c.mangle(blob) : blob;
  };
  const byRevokedKey = await signBy({ name: '', trusted: [], signer: 'revoked', native: false });
  // the revocation certificate gpg keeps for every new key, made importable (the colon removed)
  const revocs = path.join(gnupg, 'openpgp-revocs.d');
  const revFile = path.join(revocs, `${await fpr('revoked')}.rev`);
  const certificate = (await readFile(revFile, 'utf8')).replace(/^:-----BEGIN/m, '-----BEGIN');
  await gpg(['--import'], Buffer.from(certificate));
  const keyFile = (k: KeyName) => path.join(work, `${k}.pgp`);
  for (const k of Object.keys(KEYS) as KeyName[])
    await gpg(['--output', keyFile(k), '--export', `<${k}@podsec.test>`]);
  return {
    work,
    keyFile,
    sign: (c) => (c.signer === 'revoked' ? Promise.resolve(byRevokedKey) : signBy(c)),
  };
}

type Outcome = { ok: unknown } | { error: { code: unknown; message: string } };
const settle = async (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (ok) => ({ ok }),
    (e: unknown) => ({
      error: { code: (e as { code?: unknown }).code, message: (e as Error).message },
    }),
  );

describe('the native verifier decides as openpgp.js does (keys and signatures of the real gpg)', () => {
  for (const c of CASES) {
    it(
      `${c.native ? 'natively' : 'through openpgp.js'}: ${c.name}`,
      { timeout: 300_000 },
      async (t: TestContext) => {
        if (requireCommands(t, ['gpg', 'gpgconf']) === undefined) return;
        setup ??= makeSetup();
        const s = await setup;
        const blob = await s.sign(c);
        const rings = await Promise.all(c.trusted.map((k) => readFile(s.keyFile(k))));
        const at = new Date();
        const openpgpKeys = (await Promise.all(rings.map((r) => readPublicKeys(r)))).flat();
        const trustedKeys = (await Promise.all(rings.map((r) => readTrustedKeys(r)))).flat();
        const reference = await settle(verifyWithOpenpgp(blob, openpgpKeys, { now: at }));
        // the verifier podsec-trust uses (native keys, native first) and with openpgp.js key objects
        assert.deepEqual(
          await settle(verifySimpleSigning(blob, trustedKeys, { now: at })),
          reference,
        );
        assert.deepEqual(
          await settle(verifySimpleSigning(blob, openpgpKeys, { now: at })),
          reference,
        );
        const native = await settle(verifyNatively(blob, trustedKeys, { now: at }));
        t.diagnostic(JSON.stringify('ok' in reference ? 'accepted' : reference.error));
        if (c.native) {
          assert.ok('ok' in native ? native.ok !== undefined : true, 'decided natively');
          assert.deepEqual(native, reference);
        } else assert.deepEqual(native, { ok: undefined }, 'left to openpgp.js');
      },
    );
  }
});
