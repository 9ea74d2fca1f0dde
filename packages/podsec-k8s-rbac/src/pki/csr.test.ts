import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCsr, encodeSubject, generatePrivateKey, parseCsr } from './csr.ts';
import { readDer } from './der.ts';

describe('createCsr', () => {
  it('builds a request whose subject is CN then one O per group, in order', () => {
    const { key } = generatePrivateKey();
    const pem = createCsr(key, { commonName: 'u1', organizations: ['k8s', 'sysadmins'] });
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const parsed = parseCsr(pem);
    assert.deepEqual(
      [parsed.commonName, parsed.organizations, parsed.other],
      ['u1', ['k8s', 'sysadmins'], []],
    );
    assert.equal(parsed.publicKey.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('keeps an injected /CN= inside one O value (no extra RDN)', () => {
    const name = readDer(encodeSubject({ commonName: 'u1', organizations: ['x/CN=root'] }));
    const { key } = generatePrivateKey('ecdsa-p256');
    const parsed = parseCsr(createCsr(key, { commonName: 'u1', organizations: ['x/CN=root'] }));
    assert.equal(name.tag, 0x30);
    assert.deepEqual([parsed.commonName, parsed.organizations], ['u1', ['x/CN=root']]);
  });

  it('rejects text that is not a request', () => {
    assert.throws(() => parseCsr('hello'), { code: 'RBAC_CSR_INVALID' });
  });
});
