import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy, type Policy } from '@podsec/core/config';
import { parseRegistriesDFile } from '@podsec/core/config/registries-d';
import {
  formatMakerRegistriesD,
  normalizeMakerArgs,
  planMakerPolicy,
  planPersonalPolicy,
  planSignatureDirs,
  signatureDirOf,
} from './plan-imagemakers.ts';

const code = (code: string) => (e: unknown) => (e as { code?: string }).code === code;
const FRESH: Policy = { default: [{ type: 'reject' }], transports: { docker: {} } };

describe('normalizeMakerArgs', () => {
  it('makes imagemaker@registry.local of no arguments', () => {
    assert.deepEqual(normalizeMakerArgs([]), [{ user: 'imagemaker', scope: 'registry.local' }]);
  });
  it('adds registry.local to a single argument without @', () => {
    assert.deepEqual(normalizeMakerArgs(['bob']), [{ user: 'bob', scope: 'registry.local' }]);
  });
  it('keeps a single user@scope and splits several', () => {
    assert.deepEqual(normalizeMakerArgs(['a@registry.local/c10f']), [
      { user: 'a', scope: 'registry.local/c10f' },
    ]);
    assert.deepEqual(
      normalizeMakerArgs([
        'immkk8s@registry.local/k8s-c10f1',
        'imklocal@registry.local',
        'immkalt@registry.altlinux.org',
      ]),
      [
        { user: 'immkk8s', scope: 'registry.local/k8s-c10f1' },
        { user: 'imklocal', scope: 'registry.local' },
        { user: 'immkalt', scope: 'registry.altlinux.org' },
      ],
    );
  });
  it('refuses an entry without @ among several, and empty parts (exit 1 codes)', () => {
    assert.throws(() => normalizeMakerArgs(['a@r.local/x', 'b']), code('IMAGEMAKER_BAD_FORMAT'));
    assert.throws(() => normalizeMakerArgs(['a@']), code('IMAGEMAKER_BAD_FORMAT'));
    assert.throws(() => normalizeMakerArgs(['@r.local']), code('IMAGEMAKER_BAD_FORMAT'));
  });
  it('validates user names and scopes', () => {
    assert.throws(() => normalizeMakerArgs(['Bob@r.local']), code('USAGE_BAD_NAME'));
    assert.throws(() => normalizeMakerArgs(['../x@r.local']), code('USAGE_BAD_NAME'));
    assert.throws(() => normalizeMakerArgs(['bob@r.local/../etc']), code('IMAGEMAKER_BAD_SCOPE'));
    assert.throws(() => normalizeMakerArgs(['bob@R .local']), code('IMAGEMAKER_BAD_SCOPE'));
  });
  it('refuses a scope given twice (exit 2 code), also for the same user', () => {
    assert.throws(
      () => normalizeMakerArgs(['a@r.local/x', 'b@r.local/x']),
      code('IMAGEMAKER_DUPLICATE_SCOPE'),
    );
    assert.throws(
      () => normalizeMakerArgs(['a@r.local', 'a@r.local']),
      code('IMAGEMAKER_DUPLICATE_SCOPE'),
    );
  });
});

