/**
 * The image list of a Kubernetes version, from the real kubeadm: our rendered init configuration (the one a
 * first control plane is created with) goes to `kubeadm config images list --config <file> -o json`, so the list
 * is exactly what `kubeadm init` would pull.
 */
import { ExternalCommandError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { renderKubeadmConfig } from '../kubeadm/render.ts';
import { planNode } from '../u7s/node-config.ts';
import { MAX_IMAGES_OUTPUT, parseImagesList, parseKubernetesVersion } from './plan-images.ts';

/** A documentation address (RFC 5737): kubeadm wants one to render, the image list does not depend on it. */
const LIST_ADVERTISE_ADDRESS = '192.0.2.10';
const KUBEADM_TIMEOUT_MS = 60_000;

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('\n').slice(0, 2000);
}

/**
 * `kubeadm version -o short` of the real kubeadm.
 * @throws ExternalCommandError `K8S_KUBEADM_FAILED`; UsageError `K8S_BAD_VERSION`
 */
export async function readKubeadmVersion(sys: System, kubeadm: string): Promise<string> {
  const r = await sys.proc.run(kubeadm, ['version', '-o', 'short'], {
    timeoutMs: KUBEADM_TIMEOUT_MS,
  });
  if (r.exitCode !== 0)
    throw new ExternalCommandError('K8S_KUBEADM_FAILED', `${kubeadm} version failed`, {
      details: { kubeadm, reason: lastLines(r.stderr) || `exit code ${r.exitCode}` },
    });
  return parseKubernetesVersion(r.stdout.slice(0, 256));
}

/** Options of {@link listKubeadmImages}. */
export interface ListKubeadmImagesOptions {
  /** The real kubeadm (never the u7s wrapper). */
  readonly kubeadm: string;
  readonly kubernetesVersion: string;
  /** `<registry>/<platform>`, the rendered `imageRepository`. */
  readonly imageRepository: string;
}

/**
 * The images kubeadm pulls for a first control plane rendered with `o`. The configuration is written 0600 into a
 * private temporary directory and removed afterwards.
 * @throws ExternalCommandError `K8S_IMAGES_LIST_FAILED`; UsageError `K8S_IMAGES_INVALID`, `KUBEADM_BAD_*`
 */
export async function listKubeadmImages(
  sys: System,
  o: ListKubeadmImagesOptions,
): Promise<string[]> {
  const config = renderKubeadmConfig({
    kind: 'init',
    node: planNode({ role: 'initMaster' }),
    kubernetesVersion: o.kubernetesVersion,
    imageRepository: o.imageRepository,
    advertiseAddress: LIST_ADVERTISE_ADDRESS,
    nodeName: 'podsec-k8s-images',
  });
  const dir = await sys.hostFs.makeTempDir('podsec-k8s-images');
  try {
    const file = `${dir}/kubeadm-init.yaml`;
    await sys.hostFs.writeFileAtomic(file, config, { mode: 0o600, backup: false });
    const r = await sys.proc.run(
      o.kubeadm,
      ['config', 'images', 'list', '--config', file, '-o', 'json'],
      { timeoutMs: KUBEADM_TIMEOUT_MS },
    );
    if (r.exitCode !== 0)
      throw new ExternalCommandError(
        'K8S_IMAGES_LIST_FAILED',
        `kubeadm cannot list the images of ${o.kubernetesVersion}`,
        {
          details: {
            version: o.kubernetesVersion,
            reason: lastLines(r.stderr) || `exit code ${r.exitCode}`,
          },
        },
      );
    return parseImagesList(r.stdout.slice(0, MAX_IMAGES_OUTPUT + 1));
  } finally {
    await sys.hostFs.remove(dir, { recursive: true });
  }
}
