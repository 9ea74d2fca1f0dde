import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem } from '@podsec/test-utils';
import { parseHosts, planHostsBinding } from './hosts.ts';
import { checkSigstoreServer } from './role.ts';

const NAMES = ['registry.local', 'sigstore.local', 'trivy.local'];

describe('planHostsBinding', () => {
  it('appends one line', () => {
    assert.equal(
      planHostsBinding('127.0.0.1 localhost\n', '192.168.10.5', NAMES).text,
      '127.0.0.1 localhost\n192.168.10.5 registry.local sigstore.local trivy.local\n',
    );
  });
  it('refuses a name bound to the same ip', () => {
    assert.throws(() => planHostsBinding('192.168.10.5 registry.local\n', '192.168.10.5', NAMES), {
      code: 'HOSTS_ALREADY_BOUND',
      message: /192\.168\.10\.5/,
    });
  });
  it('refuses a name bound to another ip, naming it', () => {
    assert.throws(() => planHostsBinding('10.9.9.9 registry.local\n', '192.168.10.5', NAMES), {
      message: /10\.9\.9\.9/,
    });
  });
  it('ignores comments and does not match ip prefixes', () => {
    assert.ok(
      planHostsBinding('# 192.168.10.5 registry.local\n10.0.0.10 other\n', '10.0.0.1', NAMES).text,
    );
    assert.deepEqual(parseHosts('1.2.3.4 a b # c\n#x y\n'), [
      { ip: '1.2.3.4', names: ['a', 'b'], line: 1 },
    ]);
  });
});

describe('checkSigstoreServer', () => {
  const hosts = { 'etc/hosts': '192.168.10.5 registry.local sigstore.local\n' };
  it('is true when the names are bound to a local address', async (t) => {
    const sys = await createTestSystem(t, { tree: hosts, localAddresses: ['192.168.10.5'] });
    assert.deepEqual(await checkSigstoreServer(sys), { isServer: true, ip: '192.168.10.5' });
  });
  it('is false for a remote address, compared exactly (110.0.0.1 is not 10.0.0.1)', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { 'etc/hosts': '10.0.0.1 registry.local sigstore.local\n' },
      localAddresses: ['110.0.0.1'],
    });
    const r = await checkSigstoreServer(sys);
    assert.deepEqual([r.isServer, r.reason], [false, 'REMOTE']);
  });
  it('is false when the names are not bound', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { 'etc/hosts': '# 1.2.3.4 registry.local sigstore.local\n' },
    });
    const r = await checkSigstoreServer(sys);
    assert.deepEqual([r.isServer, r.reason], [false, 'NOT_BOUND']);
    assert.match(r.message ?? '', /podsec-create-policy/);
  });
});
