/**
 * `podsec-trust verify` must reach the verdict of the node's tools. Every case is made with the real gpg (a
 * private GNUPGHOME) and stored in a file:// lookaside of an image in a real docker-registry on 127.0.0.1; then
 * `skopeo copy docker://… dir:` (containers/image with gpgme) and `podsec-trust verify` judge it under the same
 * policy.json and registries.d. Weak signatures that skopeo accepts must be accepted with a warning.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { formatSimpleSigningPayload } from '@podsec/core/trust';
import {
  buildTinyImage,
  requireCommands,
  runProgram,
  startRegistry,
  type TestRegistry,
  type TinyImage,
  writeSignedByPolicy,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-trust.ts';

type KeyName = 'rsa' | 'sub' | 'dsa' | 'rsa1024' | 'future' | 'other';

interface Case {
  readonly name: string;
  /** Key of the policy's signedBy requirement. */
  readonly trusted: KeyName;
  /** The signature-1, signature-2, … files. */
  readonly blobs: (s: Setup) => Promise<Uint8Array[]>;
  readonly accepted: boolean;
  /** A warning ours must print for an accepted weak signature. */
  readonly weak?: RegExp;
}

interface Setup {
  readonly work: string;
  readonly registry: TestRegistry;
  readonly image: TinyImage;
  readonly keyFiles: Record<KeyName, string>;
  /** `gpg --sign` of a payload naming `digest` (default: the image's SHA-256) with extra gpg arguments. */
  sign(key: KeyName, gpgArgs?: readonly string[], digest?: string): Promise<Uint8Array>;
}

const enc = new TextEncoder();
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const inAYear = () => Math.floor(Date.now() / 1000) + 365 * 86400;

const CASES: readonly Case[] = [
  {
    name: 'a sound signature (RSA-2048, SHA-256)',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa')],
    accepted: true,
  },
  {
    name: 'a valid signature-1 next to a garbage signature-2',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa'), enc.encode('garbage')],
    accepted: false,
  },
  {
    name: 'a garbage signature-1 before a valid signature-2',
    trusted: 'rsa',
    blobs: async (s) => [enc.encode('garbage'), await s.sign('rsa')],
    accepted: false,
  },
  {
    name: 'an empty signature-2 next to a valid signature-1',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa'), new Uint8Array()],
    accepted: false,
  },
  {
    name: 'a payload naming the manifest by its SHA-512 digest',
    trusted: 'rsa',
    blobs: async (s) => [
      await s.sign(
        'rsa',
        [],
        `sha512:${createHash('sha512').update(s.image.manifest).digest('hex')}`,
      ),
    ],
    accepted: false,
  },
  {
    name: 'an OpenPGP marker packet before the message',
    trusted: 'rsa',
    blobs: async (s) => [
      concat(new Uint8Array([0xa8, 0x03, 0x50, 0x47, 0x50]), await s.sign('rsa')),
    ],
    accepted: false,
  },
  {
    name: 'a signature made by a signing subkey',
    trusted: 'sub',
    blobs: async (s) => [await s.sign('sub')],
    accepted: false,
  },
  {
    name: 'a signature by a key the policy does not name',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('other')],
    accepted: false,
  },
  {
    name: 'a key created in the future (gpg --faked-system-time)',
    trusted: 'future',
    blobs: async (s) => [await s.sign('future', ['--faked-system-time', String(inAYear() + 3600)])],
    accepted: false,
  },
  {
    name: 'an MD5 data signature',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa', ['--digest-algo', 'MD5'])],
    accepted: false,
  },
  {
    name: 'the prefixed storage format (a zero octet, "simple-signing", a newline)',
    trusted: 'rsa',
    blobs: async (s) => [concat(enc.encode('\0simple-signing\n'), await s.sign('rsa'))],
    accepted: true,
  },
  {
    name: 'a SHA-1 data signature',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa', ['--digest-algo', 'SHA1'])],
    accepted: true,
    weak: /weak SHA-1 digest/,
  },
  {
    name: 'a RIPEMD-160 data signature',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa', ['--digest-algo', 'RIPEMD160'])],
    accepted: true,
    weak: /weak RIPEMD-160 digest/,
  },
  {
    name: 'a DSA key',
    trusted: 'dsa',
    blobs: async (s) => [await s.sign('dsa')],
    accepted: true,
    weak: /weak DSA key/,
  },
  {
    name: 'an RSA-1024 key',
    trusted: 'rsa1024',
    blobs: async (s) => [await s.sign('rsa1024')],
    accepted: true,
    weak: /weak RSA-1024 key/,
  },
  {
    name: 'a creation time in the future (gpg --faked-system-time)',
    trusted: 'rsa',
    blobs: async (s) => [await s.sign('rsa', ['--faked-system-time', String(inAYear())])],
    accepted: true,
    weak: /made in the future/,
  },
];

let setup: Promise<Setup> | undefined;
let cleanup: (() => Promise<void>) | undefined;

