/**
 * trivy (built from github.com/aquasecurity/trivy by tools/k8s-bin/build) scans a small Debian 12 image archive
 * against the tiny offline database of tools/trivy-db/fixture.json (standalone; the client/server run is not
 * in this test yet: the scan against `trivy server` did not finish here). It must report exactly the fixture's CVEs whose fixed version is newer than the installed one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { buildTrivyTestImage, makeTrivyCache, requireCommands } from '@podsec/test-utils';

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
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
