import {
  Command,
  requireRoot,
  saveOciOptions,
  sourceTlsVerify,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { ociMessages } from 'podsec';
import { imagesMessages } from '../images/messages.ts';
import { planSaveK8sArgs } from '../images/plan-images.ts';

/**
 * Exit codes of podsec-k8s-save-oci (1 and 2 as the original; 3-6 are new). Everything else exits 1: usage,
 * not root, `<dir>` exists, a `k8s-` platform, unknown platform.
 */
export const exitCodes = {
  SAVE_UNKNOWN_ARCH: 2,
  SAVE_COPY_FAILED: 3,
  OCI_PACK_FAILED: 4,
  K8S_KUBEADM_FAILED: 5,
  K8S_IMAGES_LIST_FAILED: 5,
  K8S_IMAGES_INVALID: 5,
  K8S_IMAGES_UNEXPECTED: 5,
  K8S_IMAGES_INCOMPLETE: 5,
  K8S_IMAGE_BUILD_FAILED: 6,
  K8S_BUILD_BINARY_MISSING: 6,
  K8S_BUILD_BINARY_INVALID: 6,
} as const;

function collect(v: string, all: string[] | undefined): string[] {
  return [...(all ?? []), v];
}

function createProgram(ctx: CliContext) {
  const o = saveOciOptions();
  return new Command('podsec-k8s-save-oci')
    .description(
      'Save the images of a Kubernetes version (exactly the list the real kubeadm prints for the podsec-k8s ' +
        'configuration) per architecture into <dir>/<arch>.tar.xz archives for podsec-load-sign-oci.\n\n' +
        'Exit codes: 0 ok, 1 usage, not root, <dir> exists or platform refused, 2 unknown architecture, ' +
        '3 a copy failed, 4 an archive could not be written, 5 kubeadm gave no usable image list, ' +
        '6 an image could not be built (--build-from).',
    )
    .argument('[dir]', 'output directory (must not exist)')
    .argument(
      '[archs]',
      'architecture (amd64, arm64, arm, ppc64le, 386), a comma-separated list or all',
    )
    .argument(
      '[platform]',
      "image platform, e.g. c10f or p11 (default U7S_PLATFORM or this system's)",
    )
    .option(
      '--kubernetes-version <version>',
      'Kubernetes version, e.g. v1.37.2 (default U7S_KUBEVERSION, else the version of kubeadm)',
    )
    .option('--kubeadm <file>', 'the real kubeadm that lists the images (default kubeadm on PATH)')
    .addOption(o.registry)
    .addOption(o.transport)
    .option(
      '--build-from <dir>',
      'build the images FROM scratch from the static binaries <dir>/<component> (kube-apiserver, ' +
        'kube-controller-manager, kube-scheduler, kube-proxy, etcd, coredns, pause) instead of copying them',
    )
    .option(
      '--extra-image <ref>',
      'archive this image (<platform>/<name>:<tag>) too, e.g. flannel; repeatable',
      collect,
    )
    .addOption(o.tlsVerify)
    .addOption(o.srcTlsVerify)
    .addOption(o.insecure)
    .addOption(o.tmpdir)
    .addOption(o.xzLevel)
    .action(async (dir, archs, platform, opts) => {
      const sys = ctx.system;
      const args = planSaveK8sArgs(dir, archs, platform);
      requireRoot(ctx);
      // kubeadm rendering (yaml) and the save code are loaded once the arguments are valid
      const { saveK8sImages } = await import('../images/save-k8s.ts');
      const result = await saveK8sImages(sys, {
        dir: args.dir,
        archs: args.archs,
        platform: args.platform,
        kubernetesVersion: opts.kubernetesVersion,
        kubeadm: opts.kubeadm,
        registry: opts.registry,
        transport: opts.transport,
        buildFrom: opts.buildFrom,
        extraImages: opts.extraImage ?? [],
        srcTlsVerify: sourceTlsVerify(opts),
        tmpDir: opts.tmpdir,
        level: opts.xzLevel,
        onProgress: (p) =>
          sys.report.progress(
            p.kind === 'listed'
              ? ctx.t('k8s.images.listed', p)
              : p.kind === 'built'
                ? ctx.t('k8s.images.built', p)
                : p.kind === 'copied'
                  ? ctx.t('oci.saveCopy', p)
                  : ctx.t('oci.saveArchive', p),
          ),
      });
      sys.report.result(
        ctx.t(result.dryRun ? 'k8s.images.would' : 'k8s.images.saved', {
          count: result.archives.length,
          images: result.images.length,
          version: result.kubernetesVersion,
          dir: result.dir,
        }),
        result,
      );
    });
}

/** The podsec-k8s-save-oci binary. */
export const cli: CliDefinition = {
  name: 'podsec-k8s-save-oci',
  create: createProgram,
  exitCodes,
  messages: {
    en: { ...ociMessages.en, ...imagesMessages.en },
    ru: { ...ociMessages.ru, ...imagesMessages.ru },
  },
  mutates: true,
};
