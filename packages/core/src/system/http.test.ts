import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { PodsecError } from '../errors.ts';
import { makeTestCert } from '@podsec/test-utils';
import { createFetch, findFreePort, httpRequest, normalizeFingerprint } from './http.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-http-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function listen(
  t: TestContext,
  server: http.Server,
  at: string | number = 0,
): Promise<number> {
  await new Promise<void>((resolve) =>
    typeof at === 'string' ? server.listen(at, resolve) : server.listen(at, '127.0.0.1', resolve),
  );
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return typeof at === 'string' ? 0 : (server.address() as AddressInfo).port;
}

const hello: Handler = (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.url ?? '' });
  res.end(`hello ${req.method} ${req.url}`);
};

describe('httpRequest', () => {
  it('gets a body, status and lower-case headers over plain http', async (t) => {
    const port = await listen(t, http.createServer(hello));
    const r = await httpRequest(`http://127.0.0.1:${port}/a?b=1`);
    assert.equal(r.status, 200);
    assert.equal(r.text(), 'hello GET /a?b=1');
    assert.equal(r.headers['x-path'], '/a?b=1');
  });

  it('sends a method, headers and a body', async (t) => {
    let got = '';
    const port = await listen(
      t,
      http.createServer((req, res) => {
        req.setEncoding('utf8');
        req.on('data', (c: string) => (got += c));
        req.on('end', () => {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ method: req.method, auth: req.headers['x-token'] }));
        });
      }),
    );
    const r = await httpRequest(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'x-token': 't1' },
      body: '{"a":1}',
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.json(), { method: 'POST', auth: 't1' });
    assert.equal(got, '{"a":1}');
  });

  it('streams a body of a declared length with backpressure, never holding it whole', async (t) => {
    // the server reads slowly: the source must wait for the socket, not run ahead into memory
    let received = 0;
    const hash = createHash('sha256');
    const port = await listen(
      t,
      http.createServer((req, res) => {
        req.on('data', (c: Buffer) => {
          received += c.length;
          hash.update(c);
          req.pause();
          setTimeout(() => req.resume(), 1);
        });
        req.on('end', () => res.writeHead(201).end(String(req.headers['content-length'])));
      }),
    );
    const chunk = new Uint8Array(64 * 1024).fill(7);
    const want = createHash('sha256');
    let produced = 0;
    let maxAhead = 0;
    async function* chunks() {
      for (let i = 0; i < 256; i++) {
        produced += chunk.length;
        maxAhead = Math.max(maxAhead, produced - received);
        want.update(chunk);
        yield chunk;
      }
    }
    const r = await httpRequest(`http://127.0.0.1:${port}/`, {
      method: 'PUT',
      body: { length: 256 * chunk.length, chunks: chunks() },
    });
    assert.equal(r.status, 201);
    assert.equal(r.text(), String(256 * chunk.length));
    assert.equal(received, 256 * chunk.length);
    assert.equal(hash.digest('hex'), want.digest('hex'));
    // 16 MiB went through; what was produced but not yet received stayed a few socket buffers
    assert.ok(maxAhead < 8 * 1024 * 1024, `${maxAhead} bytes ahead of the server`);
  });

  it('stops a streamed body before its last byte when its source fails, with the source error', async (t) => {
    let complete: boolean | undefined;
    let received = 0;
    const port = await listen(
      t,
      http.createServer((req, res) => {
        req.on('data', (c: Buffer) => (received += c.length));
        req.on('end', () => {
          complete = true;
          res.writeHead(201).end();
        });
        req.on('close', () => (complete ??= false));
      }),
    );
    const refused = new PodsecError('TEST_REFUSED', 'the last chunk is refused');
    async function* chunks() {
      yield new Uint8Array(1000);
      await new Promise((r) => setTimeout(r, 20));
      throw refused;
    }
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`, {
        method: 'PUT',
        body: { length: 2000, chunks: chunks() },
      }),
      (e: unknown) => e === refused,
    );
    // a shorter source than declared fails too, and nothing is sent beyond the declared length
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`, {
        method: 'PUT',
        body: {
          length: 10,
          chunks: (async function* () {
            yield new Uint8Array(4);
          })(),
        },
      }),
      /4 bytes, 10 were declared/,
    );
    for (let i = 0; i < 50 && complete === undefined; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(complete, false, 'the server never saw a complete body');
    assert.ok(received <= 1004);
  });

  it('refuses a body longer than maxBytes, declared or streamed without a length', async (t) => {
    const port = await listen(
      t,
      http.createServer((req, res) => {
        if (req.url === '/declared') {
          res.writeHead(200, { 'content-length': '100000' });
          res.end('x'.repeat(100000));
          return;
        }
        // chunked, no content-length: the client must count
        res.writeHead(200);
        const timer = setInterval(() => res.write('y'.repeat(4096)), 1);
        res.on('close', () => clearInterval(timer));
      }),
    );
    for (const p of ['/declared', '/endless']) {
      await assert.rejects(
        httpRequest(`http://127.0.0.1:${port}${p}`, { maxBytes: 1000, timeoutMs: 5000 }),
        (e: Error & { code?: string }) => e.code === 'HTTP_TOO_LARGE',
      );
    }
    const ok = await httpRequest(`http://127.0.0.1:${port}/declared`, { maxBytes: 100000 });
    assert.equal(ok.body.length, 100000);
  });

  it('gives up after timeoutMs when the server never answers', async (t) => {
    const port = await listen(
      t,
      http.createServer(() => {
        /* never answers */
      }),
    );
    const start = Date.now();
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`, { timeoutMs: 300 }),
      (e: Error & { code?: string }) => e.code === 'HTTP_TIMEOUT',
    );
    assert.ok(Date.now() - start < 3000);
  });

  it('talks HTTP over a unix socket (rootlesskit API style)', async (t) => {
    const dir = await tempDir(t);
    const sock = path.join(dir, 'api.sock');
    await listen(t, http.createServer(hello), sock);
    const r = await httpRequest('http://rootlesskit/v1/info', { socketPath: sock });
    assert.equal(r.status, 200);
    assert.equal(r.text(), 'hello GET /v1/info');
  });

  it('refuses a socket reached through a symlink in a directory another user can write', async (t) => {
    const dir = await tempDir(t);
    const real = path.join(dir, 'real');
    await mkdir(real);
    const sock = path.join(real, 'api.sock');
    await listen(t, http.createServer(hello), sock);
    // a user's runtime dir: writable by others, so a link in it may have been swapped in
    const userDir = path.join(dir, 'run-user');
    await mkdir(userDir);
    await chmod(userDir, 0o777);
    await symlink(sock, path.join(userDir, 'api.sock'));
    await symlink(real, path.join(userDir, 'state'));
    await writeFile(path.join(real, 'plain'), 'x');
    for (const [at, re] of [
      [path.join(userDir, 'api.sock'), /symbolic link/],
      [path.join(userDir, 'state', 'api.sock'), /symbolic link/],
      [path.join(real, 'plain'), /is not a socket/],
    ] as const) {
      await assert.rejects(
        httpRequest('http://rootlesskit/v1/info', { socketPath: at }),
        (e: Error & { code?: string }) => e.code === 'HTTP_FAILED' && re.test(e.message),
        at,
      );
    }
    // the same socket by its own path still answers
    assert.equal((await httpRequest('http://x/', { socketPath: sock })).status, 200);
  });

  it('refuses a CA file reached through a symlink in a directory another user can write', async (t) => {
    const dir = await tempDir(t);
    const good = await makeTestCert(dir, 'good');
    const userDir = path.join(dir, 'home');
    await mkdir(userDir);
    await chmod(userDir, 0o777);
    await symlink(good.file, path.join(userDir, 'ca.pem'));
    await assert.rejects(
      httpRequest('https://127.0.0.1:1/', { caFile: path.join(userDir, 'ca.pem') }),
      (e: Error & { code?: string }) =>
        e.code === 'HTTP_CA_UNREADABLE' && /symbolic link/.test(e.message),
    );
  });

  it('https: accepts a server signed by the given CA (text or file), refuses one that is not', async (t) => {
    const dir = await tempDir(t);
    const good = await makeTestCert(dir, 'good');
    const other = await makeTestCert(dir, 'other');
    const server = https.createServer({ key: good.key, cert: good.cert }, hello);
    const port = await listen(t, server);
    const url = `https://127.0.0.1:${port}/keys/`;
    assert.equal((await httpRequest(url, { ca: good.cert })).status, 200);
    assert.equal((await httpRequest(url, { caFile: good.file })).status, 200);
    // a host name resolved to the given address; TLS checks the name against the certificate
    const named = `https://sigstore.local:${port}/`;
    const resolve = { names: ['sigstore.local'], ip: '127.0.0.1' };
    assert.equal((await httpRequest(named, { ca: good.cert, resolve })).status, 200);
    await assert.rejects(
      httpRequest(url, { ca: other.cert }),
      (e: Error & { code?: string }) => e.code === 'HTTP_FAILED',
    );
    // no CA and no pin: the system CAs, which do not know a self-signed server
    await assert.rejects(
      httpRequest(url),
      (e: Error & { code?: string }) => e.code === 'HTTP_FAILED',
    );
  });

  it('https: a pinned fingerprint alone is enough; a wrong pin fails before any request is sent', async (t) => {
    const dir = await tempDir(t);
    const good = await makeTestCert(dir, 'good');
    const other = await makeTestCert(dir, 'other');
    let requests = 0;
    const server = https.createServer({ key: good.key, cert: good.cert }, (req, res) => {
      requests++;
      hello(req, res);
    });
    const port = await listen(t, server);
    const url = `https://127.0.0.1:${port}/x`;
    const r = await httpRequest(url, {
      fingerprint: good.fingerprint.replace(/:/g, '').toLowerCase(),
    });
    assert.equal(r.text(), 'hello GET /x');
    assert.equal(requests, 1);
    await assert.rejects(
      httpRequest(url, { fingerprint: other.fingerprint, method: 'POST', body: 'secret' }),
      (e: Error & { code?: string }) =>
        e.code === 'HTTP_PIN_MISMATCH' && e.message.includes(good.fingerprint),
    );
    // CA and pin together: both must hold
    await assert.rejects(
      httpRequest(url, { ca: good.cert, fingerprint: other.fingerprint }),
      (e: Error & { code?: string }) => e.code === 'HTTP_PIN_MISMATCH',
    );
    assert.equal(requests, 1, 'the server saw no request from a failed pin');
  });

  it('rejects bad URLs, protocols, fingerprints and CA files with codes', async (t) => {
    const dir = await tempDir(t);
    const notPem = path.join(dir, 'ca.pem');
    await writeFile(notPem, 'garbage');
    const cases: [string, Parameters<typeof httpRequest>[1], string][] = [
      ['not a url', {}, 'HTTP_BAD_URL'],
      ['ftp://x/', {}, 'HTTP_BAD_URL'],
      ['http://x/', { fingerprint: 'AA' }, 'HTTP_BAD_FINGERPRINT'],
      ['http://x/', { ca: 'x' }, 'HTTP_BAD_URL'],
      ['https://x/', { caFile: notPem }, 'HTTP_CA_UNREADABLE'],
      ['https://x/', { caFile: path.join(dir, 'missing') }, 'HTTP_CA_UNREADABLE'],
      ['https://x/', { caFile: dir }, 'HTTP_CA_UNREADABLE'],
    ];
    for (const [url, o, code] of cases) {
      await assert.rejects(httpRequest(url, o), (e: Error & { code?: string }) => e.code === code);
    }
  });

  it('reports a refused connection as HTTP_FAILED', async () => {
    const port = await findFreePort();
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`, { timeoutMs: 5000 }),
      (e: Error & { code?: string }) => e.code === 'HTTP_FAILED',
    );
  });
});

describe('createFetch', () => {
  it('answers like fetch (status, headers, body; HEAD without a body) and keeps the body bound', async (t) => {
    const port = await listen(
      t,
      http.createServer((req, res) => {
        if (req.url === '/missing') {
          res.writeHead(404);
          res.end('no');
          return;
        }
        res.writeHead(200, { 'content-length': '5000' });
        res.end(req.method === 'HEAD' ? undefined : 'z'.repeat(5000));
      }),
    );
    const f = createFetch(undefined, { maxBytes: 6000 });
    const ok = await f(`http://127.0.0.1:${port}/x`);
    assert.equal(ok.status, 200);
    assert.equal((await ok.text()).length, 5000);
    const head = await f(`http://127.0.0.1:${port}/x`, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), '5000');
    assert.equal((await f(`http://127.0.0.1:${port}/missing`)).status, 404);
    await assert.rejects(
      createFetch(undefined, { maxBytes: 100 })(`http://127.0.0.1:${port}/x`),
      (e: Error & { code?: string }) => e.code === 'HTTP_TOO_LARGE',
    );
  });
});

describe('normalizeFingerprint', () => {
  it('accepts hex with or without colons and a sha256 prefix; rejects other lengths', () => {
    const hex = 'ab'.repeat(32);
    const want = Array(32).fill('AB').join(':');
    assert.equal(normalizeFingerprint(hex), want);
    assert.equal(normalizeFingerprint(`sha256:${want}`), want);
    assert.equal(normalizeFingerprint('abcd'), undefined);
  });
});
