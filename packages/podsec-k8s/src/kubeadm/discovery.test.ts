import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryKubeconfig } from '../test-helpers/discovery-fixture.ts';
import { checkDiscoveryKubeconfig, checkDiscoveryUrl, isDiscoveryUrl } from './discovery.ts';

describe('the discovery kubeconfig of --discovery-file', () => {
  it('takes the current context cluster: its https server as the endpoint, the embedded CA, credentials or not', () => {
    const d = checkDiscoveryKubeconfig(discoveryKubeconfig(), '/x');
    assert.equal(d.server, 'https://192.0.2.1:6443');
    assert.equal(d.endpoint, '192.0.2.1:6443');
    assert.equal(d.hasCredentials, false);
    assert.match(d.caFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const withToken = discoveryKubeconfig({ user: { token: 'abcdef.0123456789abcdef' } });
    assert.equal(checkDiscoveryKubeconfig(withToken, '/x').hasCredentials, true);
    assert.equal(
      checkDiscoveryKubeconfig(discoveryKubeconfig({ server: 'https://api.example' }), '/x')
        .endpoint,
      'api.example:443',
    );
  });

  it('refuses what kubeadm could not trust or would resolve inside the namespace, naming why', () => {
    const cases: [string, RegExp][] = [
      ['not: [yaml', /not YAML/],
      ['apiVersion: v1\nkind: Config\nclusters: []\n', /defines no cluster/],
      [discoveryKubeconfig({ currentContext: 'other' }), /current context "other"/],
      [
        discoveryKubeconfig().replace('user: joiner', 'user: nobody'),
        /context "join" names the undefined user "nobody"/,
      ],
      [discoveryKubeconfig({ server: 'http://192.0.2.1:6443' }), /not an https URL/],
      [
        discoveryKubeconfig({ cluster: { 'certificate-authority-data': undefined } }),
        /no certificate-authority-data/,
      ],
      [
        discoveryKubeconfig({ cluster: { 'certificate-authority-data': 'bm90IGEgY2VydA==' } }),
        /holds no PEM certificate/,
      ],
      [
        discoveryKubeconfig({ cluster: { 'certificate-authority': '/etc/ca.crt' } }),
        /refers to the file certificate-authority/,
      ],
      [
        discoveryKubeconfig({ cluster: { 'insecure-skip-tls-verify': true } }),
        /insecure-skip-tls-verify/,
      ],
      [discoveryKubeconfig({ user: { tokenFile: '/t' } }), /refers to the file tokenFile/],
      [discoveryKubeconfig({ user: { exec: { command: 'x' } } }), /credential plugin/],
      ['x'.repeat(70_000), /larger than 65536 bytes/],
    ];
    for (const [text, re] of cases)
      assert.throws(
        () => checkDiscoveryKubeconfig(text, '/srv/discovery.conf'),
        (e: { code?: string; message?: string }) =>
          e.code === 'KUBEADM_BAD_DISCOVERY_FILE' &&
          e.message!.startsWith('the discovery file /srv/discovery.conf is refused: ') &&
          re.test(e.message!),
        String(re),
      );
  });

  it('takes https URLs only, without credentials in them', () => {
    assert.equal(isDiscoveryUrl('https://h/x'), true);
    assert.equal(isDiscoveryUrl('/etc/x'), false);
    assert.equal(isDiscoveryUrl('rel/x:y'), false);
    assert.equal(checkDiscoveryUrl('https://cp.example:8443/d.conf').host, 'cp.example:8443');
    assert.throws(() => checkDiscoveryUrl('http://cp.example/d.conf'), /must be https/);
    assert.throws(() => checkDiscoveryUrl('https://u:p@cp.example/d.conf'), /credentials/);
  });
});