async function makeSetup(): Promise<Setup> {
  const work = await mkdtemp(path.join(tmpdir(), 'podsec-verify-skopeo-'));
  const gnupg = path.join(work, 'gnupg');
  await mkdir(gnupg, { mode: 0o700 });
  const env = { GNUPGHOME: gnupg, LANG: 'C' };
  const gpg = (args: readonly string[]) =>
    execa('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env });
  const registry = await startRegistry();
  cleanup = async () => {
    await registry.stop();
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false });
    await rm(work, { recursive: true, force: true });
  };
  const image = await buildTinyImage(registry.host, 'verify/app', '1');
  const uid = (k: KeyName) => `${k} <${k}@podsec.test>`;
  const quick = (k: KeyName, algo: string, usage: string, extra: readonly string[] = []) =>
    gpg([...extra, '--quick-generate-key', uid(k), algo, usage, 'never']);
  await quick('rsa', 'rsa2048', 'sign');
  await quick('other', 'rsa2048', 'sign');
  await quick('dsa', 'dsa2048', 'sign');
  await quick('rsa1024', 'rsa1024', 'sign');
  await quick('future', 'rsa2048', 'sign', ['--faked-system-time', String(inAYear())]);
  // a primary key that only certifies, and a subkey that signs (gpg --sign then uses the subkey)
  await quick('sub', 'rsa2048', 'cert');
  const { stdout } = await gpg(['--with-colons', '--list-keys', 'sub@podsec.test']);
  const primary = stdout
    .split('\n')
    .find((l) => l.startsWith('fpr:'))
    ?.split(':')[9];
  assert.ok(primary);
  await gpg(['--quick-add-key', primary, 'rsa2048', 'sign', 'never']);
  const keyFiles = {} as Record<KeyName, string>;
  for (const k of ['rsa', 'sub', 'dsa', 'rsa1024', 'future', 'other'] as const) {
    keyFiles[k] = path.join(work, `${k}.pgp`);
    await gpg(['--output', keyFiles[k], '--export', `${k}@podsec.test`]);
  }
  let n = 0;
  return {
    work,
    registry,
    image,
    keyFiles,
    async sign(key, gpgArgs = [], digest = image.digest) {
      const payload = path.join(work, `payload-${++n}.json`);
      await writeFile(
        payload,
        formatSimpleSigningPayload({
          dockerReference: image.reference,
          manifestDigest: digest,
          creator: 'gpg',
          timestamp: Math.floor(Date.now() / 1000),
        }),
      );
      const out = `${payload}.sig`;
      await gpg([
        ...gpgArgs,
        '--local-user',
        `${key}@podsec.test`,
        '--output',
        out,
        '--sign',
        payload,
      ]);
      return new Uint8Array(await readFile(out));
    },
  };
}

after(async () => {
  await cleanup?.();
});

describe('podsec-trust verify reaches the verdict of skopeo (containers/image, gpgme)', () => {
  for (const [i, c] of CASES.entries()) {
    it(
      `${c.accepted ? 'accepts' : 'refuses'} ${c.name}`,
      { timeout: 300_000 },
      async (t: TestContext) => {
        if (
          requireCommands(t, ['gpg', 'gpgconf', 'skopeo', 'buildah', 'docker-registry']) ===
          undefined
        )
          return;
        setup ??= makeSetup();
        const s = await setup;
        const dir = path.join(s.work, `case-${i}`);
        const sigDir = path.join(dir, 'sigstore', `verify/app@${s.image.digest.replace(':', '=')}`);
        await mkdir(sigDir, { recursive: true });
        for (const [j, blob] of (await c.blobs(s)).entries())
          await writeFile(path.join(sigDir, `signature-${j + 1}`), blob);
        const regd = path.join(dir, 'registries.d');
        await mkdir(regd);
        await writeFile(
          path.join(regd, 'default.yaml'),
          `default-docker:\n  lookaside: file://${path.join(dir, 'sigstore')}\n`,
        );
        const policy = await writeSignedByPolicy(
          path.join(dir, 'policy.json'),
          s.registry.host,
          s.keyFiles[c.trusted],
        );
        const skopeo = await execa(
          'skopeo',
          [
            '--policy',
            policy,
            '--registries.d',
            regd,
            'copy',
            '--quiet',
            '--src-tls-verify=false',
            `docker://${s.image.reference}`,
            `dir:${path.join(dir, 'pulled')}`,
          ],
          { reject: false, env: { LANG: 'C' } },
        );
        const ours = await runProgram(
          cli,
          [
            'verify',
            s.image.reference,
            '--insecure',
            '--json',
            '--policy',
            policy,
            '--registries-d',
            regd,
          ],
          { env: { LANG: 'C', PATH: process.env['PATH'] } },
        );
        const detail = `skopeo: ${skopeo.stderr.trim().split('\n').at(-1) ?? ''}\nours: ${ours.stderr.trim()}`;
        t.diagnostic(detail.replaceAll('\n', ' | '));
        assert.equal(skopeo.exitCode === 0, c.accepted, `skopeo's verdict changed\n${detail}`);
        assert.equal(
          ours.code,
          c.accepted ? 0 : 3,
          `podsec-trust disagrees with skopeo\n${detail}`,
        );
        const r = JSON.parse(ours.stdout) as {
          verdict: { accepted: boolean };
          warnings: { signature: number; message: string }[];
        };
        assert.equal(r.verdict.accepted, c.accepted);
        if (c.weak === undefined) {
          assert.deepEqual(r.warnings, []);
          assert.doesNotMatch(ours.stderr, /weak/);
        } else {
          assert.match(r.warnings.map((w) => w.message).join('\n'), c.weak);
          assert.match(ours.stderr, /^warning: .* is accepted by signature-1, which is weak: /m);
        }
      },
    );
  }
});
