import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKey } from '@podsec/core/trust';
import { parsePolicy } from '@podsec/core/config';
import {
  formatTrustBundle,
  parseKeysListing,
  parseRegistryIp,
  parseTrustBundle,
  planHosts,
  planRegistriesD,
  planServerPolicy,
  validateTrust,
} from './plan-policy.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'ok';
};

describe('parseRegistryIp', () => {
  it('accepts a plain IPv4 address', () =>
    assert.equal(parseRegistryIp('192.168.10.5'), '192.168.10.5'));
  it('gives a shape error (exit 2) for a wrong number of fields and for IPv6', () => {
    for (const ip of ['10.0.0', '1.2.3.4.5', 'fe80::1', '', '::ffff:1.2.3.4'])
      assert.equal(
        code(() => parseRegistryIp(ip)),
        'POLICY_IP_SHAPE',
        ip,
      );
  });
  it('gives a range error (exit 3) for fields that are not 0..255 (dead code in the original)', () => {
    for (const ip of [
      '256.1.1.1',
      'a.b.c.d',
      '1.2.3.-4',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '01.2.3.4',
      '1..3.4',
      '+1.2.3.4',
      '999.0.0.1',
    ]) {
      assert.equal(
        code(() => parseRegistryIp(ip)),
        'POLICY_IP_RANGE',
        ip,
      );
    }
  });
  it('refuses loopback, unspecified, broadcast and multicast (exit 1)', () => {
    for (const ip of [
      '127.0.0.1',
      '127.0.0.2',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '239.255.255.250',
    ]) {
      assert.equal(
        code(() => parseRegistryIp(ip)),
        'POLICY_IP_FORBIDDEN',
        ip,
      );
    }
  });
});

describe('planHosts', () => {
  it('appends one line, adding a missing final newline', () => {
    assert.equal(
      planHosts('127.0.0.1 localhost', '10.1.1.1').text,
      '127.0.0.1 localhost\n10.1.1.1 registry.local sigstore.local trivy.local\n',
    );
  });
  it('changes nothing when all three names are bound to the same IP (re-run)', () => {
    assert.equal(
      planHosts('10.1.1.1 registry.local sigstore.local trivy.local\n', '10.1.1.1').text,
      undefined,
    );
  });
  it('refuses a partial binding and a binding to another IP, ignoring comments', () => {
    assert.equal(
      code(() => planHosts('10.1.1.1 registry.local\n', '10.1.1.1')),
      'HOSTS_ALREADY_BOUND',
    );
    assert.equal(
      code(() => planHosts('10.9.9.9 trivy.local\n', '10.1.1.1')),
      'HOSTS_ALREADY_BOUND',
    );
    assert.notEqual(planHosts('# 10.1.1.1 registry.local\n', '10.1.1.1').text, undefined);
  });
  it('does not treat 10.0.0.10 as 10.0.0.1 (the original used an unanchored regex)', () => {
    assert.ok(
      planHosts('10.0.0.10 other\n', '10.0.0.1').text?.endsWith(
        '10.0.0.1 registry.local sigstore.local trivy.local\n',
      ),
    );
  });
});

describe('planServerPolicy', () => {
  it('is the reject document of docs/files.md#server-policy on a fresh node', () => {
    assert.deepEqual(JSON.parse(planServerPolicy(undefined)), {
      default: [{ type: 'reject' }],
      transports: { docker: {} },
    });
  });
  it('keeps the docker scopes of the previous podsec policy and drops other transports', () => {
    const prev = parsePolicy(
      '{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"registry.local":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/var/sigstore/keys/a.pgp"}]},"dir":{"":[{"type":"reject"}]}}}',
    );
    assert.deepEqual(JSON.parse(planServerPolicy(prev)), {
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'registry.local': [
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/a.pgp' },
          ],
        },
      },
    });
  });
});

describe('planRegistriesD', () => {
  it('is the YAML of docs/files.md#system-lookaside-configuration', () => {
    assert.equal(
      planRegistriesD(),
      'default-docker:\n  lookaside: http://sigstore.local:81/sigstore/\n  sigstore: http://sigstore.local:81/sigstore/\n',
    );
  });
});

describe('trust sets', () => {
  const policy = {
    default: [{ type: 'reject' }],
    transports: {
      docker: {
        'registry.local': [
          { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/im.pgp' },
        ],
      },
    },
  };
  it('round-trips a bundle and validates it', async () => {
    const key = await generateKey({ name: 'im', email: 'im@example.org', type: 'ed25519' });
    const text = formatTrustBundle(
      parsePolicy(JSON.stringify(policy)),
      new Map([['im.pgp', key.publicKeyArmored]]),
    );
    const set = await validateTrust(parseTrustBundle(text));
    assert.deepEqual(JSON.parse(set.policyText), policy);
    assert.deepEqual([...set.keys.keys()], ['im.pgp']);
  });
  it('refuses a policy referring to a key that is not published, a bad name, and a non-key', async () => {
    const key = await generateKey({ name: 'im', email: 'im@example.org', type: 'ed25519' });
    const enc = (s: string) => new TextEncoder().encode(s);
    const reject = (p: Promise<unknown>) => assert.rejects(p, { code: 'TRUST_INVALID' });
    await reject(validateTrust({ policyText: JSON.stringify(policy), keys: new Map() }));
    await reject(
      validateTrust({
        policyText: JSON.stringify(policy),
        keys: new Map([
          ['im.pgp', enc(key.publicKeyArmored)],
          ['../x.pgp', enc(key.publicKeyArmored)],
        ]),
      }),
    );
    await reject(
      validateTrust({
        policyText: JSON.stringify(policy),
        keys: new Map([['im.pgp', enc('<html>404</html>')]]),
      }),
    );
    await reject(
      validateTrust({
        policyText: '<html>Not found</html>',
        keys: new Map([['im.pgp', enc(key.publicKeyArmored)]]),
      }),
    );
    const outside = JSON.stringify({
      default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/etc/passwd' }],
    });
    await reject(validateTrust({ policyText: outside, keys: new Map() }));
  });
  it('refuses bundles with unknown fields or versions', () => {
    assert.throws(
      () => parseTrustBundle('{"version":2,"policy":{"default":[{"type":"reject"}]},"keys":{}}'),
      { code: 'TRUST_INVALID' },
    );
    assert.throws(
      () =>
        parseTrustBundle('{"version":1,"policy":{"default":[{"type":"reject"}]},"keys":{},"x":1}'),
      { code: 'TRUST_INVALID' },
    );
    assert.throws(() => parseTrustBundle('not json'), { code: 'TRUST_INVALID' });
  });
  it('reads an nginx JSON listing and refuses HTML and path names', () => {
    assert.deepEqual(
      parseKeysListing(
        '[{"name":"a.pgp","type":"file"},{"name":"sub","type":"directory"},{"name":"policy.json","type":"file"}]',
      ),
      ['a.pgp', 'policy.json'],
    );
    assert.throws(() => parseKeysListing('<html><body>Index of /keys/</body></html>'), {
      code: 'TRUST_INVALID',
    });
    assert.throws(() => parseKeysListing('[{"name":"../evil","type":"file"}]'), {
      code: 'TRUST_INVALID',
    });
    assert.throws(() => parseKeysListing('[{"name":"a/b.pgp","type":"file"}]'), {
      code: 'TRUST_INVALID',
    });
    assert.throws(() => parseKeysListing('[{"name":"..","type":"directory"}]'), {
      code: 'TRUST_INVALID',
    });
  });
});
