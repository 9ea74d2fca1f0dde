// W-S6 for podsec-k8s-upgrade --tags-from: the original read a registry's tags with `curl -k`. Here a real HTTPS
// server on 127.0.0.1 with a self-signed certificate (openssl) offers a tag list: it is refused unless the user
// trusts its certificate (--ca-file) or asks for no check (--tls-verify=false / --insecure); plain http only so.
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createTestSystem, makeTestCert, requireCommand, runProgram } from '@podsec/test-utils';
import { cli } from '../cli/podsec-k8s-upgrade.ts';
import { planTagsTls, readRegistryVersions } from './tags.ts';

const REPO = 'c10f/kube-apiserver';

/** A registry's tag list API over HTTPS with a self-signed certificate; counts the requests that arrived. */
async function tagServer(t: TestContext) {
  const dir = await mkdtemp(path.join(tmpdir(), 'tags-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = await makeTestCert(dir, 'registry');
  let requests = 0;
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    requests++;
    const ok = req.url === `/v2/${REPO}/tags/list?n=10000`;
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(ok ? JSON.stringify({ name: REPO, tags: ['v1.38.1', 'latest', 'v1.39.0'] }) : '{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `https://127.0.0.1:${port}/${REPO}`, cert, requests: () => requests };
}

describe('--tags-from over TLS (W-S6)', () => {
  it('refuses a self-signed registry certificate, naming the way out; --ca-file or tlsVerify false reads it', async (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const reg = await tagServer(t);
    const sys = await createTestSystem(t);
    await assert.rejects(readRegistryVersions(sys, reg.url), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'UPGRADE_TAGS_FAILED');
      assert.match(e.message, /self[- ]signed certificate/);
      assert.match(e.message, /--ca-file, or --tls-verify=false/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    assert.equal(reg.requests(), 0, 'no request was sent to the unverified server');
    const tags = ['v1.38.1', 'v1.39.0'];
    assert.deepEqual(await readRegistryVersions(sys, reg.url, { caFile: reg.cert.file }), tags);
    assert.deepEqual(await readRegistryVersions(sys, reg.url, { tlsVerify: false }), tags);
    assert.equal(reg.requests(), 2);
    await assert.rejects(
      readRegistryVersions(sys, reg.url, { tlsVerify: false, caFile: reg.cert.file }),
      { code: 'UPGRADE_TLS_CONFLICT' },
    );
  });

  it('plain http only with --tls-verify=false, or by default from a loopback registry', () => {
    assert.throws(() => planTagsTls('http://registry.local/c10f/kube-apiserver', {}), {
      code: 'UPGRADE_TAGS_PLAIN_HTTP',
    });
    assert.throws(
      () => planTagsTls('http://127.0.0.1:5000/c10f/kube-apiserver', { tlsVerify: true }),
      { code: 'UPGRADE_TAGS_PLAIN_HTTP' },
    );
    for (const [from, o] of [
      ['http://registry.local/c10f/kube-apiserver', { tlsVerify: false }],
      ['http://127.0.0.1:5000/c10f/kube-apiserver', {}],
      ['http://localhost:5000/c10f/kube-apiserver', {}],
    ] as const)
      assert.equal(planTagsTls(from, o).insecure, false, from);
    assert.deepEqual(planTagsTls('https://registry.local/c10f/kube-apiserver', {}), {
      url: 'https://registry.local/v2/c10f/kube-apiserver/tags/list?n=10000',
      insecure: false,
    });
    assert.equal(
      planTagsTls('https://registry.local/c10f/kube-apiserver', { tlsVerify: false }).insecure,
      true,
    );
  });

  it('podsec-k8s-upgrade: exit 3 in one line for the self-signed registry; --tls-verify=false and --insecure pass it', async (t) => {
    if (!requireCommand(t, 'openssl')) return;
    const reg = await tagServer(t);
    const sys = await createTestSystem(t);
    // no cluster behind this kubeconfig: the run gets past the tags only to fail on the cluster
    const args = ['m1', '--node', 'm1', '--kubeconfig', '/nonexistent/admin.conf', '--dry-run'];
    const refused = await runProgram(cli, [...args, '--tags-from', reg.url], { system: sys });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(
      refused.stderr,
      /^podsec-k8s-upgrade: cannot read the versions of https:\/\/127\.0\.0\.1:\d+\/c10f\/kube-apiserver: .*self[- ]signed certificate.*\n$/,
    );
    assert.equal(reg.requests(), 0);
    for (const extra of [['--tls-verify=false'], ['--insecure']]) {
      const r = await runProgram(cli, [...args, '--tags-from', reg.url, ...extra], { system: sys });
      assert.doesNotMatch(r.stderr, /versions of/, `${extra.join(' ')}: ${r.stderr}`);
    }
    assert.equal(reg.requests(), 2);
    const both = await runProgram(
      cli,
      [...args, '--tags-from', reg.url, '--insecure', '--ca-file', reg.cert.file],
      { system: sys },
    );
    assert.equal(both.code, 1);
    assert.match(both.stderr, /exclude each other/);
    assert.equal(reg.requests(), 2);
  });
});
