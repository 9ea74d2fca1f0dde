import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseImagesList,
  parseKubernetesVersion,
  planK8sImages,
  planSaveK8sArgs,
} from './plan-images.ts';

/** What kubeadm v1.37.2 prints for imageRepository registry.altlinux.org/p11. */
const LIST = [
  'registry.altlinux.org/p11/kube-apiserver:v1.37.2',
  'registry.altlinux.org/p11/kube-controller-manager:v1.37.2',
  'registry.altlinux.org/p11/kube-scheduler:v1.37.2',
  'registry.altlinux.org/p11/kube-proxy:v1.37.2',
  'registry.altlinux.org/p11/coredns:v1.14.6',
  'registry.altlinux.org/p11/pause:3.10.2',
  'registry.altlinux.org/p11/etcd:3.7.0-0',
];
const json = (images: unknown) =>
  JSON.stringify({ kind: 'Images', apiVersion: 'output.kubeadm.k8s.io/v1alpha3', images });
const plan = (images: readonly string[]) =>
  planK8sImages({
    images,
    registry: 'registry.altlinux.org',
    platform: 'p11',
    kubernetesVersion: '1.37.2',
  });

describe('parseImagesList', () => {
  it('reads the images of kubeadm config images list -o json', () => {
    assert.deepEqual(parseImagesList(json(LIST)), LIST);
  });
  it('refuses output that is not an image list, too large, or holds a bad reference', () => {
    for (const [text, why] of [
      ['not json', /not JSON/],
      [JSON.stringify({ kind: 'Other', images: LIST }), /kind Images/],
      [json([]), /no image/],
      [json(['registry.local/p11/pause:3.10 --rm']), /bad reference/],
      [json(['../pause:1']), /bad reference/],
      [json([42]), /bad reference/],
      [json(Array.from({ length: 65 }, (_, i) => `r.io/p/x${i}:1`)), /more than 64 images/],
      [`${json(LIST)}${' '.repeat(70 * 1024)}`, /more than 65536 bytes/],
    ] as const) {
      assert.throws(
        () => parseImagesList(text),
        (e: Error & { code?: string }) => e.code === 'K8S_IMAGES_INVALID' && why.test(e.message),
        text.slice(0, 40),
      );
    }
  });
});

describe('planK8sImages', () => {
  it('names each image in the archive without the registry host (<platform>/<name>:<tag>)', () => {
    const images = plan(LIST);
    assert.deepEqual(
      images.map((i) => i.archiveRef),
      [
        'p11/kube-apiserver:v1.37.2',
        'p11/kube-controller-manager:v1.37.2',
        'p11/kube-scheduler:v1.37.2',
        'p11/kube-proxy:v1.37.2',
        'p11/coredns:v1.14.6',
        'p11/pause:3.10.2',
        'p11/etcd:3.7.0-0',
      ],
    );
    assert.deepEqual(
      images.map((i) => i.component),
      [
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kube-proxy',
        'coredns',
        'pause',
        'etcd',
      ],
    );
  });
  it('cross-checks the list: registry path, known component, once each, kube-* tag = version', () => {
    const bad = (images: string[], code: string, re: RegExp) =>
      assert.throws(
        () => plan(images),
        (e: Error & { code?: string }) => e.code === code && re.test(e.message),
      );
    bad(
      [...LIST.slice(1), 'registry.k8s.io/kube-apiserver:v1.37.2'],
      'K8S_IMAGES_UNEXPECTED',
      /not under/,
    );
    bad([...LIST, 'registry.altlinux.org/p11/flannel:v0.26.7'], 'K8S_IMAGES_UNEXPECTED', /known/);
    bad([...LIST, LIST[5] as string], 'K8S_IMAGES_UNEXPECTED', /twice/);
    bad(
      [...LIST.slice(1), 'registry.altlinux.org/p11/kube-apiserver:v1.37.1'],
      'K8S_IMAGES_UNEXPECTED',
      /tag is not v1.37.2/,
    );
    bad(LIST.slice(0, 5), 'K8S_IMAGES_INCOMPLETE', /pause, etcd/);
  });
});

describe('planSaveK8sArgs', () => {
  it('takes one architecture, a comma-separated list or all (the original took exactly one)', () => {
    assert.deepEqual(planSaveK8sArgs('d', 'amd64', undefined).archs, ['amd64']);
    assert.deepEqual(planSaveK8sArgs('d', 'arm64,amd64,arm64', 'c10f').archs, ['arm64', 'amd64']);
    assert.deepEqual(planSaveK8sArgs('d', 'all', 'p11').archs, [
      'amd64',
      'arm64',
      'arm',
      'ppc64le',
      '386',
    ]);
  });
  it('refuses a missing directory or architecture, an unknown architecture, a k8s- or bad platform', () => {
    const bad = (
      d: string | undefined,
      a: string | undefined,
      p: string | undefined,
      code: string,
    ) =>
      assert.throws(
        () => planSaveK8sArgs(d, a, p),
        (e: Error & { code?: string }) => e.code === code,
      );
    bad(undefined, undefined, undefined, 'SAVE_NO_DIR');
    bad('d', undefined, undefined, 'K8S_SAVE_NO_ARCH');
    bad('d', 'amd64,mips', undefined, 'SAVE_UNKNOWN_ARCH');
    bad('d', 'amd64', 'k8s-c10f2', 'K8S_SAVE_K8S_PLATFORM');
    bad('d', 'amd64', 'c10f/../x', 'K8S_SAVE_BAD_PLATFORM');
    bad('d', 'amd64', 'C10F', 'K8S_SAVE_BAD_PLATFORM');
  });
});

describe('parseKubernetesVersion', () => {
  it('normalises to v1.<minor>.<patch> and refuses anything else', () => {
    assert.equal(parseKubernetesVersion('1.37.2'), 'v1.37.2');
    assert.equal(parseKubernetesVersion('v1.37.2\n'), 'v1.37.2');
    for (const v of ['v2.0.0', '1.37', 'v1.37.2-rc.0', 'latest', ''])
      assert.throws(
        () => parseKubernetesVersion(v),
        (e: Error & { code?: string }) => e.code === 'K8S_BAD_VERSION',
        v,
      );
  });
});
