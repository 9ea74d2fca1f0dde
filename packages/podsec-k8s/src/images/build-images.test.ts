// The FROM scratch image builder with the real buildah, on the smallest component: pause (our static C program,
// built by tools/k8s-bin/build). The other six components go through the same code in test/e2e/k8s-images.test.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { createTestSystem, requireCommand } from '@podsec/test-utils';
import {
  buildImages,
  checkBuildBinaries,
  planImageBuild,
  storageTransport,
  type ImageStorage,
} from './build-images.ts';
import type { K8sImage } from './plan-images.ts';

const PAUSE: K8sImage = {
  component: 'pause',
  reference: 'registry.altlinux.org/p11/pause:3.10.2',
  archiveRef: 'p11/pause:3.10.2',
  tag: '3.10.2',
};

async function storage(t: TestContext): Promise<ImageStorage> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-k8s-build-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { root: `${dir}/root`, runroot: `${dir}/runroot` };
}

const flags = (s: ImageStorage) => [
  '--root',
  s.root,
  '--runroot',
  s.runroot,
  '--storage-driver',
  'vfs',
];

describe('planImageBuild', () => {
  it('puts each component where its upstream image has it, pause as user 65535', () => {
    const [step] = planImageBuild([PAUSE], {
      binDir: '/opt/bin/',
      registry: 'registry.altlinux.org',
    });
    assert.deepEqual(step, {
      component: 'pause',
      image: 'registry.altlinux.org/p11/pause:3.10.2',
      binary: '/opt/bin/pause',
      path: '/pause',
      user: '65535:65535',
    });
    const [api] = planImageBuild(
      [{ ...PAUSE, component: 'kube-apiserver', archiveRef: 'p11/kube-apiserver:v1.37.2' }],
      { binDir: '/b', registry: 'r.example' },
    );
    assert.equal(api?.path, '/usr/local/bin/kube-apiserver');
    assert.equal(api?.user, undefined);
  });
});

describe('buildImages', () => {
  it('builds a one-layer FROM scratch image with the entrypoint, arch and user, reproducibly', async (t) => {
    const pause = requireCommand(t, 'pause');
    if (pause === undefined || requireCommand(t, 'buildah') === undefined) return;
    const sys = await createTestSystem(t);
    const steps = planImageBuild([PAUSE], {
      binDir: path.dirname(pause),
      registry: 'registry.altlinux.org',
    });
    await checkBuildBinaries(sys, steps);
    const digests: string[] = [];
    for (let round = 0; round < 2; round++) {
      const s = await storage(t);
      const progress: string[] = [];
      const built = await buildImages(sys, steps, {
        storage: s,
        arch: 'amd64',
        onProgress: (p) => progress.push(`${p.n}/${p.total} ${p.image}`),
      });
      assert.equal(built.length, 1);
      assert.deepEqual(progress, ['1/1 registry.altlinux.org/p11/pause:3.10.2']);
      const inspect = await execa('buildah', [
        ...flags(s),
        'inspect',
        '--type',
        'image',
        PAUSE.reference,
      ]);
      const info = JSON.parse(inspect.stdout) as {
        OCIv1: {
          architecture: string;
          os: string;
          config: { Entrypoint: string[]; User: string; Labels: Record<string, string> };
          rootfs: { diff_ids: string[] };
        };
      };
      assert.equal(info.OCIv1.architecture, 'amd64');
      assert.equal(info.OCIv1.os, 'linux');
      assert.deepEqual(info.OCIv1.config.Entrypoint, ['/pause']);
      assert.equal(info.OCIv1.config.User, '65535:65535');
      assert.equal(info.OCIv1.config.Labels['org.opencontainers.image.title'], 'pause');
      assert.equal(info.OCIv1.rootfs.diff_ids.length, 1);
      // skopeo reads the private storage through the transport the save step uses
      const raw = await execa('skopeo', [
        'inspect',
        '--raw',
        `${storageTransport(s)}${PAUSE.reference}`,
      ]);
      digests.push(createHash('sha256').update(raw.stdout).digest('hex'));
    }
    assert.equal(digests[0], digests[1], 'the same binary gives the same manifest');
  });

  it('refuses a missing or non-executable binary before buildah runs, and reports a failing buildah step', async (t) => {
    const sys = await createTestSystem(t);
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-k8s-build-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await assert.rejects(
      checkBuildBinaries(sys, planImageBuild([PAUSE], { binDir: dir, registry: 'r.example' })),
      (e: Error & { code?: string }) => e.code === 'K8S_BUILD_BINARY_MISSING',
    );
    await assert.rejects(
      checkBuildBinaries(sys, [
        { component: 'pause', image: 'r.example/p/pause:1', binary: dir, path: '/pause' },
      ]),
      (e: Error & { code?: string }) => e.code === 'K8S_BUILD_BINARY_INVALID',
    );
    const pause = requireCommand(t, 'pause');
    if (pause === undefined || requireCommand(t, 'buildah') === undefined) return;
    await assert.rejects(
      buildImages(
        sys,
        [{ component: 'pause', image: 'Not/A Valid:Name', binary: pause, path: '/pause' }],
        { storage: await storage(t), arch: 'amd64' },
      ),
      (e: Error & { code?: string }) =>
        e.code === 'K8S_IMAGE_BUILD_FAILED' &&
        /building Not\/A Valid:Name failed: /.test(e.message),
    );
  });
});
