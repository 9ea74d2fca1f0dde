/**
 * Tiny test images: built FROM scratch with buildah in isolated storage and pushed to a test registry.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';

/** Accept header for manifests: Docker v2s2, manifest list, OCI manifest and index. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** A pushed test image. */
export interface TinyImage {
  /** `host/repo:tag`. */
  readonly reference: string;
  /** `sha256:…` of the manifest exactly as the registry stores it. */
  readonly digest: string;
  readonly manifest: Uint8Array;
  readonly mediaType: string;
}

/** Options of {@link buildTinyImage}. */
export interface BuildTinyImageOptions {
  /** Content of the single file `/hello.txt`. @default a random UUID (so every call yields a new digest) */
  readonly contents?: string;
  /** `oci` or `docker` manifest format. @default 'oci' */
  readonly format?: 'oci' | 'docker';
}

/** A manifest fetched from the registry API. */
export interface FetchedManifest {
  readonly manifest: Uint8Array;
  readonly mediaType: string;
  /** Digest computed over the body (the registry's `Docker-Content-Digest` is checked against it). */
  readonly digest: string;
}

/** GET `/v2/<repo>/manifests/<tagOrDigest>` with v2s2 and OCI media types accepted. */
export async function fetchManifest(
  registryHost: string,
  repo: string,
  tagOrDigest: string,
): Promise<FetchedManifest> {
  const res = await fetch(`http://${registryHost}/v2/${repo}/manifests/${tagOrDigest}`, {
    headers: { Accept: MANIFEST_ACCEPT },
  });
  if (!res.ok)
    throw new Error(`GET manifest ${repo}:${tagOrDigest}: HTTP ${res.status} ${await res.text()}`);
  const manifest = new Uint8Array(await res.arrayBuffer());
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  const header = res.headers.get('docker-content-digest');
  if (header !== null && header !== digest)
    throw new Error(`registry digest ${header} differs from body digest ${digest}`);
  return {
    manifest,
    digest,
    mediaType: (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '',
  };
}

/** A private buildah (vfs storage in a temp dir, chroot isolation) for building test images. */
export interface ScratchBuildah {
  /** The temp directory (removed after `fn`): room for the files to copy in. */
  readonly work: string;
  /** Runs `buildah <storage options> ...args`. */
  run(args: readonly string[]): Promise<string>;
  /** `buildah from scratch`, then the files copied in, then `commit` as `localhost/<name>-<uuid>:latest`. */
  fromScratch(
    name: string,
    steps: (id: string) => Promise<void>,
    format: 'oci' | 'docker',
  ): Promise<string>;
}

/** Runs `fn` with a private buildah whose storage is removed afterwards. */
export async function withScratchBuildah<T>(
  prefix: string,
  fn: (b: ScratchBuildah) => Promise<T>,
): Promise<T> {
  const work = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
  const storage = [
    '--root',
    path.join(work, 'root'),
    '--runroot',
    path.join(work, 'runroot'),
    '--storage-driver',
    'vfs',
  ];
  const env = { BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' };
  const run = async (args: readonly string[]) =>
    (await execa('buildah', [...storage, ...args], { env })).stdout;
  try {
    return await fn({
      work,
      run,
      async fromScratch(name, steps, format) {
        const id = (await run(['from', 'scratch'])).trim();
        await steps(id);
        const local = `localhost/${name}-${randomUUID()}:latest`;
        await run(['commit', '--format', format, id, local]);
        return local;
      },
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Build an image FROM scratch holding one small file with buildah (vfs storage in a temp dir),
 * push it to `registryHost/repo:tag` without TLS, and return its reference and manifest digest.
 */
export async function buildTinyImage(
  registryHost: string,
  repo: string,
  tag: string,
  options: BuildTinyImageOptions = {},
): Promise<TinyImage> {
  return withScratchBuildah('podsec-image', async (b) => {
    const file = path.join(b.work, 'hello.txt');
    await writeFile(file, options.contents ?? `podsec test image ${randomUUID()}\n`);
    const local = await b.fromScratch(
      'podsec-test',
      async (id) => {
        await b.run(['copy', id, file, '/hello.txt']);
        await b.run(['config', '--cmd', '/hello.txt', id]);
      },
      options.format ?? 'oci',
    );
    const reference = `${registryHost}/${repo}:${tag}`;
    await b.run(['push', '--tls-verify=false', local, `docker://${reference}`]);
    const fetched = await fetchManifest(registryHost, repo, tag);
    return {
      reference,
      digest: fetched.digest,
      manifest: fetched.manifest,
      mediaType: fetched.mediaType,
    };
  });
}

/** Options of {@link writeOciArchive}. */
export interface OciArchiveOptions {
  /** `org.opencontainers.image.ref.name` of the one image. */
  readonly ref: string;
  /** Contents of its one gzip layer; none when absent. */
  readonly layer?: string;
}

/**
 * `<dir>/amd64.tar.xz` as podsec-save-oci writes it (index.json first): an OCI layout under `amd64/` holding one
 * image manifest named `o.ref`, with a config and at most one gzip layer. The layout stays in `<dir>/layout`.
 * Returns the archive's path and the manifest's digest.
 */
export async function writeOciArchive(
  dir: string,
  o: OciArchiveOptions,
): Promise<{ archive: string; digest: string }> {
  const layout = path.join(dir, 'layout', 'amd64');
  const blobs = path.join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(path.join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers =
    o.layer === undefined
      ? []
      : [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            ...(await blob(gzipSync(Buffer.from(o.layer)))),
          },
        ];
  const config = await blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    ),
  );
  const manifest = await blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      }),
    ),
  );
  await writeFile(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': o.ref },
        },
      ],
    }),
  );
  await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const archive = path.join(dir, 'amd64.tar.xz');
  await execa('tar', [
    ...['-C', path.dirname(layout), '-cJf', archive],
    ...['amd64/index.json', 'amd64/oci-layout', 'amd64/blobs'],
  ]);
  return { archive, digest: manifest.digest };
}
