/**
 * Images of the Kubernetes components built FROM scratch from static binaries with buildah: one layer with the
 * program at the path the upstream image has it, the entrypoint, the architecture and labels naming where the
 * binary came from. buildah works in a private storage (vfs under a temporary directory), never in the host's.
 */
import { ExternalCommandError, NotFoundError, UsageError, type Architecture } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { K8S_COMPONENTS, type K8sComponent, type K8sImage } from './plan-images.ts';

/** A buildah storage of its own: `--root`, `--runroot`, driver vfs. */
export interface ImageStorage {
  readonly root: string;
  readonly runroot: string;
}

/** One image to build. */
export interface ImageBuildStep {
  readonly component: K8sComponent;
  /** Name in the private storage, e.g. `registry.altlinux.org/p11/kube-apiserver:v1.37.2`. */
  readonly image: string;
  /** Host path of the static binary. */
  readonly binary: string;
  /** Where it goes in the image. */
  readonly path: string;
  readonly user?: string;
}

/** The transport prefix skopeo reads a {@link ImageStorage} with. */
export function storageTransport(s: ImageStorage): string {
  return `containers-storage:[vfs@${s.root}+${s.runroot}]`;
}

/** Pure: one build step per image, the binary named after its component in `binDir`. */
export function planImageBuild(
  images: readonly K8sImage[],
  o: { readonly binDir: string; readonly registry: string },
): ImageBuildStep[] {
  const dir = o.binDir.replace(/\/+$/, '');
  return images.map((img) => {
    const c: { readonly path: string; readonly user?: string } = K8S_COMPONENTS[img.component];
    return {
      component: img.component,
      image: `${o.registry}/${img.archiveRef}`,
      binary: `${dir}/${img.component}`,
      path: c.path,
      ...(c.user !== undefined ? { user: c.user } : {}),
    };
  });
}

/**
 * Every binary of the plan is a regular executable file (checked before the first buildah call).
 * @throws NotFoundError `K8S_BUILD_BINARY_MISSING`; UsageError `K8S_BUILD_BINARY_INVALID`
 */
export async function checkBuildBinaries(
  sys: System,
  steps: readonly ImageBuildStep[],
): Promise<void> {
  for (const s of steps) {
    const st = await sys.hostFs.stat(s.binary);
    // a symlink (tools/k8s-bin layouts, /usr/bin alternatives) is fine: buildah copies what it points to
    const real =
      st?.kind === 'symlink' ? await sys.hostFs.stat(await sys.hostFs.resolve(s.binary)) : st;
    if (real === undefined)
      throw new NotFoundError('K8S_BUILD_BINARY_MISSING', `${s.binary} does not exist`, {
        details: { binary: s.binary, component: s.component },
      });
    if (real.kind !== 'file' || (real.mode & 0o111) === 0)
      throw new UsageError('K8S_BUILD_BINARY_INVALID', `${s.binary} is not an executable file`, {
        details: { binary: s.binary },
      });
  }
}

/** Result of one built image. */
export interface BuiltImage {
  readonly component: K8sComponent;
  readonly image: string;
  /** buildah's image id. */
  readonly id: string;
}

/** Options of {@link buildImages}. */
export interface BuildImagesOptions {
  readonly storage: ImageStorage;
  readonly arch: Architecture;
  /** Creation time of every image (reproducible digests). @default 0 (the epoch) */
  readonly timestamp?: number;
  readonly onProgress?: (p: { n: number; total: number; image: string }) => void;
}

/**
 * Build each step's image with buildah (argument arrays, private vfs storage, chroot isolation; nothing runs).
 * @throws ExternalCommandError `K8S_IMAGE_BUILD_FAILED` (at the first failing step)
 */
export async function buildImages(
  sys: System,
  steps: readonly ImageBuildStep[],
  o: BuildImagesOptions,
): Promise<BuiltImage[]> {
  const base = [
    '--root',
    o.storage.root,
    '--runroot',
    o.storage.runroot,
    '--storage-driver',
    'vfs',
  ];
  const env = { BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' };
  const built: BuiltImage[] = [];
  for (const [i, s] of steps.entries()) {
    const buildah = async (args: readonly string[]): Promise<string> => {
      const r = await sys.proc.run('buildah', [...base, ...args], { env, timeoutMs: 600_000 });
      if (r.exitCode !== 0) {
        const reason =
          r.stderr.trim().split('\n').slice(-3).join('\n').slice(0, 2000) ||
          `buildah ${args[0] ?? ''} exit code ${r.exitCode}`;
        throw new ExternalCommandError(
          'K8S_IMAGE_BUILD_FAILED',
          `building ${s.image} failed: ${reason}`,
          {
            details: { image: s.image, reason },
          },
        );
      }
      return r.stdout.trim();
    };
    // a failed step leaves its container in the private storage, which the caller removes as a whole
    const container = await buildah(['from', '--quiet', 'scratch']);
    await buildah(['copy', '--quiet', '--chown', '0:0', container, s.binary, s.path]);
    await buildah([
      'config',
      '--os',
      'linux',
      '--arch',
      o.arch,
      '--entrypoint',
      JSON.stringify([s.path]),
      '--env',
      'PATH=/usr/local/bin:/usr/bin:/bin',
      ...(s.user !== undefined ? ['--user', s.user] : []),
      '--label',
      `org.opencontainers.image.title=${s.component}`,
      '--label',
      'org.opencontainers.image.vendor=podsec-k8s (built FROM scratch from a static binary)',
      container,
    ]);
    const id = await buildah([
      'commit',
      '--quiet',
      '--rm',
      '--format',
      'oci',
      '--omit-history',
      '--identity-label=false',
      '--timestamp',
      String(o.timestamp ?? 0),
      container,
      s.image,
    ]);
    built.push({ component: s.component, image: s.image, id });
    o.onProgress?.({ n: i + 1, total: steps.length, image: s.image });
  }
  return built;
}
