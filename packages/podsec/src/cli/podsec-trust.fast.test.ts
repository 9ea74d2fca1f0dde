import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem, runBothPaths } from '@podsec/test-utils';
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
      ['verify', 'registry.local/x'],
      ['sign', 'registry.local/x'],
      ['x', 'show'],
    ])
      assert.equal(fast.parse(args), undefined, args.join(' '));
  });
});
