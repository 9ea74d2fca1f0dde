// Round trip with the real tools (12.6-7): buildah images -> podsec-save-oci -> archive -> podsec-load-sign-oci into a
// second docker-registry, signed with a core-generated key -> skopeo under a signedBy policy accepts the loaded
// images and refuses an unsigned one. The native push (blobs streamed from the archive to the registry) is compared
// with skopeo's push of the same archive, and checked against a forged blob, a layer larger than 100 MB and an archive
// whose blobs come before its index. Everything lives in temp dirs; no /etc file is read for the policy.
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { generateKey } from '@podsec/core/trust';
import { createArchiveHost, packArchive } from '@podsec/core/system';
import { createTestSystem, runProgram, type TestSystem } from '@podsec/test-utils';
import { buildTinyImage } from '../../../../test/utils/src/image.ts';
import {
  startRegistry,
  writeSignedByPolicy,
  type TestRegistry,
} from '../../../../test/utils/src/registry.ts';
import { cli as loadCli } from '../cli/podsec-load-sign-oci.ts';
import { cli as saveCli } from '../cli/podsec-save-oci.ts';

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const REFS = ['c10f/pause:3.9', 'c10f/etcd:3.5.9', 'k8s-c10f2/pause:3.9', 'k8s-c10f2/etcd:3.5.9'];

