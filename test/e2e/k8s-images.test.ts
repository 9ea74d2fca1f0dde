// The Kubernetes images of a rootless node, end to end with the real tools and the bundled binaries:
//   1. podsec-k8s-save-oci asks the real kubeadm of tools/k8s-bin for the images of our rendered init configuration,
//      builds each one FROM scratch with buildah from the static binaries of tools/k8s-bin (kube-apiserver,
//      kube-controller-manager, kube-scheduler, kube-proxy, etcd, coredns from the Go module proxy, and pause: our
//      own C program, gcc -static), and saves them into <dir>/amd64.tar.xz;
//   2. podsec-load-sign-oci loads the archive into a docker-registry started here on 127.0.0.1 and signs every image;
//   3. `kubeadm config images list` with our rendered configuration names exactly the images now in the registry
//      (its catalog and tags), each image is one layer holding its program, and each is signed: podsec-trust verify
//      accepts it under a signedBy policy, and skopeo with that policy pulls a signed one and refuses an unsigned one.
// Not stand-ins, but worth saying: the etcd image carries the etcd server of tools/k8s-bin (v3.6.16) under the tag
// kubeadm 1.37 names (3.7.0-0), and the pause program is ours, not the upstream one, under kubeadm's pause tag.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { generateKey } from '@podsec/core/trust';
import {
  buildTinyImage,
  fetchManifest,
  k8sBinDir,
  requireCommand,
  requireCommands,
  startRegistry,
} from '@podsec/test-utils';
import { renderKubeadmConfig } from '../../packages/podsec-k8s/src/kubeadm/render.ts';
import { planNode } from '../../packages/podsec-k8s/src/u7s/node-config.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundle = (pkg: string, bin: string) =>
  path.join(repo, 'packages', pkg, 'bundle', `${bin}.mjs`);
const SAVE = bundle('podsec-k8s', 'podsec-k8s-save-oci');
const LOAD = bundle('podsec', 'podsec-load-sign-oci');
const TRUST = bundle('podsec', 'podsec-trust');
const COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'etcd',
  'coredns',
  'pause',
] as const;
const PLATFORM = 'p11';

/** A bundled binary at lower priority (the machine is shared): exit code, stdout, stderr, seconds taken. */
async function runNice(file: string, args: readonly string[], env: Record<string, string>) {
  const t0 = Date.now();
  const r = await execa('nice', ['-n', '10', process.execPath, file, ...args], {
    reject: false,
    env: { LANG: 'C', PATH: process.env['PATH'] ?? '', ...env },
    extendEnv: false,
    stdin: 'ignore',
    timeout: 1_200_000,
  });
  return {
    code: r.exitCode ?? 128,
    stdout: String(r.stdout),
    stderr: String(r.stderr),
    seconds: (Date.now() - t0) / 1000,
  };
}

/** Every `host/repo:tag` in the registry, from its catalog and tag lists. */
async function registryImages(host: string): Promise<string[]> {
  const catalog = (await (await fetch(`http://${host}/v2/_catalog?n=1000`)).json()) as {
    repositories: string[];
  };
  const out: string[] = [];
  for (const repoName of catalog.repositories) {
    const tags = (await (await fetch(`http://${host}/v2/${repoName}/tags/list`)).json()) as {
      tags: string[] | null;
    };
    for (const tag of tags.tags ?? []) out.push(`${host}/${repoName}:${tag}`);
  }
  return out.sort();
}

