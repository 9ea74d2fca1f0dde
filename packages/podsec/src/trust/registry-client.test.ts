/**
 * The manifest fetched straight from a real docker-registry on 127.0.0.1 must be the bytes `skopeo inspect --raw`
 * gives, anonymously and behind a Bearer token challenge (a front in the test that asks for basic credentials at its
 * token endpoint, as Harbor or a distribution token server do); where the client steps aside, skopeo is asked.
 * "Without skopeo" is shown by a System whose PATH has no skopeo in it.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildTinyImage,
  createTestSystem,
  execBytes,
  k8sBinary,
  requireCommands,
  startRegistry,
  type TestRegistry,
  type TinyImage,
} from '@podsec/test-utils';
import { fetchManifest } from './image-source.ts';

const TOKEN = 'token-for-alice';
const TOOLS = ['skopeo', 'buildah', 'docker-registry'] as const;

/** A registry front that wants `Bearer TOKEN`, handed out at /token for alice:secret. */
async function startTokenFront(
  registry: TestRegistry,
): Promise<{ host: string; stop(): Promise<void> }> {
  const [rhost, rport] = registry.host.split(':');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (url.pathname === '/token') {
      const ok =
        req.headers.authorization === `Basic ${Buffer.from('alice:secret').toString('base64')}`;
      const scoped =
        url.searchParams.get('service') === 'front' &&
        /^repository:.+:pull$/.test(url.searchParams.get('scope') ?? '');
      res.writeHead(ok && scoped ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok && scoped ? JSON.stringify({ token: TOKEN }) : '{}');
      return;
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, {
        'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="front"`,
        'content-type': 'application/json',
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const up = request(
      {
        host: rhost,
        port: Number(rport),
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: registry.host },
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('fetchManifest (direct registry client)', () => {
  let registry: TestRegistry;
  let image: TinyImage;
  let work: string;
  let front: Awaited<ReturnType<typeof startTokenFront>>;
  let ready = false;

  before(async () => {
    // without the tools every test below skips (or fails under CI) on its own requireCommands
    if (TOOLS.some((c) => k8sBinary(c) === undefined)) return;
    registry = await startRegistry();
    image = await buildTinyImage(registry.host, 'podsec/direct', '1', { contents: 'direct' });
    front = await startTokenFront(registry);
    work = await mkdtemp(path.join(tmpdir(), 'podsec-registry-client-'));
    ready = true;
  });
  after(async () => {
    await front?.stop();
    await registry?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const noSkopeo = { PATH: '/nonexistent', HOME: '/nonexistent' };
  // byte for byte (execa strips a final newline by default, which a manifest may end with)
  const skopeoRaw = (ref: string, env: Record<string, string> = {}) =>
    execBytes('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { env });

  it('gives the bytes and digest skopeo gives, without skopeo, from a plain HTTP registry', async (t) => {
    if (!requireCommands(t, TOOLS) || !ready) return;
    const system = await createTestSystem(t, { tree: {}, env: noSkopeo });
    const m = await fetchManifest(system, image.reference, { insecure: true });
    assert.deepEqual(Buffer.from(m.manifest), Buffer.from(await skopeoRaw(image.reference)));
    assert.equal(m.digest, image.digest);
    // by digest too
    const byDigest = await fetchManifest(system, `${registry.host}/podsec/direct@${image.digest}`, {
      insecure: true,
    });
    assert.equal(byDigest.digest, image.digest);
  });

  it('answers a Bearer challenge with the basic credentials of the auth file, as skopeo does', async (t) => {
    if (!requireCommands(t, TOOLS) || !ready) return;
    const authFile = path.join(work, 'auth.json');
    const auth = (user: string) =>
      JSON.stringify({
        auths: { [front.host]: { auth: Buffer.from(`${user}:secret`).toString('base64') } },
      });
    await writeFile(authFile, auth('alice'), { mode: 0o600 });
    const ref = `${front.host}/podsec/direct:1`;
    const system = await createTestSystem(t, {
      tree: {},
      env: { ...noSkopeo, REGISTRY_AUTH_FILE: authFile },
    });
    const m = await fetchManifest(system, ref, { insecure: true });
    const viaSkopeo = await skopeoRaw(ref, {
      REGISTRY_AUTH_FILE: authFile,
      PATH: process.env['PATH'] ?? '',
    });
    assert.deepEqual(Buffer.from(m.manifest), Buffer.from(viaSkopeo));
    assert.equal(m.digest, image.digest);

    // wrong credentials: the client steps aside, and skopeo (missing here) is asked
    await writeFile(authFile, auth('mallory'), { mode: 0o600 });
    await assert.rejects(fetchManifest(system, ref, { insecure: true }), {
      code: 'TRUST_MANIFEST_UNAVAILABLE',
    });
    await assert.rejects(
      skopeoRaw(ref, { REGISTRY_AUTH_FILE: authFile, PATH: process.env['PATH'] ?? '' }),
    );
  });

  it('takes insecure from registries.conf, and leaves a mirror to skopeo', async (t) => {
    if (!requireCommands(t, TOOLS) || !ready) return;
    const home = path.join(work, 'home');
    await mkdir(path.join(home, '.config/containers'), { recursive: true });
    const conf = path.join(home, '.config/containers/registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
    const system = await createTestSystem(t, {
      tree: {},
      env: { PATH: '/nonexistent', HOME: home },
    });
    // no --tls-verify=false: the configuration says the registry is plain HTTP
    const m = await fetchManifest(system, image.reference);
    assert.equal(m.digest, image.digest);
    await writeFile(
      conf,
      `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n[[registry.mirror]]\nlocation = "mirror.invalid"\n`,
    );
    await assert.rejects(fetchManifest(system, image.reference), {
      code: 'TRUST_MANIFEST_UNAVAILABLE',
    });
    // and with skopeo on PATH, the mirror configuration is skopeo's to follow (mirror.invalid fails, the registry works)
    const withSkopeo = await createTestSystem(t, {
      tree: {},
      env: { PATH: process.env['PATH'] ?? '', HOME: home },
    });
    assert.equal((await fetchManifest(withSkopeo, image.reference)).digest, image.digest);
  });
});