describe('planMakerPolicy', () => {
  it('adds a signedBy GPGKeys requirement per scope (docs/files.md#image-maker-scopes)', () => {
    const p = planMakerPolicy(FRESH, [
      { user: 'immkk8s', scope: 'registry.local/c10f' },
      { user: 'imagemaker', scope: 'registry.local' },
    ]);
    assert.equal(p.changed, true);
    assert.deepEqual(
      p.policy,
      parsePolicy(
        JSON.stringify({
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              'registry.local/c10f': [
                { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/immkk8s.pgp' },
              ],
              'registry.local': [
                {
                  type: 'signedBy',
                  keyType: 'GPGKeys',
                  keyPath: '/var/sigstore/keys/imagemaker.pgp',
                },
              ],
            },
          },
        }),
      ),
    );
    assert.deepEqual(FRESH.transports, { docker: {} }, 'input not modified');
  });
  it('keeps a scope already bound to the same key', () => {
    const once = planMakerPolicy(FRESH, [{ user: 'a', scope: 'registry.local' }]).policy;
    const again = planMakerPolicy(once, [{ user: 'a', scope: 'registry.local' }]);
    assert.equal(again.changed, false);
    assert.equal(again.bindings[0]!.action, 'keep');
  });
  it('refuses a scope bound to another key unless force', () => {
    const old = planMakerPolicy(FRESH, [{ user: 'old', scope: 'registry.local' }]).policy;
    assert.throws(
      () => planMakerPolicy(old, [{ user: 'x', scope: 'registry.local' }]),
      (e: unknown) => {
        const err = e as { code: string; details: Record<string, unknown> };
        return (
          err.code === 'IMAGEMAKER_SCOPE_BOUND' &&
          err.details['current'] === '/var/sigstore/keys/old.pgp'
        );
      },
    );
    const forced = planMakerPolicy(old, [{ user: 'x', scope: 'registry.local' }], { force: true });
    assert.equal(forced.bindings[0]!.action, 'replace');
    assert.deepEqual(forced.policy.transports?.['docker']?.['registry.local'], [
      { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/x.pgp' },
    ]);
  });
  it('treats a non-signedBy binding as bound too', () => {
    const open: Policy = {
      default: [{ type: 'reject' }],
      transports: { docker: { 'registry.local': [{ type: 'insecureAcceptAnything' }] } },
    };
    assert.throws(
      () => planMakerPolicy(open, [{ user: 'x', scope: 'registry.local' }]),
      code('IMAGEMAKER_SCOPE_BOUND'),
    );
  });
});

describe('planPersonalPolicy and formatMakerRegistriesD', () => {
  it('makes the default permissive and keeps the scopes (docs/files.md#personal-policy-of-an-image-maker)', () => {
    const sys = planMakerPolicy(FRESH, [{ user: 'a', scope: 'registry.local' }]).policy;
    const mine = planPersonalPolicy(sys);
    assert.deepEqual(mine.default, [{ type: 'insecureAcceptAnything' }]);
    assert.deepEqual(mine.transports, sys.transports);
  });
  it('writes the read and staging lookaside under both key names (docs/files.md#image-maker-lookaside-configuration)', () => {
    assert.deepEqual(parseRegistriesDFile('default.yaml', formatMakerRegistriesD()), {
      defaultDocker: {
        lookaside: 'http://sigstore.local:81/sigstore/',
        sigstore: 'http://sigstore.local:81/sigstore/',
        'lookaside-staging': 'file:///var/sigstore/sigstore/',
        'sigstore-staging': 'file:///var/sigstore/sigstore/',
      },
      docker: {},
    });
  });
});

describe('signatureDirOf and planSignatureDirs', () => {
  it('drops the host, tag and digest', () => {
    assert.equal(signatureDirOf('registry.local'), undefined);
    assert.equal(signatureDirOf('*.example.org'), undefined);
    assert.equal(signatureDirOf('registry.local/c10f'), '/var/sigstore/sigstore/c10f');
    assert.equal(signatureDirOf('registry.local:5000/a/b:v1'), '/var/sigstore/sigstore/a/b');
    assert.equal(
      signatureDirOf(`registry.local/a/b@sha256:${'0'.repeat(64)}`),
      '/var/sigstore/sigstore/a/b',
    );
  });
  it('reports scopes of different hosts sharing one directory (docs/weaknesses.md#w8-shared-paths-in-the-signature-store)', () => {
    const p = planSignatureDirs([
      { user: 'a', scope: 'registry.local/x' },
      { user: 'b', scope: 'registry.altlinux.org/x' },
      { user: 'c', scope: 'registry.local' },
    ]);
    assert.deepEqual(p, [
      {
        dir: '/var/sigstore/sigstore/x',
        user: 'a',
        scope: 'registry.local/x',
        sharedWith: ['registry.altlinux.org/x'],
      },
    ]);
  });
});
