import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isPodsecError } from '../errors.ts';
import {
  detectManifestMediaType,
  isDigest,
  MEDIA_TYPES,
  manifestDigest,
  parseDigest,
} from './digest.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('manifestDigest', () => {
  it('hashes the exact bytes, whitespace included', () => {
    const a = enc('{"schemaVersion":2}');
    const b = enc('{ "schemaVersion": 2 }');
    assert.equal(manifestDigest(a), `sha256:${createHash('sha256').update(a).digest('hex')}`);
    assert.notEqual(manifestDigest(a), manifestDigest(b));
  });

  it('supports sha512', () => {
    assert.match(manifestDigest(enc('x'), 'sha512'), /^sha512:[0-9a-f]{128}$/);
  });

  it('refuses an unknown algorithm', () => {
    assert.throws(
      () => manifestDigest(enc('x'), 'md5' as 'sha256'),
      (e: unknown) => isPodsecError(e) && e.code === 'DIGEST_UNSUPPORTED_ALGORITHM',
    );
  });
});

describe('parseDigest', () => {
  it('splits a valid sha256 and sha512 digest', () => {
    assert.deepEqual(parseDigest(`sha256:${'a'.repeat(64)}`), {
      algorithm: 'sha256',
      hex: 'a'.repeat(64),
      digest: `sha256:${'a'.repeat(64)}`,
    });
    assert.equal(parseDigest(`sha512:${'0'.repeat(128)}`).algorithm, 'sha512');
  });

  it('refuses wrong lengths, upper-case hex, missing parts and path tricks', () => {
    for (const bad of [
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'A'.repeat(64)}`,
      `sha512:${'a'.repeat(64)}`,
      'sha256:',
      `:${'a'.repeat(64)}`,
      `sha256:../${'a'.repeat(61)}`,
      `sha256:${'a'.repeat(64)}\n`,
      '',
    ]) {
      assert.throws(
        () => parseDigest(bad),
        (e: unknown) => isPodsecError(e) && e.code === 'DIGEST_INVALID',
        bad,
      );
      assert.equal(isDigest(bad), false);
    }
  });

  it('refuses unsupported algorithms', () => {
    assert.throws(
      () => parseDigest(`md5:${'a'.repeat(32)}`),
      (e: unknown) => isPodsecError(e) && e.code === 'DIGEST_UNSUPPORTED_ALGORITHM',
    );
  });
});

describe('detectManifestMediaType', () => {
  it('uses the mediaType member when present', () => {
    assert.equal(
      detectManifestMediaType(
        enc(`{"schemaVersion":2,"mediaType":"${MEDIA_TYPES.dockerV2Schema2}","config":{}}`),
      ),
      MEDIA_TYPES.dockerV2Schema2,
    );
    assert.equal(
      detectManifestMediaType(
        enc(`{"schemaVersion":2,"mediaType":"${MEDIA_TYPES.dockerManifestList}","manifests":[]}`),
      ),
      MEDIA_TYPES.dockerManifestList,
    );
  });

  it('guesses OCI manifest, OCI index and schema 1 from the shape', () => {
    assert.equal(
      detectManifestMediaType(
        enc(
          '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"layers":[]}',
        ),
      ),
      MEDIA_TYPES.ociManifest,
    );
    assert.equal(
      detectManifestMediaType(enc('{"schemaVersion":2,"manifests":[]}')),
      MEDIA_TYPES.ociIndex,
    );
    assert.equal(
      detectManifestMediaType(enc('{"schemaVersion":1,"fsLayers":[]}')),
      MEDIA_TYPES.dockerV2Schema1,
    );
    assert.equal(
      detectManifestMediaType(enc('{"schemaVersion":1,"signatures":[]}')),
      MEDIA_TYPES.dockerV2Schema1Signed,
    );
  });

  it('returns undefined for non-JSON or unknown shapes', () => {
    assert.equal(detectManifestMediaType(enc('nope')), undefined);
    assert.equal(detectManifestMediaType(enc('[]')), undefined);
    assert.equal(detectManifestMediaType(enc('{"schemaVersion":3}')), undefined);
  });
});
