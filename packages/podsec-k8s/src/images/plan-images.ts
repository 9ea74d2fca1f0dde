/**
 * Pure planning of the Kubernetes images of a node: the list the real kubeadm prints for our
 * rendered configuration, checked against the components a control plane needs, and the names the images carry
 * in the archive (`<platform>/<name>:<tag>`, without the registry host).
 */
import { ARCHITECTURES, isArchitecture, UsageError, type Architecture } from '@podsec/core';

/** The images kubeadm pulls for a control-plane node, and where each one's program lives in its image. */
export const K8S_COMPONENTS = {
  'kube-apiserver': { path: '/usr/local/bin/kube-apiserver' },
  'kube-controller-manager': { path: '/usr/local/bin/kube-controller-manager' },
  'kube-scheduler': { path: '/usr/local/bin/kube-scheduler' },
  'kube-proxy': { path: '/usr/local/bin/kube-proxy' },
  coredns: { path: '/coredns' },
  pause: { path: '/pause', user: '65535:65535' },
  etcd: { path: '/usr/local/bin/etcd' },
} as const satisfies Record<string, { readonly path: string; readonly user?: string }>;

/** One of {@link K8S_COMPONENTS}. */
export type K8sComponent = keyof typeof K8S_COMPONENTS;

/** Largest `kubeadm config images list -o json` output accepted. */
export const MAX_IMAGES_OUTPUT = 64 * 1024;
const MAX_IMAGES = 64;
const MAX_REF = 255;
const REF_RE =
  /^[a-z0-9][a-z0-9.-]*(:\d{1,5})?(\/[a-z0-9][a-z0-9._-]*)+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const VERSION_RE = /^v?(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const PLATFORM_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function invalid(reason: string): never {
  throw new UsageError('K8S_IMAGES_INVALID', `kubeadm printed an unusable image list: ${reason}`, {
    details: { reason },
  });
}

/**
 * Parse the output of `kubeadm config images list -o json` (bounded: size, count and shape of every entry).
 * @throws UsageError `K8S_IMAGES_INVALID`
 */
export function parseImagesList(text: string): string[] {
  if (text.length > MAX_IMAGES_OUTPUT) invalid(`more than ${MAX_IMAGES_OUTPUT} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    invalid('not JSON');
  }
  const images = (doc as { kind?: unknown; images?: unknown } | null)?.images;
  if ((doc as { kind?: unknown } | null)?.kind !== 'Images' || !Array.isArray(images))
    invalid('no "images" list of kind Images');
  if (images.length === 0) invalid('no image');
  if (images.length > MAX_IMAGES) invalid(`more than ${MAX_IMAGES} images`);
  return images.map((i: unknown) => {
    if (typeof i !== 'string' || i.length > MAX_REF || !REF_RE.test(i))
      invalid(`bad reference ${JSON.stringify(i).slice(0, 80)}`);
    return i;
  });
}

/** One image of the version, named three ways. */
export interface K8sImage {
  readonly component: K8sComponent;
  /** As kubeadm names it: `<registry>/<platform>/<name>:<tag>`. */
  readonly reference: string;
  /** In the archive (`org.opencontainers.image.ref.name`): `<platform>/<name>:<tag>`. */
  readonly archiveRef: string;
  readonly tag: string;
}

/** Inputs of {@link planK8sImages}. */
export interface PlanK8sImagesInput {
  /** kubeadm's list (see {@link parseImagesList}). */
  readonly images: readonly string[];
  /** The registry host the list was made for, e.g. `registry.altlinux.org`. */
  readonly registry: string;
  readonly platform: string;
  /** `v1.37.2` or `1.37.2`: every kube-* image must carry exactly this tag. */
  readonly kubernetesVersion: string;
}

/**
 * Check kubeadm's list against what a control-plane node needs (each component exactly once, under
 * `<registry>/<platform>/`, kube-* tagged with the version) and name each image in the archive.
 * @throws UsageError `K8S_IMAGES_UNEXPECTED`
 */
export function planK8sImages(i: PlanK8sImagesInput): K8sImage[] {
  const prefix = `${i.registry}/${i.platform}/`;
  const version = `v${i.kubernetesVersion.replace(/^v/, '')}`;
  const unexpected = (reference: string, reason: string): never => {
    throw new UsageError('K8S_IMAGES_UNEXPECTED', `unexpected image ${reference}: ${reason}`, {
      details: { reference, reason },
    });
  };
  const seen = new Set<string>();
  const out = i.images.map((reference): K8sImage => {
    if (!reference.startsWith(prefix)) unexpected(reference, `not under ${prefix}`);
    const rest = reference.slice(prefix.length);
    const colon = rest.lastIndexOf(':');
    const name = rest.slice(0, colon);
    const tag = rest.slice(colon + 1);
    if (!Object.hasOwn(K8S_COMPONENTS, name)) unexpected(reference, 'not a known component');
    const component = name as K8sComponent;
    if (seen.has(component)) unexpected(reference, 'listed twice');
    seen.add(component);
    if (component.startsWith('kube-') && tag !== version)
      unexpected(reference, `tag is not ${version}`);
    return { component, reference, archiveRef: `${i.platform}/${rest}`, tag };
  });
  const missing = Object.keys(K8S_COMPONENTS).filter((c) => !seen.has(c));
  if (missing.length > 0)
    throw new UsageError('K8S_IMAGES_INCOMPLETE', `kubeadm lists no ${missing.join(', ')} image`, {
      details: { missing: missing.join(', ') },
    });
  return out;
}

/** Validated positional arguments of podsec-k8s-save-oci. */
export interface SaveK8sArgs {
  readonly dir: string;
  readonly archs: readonly Architecture[];
  /** The platform argument, when given. */
  readonly platform: string | undefined;
}

/**
 * Validate `<dir> <arch>[,<arch>...|all] [<platform>]`: every architecture (the original checked one only and
 * took no list), a platform that names one image path component and has no `k8s-` prefix.
 * @throws UsageError `SAVE_NO_DIR`, `K8S_SAVE_NO_ARCH`, `K8S_SAVE_K8S_PLATFORM`, `K8S_SAVE_BAD_PLATFORM` (exit 1),
 * `SAVE_UNKNOWN_ARCH` (exit 2)
 */
export function planSaveK8sArgs(
  dir: string | undefined,
  archList: string | undefined,
  platform: string | undefined,
): SaveK8sArgs {
  if (dir === undefined || dir === '')
    throw new UsageError('SAVE_NO_DIR', 'Image archiving directory not specified', { details: {} });
  if (archList === undefined || archList === '')
    throw new UsageError('K8S_SAVE_NO_ARCH', 'no architecture specified', { details: {} });
  const archs: Architecture[] = [];
  for (const a of archList === 'all' ? [...ARCHITECTURES] : archList.split(',')) {
    if (!isArchitecture(a))
      throw new UsageError('SAVE_UNKNOWN_ARCH', `unknown architecture ${a}`, {
        details: { arch: a },
      });
    if (!archs.includes(a)) archs.push(a);
  }
  if (platform !== undefined) checkPlatform(platform);
  return { dir, archs, platform };
}

/**
 * A platform that names one image path component and has no `k8s-` prefix.
 * @throws UsageError `K8S_SAVE_K8S_PLATFORM`, `K8S_SAVE_BAD_PLATFORM`
 */
export function checkPlatform(platform: string): string {
  // legacy: the k8s- platforms are gone since 2024-11-11
  if (platform.startsWith('k8s-'))
    throw new UsageError('K8S_SAVE_K8S_PLATFORM', `platform ${platform} has the k8s- prefix`, {
      details: { platform },
    });
  if (!PLATFORM_RE.test(platform))
    throw new UsageError('K8S_SAVE_BAD_PLATFORM', `invalid platform "${platform}"`, {
      details: { platform },
    });
  return platform;
}

/**
 * A Kubernetes version `v1.37.2`, as kubeadm takes it.
 * @throws UsageError `K8S_BAD_VERSION`
 */
export function parseKubernetesVersion(v: string): string {
  const m = VERSION_RE.exec(v.trim());
  if (!m || m[1] !== '1')
    throw new UsageError('K8S_BAD_VERSION', `invalid Kubernetes version "${v}"`, {
      details: { value: v.trim().slice(0, 64) },
    });
  return `v${m[1]}.${m[2]}.${m[3]}`;
}