describe('Kubernetes images: built from the k8s-bin binaries, saved, loaded, signed, listed by kubeadm', () => {
  it(
    'kubeadm config images list with our rendered config names exactly the signed images in the registry',
    { timeout: 1_800_000 },
    async (t) => {
      const tools = requireCommands(t, ['kubeadm', ...COMPONENTS]);
      if (tools === undefined) return;
      if (requireCommand(t, 'buildah') === undefined || requireCommand(t, 'skopeo') === undefined)
        return;
      for (const b of [SAVE, LOAD, TRUST])
        assert.ok(existsSync(b), `${b} missing: run npm run build`);
      const work = await mkdtemp(path.join(tmpdir(), 'podsec-k8s-images-'));
      t.after(() => rm(work, { recursive: true, force: true }));
      const registry = await startRegistry();
      t.after(() => registry.stop());

      // the image maker's key and a root tree: podman_dev membership, the signedBy policy of the registry's
      // p11/ scope and the lookaside the signatures are written to and read from
      const key = await generateKey({
        type: 'ed25519',
        name: 'Maker',
        email: 'maker@example.org',
        passphrase: 'pw',
        date: new Date(2025, 0, 1),
      });
      const keyFile = path.join(work, 'key.asc');
      const passFile = path.join(work, 'pass');
      await writeFile(keyFile, key.privateKeyArmored, { mode: 0o600 });
      await writeFile(passFile, 'pw\n', { mode: 0o600 });
      const root = path.join(work, 'root');
      const scope = `${registry.host}/${PLATFORM}`;
      const files: Record<string, string | Uint8Array> = {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
        'etc/group': 'root:x:0:\npodman_dev:x:991:root\n',
        'etc/containers/policy.json': JSON.stringify({
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              [scope]: [
                { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/maker.pgp' },
              ],
            },
          },
        }),
        'etc/containers/registries.d/default.yaml':
          'default-docker:\n  lookaside: file:///var/sigstore/sigstore/\n  lookaside-staging: file:///var/sigstore/sigstore/\n',
        'var/sigstore/keys/maker.pgp': key.publicKeyBinary,
      };
      for (const [rel, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
        await writeFile(path.join(root, rel), content);
      }
      const env = { U7S_PLATFORM: PLATFORM, TMPDIR: work };

      // 1. build and save
      const out = path.join(work, 'out');
      const saved = await runNice(
        SAVE,
        [
          '--root',
          root,
          out,
          'amd64',
          PLATFORM,
          '--kubeadm',
          tools.kubeadm,
          '--build-from',
          k8sBinDir(),
          '--tmpdir',
          work,
          '--xz-level',
          '0',
          '--json',
        ],
        env,
      );
      assert.equal(saved.code, 0, saved.stderr);
      const savedJson = JSON.parse(saved.stdout) as {
        kubernetesVersion: string;
        built: { image: string }[];
        archives: { file: string; images: string[] }[];
      };
      assert.equal(savedJson.built.length, COMPONENTS.length);
      assert.deepEqual(await readdir(out), ['amd64.tar.xz']);
      const archiveSize = (await stat(path.join(out, 'amd64.tar.xz'))).size;
      // the private build storage and work directories are gone
      // (Node's compile cache of the bundles lives in TMPDIR too)
      assert.deepEqual((await readdir(work)).filter((n) => n !== 'node-compile-cache').sort(), [
        'key.asc',
        'out',
        'pass',
        'root',
      ]);

      // 2. load and sign into the registry
      const loaded = await runNice(
        LOAD,
        [
          '--root',
          root,
          path.join(out, 'amd64.tar.xz'),
          'amd64',
          'maker@example.org',
          '--registry-host',
          registry.host,
          '--key',
          keyFile,
          '--passphrase-file',
          passFile,
          '--tmpdir',
          work,
          '--json',
        ],
        env,
      );
      assert.equal(loaded.code, 0, loaded.stderr);
      const loadedJson = JSON.parse(loaded.stdout) as {
        images: { ref: string }[];
        loaded: { reference: string; alreadySigned: boolean }[];
      };
      // the archive's index names the images <platform>/<name>:<tag>, without a registry host
      assert.deepEqual(
        loadedJson.images.map((i) => i.ref).sort(),
        [...(savedJson.archives[0]?.images ?? [])].sort(),
      );
      assert.ok(loadedJson.images.every((i) => i.ref.startsWith(`${PLATFORM}/`)));

      // 3. kubeadm with our rendered configuration names exactly what is in the registry
      const config = renderKubeadmConfig({
        kind: 'init',
        node: planNode({ role: 'initMaster' }),
        kubernetesVersion: savedJson.kubernetesVersion,
        imageRepository: scope,
        advertiseAddress: '192.0.2.10',
        nodeName: 'node-1',
      });
      const configFile = path.join(work, 'kubeadm-init.yaml');
      await writeFile(configFile, config, { mode: 0o600 });
      const listed = await execa(
        tools.kubeadm,
        ['config', 'images', 'list', '--config', configFile, '-o', 'json'],
        { reject: false },
      );
      assert.equal(listed.exitCode, 0, String(listed.stderr));
      const wanted = (JSON.parse(String(listed.stdout)) as { images: string[] }).images.sort();
      assert.equal(wanted.length, COMPONENTS.length);
      const inRegistry = await registryImages(registry.host);
      assert.deepEqual(inRegistry, wanted);
      assert.deepEqual(loadedJson.loaded.map((l) => l.reference).sort(), wanted);

      // each image is FROM scratch: one layer, the program as entrypoint, amd64/linux
      for (const ref of wanted) {
        const [repoName, tag] = ref.slice(registry.host.length + 1).split(':') as [string, string];
        const m = await fetchManifest(registry.host, repoName, tag);
        const manifest = JSON.parse(new TextDecoder().decode(m.manifest)) as {
          config: { digest: string };
          layers: unknown[];
        };
        assert.equal(manifest.layers.length, 1, ref);
        const cfg = (await (
          await fetch(`http://${registry.host}/v2/${repoName}/blobs/${manifest.config.digest}`)
        ).json()) as {
          architecture: string;
          os: string;
          config: { Entrypoint: string[]; Labels: Record<string, string> };
        };
        const component = repoName.slice(PLATFORM.length + 1);
        assert.equal(cfg.architecture, 'amd64', ref);
        assert.equal(cfg.os, 'linux', ref);
        assert.equal(cfg.config.Labels['org.opencontainers.image.title'], component, ref);
        assert.match(cfg.config.Entrypoint[0] ?? '', new RegExp(`/${component}$`), ref);
      }

      // each is signed by the maker: podsec-trust verify under the signedBy policy accepts it
      for (const ref of wanted) {
        const v = await runNice(
          TRUST,
          ['--root', root, 'verify', ref, '--insecure', '--json'],
          env,
        );
        assert.equal(v.code, 0, `${ref}: ${v.stderr}`);
        const r = JSON.parse(v.stdout) as {
          verdict: { accepted: boolean };
          signatures: { valid: boolean; identity: string; userIds: string[] }[];
        };
        assert.equal(r.verdict.accepted, true, ref);
        assert.equal(r.signatures.length, 1, ref);
        assert.equal(r.signatures[0]?.valid, true, ref);
        assert.equal(r.signatures[0]?.identity, ref);
        assert.deepEqual(r.signatures[0]?.userIds, ['Maker <maker@example.org>']);
      }

      // skopeo under the same policy (key and lookaside as host paths) pulls the signed pause image, whose one
      // layer holds our static pause, and refuses an unsigned image in the same scope
      const skopeoPolicy = path.join(work, 'skopeo-policy.json');
      await writeFile(
        skopeoPolicy,
        JSON.stringify({
          default: [{ type: 'reject' }],
          transports: {
            docker: {
              [scope]: [
                {
                  type: 'signedBy',
                  keyType: 'GPGKeys',
                  keyPath: path.join(root, 'var/sigstore/keys/maker.pgp'),
                },
              ],
            },
            dir: { '': [{ type: 'insecureAcceptAnything' }] },
          },
        }),
      );
      const regd = path.join(work, 'registries.d');
      await mkdir(regd);
      await writeFile(
        path.join(regd, 'default.yaml'),
        `default-docker:\n  lookaside: file://${path.join(root, 'var/sigstore/sigstore')}\n`,
      );
      const pull = (ref: string, dest: string) =>
        execa(
          'skopeo',
          [
            'copy',
            '--quiet',
            '--policy',
            skopeoPolicy,
            '--registries.d',
            regd,
            '--src-tls-verify=false',
            `docker://${ref}`,
            `dir:${dest}`,
          ],
          { reject: false },
        );
      const pauseRef = wanted.find((r) => r.includes('/pause:')) as string;
      const pulled = path.join(work, 'pulled-pause');
      const ok = await pull(pauseRef, pulled);
      assert.equal(ok.exitCode, 0, String(ok.stderr));
      const pulledManifest = JSON.parse(
        await readFile(path.join(pulled, 'manifest.json'), 'utf8'),
      ) as {
        layers: { digest: string }[];
      };
      const layer = path.join(
        pulled,
        (pulledManifest.layers[0]?.digest ?? '').replace(/^sha256:/, ''),
      );
      const listing = await execa('tar', ['-tzf', layer], { reject: false });
      assert.equal(listing.exitCode, 0, String(listing.stderr));
      assert.deepEqual(String(listing.stdout).trim().split('\n'), ['pause']);

      await buildTinyImage(registry.host, `${PLATFORM}/unsigned`, '1');
      const refused = await pull(`${scope}/unsigned:1`, path.join(work, 'pulled-unsigned'));
      assert.notEqual(refused.exitCode, 0);
      assert.match(String(refused.stderr), /A signature was required|signature/i);
      const untrusted = await runNice(
        TRUST,
        ['--root', root, 'verify', `${scope}/unsigned:1`, '--insecure'],
        env,
      );
      assert.equal(untrusted.code, 3, untrusted.stderr);

      t.diagnostic(
        `build+save ${saved.seconds.toFixed(1)} s (archive ${(archiveSize / 1024 ** 2).toFixed(0)} MiB, xz -0), ` +
          `load+sign ${loaded.seconds.toFixed(1)} s, ${wanted.length} images`,
      );
    },
  );
});
