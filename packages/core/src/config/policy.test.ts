import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dockerScopes,
  forbiddenTransports,
  formatPolicy,
  getDefaultType,
  notSignedScopes,
  parsePolicy,
  setDockerScope,
  signedScopes,
} from './policy.ts';
import type { Policy } from './policy.ts';

const SERVER = {
  default: [{ type: 'reject' }],
  transports: {
    docker: {
      'registry.local/c10f': [
        { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/immkk8s.pgp' },
      ],
      'registry.local': [
        { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/imagemaker.pgp' },
      ],
    },
  },
};

function policyWith(req: unknown, scope = 'x.io'): string {
  return JSON.stringify({
    default: [{ type: 'reject' }],
    transports: { docker: { [scope]: [req] } },
  });
}

describe('parsePolicy', () => {
  it('parses the policy podsec-create-imagemakeruser writes', () => {
    const p = parsePolicy(JSON.stringify(SERVER));
    assert.deepEqual(p, SERVER);
  });

  it('parses every requirement and signedIdentity type', () => {
    const ids = [
      { type: 'matchExact' },
      { type: 'matchRepoDigestOrExact' },
      { type: 'matchRepository' },
      { type: 'exactReference', dockerReference: 'registry.local/a:1' },
      { type: 'exactRepository', dockerRepository: 'registry.local/a' },
      { type: 'remapIdentity', prefix: 'mirror.local/ns', signedPrefix: 'registry.local' },
    ];
    for (const signedIdentity of ids) {
      const req = {
        type: 'signedBy',
        keyType: 'GPGKeys',
        keyPaths: ['/k1', '/k2'],
        signedIdentity,
      };
      assert.deepEqual(parsePolicy(policyWith(req)).transports?.['docker']?.['x.io'], [req]);
    }
    for (const req of [
      { type: 'insecureAcceptAnything' },
      { type: 'signedBy', keyType: 'GPGKeys', keyData: 'AAEC' },
    ]) {
      assert.deepEqual(parsePolicy(policyWith(req)).transports?.['docker']?.['x.io'], [req]);
    }
  });

  it('preserves all sigstoreSigned fields', () => {
    const req = {
      type: 'sigstoreSigned',
      fulcio: { caPath: '/ca', oidcIssuer: 'https://o', subjectEmail: 'a@b' },
      rekorPublicKeyPath: '/rekor',
      keyDatas: ['AAEC'],
      pki: { caRootsPath: '/r', subjectHostname: 'h' },
      signedIdentity: { type: 'matchRepository' },
    };
    assert.deepEqual(parsePolicy(policyWith(req)).transports?.['docker']?.['x.io'], [req]);
  });

  it('accepts other transports with the default scope and path scopes', () => {
    const p = parsePolicy(
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          'docker-archive': { '': [{ type: 'insecureAcceptAnything' }] },
          dir: { '/srv/images': [{ type: 'reject' }] },
          'containers-storage': { '': [{ type: 'reject' }] },
        },
      }),
    );
    assert.deepEqual(forbiddenTransports(p), ['containers-storage', 'dir', 'docker-archive']);
  });

  it('rejects malformed JSON with POLICY_INVALID_JSON', () => {
    assert.throws(() => parsePolicy('{"default": ['), { code: 'POLICY_INVALID_JSON' });
    assert.throws(() => parsePolicy('{"default": [{"type":"reject"}]} x'), {
      code: 'POLICY_INVALID_JSON',
    });
  });

  it('rejects duplicate keys that JSON.parse would silently merge', () => {
    assert.throws(
      () =>
        parsePolicy(
          '{"default":[{"type":"reject"}],"default":[{"type":"insecureAcceptAnything"}]}',
        ),
      {
        code: 'POLICY_INVALID_JSON',
      },
    );
  });

  it('rejects an unknown field anywhere with its path', () => {
    assert.throws(() => parsePolicy('{"default":[{"type":"reject"}],"extra":1}'), {
      code: 'POLICY_UNKNOWN_FIELD',
    });
    assert.throws(() => parsePolicy('{"default":[{"type":"reject","x":1}]}'), {
      code: 'POLICY_UNKNOWN_FIELD',
      message: /default\[0\]\.x/,
    });
    assert.throws(
      () =>
        parsePolicy(
          policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', keypath: '/k' }),
        ),
      {
        code: 'POLICY_UNKNOWN_FIELD',
        message: /transports\.docker\["x\.io"\]\[0\]\.keypath/,
      },
    );
    assert.throws(
      () =>
        parsePolicy(
          policyWith({
            type: 'signedBy',
            keyType: 'GPGKeys',
            keyPath: '/k',
            signedIdentity: { type: 'matchExact', x: 1 },
          }),
        ),
      { code: 'POLICY_UNKNOWN_FIELD' },
    );
    assert.throws(
      () =>
        parsePolicy(
          policyWith({
            type: 'sigstoreSigned',
            keyPath: '/k',
            fulcio: { caPath: '/c', bogus: 'x' },
          }),
        ),
      {
        code: 'POLICY_UNKNOWN_FIELD',
      },
    );
  });

  it('requires a non-empty default and non-empty requirement lists', () => {
    assert.throws(() => parsePolicy('{}'), { code: 'POLICY_INVALID', message: /default/ });
    assert.throws(() => parsePolicy('{"default":[]}'), { code: 'POLICY_INVALID' });
    assert.throws(
      () => parsePolicy('{"default":[{"type":"reject"}],"transports":{"docker":{"a.io":[]}}}'),
      { code: 'POLICY_INVALID' },
    );
  });

  it('rejects wrong types with the offending path', () => {
    assert.throws(() => parsePolicy('[]'), { code: 'POLICY_INVALID' });
    assert.throws(() => parsePolicy('{"default":{"type":"reject"}}'), { code: 'POLICY_INVALID' });
    assert.throws(
      () => parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPath: 5 })),
      {
        code: 'POLICY_INVALID',
        message: /transports\.docker\["x\.io"\]\[0\]\.keyPath/,
      },
    );
    assert.throws(
      () => parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/a', 1] })),
      { code: 'POLICY_INVALID' },
    );
  });

  it('rejects unknown requirement and identity types', () => {
    assert.throws(() => parsePolicy('{"default":[{"type":"acceptAll"}]}'), {
      code: 'POLICY_INVALID',
    });
    assert.throws(() => parsePolicy('{"default":[{}]}'), { code: 'POLICY_INVALID' });
    assert.throws(
      () =>
        parsePolicy(
          policyWith({
            type: 'signedBy',
            keyType: 'GPGKeys',
            keyPath: '/k',
            signedIdentity: { type: 'any' },
          }),
        ),
      {
        code: 'POLICY_INVALID',
      },
    );
  });

  it('requires exactly one of keyPath, keyPaths, keyData and a valid keyType', () => {
    assert.throws(() => parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys' })), {
      code: 'POLICY_INVALID',
      message: /none/,
    });
    assert.throws(
      () =>
        parsePolicy(
          policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/a', keyData: 'AAEC' }),
        ),
      {
        code: 'POLICY_INVALID',
      },
    );
    assert.throws(() => parsePolicy(policyWith({ type: 'signedBy', keyPath: '/a' })), {
      code: 'POLICY_INVALID',
      message: /keyType/,
    });
    assert.throws(
      () => parsePolicy(policyWith({ type: 'signedBy', keyType: 'PGP', keyPath: '/a' })),
      { code: 'POLICY_INVALID' },
    );
    assert.throws(
      () => parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPath: '' })),
      { code: 'POLICY_INVALID' },
    );
    assert.throws(
      () => parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPaths: [] })),
      { code: 'POLICY_INVALID' },
    );
    assert.throws(
      () =>
        parsePolicy(policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyData: 'not base64!' })),
      { code: 'POLICY_INVALID' },
    );
  });

  it('validates signedIdentity values', () => {
    const bad = [
      { type: 'exactReference', dockerReference: 'registry.local/a' },
      { type: 'exactReference' },
      { type: 'exactRepository', dockerRepository: 'Registry.local/A' },
      { type: 'remapIdentity', prefix: 'a b', signedPrefix: 'registry.local' },
      { type: 'remapIdentity', prefix: 'registry.local' },
    ];
    for (const signedIdentity of bad) {
      assert.throws(
        () =>
          parsePolicy(
            policyWith({ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k', signedIdentity }),
          ),
        {
          code: 'POLICY_INVALID',
        },
      );
    }
  });

  it('validates docker scopes and accepts *.domain wildcards', () => {
    assert.equal(
      dockerScopes(parsePolicy(policyWith({ type: 'reject' }, '*.example.com')))[0],
      '*.example.com',
    );
    assert.throws(() => parsePolicy(policyWith({ type: 'reject' }, 'Registry.local/UP')), {
      code: 'POLICY_INVALID',
    });
    assert.throws(() => parsePolicy(policyWith({ type: 'reject' }, '*.example.com/ns')), {
      code: 'POLICY_INVALID',
    });
  });

  it('validates cheap scope rules of other transports', () => {
    const doc = (t: string, scope: string): string =>
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: { [t]: { [scope]: [{ type: 'reject' }] } },
      });
    assert.throws(() => parsePolicy(doc('dir', 'relative/path')), { code: 'POLICY_INVALID' });
    assert.throws(() => parsePolicy(doc('docker-daemon', 'busybox:latest')), {
      code: 'POLICY_INVALID',
    });
    assert.doesNotThrow(() => parsePolicy(doc('some-future-transport', 'anything')));
  });

  it('keeps __proto__ as an ordinary scope name', () => {
    const p = parsePolicy(
      '{"default":[{"type":"reject"}],"transports":{"x":{"__proto__":[{"type":"reject"}]}}}',
    );
    assert.deepEqual(Object.keys(p.transports?.['x'] ?? {}), ['__proto__']);
  });
});

