/**
 * Differential test: our policy engine must reach the same verdict as real skopeo (containers/image)
 * on a matrix of (policy, image, signatures). Needs docker-registry, buildah, skopeo and gpg.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildTinyImage } from '../../../../test/utils/src/image.ts';
import type { TinyImage } from '../../../../test/utils/src/image.ts';
import { startRegistry } from '../../../../test/utils/src/registry.ts';
import type { TestRegistry } from '../../../../test/utils/src/registry.ts';
import { parsePolicy } from '../config/policy.ts';
import { parseDockerReference } from '../config/reference.ts';
import { signatureLocation } from './lookaside.ts';
import { createEvaluationContext, evaluateImage } from './policy-engine.ts';

type Key = 'alice' | 'bob';
interface Sig {
  readonly key: Key;
  /** Identity written into the signature; default: the pulled reference. */
  readonly identity?: string;
  /** Image whose manifest digest the signature names; default: the pulled image. */
  readonly digestOf?: ImageName;
}
type ImageName = 'app1' | 'app2' | 'mirror';
interface Case {
  readonly name: string;
  readonly policy: (
    h: string,
    k: Record<Key | 'both' | 'aliceArmored' | 'missing', string>,
    keyData: string,
  ) => unknown;
  readonly image: ImageName;
  /** Pull by digest instead of by tag. */
  readonly byDigest?: boolean;
  readonly sigs: readonly Sig[];
  readonly expected: boolean;
}

const REJECT = [{ type: 'reject' }];
const ACCEPT = [{ type: 'insecureAcceptAnything' }];
const signedBy = (keyPath: string, signedIdentity?: unknown): unknown[] => [
  {
    type: 'signedBy',
    keyType: 'GPGKeys',
    keyPath,
    ...(signedIdentity === undefined ? {} : { signedIdentity }),
  },
];
const docker = (scopes: Record<string, unknown>, def: unknown = REJECT): unknown => ({
  default: def,
  transports: { docker: scopes },
});

