import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createRootFs } from '@podsec/core/system';
import { baseTree, buildTinyImage, createTestSystem, runProgram } from '@podsec/test-utils';
import { cli } from '../cli/podsec-serve.ts';
import { startServices } from './serve.ts';

const TREE = {
  ...baseTree,
  'var/sigstore/index.html': '<html><body><h1>SigStore works!</h1></body></html>\n',
  'var/sigstore/keys/imagemaker.pgp':
    '-----BEGIN PGP PUBLIC KEY BLOCK-----\nfake\n-----END PGP PUBLIC KEY BLOCK-----\n',
  'var/sigstore/keys/.secret': 'hidden\n',
  'var/sigstore/sigstore/c10f/pause@sha256=00/signature-1': 'sig\n',
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

describe('startServices (real docker-registry, nginx, skopeo)', () => {
  it('serves the registry and the read-only sigstore tree, then stops both', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const s = await startServices(sys);
    t.after(() => s.stop());
    assert.match(s.registry.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(s.registry.url, `http://${s.registry.host}`);

    // push with skopeo (plain http) into the root's registry volume directory
    await buildTinyImage(s.registry.host, 'src/tiny', '1', { contents: 'hello' });
    const cp = await execa(
      'skopeo',
      [
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${s.registry.host}/src/tiny:1`,
        `docker://${s.registry.host}/c10f/tiny:1`,
      ],
      { reject: false },
    );
    assert.equal(cp.exitCode, 0, cp.stderr);
    const repos = path.join(
      sys.root,
      'var/lib/containers/storage/volumes/registry/_data/docker/registry/v2/repositories/c10f/tiny',
    );
    assert.ok((await stat(repos)).isDirectory());
    const tags = await (await fetch(`${s.registry.url}/v2/c10f/tiny/tags/list`)).json();
    assert.deepEqual(tags, { name: 'c10f/tiny', tags: ['1'] });

    // a key file, and the JSON listing of keys/ (docs/files.md#nginx-site), without dot files
    const key = await fetch(`${s.sigstore.url}/keys/imagemaker.pgp`);
    assert.equal(key.status, 200);
    assert.equal(await key.text(), TREE['var/sigstore/keys/imagemaker.pgp']);
    const listing = await fetch(`${s.sigstore.url}/keys/`);
    assert.match(listing.headers.get('content-type') ?? '', /json/);
    const entries = (await listing.json()) as Array<{ name: string; type: string }>;
    assert.deepEqual(
      entries.map((e) => [e.name, e.type]),
      [['imagemaker.pgp', 'file']],
    );
    assert.equal((await fetch(`${s.sigstore.url}/keys/.secret`)).status, 403);
    // signatures through the containers/image double-slash URL
    const sig = await fetch(`${s.sigstore.url}/sigstore//c10f/pause@sha256=00/signature-1`);
    assert.equal(await sig.text(), 'sig\n');
    // read-only, no listing outside keys/ and sigstore/
    assert.equal(
      (await fetch(`${s.sigstore.url}/keys/x.pgp`, { method: 'PUT', body: 'x' })).status,
      403,
    );
    assert.equal(
      (await fetch(`${s.sigstore.url}/keys/imagemaker.pgp`, { method: 'DELETE' })).status,
      403,
    );
    assert.equal(await (await fetch(`${s.sigstore.url}/`)).text(), TREE['var/sigstore/index.html']);
    await sys.fs.remove('/var/sigstore/index.html');
    assert.equal((await fetch(`${s.sigstore.url}/`)).status, 403);

    await s.stop();
    assert.ok(await waitGone(s.registry.pid), 'registry gone');
    assert.ok(await waitGone(s.sigstore.pid), 'nginx gone');
    assert.deepEqual(
      (await readdir(path.join(sys.root, 'run'))).filter((n) => n.startsWith('podsec-serve.')),
      [],
      'run dir removed',
    );
    await assert.rejects(fetch(`${s.registry.url}/v2/`));
  });

  it('creates missing served directories and reports a service that cannot start (exit 2 in the CLI)', async (t) => {
    const sys = await createTestSystem(t, {});
    await assert.rejects(
      startServices(sys, { registryBinary: '/nonexistent/docker-registry', timeoutMs: 3000 }),
      { code: 'SERVE_START_FAILED' },
    );
    assert.ok((await stat(path.join(sys.root, 'var/sigstore/keys'))).isDirectory());
    assert.deepEqual(
      (await readdir(path.join(sys.root, 'run'))).filter((n) => n.startsWith('podsec-serve.')),
      [],
    );
    assert.equal(cli.exitCodes?.['SERVE_START_FAILED'], 2);
  });

  it('refuses bad addresses and a missing root with exit 1 (CLI)', async (t) => {
    const system = await createTestSystem(t, {});
    const missing = await runProgram(cli, [], {
      system: { ...system, root: '/nonexistent', fs: createRootFs('/nonexistent') },
    });
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /does not exist/);
    for (const args of [
      ['--registry', 'localhost:5000'],
      ['--registry', '127.0.0.1:7000', '--sigstore', '127.0.0.1:7000'],
    ]) {
      const r = await runProgram(cli, args, { system });
      assert.equal(r.code, 1, r.stderr);
    }
  });
});

