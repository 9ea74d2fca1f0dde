import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as openpgp from 'openpgp';
import { parsePolicy } from '../config/policy.ts';
import type { Policy } from '../config/policy.ts';
import { manifestDigest } from './digest.ts';
import {
  createEvaluationContext,
  evaluateImage,
  requirementsFor,
  scopeCandidates,
} from './policy-engine.ts';
import type { VerifyFunction } from './policy-engine.ts';

const enc = new TextEncoder();

describe('scopeCandidates', () => {
  it('adds :latest to name-only docker references', () => {
    assert.equal(scopeCandidates('docker', 'registry.local/a')[0], 'registry.local/a:latest');
  });

  it('walks parent directories for path transports', () => {
    assert.deepEqual(scopeCandidates('oci', '/srv/img/app:v1'), [
      '/srv/img/app:v1',
      '/srv/img/app',
      '/srv/img',
      '/srv',
    ]);
  });
});

describe('requirementsFor', () => {
  const policy = parsePolicy(
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'registry.local/c10f/pause:3.9': [{ type: 'insecureAcceptAnything' }],
          'registry.local/c10f/pause': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/repo' }],
          'registry.local/c10f': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/ns' }],
          'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/host' }],
          '*.example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/wild' }],
          '*.b.example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/wild-b' }],
          '': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/docker-default' }],
        },
        oci: { '/srv': [{ type: 'insecureAcceptAnything' }] },
      },
    }),
  );
  const scope = (t: string, r: string): string => {
    const d = requirementsFor(policy, t, r);
    return d.isDefault ? '<default>' : d.scope;
  };

  it('prefers the full reference, then repository, namespace and host', () => {
    assert.equal(scope('docker', 'registry.local/c10f/pause:3.9'), 'registry.local/c10f/pause:3.9');
    assert.equal(scope('docker', 'registry.local/c10f/pause:3.8'), 'registry.local/c10f/pause');
    assert.equal(scope('docker', 'registry.local/c10f/coredns:1'), 'registry.local/c10f');
    assert.equal(scope('docker', 'registry.local/other/x:1'), 'registry.local');
  });

  it('matches by path component, not by string prefix', () => {
    assert.equal(scope('docker', 'registry.local/c10/pause:1'), 'registry.local');
    assert.equal(scope('docker', 'registry.local/c10f2/pause:1'), 'registry.local');
  });

  it('uses the most specific *.domain wildcard, ignoring the port', () => {
    assert.equal(scope('docker', 'a.b.example.com/x:1'), '*.b.example.com');
    assert.equal(scope('docker', 'a.c.example.com:5000/x:1'), '*.example.com');
    assert.equal(scope('docker', 'example.com/x:1'), '');
  });

  it('falls back to the transport "" scope, then to default', () => {
    const d = requirementsFor(policy, 'docker', 'quay.io/x:1');
    assert.deepEqual([d.scope, d.isDefault], ['', false]);
    assert.deepEqual(requirementsFor(policy, 'docker-archive', '/tmp/a.tar').requirements, [
      { type: 'reject' },
    ]);
    assert.equal(requirementsFor(policy, 'docker-archive', '/tmp/a.tar').isDefault, true);
    assert.equal(scope('oci', '/srv/images/a:1'), '/srv');
    assert.equal(scope('oci', '/other/a'), '<default>');
  });

  it('uses default when no docker scope matches and there is no "" scope', () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { docker: { 'registry.local': [{ type: 'insecureAcceptAnything' }] } },
      }),
    );
    const d = requirementsFor(p, 'docker', 'busybox');
    assert.equal(d.isDefault, true);
    assert.match(d.reason, /default/);
  });

  it('throws REFERENCE_INVALID for an invalid docker reference', () => {
    assert.throws(() => requirementsFor(policy, 'docker', 'Registry.local/UPPER'), {
      code: 'REFERENCE_INVALID',
    });
  });
});

// Fake crypto: a "signature" is JSON {key, ref, digest}; a "key" is the file text.
interface FakeKey {
  fp: string;
}
const fakeVerify: VerifyFunction = async (blob, keys) => {
  const s = JSON.parse(new TextDecoder().decode(blob)) as {
    key: string;
    ref: string;
    digest: string;
  };
  if (!(keys as unknown as FakeKey[]).some((k) => k.fp === s.key))
    throw new Error(`signature by unknown key ${s.key}`);
  return { keyFingerprint: s.key, payload: { dockerReference: s.ref, manifestDigest: s.digest } };
};
// stored in the prefixed format of containers/image, which hands the data after the newline to the verifier
const sig = (key: string, ref: string, digest: string): Uint8Array =>
  enc.encode(`\0simple-signing\n${JSON.stringify({ key, ref, digest })}`);

function fakeFs(files: Record<string, string>): {
  readFile(p: string): Promise<Uint8Array>;
  reads: string[];
} {
  const reads: string[] = [];
  return {
    reads,
    async readFile(p: string) {
      reads.push(p);
      const f = files[p];
      if (f === undefined) throw new Error(`ENOENT: ${p}`);
      return enc.encode(f);
    },
  };
}
const fakeReadKeys = async (data: Uint8Array | string): Promise<openpgp.PublicKey[]> => {
  const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
  return text
    .split(',')
    .filter((x) => x !== '')
    .map((fp) => ({ fp }) as unknown as openpgp.PublicKey);
};

