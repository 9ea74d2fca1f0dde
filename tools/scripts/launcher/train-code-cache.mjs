// Build step (bundle.mjs): `node train-code-cache.mjs <bin> <lib/<bin>/fast.cjs>` runs the everyday invocations of
// a fast path in this process, then writes V8's code cache of all it compiled to <fast.cjs>.cache (see
// code-cache.mjs). It runs with the Node that builds, which must be the Node that runs the binaries (V8 refuses the
// cache otherwise). podsec-trust verifies a signed image from a registry served here on 127.0.0.1 (fixtures in
// train/: a manifest, a gpg RSA key and its signature of the manifest for podsec.train/app:1, remapped from the
// served name by the policy). Exits 1 when a training run fails, writing no cache.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

const RUNS = {
  'podsec-trust': trustRuns,
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