describe('podsec-serve process', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const entry = path.join(here, '../cli/podsec-serve.ts');
  // the source entry (the bin/ shim loads dist/, which the tests do not build)
  const script = `import { runCli } from '@podsec/core/cli'; import { cli } from ${JSON.stringify(entry)}; process.exitCode = await runCli(cli, process.argv.slice(1));`;

  async function spawnServe(t: { after(fn: () => Promise<void>): void }) {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-serve-cli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const root = path.join(dir, 'root');
    await mkdir(root);
    const ready = path.join(dir, 'ready.json');
    const child = execa(
      process.execPath,
      [
        '--conditions=podsec-source',
        '--input-type=module',
        '-e',
        script,
        '--',
        '--root',
        root,
        '--json',
        '--ready-file',
        ready,
      ],
      {
        reject: false,
        cwd: path.join(here, '../../../..'),
        env: { LANG: 'C', PATH: process.env['PATH'] },
      },
    );
    let done = false;
    void child.then(() => {
      done = true;
    });
    for (let i = 0; i < 400; i++) {
      const text = await readFile(ready, 'utf8').catch(() => '');
      if (text.endsWith('\n'))
        return {
          child,
          ready,
          data: JSON.parse(text) as {
            registry: string;
            sigstore: string;
            pids: { registry: number; nginx: number };
          },
        };
      if (done) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    const r = await child;
    throw new Error(
      `podsec-serve did not become ready (exit ${r.exitCode}): ${String(r.stderr)} ${String(r.stdout)}`,
    );
  }

  it('prints the URLs, writes the ready file and stops both on SIGTERM with exit 0', async (t) => {
    const { child, ready, data } = await spawnServe(t);
    assert.equal((await fetch(`${data.registry}/v2/`)).status, 200);
    assert.equal((await fetch(`${data.sigstore}/keys/`)).status, 200);
    child.kill('SIGTERM');
    const r = await child;
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.deepEqual(JSON.parse(String(r.stdout)).pids, data.pids);
    assert.ok(await waitGone(data.pids.registry));
    assert.ok(await waitGone(data.pids.nginx));
    await assert.rejects(stat(ready), 'ready file removed');
  });

  it('exits 3 and stops nginx when the registry dies', async (t) => {
    const { child, data } = await spawnServe(t);
    process.kill(data.pids.registry, 'SIGKILL');
    const r = await child;
    assert.equal(r.exitCode, 3, String(r.stderr));
    assert.match(String(r.stderr), /docker-registry stopped unexpectedly/);
    assert.ok(await waitGone(data.pids.nginx));
  });
});