const CASES: readonly Case[] = [
  {
    name: 'default insecureAcceptAnything, unsigned',
    policy: () => ({ default: ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'default reject, unsigned',
    policy: () => ({ default: REJECT }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  {
    name: 'host scope insecureAcceptAnything over reject default',
    policy: (h) => docker({ [h]: ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'signedBy, good signature',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: true,
  },
  {
    name: 'signedBy, no signature',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  {
    name: 'signedBy, signature by the wrong key',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [{ key: 'bob' }],
    expected: false,
  },
  {
    name: 'signedBy, signature for the wrong identity (other tag)',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [{ key: 'alice', identity: 'HOST/ns/app:2' }],
    expected: false,
  },
  {
    name: 'signedBy, signature for the wrong digest',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [{ key: 'alice', digestOf: 'app2' }],
    expected: false,
  },
  {
    name: 'signedBy, one bad and one good signature',
    policy: (h, k) => docker({ [`${h}/ns`]: signedBy(k.alice) }),
    image: 'app1',
    sigs: [{ key: 'bob' }, { key: 'alice' }],
    expected: true,
  },
  {
    name: 'keyPaths containing the signer',
    policy: (h, k) =>
      docker({ [h]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: [k.bob, k.alice] }] }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: true,
  },
  {
    name: 'keyPaths without the signer',
    policy: (h, k) =>
      docker({ [h]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: [k.bob] }] }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: false,
  },
  {
    name: 'keyPath with a two-key keyring (binary)',
    policy: (h, k) => docker({ [h]: signedBy(k.both) }),
    image: 'app1',
    sigs: [{ key: 'bob' }],
    expected: true,
  },
  {
    name: 'keyPath with an armoured key',
    policy: (h, k) => docker({ [h]: signedBy(k.aliceArmored) }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: true,
  },
  {
    name: 'keyData inline',
    policy: (h, _k, d) => docker({ [h]: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: d }] }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: true,
  },
  {
    name: 'keyPath to a missing file',
    policy: (h, k) => docker({ [h]: signedBy(k.missing) }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: false,
  },
  {
    name: 'matchRepository accepts a signature for another tag',
    policy: (h, k) => docker({ [h]: signedBy(k.alice, { type: 'matchRepository' }) }),
    image: 'app1',
    sigs: [{ key: 'alice', identity: 'HOST/ns/app:other' }],
    expected: true,
  },
  {
    name: 'matchRepository rejects another repository',
    policy: (h, k) => docker({ [h]: signedBy(k.alice, { type: 'matchRepository' }) }),
    image: 'app1',
    sigs: [{ key: 'alice', identity: 'HOST/ns/other:1' }],
    expected: false,
  },
  {
    name: 'matchExact with the exact reference',
    policy: (h, k) => docker({ [h]: signedBy(k.alice, { type: 'matchExact' }) }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: true,
  },
  {
    name: 'exactReference accepts the configured identity',
    policy: (h, k) =>
      docker({
        [h]: signedBy(k.alice, {
          type: 'exactReference',
          dockerReference: 'registry.local/c10f/app:1',
        }),
      }),
    image: 'app1',
    sigs: [{ key: 'alice', identity: 'registry.local/c10f/app:1' }],
    expected: true,
  },
  {
    name: 'exactReference rejects the pulled reference itself',
    policy: (h, k) =>
      docker({
        [h]: signedBy(k.alice, {
          type: 'exactReference',
          dockerReference: 'registry.local/c10f/app:1',
        }),
      }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: false,
  },
  {
    name: 'exactRepository accepts any tag of the configured repository',
    policy: (h, k) =>
      docker({
        [h]: signedBy(k.alice, {
          type: 'exactRepository',
          dockerRepository: 'registry.local/c10f/app',
        }),
      }),
    image: 'app1',
    sigs: [{ key: 'alice', identity: 'registry.local/c10f/app:9' }],
    expected: true,
  },
  {
    name: 'remapIdentity accepts the remapped identity',
    policy: (h, k) =>
      docker({
        [h]: signedBy(k.alice, {
          type: 'remapIdentity',
          prefix: `${h}/mirror`,
          signedPrefix: 'registry.local/c10f',
        }),
      }),
    image: 'mirror',
    sigs: [{ key: 'alice', identity: 'registry.local/c10f/app:1' }],
    expected: true,
  },
  {
    name: 'remapIdentity rejects the unmapped identity',
    policy: (h, k) =>
      docker({
        [h]: signedBy(k.alice, {
          type: 'remapIdentity',
          prefix: `${h}/mirror`,
          signedPrefix: 'registry.local/c10f',
        }),
      }),
    image: 'mirror',
    sigs: [{ key: 'alice' }],
    expected: false,
  },
  {
    name: 'pull by digest accepts a signature for a tag of the repository',
    policy: (h, k) => docker({ [h]: signedBy(k.alice) }),
    image: 'app1',
    byDigest: true,
    sigs: [{ key: 'alice', identity: 'HOST/ns/app:1' }],
    expected: true,
  },
  {
    name: 'most specific scope wins: repository reject beats host accept',
    policy: (h) => docker({ [h]: ACCEPT, [`${h}/ns/app`]: REJECT }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  {
    name: 'tag scope beats namespace scope',
    policy: (h) => docker({ [`${h}/ns`]: REJECT, [`${h}/ns/app:1`]: ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'scopes match whole path components (HOST/n does not cover HOST/ns)',
    policy: (h) => docker({ [`${h}/n`]: ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  // Wildcards: containers/image strips the port and builds *.0.0.1, *.0.1, *.1 from 127.0.0.1, so
  // *.0.0.1 is reachable without /etc/hosts changes; host-name wildcards are covered by unit tests.
  {
    name: 'wildcard *.0.0.1 matches 127.0.0.1:PORT',
    policy: () => docker({ '*.0.0.1': ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'more specific wildcard wins (*.0.0.1 reject over *.1 accept)',
    policy: () => docker({ '*.1': ACCEPT, '*.0.0.1': REJECT }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  {
    name: 'host scope beats wildcard',
    policy: (h) => docker({ '*.0.0.1': REJECT, [h]: ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'docker "" scope before default',
    policy: () => docker({ '': ACCEPT }),
    image: 'app1',
    sigs: [],
    expected: true,
  },
  {
    name: 'other transports listed do not affect docker',
    policy: () => ({ default: REJECT, transports: { oci: { '': ACCEPT } } }),
    image: 'app1',
    sigs: [],
    expected: false,
  },
  {
    name: 'every requirement must accept',
    policy: (h, k) => docker({ [h]: [...ACCEPT, ...signedBy(k.alice)] }),
    image: 'app1',
    sigs: [{ key: 'bob' }],
    expected: false,
  },
  {
    name: 'sigstoreSigned is not satisfied by simple signing',
    policy: (h, k) => docker({ [h]: [{ type: 'sigstoreSigned', keyPath: k.alice }] }),
    image: 'app1',
    sigs: [{ key: 'alice' }],
    expected: false,
  },
];

describe('policy engine vs skopeo', { timeout: 180_000 }, () => {
  let registry: TestRegistry;
  let work: string;
  let gnupg: string;
  const images = {} as Record<ImageName, TinyImage>;
  const fingerprints = {} as Record<Key, string>;
  const keyFiles = {} as Record<Key | 'both' | 'aliceArmored' | 'missing', string>;
  let aliceKeyData = '';
  let outcomes: Promise<{ skopeo: boolean; ours: boolean; detail: string }[]> | undefined;

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'podsec-matrix-'));
    gnupg = path.join(work, 'gnupg');
    await mkdir(gnupg, { mode: 0o700 });
    const env = { GNUPGHOME: gnupg };
    const keys = path.join(work, 'keys');
    await mkdir(keys);
    const [reg] = await Promise.all([
      startRegistry(),
      (async () => {
        for (const who of ['alice', 'bob'] as const) {
          await execa(
            'gpg',
            [
              '--batch',
              '--pinentry-mode',
              'loopback',
              '--passphrase',
              '',
              '--quick-generate-key',
              `${who} <${who}@podsec.test>`,
              'ed25519',
              'sign',
              'never',
            ],
            { env },
          );
          const { stdout } = await execa(
            'gpg',
            ['--batch', '--with-colons', '--list-keys', `${who}@podsec.test`],
            { env },
          );
          const fpr = stdout
            .split('\n')
            .find((l) => l.startsWith('fpr:'))
            ?.split(':')[9];
          assert.ok(fpr, `no fingerprint for ${who}`);
          fingerprints[who] = fpr;
          keyFiles[who] = path.join(keys, `${who}.pgp`);
          await execa('gpg', ['--batch', '--output', keyFiles[who], '--export', fpr], { env });
        }
        keyFiles.both = path.join(keys, 'both.pgp');
        await execa(
          'gpg',
          ['--batch', '--output', keyFiles.both, '--export', fingerprints.alice, fingerprints.bob],
          { env },
        );
        keyFiles.aliceArmored = path.join(keys, 'alice.asc');
        await execa(
          'gpg',
          ['--batch', '--armor', '--output', keyFiles.aliceArmored, '--export', fingerprints.alice],
          { env },
        );
        keyFiles.missing = path.join(keys, 'missing.pgp');
        aliceKeyData = (await readFile(keyFiles.alice)).toString('base64');
      })(),
    ]);
    registry = reg;
    const built = await Promise.all([
      buildTinyImage(registry.host, 'ns/app', '1', { contents: 'app 1\n' }),
      buildTinyImage(registry.host, 'ns/app', '2', { contents: 'app 2\n' }),
      buildTinyImage(registry.host, 'mirror/app', '1', { contents: 'mirror 1\n' }),
    ]);
    [images.app1, images.app2, images.mirror] = built;
  });

  after(async () => {
    await registry?.stop();
    if (work !== undefined) {
      await execa('gpgconf', ['--kill', 'gpg-agent'], { env: { GNUPGHOME: gnupg }, reject: false });
      await rm(work, { recursive: true, force: true });
    }
  });

  async function runCase(
    c: Case,
    index: number,
  ): Promise<{ skopeo: boolean; ours: boolean; detail: string }> {
    const h = registry.host;
    const dir = path.join(work, `case-${index}`);
    const sigstore = path.join(dir, 'sigstore');
    const regd = path.join(dir, 'registries.d');
    await mkdir(regd, { recursive: true });
    const image = images[c.image];
    const named = parseDockerReference(image.reference).named().toString();
    const pulled = c.byDigest ? `${named}@${image.digest}` : image.reference;
    const policyText = JSON.stringify(c.policy(h, keyFiles, aliceKeyData), null, 2);
    const policyFile = path.join(dir, 'policy.json');
    await writeFile(policyFile, policyText);
    await writeFile(
      path.join(regd, 'default.yaml'),
      `default-docker:\n  lookaside: file://${sigstore}\n`,
    );
    const blobs: Uint8Array[] = [];
    for (const [i, s] of c.sigs.entries()) {
      const manifestFile = path.join(dir, `manifest-${i}.json`);
      await writeFile(manifestFile, images[s.digestOf ?? c.image].manifest);
      const identity = (s.identity ?? image.reference).replace('HOST', h);
      const out = fileURLToPath(
        signatureLocation(`file://${sigstore}`, pulled, image.digest, i + 1),
      );
      await mkdir(path.dirname(out), { recursive: true });
      await execa(
        'skopeo',
        ['standalone-sign', '--output', out, manifestFile, identity, fingerprints[s.key]],
        { env: { GNUPGHOME: gnupg } },
      );
      blobs.push(new Uint8Array(await readFile(out)));
    }
    const skopeoRun = await execa(
      'skopeo',
      [
        '--policy',
        policyFile,
        '--registries.d',
        regd,
        'copy',
        '--src-tls-verify=false',
        `docker://${pulled}`,
        `dir:${path.join(dir, 'out')}`,
      ],
      { reject: false },
    );
    const fs = { readFile: async (p: string) => new Uint8Array(await readFile(p)) };
    const result = await evaluateImage(
      parsePolicy(policyText),
      { transport: 'docker', reference: pulled, manifest: image.manifest, signatures: blobs },
      createEvaluationContext(fs),
    );
    return {
      skopeo: skopeoRun.exitCode === 0,
      ours: result.accepted,
      detail: `skopeo: ${skopeoRun.stderr.trim().split('\n').at(-1) ?? ''}\nours: ${result.reason}`,
    };
  }

  it(`has at least 20 cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 20);
  });

  for (const [i, c] of CASES.entries()) {
    it(`${c.expected ? 'accepts' : 'rejects'} like skopeo: ${c.name}`, async (t) => {
      // All cases run concurrently once; each test awaits its own outcome.
      outcomes ??= Promise.all(CASES.map((x, j) => runCase(x, j)));
      const o = (await outcomes)[i];
      assert.ok(o);
      t.diagnostic(o.detail.replaceAll('\n', ' | '));
      assert.equal(o.ours, o.skopeo, `engine and skopeo disagree\n${o.detail}`);
      assert.equal(o.ours, c.expected, `unexpected verdict\n${o.detail}`);
    });
  }
});
