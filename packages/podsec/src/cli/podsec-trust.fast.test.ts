import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey } from '@podsec/core/trust';
import {
  buildTinyImage,
  createTestSystem,
  runBothPaths,
  runProgram,
  startRegistry,
  type TestRegistry,
  type TinyImage,
} from '@podsec/test-utils';
import { cli } from './podsec-trust.ts';
import { fast } from './podsec-trust.fast.ts';

const POLICY = JSON.stringify({
  default: [{ type: 'reject' }],
  transports: {
    docker: {
      'registry.local/podsec': [
        { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker.pgp' },
      ],
      'registry.local': [{ type: 'insecureAcceptAnything' }],
    },
  },
});

describe('podsec-trust fast path', () => {
  it('prints the same bytes and exit code as the full program for every show it handles', async (t) => {
    const system = await createTestSystem(t, {
      tree: {
        'etc/containers/policy.json': POLICY,
        'etc/containers/other.json': '{"default":[{"type":"insecureAcceptAnything"}]}',
        'etc/containers/broken.json': '{"default":[{"type":"reject"}],"bogus":1}',
      },
    });
    const handled = [
      ['show'],
      ['show', '--json'],
      ['--json', 'show'],
      ['show', 'registry.local/podsec/app:1'],
      ['show', 'docker://registry.local/other:2', '--json', '-v'],
      ['show', 'docker.io/library/alpine', '--verbose'],
      ['show', '--policy', '/etc/containers/other.json'],
      ['show', '--policy=/etc/containers/other.json', 'registry.local/x'],
      ['show', '--registries-d', '/etc/containers/registries.d', '--debug'],
      ['show', '--registries-d=/nowhere'],
      // errors: a missing policy, a malformed one, a bad image reference
      ['show', '--policy', '/etc/containers/missing.json'],
      ['show', '--policy', '/etc/containers/missing.json', '--json'],
      ['show', '--policy', '/etc/containers/broken.json'],
      ['show', 'UPPER/case'],
      ['show', 'UPPER/case', '--json'],
    ];
    for (const args of handled) {
      for (const env of [{ LANG: 'C' }, { LANG: 'ru_RU.UTF-8' }]) {
        const r = await runBothPaths(fast, cli, args, { system, env });
        assert.ok(r.fast, `the fast path takes ${args.join(' ')}`);
        assert.deepEqual(r.fast, r.full, `${args.join(' ')} (${env.LANG})`);
      }
    }
  });

  it('leaves everything else to commander', () => {
    for (const args of [
      [],
      ['--help'],
      ['show', '--help'],
      ['show', '-h'],
      ['show', 'a', 'b'],
      ['show', '--root', '/tmp'],
      ['show', '--policy'],
      ['show', '--policy', ''],
      ['show', '--policy', '--json'],
      ['show', '--policy='],
      ['show', '--bogus'],
      ['show', '-vj'],
      ['show', '--', 'x'],
      ['show', '-'],
      ['verify'],
      ['verify', '--json'],
      ['verify', 'a', 'b'],
      ['verify', 'registry.local/x', '--key', '/k.asc'],
      ['verify', 'registry.local/x', '--key=/k.asc'],
      ['verify', 'registry.local/x', '--root', '/tmp'],
      ['verify', 'registry.local/x', '--dry-run'],
      ['verify', 'registry.local/x', '--help'],
      ['verify', 'registry.local/x', '--lookaside'],
      ['verify', 'registry.local/x', '--lookaside', '--insecure'],
      ['verify', 'registry.local/x', '--tls-verify', 'false'],
      ['verify', 'registry.local/x', '--tls-verify=no'],
      ['verify', 'registry.local/x', '--insecure=true'],
      ['verify', '--', 'registry.local/x'],
      ['sign', 'registry.local/x'],
      ['x', 'show'],
    ])
      assert.equal(fast.parse(args), undefined, args.join(' '));
  });
});

// Real docker-registry and buildah: `verify` through the fast path prints what the commander program prints.
describe('podsec-trust verify fast path', () => {
  let registry: TestRegistry;
  let signed: TinyImage;
  let unsigned: TinyImage;
  let dir: string;
  before(async () => {
    registry = await startRegistry();
    signed = await buildTinyImage(registry.host, 'podsec/signed', '1', { contents: 'fast signed' });
    unsigned = await buildTinyImage(registry.host, 'podsec/unsigned', '1', { contents: 'fast' });
    dir = await mkdtemp(path.join(tmpdir(), 'podsec-trust-fast-'));
  });
  after(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sends the manifest request before it reads the policy and keys (the registry answers meanwhile)', async (t) => {
    const base = await createTestSystem(t, {
      tree: { 'etc/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}' },
    });
    const events: string[] = [];
    const system = {
      ...base,
      fs: {
        ...base.fs,
        readFile: (p: string, o?: { maxBytes?: number }) => {
          events.push(`read ${p}`);
          return base.fs.readFile(p, o);
        },
        readText: (p: string, o?: { maxBytes?: number }) => {
          events.push(`read ${p}`);
          return base.fs.readText(p, o);
        },
        readTextIfExists: (p: string, o?: { maxBytes?: number }) => {
          events.push(`read ${p}`);
          return base.fs.readTextIfExists(p, o);
        },
      },
      http: {
        ...base.http,
        request: (...a: Parameters<typeof base.http.request>) => {
          events.push('request');
          return base.http.request(...a);
        },
      },
    };
    const r = await runBothPaths(
      fast,
      cli,
      ['verify', unsigned.reference, '--insecure', '--json'],
      {
        system,
      },
    );
    assert.equal(r.fast?.code, 0, r.fast?.stderr);
    const policy = events.indexOf('read /etc/containers/policy.json');
    assert.ok(policy >= 0, events.join(', '));
    assert.ok(events.indexOf('request') < policy, events.join(', '));
  });

  it('prints the same bytes and exit code as the full program for every verify it handles', async (t) => {
    const key = await generateKey({ type: 'ed25519', name: 'Maker', email: 'maker@example.org' });
    const keyFile = path.join(dir, 'maker.asc');
    await writeFile(keyFile, key.privateKeyArmored, { mode: 0o600 });
    const system = await createTestSystem(t, {
      tree: {
        'etc/containers/policy.json': POLICY.replaceAll('registry.local', registry.host),
        'etc/containers/registries.d/default.yaml':
          'default-docker:\n  lookaside: file:///var/sigstore/sigstore/\n',
        'etc/containers/other.d/default.yaml': 'default-docker:\n  lookaside: file:///nowhere\n',
        'var/sigstore/keys/maker.pgp': key.publicKeyArmored,
      },
    });
    // one more signature of the signed image in the lookaside, by the full command
    const signOnce = () =>
      runProgram(
        cli,
        [
          'sign',
          signed.reference,
          '--key',
          keyFile,
          '--lookaside',
          '/var/sigstore/sigstore',
          '--insecure',
        ],
        { system },
      );
    const sign = await signOnce();
    assert.equal(sign.code, 0, sign.stderr);
    const handled = [
      ['verify', signed.reference, '--insecure'],
      ['verify', signed.reference, '--insecure', '--json'],
      ['--json', 'verify', `docker://${signed.reference}`, '--tls-verify=false', '-v'],
      ['verify', signed.reference, '--insecure', '--tls-verify=true', '--debug'],
      ['verify', signed.reference, '--insecure', '--registries-d=/etc/containers/other.d'],
      ['verify', signed.reference, '--insecure', '--lookaside', 'file:///var/sigstore/sigstore'],
      ['verify', signed.reference, '--insecure', '--policy', '/etc/containers/missing.json'],
      // rejected: no signature, then a plain HTTP registry asked for HTTPS, then a bad reference
      ['verify', unsigned.reference, '--insecure'],
      ['verify', unsigned.reference, '--insecure', '--json'],
      ['verify', signed.reference, '--tls-verify'],
      ['verify', 'UPPER/case', '--json'],
    ];
    for (const args of handled) {
      for (const env of [{ LANG: 'C' }, { LANG: 'ru_RU.UTF-8' }]) {
        const r = await runBothPaths(fast, cli, args, { system, env });
        assert.ok(r.fast, `the fast path takes ${args.join(' ')}`);
        assert.deepEqual(r.fast, r.full, `${args.join(' ')} (${env.LANG})`);
      }
    }
    const ok = await runBothPaths(fast, cli, ['verify', signed.reference, '--insecure', '--json'], {
      system,
    });
    assert.equal(ok.fast?.code, 0, ok.fast?.stderr);
    assert.equal(JSON.parse(ok.fast.stdout).verdict.accepted, true);
    // a second signature: the policy accepts by the first and, as containers/image, never examines the second
    const again = await signOnce();
    assert.equal(again.code, 0, again.stderr);
    for (const args of [
      ['verify', signed.reference, '--insecure', '--json'],
      ['verify', signed.reference, '--insecure'],
    ]) {
      const r = await runBothPaths(fast, cli, args, { system });
      assert.deepEqual(r.fast, r.full, args.join(' '));
    }
    const two = await runProgram(cli, ['verify', signed.reference, '--insecure', '--json'], {
      system,
    });
    const report = JSON.parse(two.stdout);
    assert.equal(report.verdict.accepted, true);
    assert.equal(report.signatures.length, 2, 'the report counts every signature');
    assert.equal(report.signatures[0].valid, true);
    assert.equal(report.signatures[0].examined, undefined);
    assert.equal(report.signatures[1].examined, false);
    assert.equal(report.signatures[1].valid, false);
    assert.deepEqual(
      report.verdict.results[0].signatures.map((s: { index: number }) => s.index),
      [0],
    );
    const text = await runProgram(cli, ['verify', signed.reference, '--insecure'], { system });
    assert.match(text.stdout, /^signature-2: not examined: the policy had already accepted/m);
    // a garbage signature-3 refuses the image as containers/image does: then every signature is examined
    const dirOf = path.dirname(
      path.join(
        system.root,
        'var/sigstore/sigstore',
        `podsec/signed@sha256=${signed.digest.slice(7)}`,
        'x',
      ),
    );
    await writeFile(path.join(dirOf, 'signature-3'), '\0garbage\n');
    const bad = await runProgram(cli, ['verify', signed.reference, '--insecure', '--json'], {
      system,
    });
    assert.equal(bad.code, 3, bad.stderr);
    const badReport = JSON.parse(bad.stdout);
    assert.equal(badReport.verdict.accepted, false);
    assert.deepEqual(
      badReport.signatures.map((s: { valid: boolean; examined?: boolean }) => [
        s.valid,
        s.examined,
      ]),
      [
        [true, undefined],
        [true, undefined],
        [false, undefined],
      ],
    );
    const no = await runBothPaths(fast, cli, ['verify', unsigned.reference, '--insecure'], {
      system,
    });
    assert.equal(no.fast?.code, 3, 'a rejected image exits 3');
  });
});
