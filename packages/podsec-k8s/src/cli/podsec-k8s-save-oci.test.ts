// podsec-k8s-save-oci against the real kubeadm of tools/k8s-bin, the real skopeo and docker-registry: every row of
// the exit-code table, --dry-run, --json and the message catalogue. The full save -> load-sign -> registry proof
// with images built from the binaries is test/e2e/k8s-images.test.ts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import {
  buildTinyImage,
  createTestSystem,
  requireCommand,
  runProgram,
  startRegistry,
  type TestSystemOptions,
} from '@podsec/test-utils';
import { imagesMessages } from '../images/messages.ts';
import { cli, exitCodes } from './podsec-k8s-save-oci.ts';

async function work(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-k8s-save-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const env = { PATH: process.env['PATH'], U7S_PLATFORM: 'p11' };

async function run(
  t: TestContext,
  args: readonly string[],
  o: TestSystemOptions & { lang?: string } = {},
) {
  const system = await createTestSystem(t, { env, ...o });
  return runProgram(cli, args, { system, env: { LANG: o.lang ?? 'C' } });
}

/** The real kubeadm, a work dir and `save(extra)` = `<dir>/out amd64 --kubeadm <kubeadm> ...extra`. */
async function setup(t: TestContext) {
  const kubeadm = requireCommand(t, 'kubeadm');
  if (kubeadm === undefined) return undefined;
  const dir = await work(t);
  const out = path.join(dir, 'out');
  const save = (extra: readonly string[], o?: TestSystemOptions) =>
    run(t, [out, 'amd64', '--kubeadm', kubeadm, ...extra], o);
  return { kubeadm, dir, out, save };
}

describe('podsec-k8s-save-oci', () => {
  it('refuses bad arguments with exit 1 or 2 before anything is created', async (t) => {
    const kubeadm = requireCommand(t, 'kubeadm');
    if (kubeadm === undefined) return;
    const dir = await work(t);
    const out = path.join(dir, 'out');
    const cases: [readonly string[], number, RegExp, TestSystemOptions?][] = [
      [[], 1, /Image archiving directory not specified/],
      [[out], 1, /No architecture specified/],
      [[out, 'mips'], 2, /unknown architecture mips/],
      [[out, 'amd64,foo'], 2, /unknown architecture foo/],
      [[out, 'amd64', 'k8s-c10f2'], 1, /k8s- prefix is not supported/],
      [
        [out, 'amd64', '--kubeadm', kubeadm],
        1,
        /platform k8s-c10f2: the k8s- prefix/,
        { env: { ...env, U7S_PLATFORM: 'k8s-c10f2' } },
      ],
      [[out, 'amd64', 'p11', 'extra'], 1, /too many arguments/],
      [[out, 'amd64'], 1, /must be run by a user with root rights/, { uid: 1000 }],
      [
        [out, 'amd64', '--kubeadm', kubeadm, '--kubernetes-version', 'latest'],
        1,
        /invalid Kubernetes version "latest"/,
      ],
      [[out, 'amd64', '--xz-level', '12'], 1, /expected 0 to 9/],
    ];
    for (const [args, code, re, o] of cases) {
      const r = await run(t, args, o);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(existsSync(out), false, args.join(' '));
    }
  });

  it('refuses an existing <dir> (exit 1) and leaves it as it was', async (t) => {
    const s = await setup(t);
    if (!s) return;
    await mkdir(s.out);
    const r = await s.save([]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /OCI catalog .*out already exists/);
    assert.deepEqual(await readdir(s.out), []);
  });

  it('exits 5 when kubeadm cannot list the images of the version, naming its reason', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const r = await s.save(['--kubernetes-version', 'v1.35.0']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(
      r.stderr,
      /kubeadm cannot list the images of Kubernetes v1\.35\.0: .*only supports .*>= 1\.36/,
    );
    assert.equal(existsSync(s.out), false);
  });

  it('exits 6 when --build-from lacks a binary, before any image is built', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const r = await s.save(['--build-from', s.dir, '--tmpdir', s.dir]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(
      r.stderr,
      /the binary of kube-apiserver is missing: .*kube-apiserver does not exist/,
    );
    assert.deepEqual(await readdir(s.dir), []);
  });

  it("copies kubeadm's images from a registry into <dir>/<arch>.tar.xz named <platform>/<name>:<tag>", async (t) => {
    const s = await setup(t);
    if (!s) return;
    const registry = await startRegistry();
    t.after(() => registry.stop());
    // the source registry holds tiny stand-ins under the names kubeadm lists (the copy is what is tested here;
    // the real images are built from the binaries in test/e2e/k8s-images.test.ts)
    const refs = [
      'kube-apiserver:v1.37.2',
      'kube-controller-manager:v1.37.2',
      'kube-scheduler:v1.37.2',
      'kube-proxy:v1.37.2',
      'coredns:v1.14.6',
      'pause:3.10.2',
      'etcd:3.7.0-0',
    ].map((r) => `p11/${r}`);
    for (const r of refs) {
      const [repo, tag] = r.split(':') as [string, string];
      await buildTinyImage(registry.host, repo, tag);
    }
    await buildTinyImage(registry.host, 'p11/flannel', 'v0.26.7');
    const r = await s.save([
      '--registry',
      registry.host,
      '--extra-image',
      'p11/flannel:v0.26.7',
      '--tmpdir',
      s.dir,
      '--xz-level',
      '1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Kubernetes v1\.37\.2: 7 images/);
    assert.match(
      r.stderr,
      /\[amd64\] 8\/8 copied docker:\/\/127\.0\.0\.1:\d+\/p11\/flannel:v0\.26\.7/,
    );
    assert.match(r.stdout, /1 archives of the 7 images of Kubernetes v1\.37\.2 written to /);
    assert.deepEqual(await readdir(s.out), ['amd64.tar.xz']);
    const index = await execa('tar', [
      '-xJOf',
      path.join(s.out, 'amd64.tar.xz'),
      'amd64/index.json',
    ]);
    const names = (
      JSON.parse(index.stdout) as { manifests: { annotations: Record<string, string> }[] }
    ).manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']);
    assert.deepEqual(names.sort(), [...refs, 'p11/flannel:v0.26.7'].sort());
    assert.deepEqual(
      (await readdir(s.dir)).filter((n) => n !== 'out'),
      [],
      'no work directory is left',
    );
  });

  it('exits 3 when an image cannot be copied from the source registry, leaving no <dir>', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const registry = await startRegistry();
    t.after(() => registry.stop());
    const r = await s.save(['--registry', registry.host, '--tmpdir', s.dir]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /copying docker:\/\/127\.0\.0\.1:\d+\/p11\/kube-apiserver:v1\.37\.2 \(amd64\) failed/,
    );
    assert.deepEqual(await readdir(s.dir), []);
  });

  it("--dry-run --json lists kubeadm's images and the copies, and creates nothing", async (t) => {
    const s = await setup(t);
    if (!s) return;
    const { out, dir } = s;
    const r = await run(t, [
      out,
      'amd64,arm64',
      'c10f',
      '--kubeadm',
      s.kubeadm,
      '--dry-run',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      dryRun: boolean;
      kubernetesVersion: string;
      platform: string;
      images: { archiveRef: string; reference: string }[];
      archives: { arch: string; file: string; images: string[] }[];
    };
    assert.equal(result.dryRun, true);
    assert.equal(result.kubernetesVersion, 'v1.37.2');
    assert.equal(result.platform, 'c10f');
    assert.deepEqual(
      result.images.map((i) => i.reference),
      [
        'registry.altlinux.org/c10f/kube-apiserver:v1.37.2',
        'registry.altlinux.org/c10f/kube-controller-manager:v1.37.2',
        'registry.altlinux.org/c10f/kube-scheduler:v1.37.2',
        'registry.altlinux.org/c10f/kube-proxy:v1.37.2',
        'registry.altlinux.org/c10f/coredns:v1.14.6',
        'registry.altlinux.org/c10f/pause:3.10.2',
        'registry.altlinux.org/c10f/etcd:3.7.0-0',
      ],
    );
    assert.deepEqual(
      result.archives.map((a) => a.file),
      [path.join(out, 'amd64.tar.xz'), path.join(out, 'arm64.tar.xz')],
    );
    assert.deepEqual(
      result.archives[0]?.images,
      result.images.map((i) => i.archiveRef),
    );
    assert.match(
      r.stderr,
      /\[arm64\] 7\/7 copied docker:\/\/registry\.altlinux\.org\/c10f\/etcd:3\.7\.0-0/,
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(await readdir(dir), []);
  });

  it('speaks Russian under LANG=ru_RU.UTF-8', async (t) => {
    const r = await run(t, ['/nonexistent/out'], { lang: 'ru_RU.UTF-8' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Не указана архитектура/);
  });

  it('has an English and a Russian text for every code of its table and every K8S_ code it throws', () => {
    for (const code of Object.keys(exitCodes)) {
      const en = (cli.messages?.en as Record<string, string>)[code];
      const ru = (cli.messages?.ru as Record<string, string>)[code];
      assert.ok(en && ru, code);
    }
    assert.deepEqual(Object.keys(imagesMessages.en).sort(), Object.keys(imagesMessages.ru).sort());
  });
});
