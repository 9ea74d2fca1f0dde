/**
 * trivy (built from github.com/aquasecurity/trivy by tools/k8s-bin/build) scans a small Debian 12 image archive
 * against the tiny offline database of tools/trivy-db/fixture.json, standalone and through `trivy server` on a
 * free loopback port. It must report exactly the fixture's CVEs whose fixed version is newer than the installed
 * one.
 *
 * Nothing here may reach the network: the server gets --skip-db-update (without it, it tries to download the
 * database from mirror.gcr.io/ghcr.io at start, which hangs where DNS or the route blackholes), and the clients
 * --skip-version-check and --disable-telemetry (trivy otherwise calls check.trivy.dev). Every trivy run is
 * bounded by a timeout, and the server is killed in `finally`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { buildTrivyTestImage, freePort, makeTrivyCache, requireCommands } from '@podsec/test-utils';

// The fixture's advisories for glibc 2.36-9+deb12u1, openssl 3.0.11-1~deb12u1 and curl 7.88.1-10+deb12u3; its zlib
// advisory (CVE-2022-37434, fixed in 1:1.2.11.dfsg-4.1) is older than the image's zlib and must not be reported.
const EXPECTED = [
  'libc6 CVE-2023-4911', // source glibc
  'libcurl4 CVE-2023-38545', // source curl
  'libssl3 CVE-2023-5678', // source openssl
  'libssl3 CVE-2024-0727',
];

interface TrivyReport {
  Results?: {
    Vulnerabilities?: { VulnerabilityID: string; PkgName: string }[];
  }[];
}

function found(stdout: string): string[] {
  const report = JSON.parse(stdout) as TrivyReport;
  return (report.Results ?? [])
    .flatMap((r) => r.Vulnerabilities ?? [])
    .map((v) => `${v.PkgName} ${v.VulnerabilityID}`)
    .filter((v, i, all) => all.indexOf(v) === i)
    .sort();
}

const SCAN = [
  '--skip-db-update',
  '--skip-version-check',
  '--disable-telemetry',
  '--timeout',
  '60s',
  '--scanners',
  'vuln',
  '--format',
  'json',
  '--quiet',
];

test('trivy finds exactly the fixture CVEs, standalone (offline scan)', async (t) => {
  const bins = requireCommands(t, ['trivy', 'podsec-trivy-db', 'buildah']);
  if (bins === undefined) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-trivy-'));
  try {
    const cache = await makeTrivyCache(path.join(dir, 'cache'));
    const archive = await buildTrivyTestImage(path.join(dir, 'image.tar'));

    const standalone = await execa(
      bins.trivy,
      ['image', '--input', archive, '--cache-dir', cache, '--offline-scan', ...SCAN],
      { timeout: 120_000 },
    );
    assert.deepEqual(found(standalone.stdout), EXPECTED);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Polls trivy server's /healthz until it answers 200 (or the server exits, or `ms` pass). */
async function waitHealthy(url: string, server: ResultPromise, ms: number): Promise<void> {
  let exited = false;
  void server.finally(() => (exited = true));
  const end = Date.now() + ms;
  while (Date.now() < end && !exited) {
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `trivy server at ${url} not healthy (${exited ? 'it exited' : `after ${ms} ms`})`,
  );
}

test('trivy finds exactly the fixture CVEs in client/server mode (trivy server on loopback)', async (t) => {
  const bins = requireCommands(t, ['trivy', 'podsec-trivy-db', 'buildah']);
  if (bins === undefined) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-trivy-'));
  let server: ResultPromise | undefined;
  try {
    const cache = await makeTrivyCache(path.join(dir, 'server-cache'));
    const archive = await buildTrivyTestImage(path.join(dir, 'image.tar'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    server = execa(
      bins.trivy,
      ['server', '--listen', `127.0.0.1:${port}`, '--cache-dir', cache, '--skip-db-update'],
      { reject: false, timeout: 300_000, env: { HOME: dir } },
    );
    await waitHealthy(url, server, 60_000);
    // the client has its own empty cache: the advisories can only come from the server
    const client = await execa(
      bins.trivy,
      [
        'image',
        '--server',
        url,
        '--input',
        archive,
        '--cache-dir',
        path.join(dir, 'client-cache'),
        ...SCAN,
      ],
      { timeout: 120_000, env: { HOME: dir } },
    );
    assert.deepEqual(found(client.stdout), EXPECTED);
  } finally {
    server?.kill('SIGTERM');
    await server;
    await rm(dir, { recursive: true, force: true });
  }
});