describe('formatPolicy', () => {
  it('writes 2-space JSON with insertion order and a trailing newline, round-tripping', () => {
    const text = formatPolicy(parsePolicy(JSON.stringify(SERVER)));
    assert.equal(text, `${JSON.stringify(SERVER, null, 2)}\n`);
    assert.ok(text.indexOf('registry.local/c10f') < text.indexOf('"registry.local"'));
    assert.deepEqual(parsePolicy(text), SERVER);
  });

  it('formats the fresh server policy exactly like jq', () => {
    assert.equal(
      formatPolicy({ default: [{ type: 'reject' }], transports: { docker: {} } }),
      '{\n  "default": [\n    {\n      "type": "reject"\n    }\n  ],\n  "transports": {\n    "docker": {}\n  }\n}\n',
    );
  });
});

describe('setDockerScope', () => {
  const req = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k.pgp' }] as const;

  it('appends a new scope without modifying the input', () => {
    const p: Policy = { default: [{ type: 'reject' }] };
    const q = setDockerScope(p, 'registry.local/ns', req);
    assert.deepEqual(q.transports?.['docker'], { 'registry.local/ns': req });
    assert.equal(p.transports, undefined);
  });

  it('replaces an existing scope in place, keeping key order', () => {
    const p = parsePolicy(JSON.stringify(SERVER));
    const q = setDockerScope(p, 'registry.local/c10f', [{ type: 'insecureAcceptAnything' }]);
    assert.deepEqual(Object.keys(q.transports?.['docker'] ?? {}), [
      'registry.local/c10f',
      'registry.local',
    ]);
    assert.deepEqual(q.transports?.['docker']?.['registry.local/c10f'], [
      { type: 'insecureAcceptAnything' },
    ]);
  });

  it('rejects invalid scopes and invalid requirements', () => {
    const p: Policy = { default: [{ type: 'reject' }] };
    assert.throws(() => setDockerScope(p, 'BAD SCOPE', req), { code: 'POLICY_INVALID' });
    assert.throws(() => setDockerScope(p, 'a.io', []), { code: 'POLICY_INVALID' });
  });
});

