/**
 * Offline trivy for tests: a tiny vulnerability database written by tools/trivy-db (podsec-trivy-db, built by
 * tools/k8s-bin/build) from tools/trivy-db/fixture.json, and a small Debian 12 image (os-release + dpkg status of the
 * fixture's packages, built FROM scratch with buildah) saved as a docker-archive. No registry, no download.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { withScratchBuildah } from './image.ts';
import { k8sBinary, k8sBinDir } from './requires.ts';

const fixturePath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../tools/trivy-db/fixture.json',
);

/** One installed Debian package of the test image. */
export interface TrivyFixturePackage {
  readonly name: string;
  readonly source?: string;
  readonly version: string;
  readonly architecture: string;
}

/** One advisory of the fixture database. */
export interface TrivyFixtureAdvisory {
  readonly platform: string;
  readonly package: string;
  readonly vulnerabilityID: string;
  readonly fixedVersion: string;
  readonly severity: string;
}

/** tools/trivy-db/fixture.json. */
export interface TrivyFixture {
  readonly image: {
    readonly osRelease: string;
    readonly debianVersion: string;
    readonly packages: readonly TrivyFixturePackage[];
  };
  readonly advisories: readonly TrivyFixtureAdvisory[];
}

/** The committed fixture (database advisories and the test image's packages). */
export async function trivyFixture(): Promise<TrivyFixture> {
  return JSON.parse(await readFile(fixturePath, 'utf8')) as TrivyFixture;
}

/** Write the fixture database into `<cacheDir>/db/{trivy.db,metadata.json}`; returns cacheDir. */
export async function makeTrivyCache(cacheDir: string): Promise<string> {
  const writer = k8sBinary('podsec-trivy-db');
  if (writer === undefined) {
    throw new Error(
      `makeTrivyCache: podsec-trivy-db not found in ${k8sBinDir()} (run tools/k8s-bin/build)`,
    );
  }
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  await execa(writer, ['-fixture', fixturePath, '-cache-dir', cacheDir]);
  return cacheDir;
}

function dpkgStatus(packages: readonly TrivyFixturePackage[]): string {
  return packages
    .map((p) =>
      [
        `Package: ${p.name}`,
        'Status: install ok installed',
        'Priority: optional',
        'Section: libs',
        'Installed-Size: 1',
        'Maintainer: podsec test fixture <root@localhost>',
        `Architecture: ${p.architecture}`,
        ...(p.source === undefined ? [] : [`Source: ${p.source}`]),
        `Version: ${p.version}`,
        `Description: ${p.name} (podsec trivy test fixture)`,
        '',
      ].join('\n'),
    )
    .join('\n');
}

/**
 * Build the fixture's Debian 12 image FROM scratch with buildah (vfs storage in a temp dir) and save it as a
 * docker-archive at `archivePath` (for `trivy image --input`).
 */
export async function buildTrivyTestImage(archivePath: string): Promise<string> {
  const fixture = await trivyFixture();
  return withScratchBuildah('podsec-trivy-image', async (b) => {
    const rootfs = path.join(b.work, 'rootfs');
    await mkdir(path.join(rootfs, 'etc'), { recursive: true });
    await mkdir(path.join(rootfs, 'var/lib/dpkg'), { recursive: true });
    await writeFile(path.join(rootfs, 'etc/os-release'), fixture.image.osRelease);
    await writeFile(path.join(rootfs, 'etc/debian_version'), fixture.image.debianVersion);
    await writeFile(path.join(rootfs, 'var/lib/dpkg/status'), dpkgStatus(fixture.image.packages));
    const local = await b.fromScratch(
      'podsec-trivy-test',
      async (id) => {
        await b.run(['copy', id, `${rootfs}/`, '/']);
      },
      'docker',
    );
    await rm(archivePath, { force: true });
    await b.run(['push', local, `docker-archive:${archivePath}:podsec/trivy-test:1`]);
    return archivePath;
  });
}
