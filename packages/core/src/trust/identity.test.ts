import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SignedIdentity } from '../config/policy.ts';
import { matchesSignedIdentity } from './identity.ts';

const D = `sha256:${'b'.repeat(64)}`;
const E = `sha256:${'c'.repeat(64)}`;

describe('matchesSignedIdentity', () => {
  it('defaults to matchRepoDigestOrExact: exact by tag, repository by digest', () => {
    assert.equal(matchesSignedIdentity(undefined, 'r.io/a:1', 'r.io/a:1'), true);
    assert.equal(matchesSignedIdentity(undefined, 'r.io/a:1', 'r.io/a:2'), false);
    assert.equal(matchesSignedIdentity(undefined, `r.io/a@${D}`, 'r.io/a:1'), true);
    assert.equal(matchesSignedIdentity(undefined, `r.io/a@${D}`, 'r.io/b:1'), false);
  });

  it('never accepts a name-only signature reference for repo-digest-or-exact', () => {
    assert.equal(matchesSignedIdentity(undefined, `r.io/a@${D}`, 'r.io/a'), false);
  });

  it('rejects a name-only image reference for matchRepoDigestOrExact and matchExact', () => {
    assert.equal(matchesSignedIdentity(undefined, 'r.io/a', 'r.io/a:latest'), false);
    assert.equal(matchesSignedIdentity({ type: 'matchExact' }, 'r.io/a', 'r.io/a:latest'), false);
  });

  it('normalises the signature reference (busybox:1 is docker.io/library/busybox:1)', () => {
    assert.equal(
      matchesSignedIdentity(undefined, 'docker.io/library/busybox:1', 'busybox:1'),
      true,
    );
  });

  it('matchExact requires equal strings: a digest image needs the same digest signed', () => {
    const m: SignedIdentity = { type: 'matchExact' };
    assert.equal(matchesSignedIdentity(m, 'r.io/a:1', 'r.io/a:1'), true);
    assert.equal(matchesSignedIdentity(m, `r.io/a@${D}`, 'r.io/a:1'), false);
    assert.equal(matchesSignedIdentity(m, `r.io/a@${D}`, `r.io/a@${D}`), true);
    assert.equal(matchesSignedIdentity(m, `r.io/a@${D}`, `r.io/a@${E}`), false);
  });

  it('tag and digest on the image compares whole strings', () => {
    assert.equal(matchesSignedIdentity(undefined, `r.io/a:1@${D}`, 'r.io/a:1'), false);
    assert.equal(matchesSignedIdentity(undefined, `r.io/a:1@${D}`, `r.io/a:1@${D}`), true);
  });

  it('matchRepository accepts any tag of the same repository, even a name-only signature', () => {
    const m: SignedIdentity = { type: 'matchRepository' };
    assert.equal(matchesSignedIdentity(m, 'r.io/a:1', 'r.io/a:9'), true);
    assert.equal(matchesSignedIdentity(m, 'r.io/a:1', 'r.io/a'), true);
    assert.equal(matchesSignedIdentity(m, 'r.io/a:1', 'r.io/ab:1'), false);
  });

  it('exactReference compares the signature with the configured reference, not the image', () => {
    const m: SignedIdentity = { type: 'exactReference', dockerReference: 'golden.io/a:1' };
    assert.equal(matchesSignedIdentity(m, 'r.io/other:7', 'golden.io/a:1'), true);
    assert.equal(matchesSignedIdentity(m, 'golden.io/a:1', 'golden.io/a:2'), false);
    assert.equal(matchesSignedIdentity(m, undefined, 'golden.io/a:1'), true);
  });

  it('exactRepository compares repositories with the configured one', () => {
    const m: SignedIdentity = { type: 'exactRepository', dockerRepository: 'golden.io/a' };
    assert.equal(matchesSignedIdentity(m, 'r.io/x:1', 'golden.io/a:5'), true);
    assert.equal(matchesSignedIdentity(m, 'r.io/x:1', 'golden.io/b:5'), false);
  });

  it('remapIdentity rewrites the image prefix at a component boundary, then matches repo-digest-or-exact', () => {
    const m: SignedIdentity = {
      type: 'remapIdentity',
      prefix: 'mirror.local/ns',
      signedPrefix: 'registry.local',
    };
    assert.equal(matchesSignedIdentity(m, 'mirror.local/ns/app:1', 'registry.local/app:1'), true);
    assert.equal(matchesSignedIdentity(m, 'mirror.local/ns/app:1', 'mirror.local/ns/app:1'), false);
    assert.equal(
      matchesSignedIdentity(m, `mirror.local/ns/app@${D}`, 'registry.local/app:2'),
      true,
    );
    // "mirror.local/nsx" is not under "mirror.local/ns": unchanged, so the signature must match it as is.
    assert.equal(
      matchesSignedIdentity(m, 'mirror.local/nsx/app:1', 'registry.local/x/app:1'),
      false,
    );
    assert.equal(
      matchesSignedIdentity(m, 'mirror.local/nsx/app:1', 'mirror.local/nsx/app:1'),
      true,
    );
  });

  it('remapIdentity fails when the rewritten reference is not canonical', () => {
    const m: SignedIdentity = {
      type: 'remapIdentity',
      prefix: 'mirror.local/ns',
      signedPrefix: 'example',
    };
    assert.equal(matchesSignedIdentity(m, 'mirror.local/ns/app:1', 'example/app:1'), false);
  });

  it('rejects images without a docker identity and unparsable signature references', () => {
    assert.equal(matchesSignedIdentity(undefined, undefined, 'r.io/a:1'), false);
    assert.equal(matchesSignedIdentity({ type: 'matchRepository' }, 'r.io/a:1', 'R.io/A:1'), false);
  });
});