describe('inspection helpers', () => {
  const p = parsePolicy(
    JSON.stringify({
      default: [{ type: 'insecureAcceptAnything' }],
      transports: {
        docker: {
          'b.io': [
            { type: 'insecureAcceptAnything' },
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k' },
          ],
          'a.io': [
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k' },
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/j' },
          ],
          'c.io': [{ type: 'reject' }],
        },
        oci: { '': [{ type: 'reject' }] },
      },
    }),
  );

  it('getDefaultType returns the first default requirement type', () => {
    assert.equal(getDefaultType(p), 'insecureAcceptAnything');
    assert.equal(getDefaultType(parsePolicy(JSON.stringify(SERVER))), 'reject');
  });

  it('dockerScopes, signedScopes and notSignedScopes are sorted and each scope appears once', () => {
    assert.deepEqual(dockerScopes(p), ['a.io', 'b.io', 'c.io']);
    assert.deepEqual(signedScopes(p), ['a.io', 'b.io']);
    assert.deepEqual(notSignedScopes(p), ['b.io', 'c.io']);
  });

  it('forbiddenTransports lists transports other than docker', () => {
    assert.deepEqual(forbiddenTransports(p), ['oci']);
    assert.deepEqual(forbiddenTransports({ default: [{ type: 'reject' }] }), []);
  });
});
