/**
 * podsec-k8s-save-oci: the images the real kubeadm names for a version, copied per architecture into the
 * signed-archive format of podsec-load-sign-oci by podsec's own save code. Sources: a registry (docker://, the
 * original's way), any other transport, or images built here FROM scratch from static binaries (`buildFrom`).
 * Fixed from the original: architecture lists, the platform argument applied to every name, no Kubernetes packages
 * installed, no local image removed, absolute storage paths.
 */
import { UsageError, type Architecture } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { createArchiveHost, getPlatform, planSaveOci, saveOci, type SaveOciResult } from 'podsec';
import {
  buildImages,
  checkBuildBinaries,
  planImageBuild,
  storageTransport,
  type BuiltImage,
} from './build-images.ts';
import { listKubeadmImages, readKubeadmVersion } from './list-images.ts';
import {
  checkPlatform,
  parseKubernetesVersion,
  planK8sImages,
  type K8sImage,
} from './plan-images.ts';

/** The registry the original archives from. */
export const K8S_SOURCE_REGISTRY = 'registry.altlinux.org';

/** Options of {@link saveK8sImages}. */
export interface SaveK8sOptions {
  readonly dir: string;
  readonly archs: readonly Architecture[];
  /** @default U7S_PLATFORM, else this system's platform */
  readonly platform?: string | undefined;
  /** @default U7S_KUBEVERSION, else the version of `kubeadm` */
  readonly kubernetesVersion?: string | undefined;
  /** The real kubeadm. @default 'kubeadm' (PATH) */
  readonly kubeadm?: string | undefined;
  /** Source registry. @default U7S_ALTREGISTRY, else registry.altlinux.org */
  readonly registry?: string | undefined;
  /** Source transport. @default docker:// */
  readonly transport?: string | undefined;
  /** Build the images from the static binaries in this directory instead of copying them. */
  readonly buildFrom?: string | undefined;
  /** Extra images (`<platform>/<name>:<tag>`) to archive beside kubeadm's, e.g. flannel. */
  readonly extraImages?: readonly string[];
  readonly srcTlsVerify?: boolean | undefined;
  readonly tmpDir?: string | undefined;
  /** xz preset. @default 9 */
  readonly level?: number | undefined;
  readonly onProgress?: (p: SaveK8sProgress) => void;
}

/** Progress of {@link saveK8sImages}. */
export type SaveK8sProgress =
  | { readonly kind: 'listed'; readonly version: string; readonly count: number }
  | { readonly kind: 'built'; readonly n: number; readonly total: number; readonly image: string }
  | {
      readonly kind: 'copied';
      readonly arch: string;
      readonly n: number;
      readonly total: number;
      readonly source: string;
    }
  | { readonly kind: 'archive'; readonly arch: string; readonly file: string };

/** Result of {@link saveK8sImages}. */
export interface SaveK8sResult extends SaveOciResult {
  readonly kubernetesVersion: string;
  readonly platform: string;
  readonly images: readonly K8sImage[];
  /** Images built FROM scratch (with `buildFrom`). */
  readonly built: readonly BuiltImage[];
}

/**
 * List, optionally build, and save the images of a Kubernetes version.
 * @throws UsageError `PLATFORM_UNKNOWN`, `K8S_BAD_VERSION`, `K8S_BUILD_ARCH`, `K8S_IMAGES_*`, `SAVE_*`;
 * ExternalCommandError `K8S_KUBEADM_FAILED`, `K8S_IMAGES_LIST_FAILED`, `K8S_IMAGE_BUILD_FAILED`, `SAVE_COPY_FAILED`
 */
export async function saveK8sImages(sys: System, o: SaveK8sOptions): Promise<SaveK8sResult> {
  const kubeadm = o.kubeadm ?? 'kubeadm';
  // the platform however it was found (argument, U7S_PLATFORM, os-release) is checked the same way
  const platform = checkPlatform(o.platform ?? (await getPlatform(sys)).platform);
  const registry = o.registry ?? (sys.env['U7S_ALTREGISTRY'] || K8S_SOURCE_REGISTRY);
  const fromEnv = sys.env['U7S_KUBEVERSION'];
  const version =
    o.kubernetesVersion !== undefined
      ? parseKubernetesVersion(o.kubernetesVersion)
      : fromEnv
        ? parseKubernetesVersion(fromEnv)
        : await readKubeadmVersion(sys, kubeadm);
  if (o.buildFrom !== undefined && o.archs.length !== 1)
    throw new UsageError(
      'K8S_BUILD_ARCH',
      "images built from binaries have the binaries' one architecture: name exactly one",
      { details: { archs: o.archs.join(',') } },
    );
  const listed = await listKubeadmImages(sys, {
    kubeadm,
    kubernetesVersion: version,
    imageRepository: `${registry}/${platform}`,
  });
  const images = planK8sImages({ images: listed, registry, platform, kubernetesVersion: version });
  o.onProgress?.({ kind: 'listed', version, count: images.length });
  const steps =
    o.buildFrom === undefined ? [] : planImageBuild(images, { binDir: o.buildFrom, registry });
  if (steps.length > 0) await checkBuildBinaries(sys, steps);
  // every check before the first change: the output directory is refused before minutes of building
  const host = createArchiveHost(sys.env);
  if ((await host.kind(host.resolve(o.dir))) !== undefined)
    throw new UsageError('SAVE_DIR_EXISTS', `OCI catalog ${o.dir} already exists`, {
      details: { dir: o.dir },
    });
  const tmpParent = host.resolve(o.tmpDir ?? sys.env['TMPDIR'] ?? '/var/tmp');
  // the storage is named inside a containers-storage:[vfs@<root>+<runroot>] reference
  if (steps.length > 0 && /[:+[\]]/.test(tmpParent))
    throw new UsageError(
      'K8S_BAD_TMPDIR',
      `temporary directory ${tmpParent} must not contain ":", "+", "[" or "]"`,
      { details: { dir: tmpParent } },
    );
  const storageDir =
    steps.length > 0 && !sys.dryRun
      ? await host.makeTempDir(tmpParent, 'podsec-k8s-build')
      : undefined;
  const storage =
    storageDir === undefined
      ? { root: `${tmpParent}/<build>/root`, runroot: `${tmpParent}/<build>/runroot` }
      : { root: `${storageDir}/root`, runroot: `${storageDir}/runroot` };
  try {
    const plan = planSaveOci({
      args: [
        o.dir,
        o.archs.join(','),
        ...images.map((i) => i.archiveRef),
        ...(o.extraImages ?? []),
      ],
      transport: steps.length > 0 ? storageTransport(storage) : o.transport,
      registry,
      env: sys.env,
      srcTlsVerify: steps.length > 0 ? undefined : o.srcTlsVerify,
    });
    let built: BuiltImage[] = [];
    if (storageDir !== undefined) {
      built = await buildImages(sys, steps, {
        storage,
        arch: o.archs[0] as Architecture,
        onProgress: (p) => o.onProgress?.({ kind: 'built', ...p }),
      });
    }
    const saved = await saveOci(sys, host, plan, {
      tmpDir: o.tmpDir,
      ...(o.level !== undefined ? { level: o.level } : {}),
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
    return { ...saved, kubernetesVersion: version, platform, images, built };
  } finally {
    if (storageDir !== undefined) await host.removeTree(storageDir);
  }
}
