import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dockerScopeCandidates,
  isValidDigest,
  isValidDockerScope,
  isValidTag,
  parseCanonicalReference,
  parseDockerReference,
} from './reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseDockerReference', () => {
  it('normalises a short name to docker.io/library without adding a tag', () => {
    const r = parseDockerReference('busybox');
    assert.equal(r.domain, 'docker.io');
    assert.equal(r.path, 'library/busybox');
    assert.equal(r.tag, undefined);
    assert.equal(r.toString(), 'docker.io/library/busybox');
    assert.equal(r.withDefaultTag().toString(), 'docker.io/library/busybox:latest');
  });

  it('keeps a namespace on docker.io without adding library/', () => {
    assert.equal(parseDockerReference('user/app:1').toString(), 'docker.io/user/app:1');
  });

  it('maps index.docker.io to docker.io', () => {
    assert.equal(
      parseDockerReference('index.docker.io/busybox').toString(),
      'docker.io/library/busybox',
    );
  });

  it('parses host:port/ns/repo:tag', () => {
    const r = parseDockerReference('127.0.0.1:5000/ns/repo:v1.2');
    assert.deepEqual(
      [r.domain, r.path, r.tag, r.digest],
      ['127.0.0.1:5000', 'ns/repo', 'v1.2', undefined],
    );
    assert.equal(r.name, '127.0.0.1:5000/ns/repo');
    assert.equal(r.named().toString(), '127.0.0.1:5000/ns/repo');
  });

  it('treats localhost and dotted first components as a domain', () => {
    assert.equal(parseDockerReference('localhost/repo').domain, 'localhost');
    assert.equal(parseDockerReference('registry.local/c10f/pause').domain, 'registry.local');
    assert.equal(parseDockerReference('ns/repo').domain, 'docker.io');
  });

  it('parses repo@digest and name:tag@digest', () => {
    assert.equal(parseDockerReference(`registry.local/r@${D}`).digest, D);
    const both = parseDockerReference(`registry.local/r:3.9@${D}`);
    assert.deepEqual([both.tag, both.digest], ['3.9', D]);
    assert.equal(both.toString(), `registry.local/r:3.9@${D}`);
  });

  it('rejects upper-case repository paths', () => {
    assert.throws(() => parseDockerReference('registry.local/Repo'), { code: 'REFERENCE_INVALID' });
  });

  it('rejects bad tags, bad digests and 64-hex identifiers', () => {
    assert.throws(() => parseDockerReference('registry.local/r:-bad'), {
      code: 'REFERENCE_INVALID',
    });
    assert.throws(() => parseDockerReference('registry.local/r@sha256:abc'), {
      code: 'REFERENCE_INVALID',
    });
    assert.throws(() => parseDockerReference('a'.repeat(64)), { code: 'REFERENCE_INVALID' });
    assert.throws(() => parseDockerReference(''), { code: 'REFERENCE_INVALID' });
    assert.throws(() => parseDockerReference('registry.local/a//b'), { code: 'REFERENCE_INVALID' });
  });

  it('rejects names longer than 255 characters', () => {
    assert.throws(() => parseDockerReference(`registry.local/${'a'.repeat(250)}`), {
      code: 'REFERENCE_INVALID',
    });
  });

  it('gives the familiar form for docker.io references', () => {
    assert.equal(parseDockerReference('busybox:1').familiar(), 'busybox:1');
    assert.equal(parseDockerReference('registry.local/a:1').familiar(), 'registry.local/a:1');
  });
});

describe('parseCanonicalReference', () => {
  it('accepts fully qualified references and rejects short ones', () => {
    assert.equal(parseCanonicalReference('docker.io/library/busybox:1').path, 'library/busybox');
    assert.throws(() => parseCanonicalReference('busybox:1'), { code: 'REFERENCE_INVALID' });
  });
});

describe('isValidTag / isValidDigest', () => {
  it('checks the tag and digest grammars', () => {
    assert.equal(isValidTag('v1.0_rc-1'), true);
    assert.equal(isValidTag('.x'), false);
    assert.equal(isValidTag('a'.repeat(129)), false);
    assert.equal(isValidDigest(D), true);
    assert.equal(isValidDigest('sha256:xyz'), false);
  });
});

describe('isValidDockerScope', () => {
  it('accepts hosts, namespaces, repositories with tag or digest, and *.domain wildcards', () => {
    for (const s of [
      'registry.local',
      'host:5000',
      'registry.local/c10f',
      'registry.local/c10f/pause:3.9',
      `r.l/a@${D}`,
      '*.example.com',
    ]) {
      assert.equal(isValidDockerScope(s), true, s);
    }
  });

  it('rejects upper-case paths, wildcards with ports or paths, and a tag on a bare host', () => {
    for (const s of [
      'registry.local/C10f',
      '*.example.com:5000',
      '*.example.com/ns',
      '*',
      'a b',
      'registry.local/',
      'host:tag:x',
    ]) {
      assert.equal(isValidDockerScope(s), false, s);
    }
  });
});

describe('dockerScopeCandidates', () => {
  it('lists identity, repository, namespaces, host, then wildcards without the port', () => {
    assert.deepEqual(
      dockerScopeCandidates(parseDockerReference('reg.example.com:5000/ns/repo:tag')),
      [
        'reg.example.com:5000/ns/repo:tag',
        'reg.example.com:5000/ns/repo',
        'reg.example.com:5000/ns',
        'reg.example.com:5000',
        '*.example.com',
        '*.com',
      ],
    );
  });

  it('walks path components, not string prefixes', () => {
    const c = dockerScopeCandidates(parseDockerReference('registry.local/c10f/pause:3.9'));
    assert.ok(c.includes('registry.local/c10f'));
    assert.ok(!c.includes('registry.local/c10'));
  });
});
