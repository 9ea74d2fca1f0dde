import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkLoadArguments,
  isPlainHttpRegistry,
  parseIndexRefs,
  planLoadImages,
  planLoadTarget,
} from './plan-load.ts';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'none';
};

describe('planLoadTarget / checkLoadArguments', () => {
  it('defaults to registry.local/<platform> and takes a 4th argument verbatim', () => {
    assert.equal(
      planLoadTarget({ arch: 'amd64', platform: 'c10f' }).regName,
      'registry.local/c10f',
    );
    assert.equal(
      planLoadTarget({ arch: 'amd64', platform: 'c10f', registryHost: '127.0.0.1:5000' }).regName,
      '127.0.0.1:5000/c10f',
    );
    assert.equal(
      planLoadTarget({ arch: 'amd64', target: 'registry.local/c10f/' }).regName,
      'registry.local/c10f',
    );
  });

  it('refuses a 4th argument without a path, an unknown arch and a registry without a dot', () => {
    assert.equal(
      code(() => planLoadTarget({ arch: 'amd64', target: 'registry.local' })),
      'OCI_TARGET_NO_PATH',
    );
    assert.equal(
      code(() => checkLoadArguments('mips', planLoadTarget({ arch: 'mips', platform: 'c10f' }))),
      'OCI_UNKNOWN_ARCH',
    );
    assert.equal(
      code(() =>
        checkLoadArguments('amd64', planLoadTarget({ arch: 'amd64', target: 'localreg/x' })),
      ),
      'OCI_REGISTRY_NO_DOT',
    );
    assert.equal(
      code(() =>
        checkLoadArguments('amd64', planLoadTarget({ arch: 'amd64', target: 'reg.local/x' })),
      ),
      'none',
    );
  });
});

describe('parseIndexRefs', () => {
  it('reads only org.opencontainers.image.ref.name, in order', () => {
    const idx = JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          digest: 'sha256:1',
          annotations: {
            'org.opencontainers.image.ref.name': 'c10f/pause:3.9',
            'io.other': 'x/y:z',
          },
        },
        {
          digest: 'sha256:2',
          annotations: { 'org.opencontainers.image.ref.name': 'c10f/etcd:3.5.9' },
        },
      ],
    });
    assert.deepEqual(parseIndexRefs(idx), ['c10f/pause:3.9', 'c10f/etcd:3.5.9']);
  });
  it('refuses an unnamed manifest, no manifests and invalid JSON', () => {
    assert.equal(
      code(() => parseIndexRefs('{"manifests":[{"annotations":{"io.x":"a/b:c"}}]}')),
      'OCI_INDEX_INVALID',
    );
    assert.equal(
      code(() => parseIndexRefs('{"manifests":[]}')),
      'OCI_INDEX_INVALID',
    );
    assert.equal(
      code(() => parseIndexRefs('nope')),
      'OCI_INDEX_INVALID',
    );
  });
});

describe('planLoadImages', () => {
  const c10f = planLoadTarget({ arch: 'amd64', platform: 'c10f' });

  it('names c10f images and their k8s-c10f2 aliases (12.5-6)', () => {
    const p = planLoadImages(['c10f/pause:3.9', 'c10f/etcd:3.5.9'], c10f, 'c10f');
    assert.equal(p.mismatch, false);
    assert.deepEqual(p.images, [
      {
        ref: 'c10f/pause:3.9',
        target: 'registry.local/c10f/pause:3.9',
        alias: 'registry.local/k8s-c10f2/pause:3.9',
      },
      {
        ref: 'c10f/etcd:3.5.9',
        target: 'registry.local/c10f/etcd:3.5.9',
        alias: 'registry.local/k8s-c10f2/etcd:3.5.9',
      },
    ]);
  });

  it('gives the same names with the 4th argument registry.local/c10f (12.5-7)', () => {
    const t = planLoadTarget({ arch: 'amd64', target: 'registry.local/c10f' });
    assert.deepEqual(
      planLoadImages(['c10f/pause:3.9'], t, 'c10f').images,
      planLoadImages(['c10f/pause:3.9'], c10f, 'c10f').images,
    );
  });

  it('re-homes another platform under the target without an alias (12.5-8)', () => {
    const p = planLoadImages(['p10/pause:3.9'], c10f, 'c10f');
    assert.equal(p.mismatch, true);
    assert.equal(p.archivePlatform, 'p10');
    assert.deepEqual(p.images, [{ ref: 'p10/pause:3.9', target: 'registry.local/c10f/pause:3.9' }]);
  });

  it('keeps refs outside the archive platform and makes no alias for them (12.5-9)', () => {
    const p = planLoadImages(['c10f/pause:3.9', 'alt/alt:p10'], c10f, 'c10f');
    assert.deepEqual(p.images[1], { ref: 'alt/alt:p10', target: 'registry.local/alt/alt:p10' });
  });

  it('names alt base images without alias (12.5-12)', () => {
    const t = planLoadTarget({ arch: 'amd64', platform: 'alt' });
    assert.deepEqual(planLoadImages(['alt/alt:p10', 'alt/distroless-base:p10'], t, 'alt').images, [
      { ref: 'alt/alt:p10', target: 'registry.local/alt/alt:p10' },
      { ref: 'alt/distroless-base:p10', target: 'registry.local/alt/distroless-base:p10' },
    ]);
  });

  it('applies a user target path consistently (docs/weaknesses.md#w15-loading-oci-archives)', () => {
    const t = planLoadTarget({ arch: 'amd64', target: 'reg.example.org/apps' });
    assert.deepEqual(planLoadImages(['c10f/pause:3.9', 'alt/alt:p10'], t, 'c10f').images, [
      {
        ref: 'c10f/pause:3.9',
        target: 'reg.example.org/apps/pause:3.9',
        alias: 'reg.example.org/k8s-c10f2/pause:3.9',
      },
      { ref: 'alt/alt:p10', target: 'reg.example.org/alt/alt:p10' },
    ]);
  });

  it('refuses names that are not <platform>/<name>:<tag>', () => {
    assert.equal(
      code(() => planLoadImages(['pause:3.9'], c10f, 'c10f')),
      'OCI_INDEX_INVALID',
    );
    assert.equal(
      code(() => planLoadImages(['c10f/pause'], c10f, 'c10f')),
      'OCI_INDEX_INVALID',
    );
    assert.equal(
      code(() => planLoadImages(['c10f/Pause:3.9'], c10f, 'c10f')),
      'OCI_INDEX_INVALID',
    );
  });
});

describe('isPlainHttpRegistry', () => {
  it('is true for registry.local and loopback only', () => {
    assert.equal(isPlainHttpRegistry('registry.local'), true);
    assert.equal(isPlainHttpRegistry('127.0.0.1:5000'), true);
    assert.equal(isPlainHttpRegistry('localhost:5000'), true);
    assert.equal(isPlainHttpRegistry('registry.altlinux.org'), false);
  });
});
