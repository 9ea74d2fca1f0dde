// Build step (bundle.mjs): `node train-code-cache.mjs <bin> <lib/<bin>/fast.cjs>` runs the everyday invocations of
// a fast path in this process, then writes V8's code cache of all it compiled to <fast.cjs>.cache (see
// code-cache.mjs). It runs with the Node that builds, which must be the Node that runs the binaries (V8 refuses the
// cache otherwise). podsec-trust verifies a signed image from a registry served here on 127.0.0.1 (fixtures in
// train/: a manifest, a gpg RSA key and its signature of the manifest for podsec.train/app:1, remapped from the
// served name by the policy). podsec-load-sign-oci loads a tiny archive made here with tar and xz into a registry
// served here (loadRuns), signing with the training keys in train/ (made for this and nothing else: an RSA key
// without and an Ed25519 key with a passphrase). Exits 1 when a training run fails, writing no cache.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { loadFastPath } from './code-cache.mjs';

const [bin, file] = process.argv.slice(2);
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'train');

async function trustRuns(dir) {
  const manifest = fs.readFileSync(path.join(fixtures, 'manifest'));
  const hex = createHash('sha256').update(manifest).digest('hex');
  const server = http.createServer((req, res) => {
    if (req.url !== '/v2/train/app/manifests/1') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'docker-content-digest': `sha256:${hex}`,
      'content-length': manifest.length,
    });
    res.end(req.method === 'HEAD' ? undefined : manifest);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${server.address().port}`;
  const sigstore = path.join(dir, 'sigstore');
  fs.mkdirSync(path.join(sigstore, `train/app@sha256=${hex}`), { recursive: true });
  fs.copyFileSync(
    path.join(fixtures, 'signature-1'),
    path.join(sigstore, `train/app@sha256=${hex}/signature-1`),
  );
  fs.mkdirSync(path.join(dir, 'registries.d'));
  fs.writeFileSync(
    path.join(dir, 'registries.d/default.yaml'),
    `default-docker:\n  lookaside: file://${sigstore}\n`,
  );
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          [`${host}/train`]: [
            {
              type: 'signedBy',
              keyType: 'GPGKeys',
              keyPath: path.join(fixtures, 'maker.pgp'),
              signedIdentity: {
                type: 'remapIdentity',
                prefix: `${host}/train`,
                signedPrefix: 'podsec.train',
              },
            },
          ],
        },
      },
    }),
  );
  const verify = ['verify', `${host}/train/app:1`, '--insecure', '--policy', policy];
  const regd = ['--registries-d', path.join(dir, 'registries.d')];
  return {
    runs: [
      [...verify, ...regd, '--json'],
      [...verify, ...regd],
      ['show', '--policy', policy],
      ['show', `${host}/train/app:1`, '--policy', policy, '--json'],
    ],
    stop: () => server.close(),
  };
}

/**
 * The few calls of the distribution API a push makes, answered in memory: the version check, HEAD of a blob, an
 * upload session (POST, then PUT with the digest), a manifest PUT and the DELETE of a session.
 */
function startPushRegistry() {
  const blobs = new Set();
  let sessions = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://registry');
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      const p = url.pathname;
      const bytes = Buffer.concat(body);
      if (p === '/v2/') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else if (req.method === 'HEAD' && /\/blobs\/sha256:/.test(p))
        res.writeHead(blobs.has(p.slice(p.lastIndexOf('/') + 1)) ? 200 : 404).end();
      else if (req.method === 'POST' && p.endsWith('/blobs/uploads/'))
        res.writeHead(202, { location: `${p}${++sessions}`, 'content-length': 0 }).end();
      else if (req.method === 'PUT' && /\/blobs\/uploads\/\d+$/.test(p)) {
        blobs.add(url.searchParams.get('digest'));
        res.writeHead(201, { 'content-length': 0 }).end();
      } else if (req.method === 'PUT' && /\/manifests\/[^/]+$/.test(p)) {
        const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        res.writeHead(201, { 'docker-content-digest': digest, 'content-length': 0 }).end();
      } else if (req.method === 'DELETE') res.writeHead(204).end();
      else res.writeHead(404, { 'content-length': 0 }).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ host: `127.0.0.1:${server.address().port}`, stop: () => server.close() }),
    ),
  );
}

