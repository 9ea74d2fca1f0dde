/**
 * trivy (built from github.com/aquasecurity/trivy by tools/k8s-bin/build) scans a small Debian 12 image archive
 * against the tiny offline database of tools/trivy-db/fixture.json: standalone, and as client of `trivy server` on
 * 127.0.0.1. It must report exactly the fixture's CVEs whose fixed version is newer than the installed one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { buildTrivyTestImage, freePort, makeTrivyCache, requireCommands } from '@podsec/test-utils';

// The fixture's advisories for glibc 2.36-9+deb12u1, openssl 3.0.11-1~deb12u1 and curl 7.88.1-10+deb12u3; its zlib
// advisory (CVE-2022-37434, fixed in 1:1.2.11.dfsg-4.1) is older than the image's zlib and must not be reported.
const EXPECTED = [
  'curl CVE-2023-38545',
  'glibc CVE-2023-4911',
  'openssl CVE-2023-5678',
  'openssl CVE-2024-0727',
];

interface TrivyReport {
  Results?: {
    Vulnerabilities?: { VulnerabilityID: string; PkgName: string; SrcName?: string }[];
  }[];
}

function found(stdout: string): string[] {
  const report = JSON.parse(stdout) as TrivyReport;
  return (report.Results ?? [])
    .flatMap((r) => r.Vulnerabilities ?? [])
    .map((v) => `${v.SrcName ?? v.PkgName} ${v.VulnerabilityID}`)
    .filter((v, i, all) => all.indexOf(v) === i)
    .sort();
}

const SCAN = [
  '--skip-db-update',
  '--skip-version-check',
  '--scanners',
  'vuln',
  '--format',
  'json',
  '--quiet',
];

test('trivy finds exactly the fixture CVEs, standalone and in client/server mode', async (t) => {
  const bins = requireCommands(t, ['trivy', 'podsec-trivy-db', 'buildah']);
  if (bins === undefined) return;
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-trivy-'));
  try {
    const cache = await makeTrivyCache(path.join(dir, 'cache'));
    const archive = await buildTrivyTestImage(path.join(dir, 'image.tar'));

    const standalone = await execa(bins.trivy, [
      'image',
      '--input',
      archive,
      '--cache-dir',
      cache,
      '--offline-scan',
      ...SCAN,
    ]);
    assert.deepEqual(found(standalone.stdout), EXPECTED);

    const port = await freePort();
    const server = execa(
      bins.trivy,
      [
        'server',
        '--listen',
        `127.0.0.1:${port}`,
        '--cache-dir',
        cache,
        '--skip-db-update',
        '--skip-version-check',
      ],
      { detached: true, reject: false, stdin: 'ignore' },
    );
    try {
      let up = false;
      for (let i = 0; i < 300 && !up; i++) {
        up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!up) await sleep(100);
      }
      assert.ok(up, 'trivy server answers /healthz');
      const client = await execa(bins.trivy, [
        'image',
        '--server',
        `http://127.0.0.1:${port}`,
        '--input',
        archive,
        '--cache-dir',
        path.join(dir, 'client-cache'),
        ...SCAN,
      ]);
      assert.deepEqual(found(client.stdout), EXPECTED);
    } finally {
      if (server.pid !== undefined) process.kill(-server.pid, 'SIGTERM');
      await server;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