const MANIFEST = enc.encode('{"schemaVersion":2}');
const DIGEST = manifestDigest(MANIFEST);
const OTHER = manifestDigest(enc.encode('other'));

function ctx(files: Record<string, string> = { '/k/a.pgp': 'A', '/k/b.pgp': 'B' }) {
  const fs = fakeFs(files);
  return {
    fs,
    context: createEvaluationContext(fs, { verify: fakeVerify, readPublicKeys: fakeReadKeys }),
  };
}

function signedPolicy(req: Record<string, unknown>, def = 'reject'): Policy {
  return parsePolicy(
    JSON.stringify({
      default: [{ type: def }],
      transports: {
        docker: { 'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', ...req }] },
      },
    }),
  );
}

async function verdict(
  policy: Policy,
  reference: string,
  signatures: Uint8Array[],
  files?: Record<string, string>,
) {
  return evaluateImage(
    policy,
    { transport: 'docker', reference, manifest: MANIFEST, signatures },
    ctx(files).context,
  );
}

describe('evaluateImage', () => {
  const REF = 'registry.local/app:1';

  it('accepts a signature by a trusted key for the right digest and identity', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [sig('A', REF, DIGEST)]);
    assert.equal(r.accepted, true);
    assert.equal(r.scope, 'registry.local');
    assert.equal(r.results[0]?.signatures?.[0]?.keyFingerprint, 'A');
  });

  it('rejects a signature by an untrusted key', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [sig('B', REF, DIGEST)]);
    assert.equal(r.accepted, false);
    assert.match(r.results[0]?.reason ?? '', /unknown key B/);
  });

  it('refuses the image when any stored signature has no known format, as containers/image does', async () => {
    const good = sig('A', REF, DIGEST);
    for (const bad of [enc.encode('garbage'), new Uint8Array(), enc.encode('\0other\nx')]) {
      for (const signatures of [
        [good, bad],
        [bad, good],
      ]) {
        const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, signatures);
        assert.equal(r.accepted, false);
        assert.match(r.results[0]?.reason ?? '', /^parsing signature [12]: /);
      }
    }
  });

  it('skips sigstore signatures under signedBy, refusing the image only when one does not parse', async () => {
    const sigstore = enc.encode('\0sigstore-json\n{"mimeType":"x","payload":"","annotations":{}}');
    const ok = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [
      sigstore,
      sig('A', REF, DIGEST),
    ]);
    assert.equal(ok.accepted, true);
    const only = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [sigstore]);
    assert.match(only.results[0]?.reason ?? '', /no signature exists/);
    const broken = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [
      enc.encode('\0sigstore-json\n{'),
      sig('A', REF, DIGEST),
    ]);
    assert.match(broken.results[0]?.reason ?? '', /parsing signature 1: invalid sigstore/);
  });

  it('matches the manifest only by its SHA-256 digest, as containers/image does', async () => {
    const sha512 = manifestDigest(MANIFEST, 'sha512');
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [sig('A', REF, sha512)]);
    assert.equal(r.accepted, false);
    assert.match(r.results[0]?.reason ?? '', /does not match/);
  });

  it('rejects a signature for another manifest digest', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [sig('A', REF, OTHER)]);
    assert.equal(r.accepted, false);
    assert.match(r.results[0]?.reason ?? '', /does not match/);
  });

  it('rejects a signature for another identity', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [
      sig('A', 'registry.local/app:2', DIGEST),
    ]);
    assert.equal(r.accepted, false);
    assert.match(r.results[0]?.reason ?? '', /identity registry.local\/app:2/);
  });

  it('accepts when any one of several signatures is good', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, [
      sig('B', REF, DIGEST),
      sig('A', REF, DIGEST),
    ]);
    assert.equal(r.accepted, true);
    assert.deepEqual(
      r.results[0]?.signatures?.map((s) => s.accepted),
      [false, true],
    );
  });

  it('examines no signature after the first accepted one, as containers/image (signedBy returns there)', async () => {
    const { fs } = ctx();
    let verified = 0;
    const signatures = [
      sig('B', REF, DIGEST),
      sig('A', REF, DIGEST),
      sig('A', REF, DIGEST),
      sig('B', REF, DIGEST),
    ];
    const context = createEvaluationContext(fs, {
      verify: (data, keys) => {
        verified++;
        return fakeVerify(data, keys);
      },
      readPublicKeys: fakeReadKeys,
    });
    const r = await evaluateImage(
      signedPolicy({ keyPath: '/k/a.pgp' }),
      { transport: 'docker', reference: REF, manifest: MANIFEST, signatures },
      context,
    );
    assert.equal(r.accepted, true);
    assert.match(r.results[0]?.reason ?? '', /signature 2 accepted/);
    assert.equal(verified, 2, 'signatures 3 and 4 are not verified');
    assert.deepEqual(
      r.results[0]?.signatures?.map((s) => [s.index, s.accepted]),
      [
        [0, false],
        [1, true],
      ],
    );
  });

  it('rejects an image without signatures', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), REF, []);
    assert.equal(r.accepted, false);
    assert.match(r.reason, /no signature exists/);
  });

  it('trusts every key of keyPaths', async () => {
    const p = signedPolicy({ keyPaths: ['/k/a.pgp', '/k/b.pgp'] });
    assert.equal((await verdict(p, REF, [sig('B', REF, DIGEST)])).accepted, true);
    assert.equal((await verdict(p, REF, [sig('C', REF, DIGEST)])).accepted, false);
  });

  it('reads keyData from the policy itself', async () => {
    const p = signedPolicy({ keyData: Buffer.from('A').toString('base64') });
    assert.equal((await verdict(p, REF, [sig('A', REF, DIGEST)])).accepted, true);
  });

  it('rejects when a key file is missing', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/missing.pgp' }), REF, [
      sig('A', REF, DIGEST),
    ]);
    assert.equal(r.accepted, false);
    assert.match(r.reason, /cannot read key file \/k\/missing.pgp/);
  });

  it('rejects when the keyring holds no key', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/empty' }), REF, [sig('A', REF, DIGEST)], {
      '/k/empty': '',
    });
    assert.equal(r.accepted, false);
    assert.match(r.reason, /no public keys/);
  });

  it('requires every requirement of the scope to accept', async () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'insecureAcceptAnything' }, { type: 'reject' }],
        transports: {},
      }),
    );
    const r = await verdict(p, REF, []);
    assert.equal(r.accepted, false);
    assert.deepEqual(
      r.results.map((x) => x.accepted),
      [true, false],
    );
  });

  it('accepts anything under insecureAcceptAnything and nothing under reject', async () => {
    assert.equal(
      (await verdict(parsePolicy('{"default":[{"type":"insecureAcceptAnything"}]}'), 'busybox', []))
        .accepted,
      true,
    );
    assert.equal(
      (await verdict(parsePolicy('{"default":[{"type":"reject"}]}'), 'busybox', [])).accepted,
      false,
    );
  });

  it('does not evaluate sigstoreSigned and says so', async () => {
    const r = await verdict(
      parsePolicy('{"default":[{"type":"sigstoreSigned","keyPath":"/k"}]}'),
      REF,
      [],
    );
    assert.equal(r.accepted, false);
    assert.match(r.reason, /sigstoreSigned requirements are not evaluated/);
  });

  it('rejects unimplemented keyTypes', async () => {
    const r = await verdict(
      signedPolicy({ keyType: 'X509Certificates', keyPath: '/k/a.pgp' }),
      REF,
      [sig('A', REF, DIGEST)],
    );
    assert.equal(r.accepted, false);
    assert.match(r.reason, /unimplemented keyType/);
  });

  it('accepts a digest reference signed for a tag of the same repository', async () => {
    const r = await verdict(signedPolicy({ keyPath: '/k/a.pgp' }), `registry.local/app@${DIGEST}`, [
      sig('A', REF, DIGEST),
    ]);
    assert.equal(r.accepted, true);
  });

  it('rejects a digest reference whose digest is not the manifest', async () => {
    const r = await verdict(
      parsePolicy('{"default":[{"type":"insecureAcceptAnything"}]}'),
      `registry.local/app@${OTHER}`,
      [],
    );
    assert.equal(r.accepted, false);
    assert.match(r.reason, /manifest does not match/);
  });

  it('applies signedIdentity rules such as remapIdentity', async () => {
    const p = signedPolicy({
      keyPath: '/k/a.pgp',
      signedIdentity: {
        type: 'remapIdentity',
        prefix: 'registry.local',
        signedPrefix: 'golden.io/ns',
      },
    });
    assert.equal((await verdict(p, REF, [sig('A', 'golden.io/ns/app:1', DIGEST)])).accepted, true);
    assert.equal((await verdict(p, REF, [sig('A', REF, DIGEST)])).accepted, false);
  });

  it('uses dockerReference for identity on non-docker transports', async () => {
    const p = parsePolicy(
      JSON.stringify({ default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k/a.pgp' }] }),
    );
    const image = {
      transport: 'containers-storage',
      reference: 'x',
      manifest: MANIFEST,
      signatures: [sig('A', REF, DIGEST)],
    };
    assert.equal((await evaluateImage(p, image, ctx().context)).accepted, false);
    assert.equal(
      (await evaluateImage(p, { ...image, dockerReference: REF }, ctx().context)).accepted,
      true,
    );
  });

  it('caches parsed keys per keyPath within one context', async () => {
    const { fs, context } = ctx();
    const p = signedPolicy({ keyPath: '/k/a.pgp' });
    for (let i = 0; i < 3; i++) {
      await evaluateImage(
        p,
        {
          transport: 'docker',
          reference: REF,
          manifest: MANIFEST,
          signatures: [sig('A', REF, DIGEST)],
        },
        context,
      );
    }
    assert.deepEqual(fs.reads, ['/k/a.pgp']);
  });
});