/** amd64.tar.xz: an OCI layout of one image, train/app:1 (index.json first, as podsec-save-oci writes it). */
function trainingArchive(dir) {
  const layout = path.join(dir, 'layout', 'amd64');
  const blobDir = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobDir, { recursive: true });
  const blob = (bytes) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(path.join(blobDir, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layer = blob(zlib.gzipSync(Buffer.from('training layer\n')));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    ),
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  fs.writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'train/app:1' },
        },
      ],
    }),
  );
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const tar = execFileSync('tar', [
    '-C',
    path.dirname(layout),
    '-cf',
    '-',
    'amd64/index.json',
    'amd64/oci-layout',
    'amd64/blobs',
  ]);
  const archive = path.join(dir, 'amd64.tar.xz');
  fs.writeFileSync(archive, execFileSync('xz', ['-c'], { input: tar }));
  return archive;
}

async function loadRuns(dir) {
  const registry = await startPushRegistry();
  const archive = trainingArchive(dir);
  // the caller, a member of podman_dev in a tree of its own (the user database is read under --root)
  const me = os.userInfo();
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'etc/passwd'),
    `${me.username}:x:${me.uid}:${me.gid}::${dir}:/bin/sh\n`,
  );
  fs.writeFileSync(path.join(root, 'etc/group'), `podman_dev:x:991:${me.username}\n`);
  // the keys and the passphrase as a maker keeps them: readable by the owner only
  const secret = (name, bytes) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    return file;
  };
  const rsa = secret('rsa.asc', fs.readFileSync(path.join(fixtures, 'signing-key-rsa.asc')));
  const ed = secret('ed25519.asc', fs.readFileSync(path.join(fixtures, 'signing-key-ed25519.asc')));
  const passphrase = secret('passphrase', 'training only\n');
  const load = (n, ...more) => [
    archive,
    'amd64',
    'maker@podsec.train',
    '--root',
    root,
    '--registry-host',
    registry.host,
    '--platform',
    'train',
    '--lookaside',
    `file://${path.join(dir, `sigs-${n}`)}`,
    '--tmpdir',
    dir,
    ...more,
  ];
  return {
    runs: [load(1, '--key', rsa), load(2, '--key', ed, '--passphrase-file', passphrase, '--json')],
    stop: registry.stop,
  };
}

const RUNS = {
  'podsec-trust': trustRuns,
  'podsec-load-sign-oci': loadRuns,
  // the platform as the tests give it (a build machine need not be ALT)
  'podsec-get-platform': async () => {
    process.env.U7S_PLATFORM = 'p10';
    return { runs: [['--json'], ['--arch'], []], stop() {} };
  },
};

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podsec-train-'));
  // no credentials or user configuration of whoever builds
  process.env.HOME = dir;
  delete process.env.XDG_RUNTIME_DIR;
  delete process.env.XDG_CONFIG_HOME;
  delete process.env.REGISTRY_AUTH_FILE;
  try {
    const training = await (RUNS[bin] ?? (async () => ({ runs: [], stop() {} })))(dir);
    try {
      const { exports: fast, script } = loadFastPath(file);
      for (const argv of training.runs) {
        const code = await fast.run(argv);
        if (code !== 0) throw new Error(`${bin} ${argv.join(' ')} exited ${code}`);
      }
      fs.writeFileSync(`${file}.cache`, script.createCachedData(), { mode: 0o644 });
    } finally {
      training.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  process.stderr.write(`train-code-cache: ${e.message}\n`);
  process.exitCode = 1;
}