describe('save-oci -> load-sign-oci -> skopeo signedBy policy', () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let other: TestRegistry;
  let work: string;
  let archive: string;
  let pub: string;
  const roots: string[] = [];
  before(async () => {
    [source, target, other] = await Promise.all([
      startRegistry(),
      startRegistry(),
      startRegistry(),
    ]);
    work = await mkdtemp(path.join(tmpdir(), 'podsec-roundtrip-'));
    await buildTinyImage(source.host, 'c10f/pause', '3.9');
    await buildTinyImage(source.host, 'c10f/etcd', '3.5.9');
    await buildTinyImage(target.host, 'c10f/unsigned', '1');
    const saver = await createTestSystem(undefined);
    roots.push(saver.root);
    const out = path.join(work, 'out');
    const saved = await runProgram(
      saveCli,
      [
        out,
        'amd64',
        'c10f/pause:3.9',
        'c10f/etcd:3.5.9',
        '--registry',
        source.host,
        '--tmpdir',
        work,
        '--xz-level',
        '1',
      ],
      { system: saver },
    );
    assert.equal(saved.code, 0, saved.stderr);
    archive = path.join(out, 'amd64.tar.xz');
    // the key of core's generateKey, protected by a passphrase
    const key = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      name: 'Maker',
      email: 'maker@example.org',
      passphrase: 'pw',
      date: new Date(2025, 0, 1),
    });
    await writeFile(path.join(work, 'key.asc'), key.privateKeyArmored, { mode: 0o600 });
    await writeFile(path.join(work, 'pass'), 'pw\n', { mode: 0o600 });
    pub = path.join(work, 'maker.pgp');
    await writeFile(pub, key.publicKeyBinary);
  });
  after(async () => {
    await Promise.all([source.stop(), target.stop(), other.stop()]);
    await Promise.all([work, ...roots].map((d) => rm(d, { recursive: true, force: true })));
  });

  /** An image maker's system; `home` is its HOME (auth.json and registries.conf are looked up there). */
  const makerSystem = async (home: string): Promise<TestSystem> => {
    const s = await createTestSystem(undefined, {
      tree: {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nmaker:x:1000:990::/home/maker:/bin/bash\n',
        'etc/group': 'root:x:0:\npodman:x:990:\npodman_dev:x:991:maker\n',
      },
      env: { PATH: process.env['PATH'], U7S_PLATFORM: 'c10f', HOME: home },
    });
    roots.push(s.root);
    return { ...s, identity: { uid: 1000, gid: 990, user: 'maker' } };
  };
  const loadArgs = (file: string, registry: string, ...more: string[]) => [
    file,
    'amd64',
    'maker@example.org',
    '--registry-host',
    registry,
    '--key',
    path.join(work, 'key.asc'),
    '--passphrase-file',
    path.join(work, 'pass'),
    '--tmpdir',
    work,
    '-v',
    ...more,
  ];
  /** skopeo copy of `registry/ref` under a policy that wants the maker's signature from `lookaside`. */
  const copySigned = async (registry: string, ref: string, lookaside: string) => {
    const dir = await mkdtemp(path.join(work, 'verify-'));
    const policy = await writeSignedByPolicy(path.join(dir, 'policy.json'), registry, pub);
    await mkdir(path.join(dir, 'registries.d'));
    await writeFile(
      path.join(dir, 'registries.d', 'default.yaml'),
      `default-docker:\n  lookaside: file://${lookaside}\n`,
    );
    return execa(
      'skopeo',
      [
        'copy',
        '--quiet',
        '--policy',
        policy,
        '--registries.d',
        path.join(dir, 'registries.d'),
        '--src-tls-verify=false',
        `docker://${registry}/${ref}`,
        `dir:${path.join(dir, 'pulled')}`,
      ],
      { reject: false },
    );
  };
  const rawManifest = async (registry: string, ref: string) =>
    (
      await execa(
        'skopeo',
        ['inspect', '--raw', '--tls-verify=false', `docker://${registry}/${ref}`],
        {
          encoding: 'buffer',
        },
      )
    ).stdout;

  it('loads signed images natively that a signedBy policy accepts, and the unsigned one is refused', async () => {
    const maker = await makerSystem(work);
    const loaded = await runProgram(loadCli, loadArgs(archive, target.host), { system: maker });
    assert.equal(loaded.code, 0, loaded.stderr);
    // the blobs went from the stream to the registry, the aliases were put from the images: no skopeo at all
    assert.match(loaded.stderr, /push: native, blobs streamed from the archive to http:\/\//);
    assert.match(loaded.stderr, /native push of the blobs \([1-9]\d* uploaded as they streamed/);
    assert.equal((loaded.stderr.match(/time: native push oci:/g) ?? []).length, 2);
    assert.equal((loaded.stderr.match(/time: native push docker:\/\//g) ?? []).length, 2);
    assert.doesNotMatch(loaded.stderr, /skopeo/);
    assert.match(loaded.stderr, /\[4\/4\] pushed and signed /);
    const lookaside = path.join(maker.root, 'var/sigstore/sigstore');
    assert.deepEqual((await readdir(lookaside)).sort(), ['c10f', 'k8s-c10f2']);

    // a repeated run finds every blob (HEAD), uploads none and changes nothing in the signature store
    const again = await runProgram(loadCli, loadArgs(archive, target.host), { system: maker });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\(0 uploaded as they streamed, [1-9]\d* already there/);
    assert.match(again.stderr, /\[4\/4\] pushed \S+\/k8s-c10f2\/etcd:3\.5\.9 \(already signed\)/);
    for (const d of await readdir(path.join(lookaside, 'c10f')))
      assert.deepEqual(await readdir(path.join(lookaside, 'c10f', d)), ['signature-1']);

    // skopeo with a signedBy policy for the target registry, lookaside = the staging dir
    for (const ref of REFS) {
      const r = await copySigned(target.host, ref, lookaside);
      assert.equal(r.exitCode, 0, `${ref}: ${r.stderr}`);
    }
    const refused = await copySigned(target.host, 'c10f/unsigned:1', lookaside);
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /signature|rejected|A signature was required/i);
  });

  it('starts xz before it asks the registry or unlocks the key: the first member comes sooner', async () => {
    const maker = await makerSystem(work);
    const keyFile = path.join(work, 'key.asc');
    const events: string[] = [];
    const seen = (e: string) => {
      if (!events.includes(e)) events.push(e);
    };
    // the key is read through the host file system: its stat is the first step of unlocking it
    const hostFs = new Proxy(maker.hostFs, {
      get(t, k) {
        const v: unknown = Reflect.get(t, k);
        if (k === 'stat')
          return (file: string, ...rest: unknown[]) => {
            if (file === keyFile) seen('key');
            return (v as (...a: unknown[]) => unknown).call(t, file, ...rest);
          };
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    // a child process (xz: nothing else is run) and a TCP connection (the registry's probe) as they are made
    const hook = createHook({
      init: (_id, type) => {
        if (type === 'PROCESSWRAP') seen('xz');
        if (type === 'TCPCONNECTWRAP') seen('registry');
      },
    }).enable();
    let loaded;
    try {
      loaded = await runProgram(loadCli, loadArgs(archive, other.host), {
        system: { ...maker, hostFs },
      });
    } finally {
      hook.disable();
    }
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stderr, /push: native/);
    // (the probe and the key go ahead together once xz runs: either may come first)
    assert.equal(events[0], 'xz', events.join(' '));
    assert.deepEqual([...events].sort(), ['key', 'registry', 'xz']);
  });

  it('pushes exactly what skopeo pushes: skopeo does it for a registry the caller has credentials for', async () => {
    // the caller's auth.json names the other registry: the native push steps aside for skopeo
    const home = await mkdtemp(path.join(work, 'home-'));
    await mkdir(path.join(home, '.config/containers'), { recursive: true });
    const auth = Buffer.from('maker:secret').toString('base64');
    await writeFile(
      path.join(home, '.config/containers/auth.json'),
      JSON.stringify({ auths: { [other.host]: { auth } } }),
      { mode: 0o600 },
    );
    const viaSkopeo = await makerSystem(home);
    const r = await runProgram(loadCli, [...loadArgs(archive, other.host), '--json'], {
      system: viaSkopeo,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /push: skopeo copy from the extracted archive \(the caller has credentials for /,
    );
    assert.equal((r.stderr.match(/time: skopeo copy oci:/g) ?? []).length, 2);
    assert.equal((r.stderr.match(/time: skopeo copy docker:\/\//g) ?? []).length, 2);
    const native = await makerSystem(work);
    const n = await runProgram(loadCli, [...loadArgs(archive, target.host), '--json'], {
      system: native,
    });
    assert.equal(n.code, 0, n.stderr);
    const digests = (out: string) =>
      (JSON.parse(out) as { loaded: { digest: string }[] }).loaded.map((l) => l.digest);
    assert.deepEqual(digests(n.stdout), digests(r.stdout));
    for (const ref of REFS)
      assert.deepEqual(
        await rawManifest(other.host, ref),
        await rawManifest(target.host, ref),
        ref,
      );
    // what skopeo pushed carries a signature the policy accepts as well
    const ok = await copySigned(
      other.host,
      'c10f/pause:3.9',
      path.join(viaSkopeo.root, 'var/sigstore/sigstore'),
    );
    assert.equal(ok.exitCode, 0, ok.stderr);
  });

  /** An OCI layout `test/<name>:1` with a config and one layer of `layerFile`, packed with real xz. */
  const craft = async (
    name: string,
    layer: { file: string; digest: string; size: number },
    o: { namedAs?: string; blobsFirst?: boolean } = {},
  ): Promise<{ archive: string; manifestDigest: string }> => {
    const parent = await mkdtemp(path.join(work, `layout-${name}-`));
    const blobs = path.join(parent, 'amd64', 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const put = async (b: Uint8Array) => {
      await writeFile(path.join(blobs, sha256(b).slice(7)), b);
      return sha256(b);
    };
    const config = new TextEncoder().encode(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    );
    const layerName = o.namedAs ?? layer.digest;
    await rename(layer.file, path.join(blobs, layerName.slice(7)));
    const manifest = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: await put(config),
          size: config.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: layerName,
            size: layer.size,
          },
        ],
      }),
    );
    const manifestDigest = await put(manifest);
    await writeFile(path.join(parent, 'amd64', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      path.join(parent, 'amd64', 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: manifestDigest,
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': `test/${name}:1` },
          },
        ],
      }),
    );
    const out = path.join(work, `${name}.tar.xz`);
    if (o.blobsFirst) {
      // GNU tar in the order given: the blobs, then the index
      const tar = out.slice(0, -'.xz'.length);
      await execa('tar', [
        '-C',
        parent,
        '-cf',
        tar,
        'amd64/blobs',
        'amd64/oci-layout',
        'amd64/index.json',
      ]);
      await execa('xz', ['-0', tar]);
    } else
      await packArchive(createArchiveHost({ PATH: process.env['PATH'] }), parent, 'amd64', out, {
        mtime: 0,
        level: 0,
      });
    await rm(parent, { recursive: true, force: true });
    return { archive: out, manifestDigest };
  };
  /** A layer file of `size` random bytes, written in 1 MiB pieces (never whole in memory). */
  const layerFile = async (size: number) => {
    const file = path.join(work, `layer-${Math.random()}`);
    const h = createHash('sha256');
    const f = await open(file, 'w');
    for (let left = size; left > 0; left -= 1024 * 1024) {
      const b = randomBytes(Math.min(left, 1024 * 1024));
      h.update(b);
      await f.write(b);
    }
    await f.close();
    return { file, digest: `sha256:${h.digest('hex')}`, size };
  };
  const status = async (url: string, method = 'GET') => (await fetch(url, { method })).status;

  it('refuses a blob whose content does not match its name: no manifest pushed, nothing signed', async () => {
    const layer = await layerFile(3 * 1024 * 1024);
    const forged = `sha256:${'ab'.repeat(32)}`;
    const { archive: bad, manifestDigest } = await craft('forged', layer, { namedAs: forged });
    const maker = await makerSystem(work);
    const r = await runProgram(loadCli, loadArgs(bad, target.host, '--platform', 'test'), {
      system: maker,
      env: { LANG: 'C' },
    });
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stderr, /push: native/);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('podsec-load-sign-oci:'));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(
      errors[0] ?? '',
      new RegExp(
        `pushing or signing ${target.host}/test/forged:1 failed: .*blob ${forged} of the archive does not match its name \\(its content is ${layer.digest}\\)`,
      ),
    );
    assert.equal(await status(`${target.url}/v2/test/forged/manifests/1`), 404);
    assert.equal(await status(`${target.url}/v2/test/forged/manifests/${manifestDigest}`), 404);
    assert.equal(await status(`${target.url}/v2/test/forged/blobs/${forged}`, 'HEAD'), 404);
    assert.equal(await status(`${target.url}/v2/test/forged/blobs/${layer.digest}`, 'HEAD'), 404);
    const sigs = await readdir(path.join(maker.root, 'var/sigstore/sigstore')).catch(() => []);
    assert.deepEqual(sigs, []);
  });

  it('streams a layer larger than 100 MB to the registry with bounded memory', async () => {
    const size = 128 * 1024 * 1024;
    const layer = await layerFile(size);
    const { archive: big, manifestDigest } = await craft('big', layer);
    const maker = await makerSystem(work);
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const r = await runProgram(
      loadCli,
      loadArgs(big, target.host, '--platform', 'test', '--json'),
      {
        system: maker,
      },
    ).finally(() => clearInterval(sampler));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /\(2 uploaded as they streamed, 0 already there, 1 manifests kept, 0 extracted first\)/,
    );
    assert.ok(
      peak - base < 48 * 1024 * 1024,
      `RSS grew by ${peak - base} bytes for a ${size}-byte layer`,
    );
    const head = await fetch(`${target.url}/v2/test/big/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(size));
    assert.deepEqual(
      (JSON.parse(r.stdout) as { loaded: { digest: string }[] }).loaded.map((l) => l.digest),
      [manifestDigest],
    );
    assert.equal(sha256(await rawManifest(target.host, 'test/big:1')), manifestDigest);
  });

  it('--dry-run pushes nothing though the registry could be pushed to natively', async () => {
    const layer = await layerFile(100 * 1024);
    const { archive: dry } = await craft('dry', layer);
    const maker = await makerSystem(work);
    const r = await runProgram(
      loadCli,
      loadArgs(dry, target.host, '--platform', 'test', '--dry-run'),
      {
        system: maker,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /push: skopeo copy from the extracted archive \(a dry run: nothing is pushed\)/,
    );
    assert.match(r.stderr, /would push /);
    assert.equal(await status(`${target.url}/v2/test/dry/manifests/1`), 404);
    assert.equal(await status(`${target.url}/v2/test/dry/blobs/${layer.digest}`, 'HEAD'), 404);
  });

  /**
   * The target registry behind a proxy on 127.0.0.1 that holds each manifest PUT until a temporary signature file
   * (`.signature-1.tmp-…`) is in `sigDir` (at most 5 s), then forwards it or, when `fail`, answers 500.
   */
  const heldPutProxy = async (sigDir: () => string, fail: boolean) => {
    const seen: boolean[] = [];
    const [targetHost, targetPort] = target.host.split(':');
    const server = http.createServer((req, res) => {
      const forward = () => {
        const up = http.request(
          {
            host: targetHost,
            port: Number(targetPort),
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        req.pipe(up);
      };
      if (req.method !== 'PUT' || !/\/manifests\//.test(req.url ?? '')) return forward();
      void (async () => {
        let staged = false;
        for (let i = 0; !staged && i < 500; i++) {
          const names = await readdir(sigDir()).catch(() => [] as string[]);
          staged = names.some((n) => n.startsWith('.signature-1.tmp-'));
          if (!staged) await new Promise((r) => setTimeout(r, 10));
        }
        seen.push(staged);
        if (!fail) return forward();
        req.resume();
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}');
      })();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return {
      host: `127.0.0.1:${port}`,
      seen,
      stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  };

  it('writes the signature while the manifest is put and puts it in place only after the PUT succeeded', async () => {
    const layer = await layerFile(64 * 1024);
    const { archive: file, manifestDigest } = await craft('beside', layer);
    const maker = await makerSystem(work);
    const lookaside = path.join(maker.root, 'var/sigstore/sigstore');
    const sigDir = path.join(lookaside, `test/beside@${manifestDigest.replace(':', '=')}`);
    const proxy = await heldPutProxy(() => sigDir, false);
    try {
      const r = await runProgram(loadCli, loadArgs(file, proxy.host, '--platform', 'test'), {
        system: maker,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /push: native/);
      assert.match(r.stderr, /time: signature write \(beside the push\)/);
      // the temporary file was there while the registry had not answered the PUT yet
      assert.deepEqual(proxy.seen, [true]);
      assert.deepEqual(await readdir(sigDir), ['signature-1']);
      // signed for the name it was pushed as
      const ok = await copySigned(proxy.host, 'test/beside:1', lookaside);
      assert.equal(ok.exitCode, 0, ok.stderr);
    } finally {
      await proxy.stop();
    }
  });

  it('a manifest PUT that fails leaves no signature and no temporary file', async () => {
    const layer = await layerFile(64 * 1024);
    const { archive: file, manifestDigest } = await craft('refused', layer);
    const maker = await makerSystem(work);
    const sigDir = path.join(
      maker.root,
      `var/sigstore/sigstore/test/refused@${manifestDigest.replace(':', '=')}`,
    );
    const proxy = await heldPutProxy(() => sigDir, true);
    try {
      const r = await runProgram(loadCli, loadArgs(file, proxy.host, '--platform', 'test'), {
        system: maker,
        env: { LANG: 'C' },
      });
      assert.notEqual(r.code, 0, r.stderr);
      assert.match(r.stderr, /pushing or signing \S+\/test\/refused:1 failed/);
      assert.equal(proxy.seen[0], true);
      assert.deepEqual(await readdir(sigDir).catch(() => []), []);
      assert.equal(await status(`${target.url}/v2/test/refused/manifests/1`), 404);
    } finally {
      await proxy.stop();
    }
  });

  it('uploads the blobs that come before index.json from the extraction, after the stream', async () => {
    const layer = await layerFile(200 * 1024);
    const { archive: late, manifestDigest } = await craft('late', layer, { blobsFirst: true });
    const maker = await makerSystem(work);
    const r = await runProgram(loadCli, loadArgs(late, target.host, '--platform', 'test'), {
      system: maker,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /push: native/);
    assert.match(
      r.stderr,
      /\(0 uploaded as they streamed, 0 already there, 0 manifests kept, 3 extracted first\)/,
    );
    assert.equal(sha256(await rawManifest(target.host, 'test/late:1')), manifestDigest);
    const ok = await copySigned(
      target.host,
      'test/late:1',
      path.join(maker.root, 'var/sigstore/sigstore'),
    );
    assert.equal(ok.exitCode, 0, ok.stderr);
  });
});
