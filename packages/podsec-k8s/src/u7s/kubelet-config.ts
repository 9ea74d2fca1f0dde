/**
 * The per-node patch of the kubelet configuration kubeadm writes to /var/lib/kubelet/config.yaml inside the
 * namespace: on a join that file comes from the cluster's rootful-oriented `kubelet-config` ConfigMap (systemd
 * cgroup driver, no user-namespace gate), so every rootless node sets its own values over it. Unlike the
 * original, `featureGates` is merged, not replaced: a gate the cluster enables stays enabled.
 */
import { PodsecError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import type { NamespaceUser } from '@podsec/core/userns';
import { isMap, parseDocument } from 'yaml';
import { rootlessKubeletSettings } from '../kubeadm/render.ts';
import { userPaths } from '../paths.ts';

/** Largest kubelet configuration read (kubeadm's is a few KiB). */
const MAX_BYTES = 1 << 20;

function badConfig(path: string, why: string): never {
  throw new PodsecError('U7S_BAD_KUBELET_CONFIG', `${path}: ${why}`, { details: { path, why } });
}

/**
 * Pure: `text` (a KubeletConfiguration) with the rootless settings of a kubelet in a user namespace set over it;
 * every other key, and every other feature gate, kept. Applying it to its own output changes nothing.
 * Throws `U7S_BAD_KUBELET_CONFIG` for anything that is not one KubeletConfiguration mapping.
 */
export function patchKubeletConfig(
  text: string,
  home: string,
  path = '/var/lib/kubelet/config.yaml',
): string {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) badConfig(path, `not YAML (${doc.errors[0]!.message.split('\n')[0]})`);
  if (!isMap(doc.contents)) badConfig(path, 'not a YAML mapping');
  const kind = doc.get('kind');
  if (kind !== undefined && kind !== 'KubeletConfiguration')
    badConfig(path, `kind ${JSON.stringify(kind)}, not KubeletConfiguration`);
  const settings = rootlessKubeletSettings(home);
  const gates = doc.get('featureGates');
  if (gates !== undefined && gates !== null && !isMap(gates))
    badConfig(path, 'featureGates is not a mapping');
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'featureGates') continue;
    doc.set(key, doc.createNode(value));
  }
  if (isMap(gates))
    for (const [gate, on] of Object.entries(settings.featureGates)) gates.set(gate, on);
  else doc.set('featureGates', doc.createNode(settings.featureGates));
  return doc.toString({ lineWidth: 0 });
}

/** Host path of the namespace's /var/lib/kubelet/config.yaml (its /var/lib/kubelet is a bind mount). */
export function kubeletConfigHostPath(user: Pick<NamespaceUser, 'uid' | 'home'>): string {
  return `${userPaths(user.uid, user.home).usernetesData}/_var_lib_kubelet/config.yaml`;
}

/**
 * Patches the namespace's kubelet configuration in u7s-admin's tree. The file is reached through the rooted file
 * system's no-follow walk (a link u7s-admin planted there is refused, never followed) and written back atomically,
 * owned by u7s-admin, without a backup in its tree. Returns whether it changed (with `sys.dryRun`: would change,
 * nothing written); `undefined` when kubeadm wrote none (nothing to patch).
 */
export async function applyKubeletConfigPatch(
  sys: System,
  user: NamespaceUser,
): Promise<{ path: string; changed: boolean } | undefined> {
  const path = kubeletConfigHostPath(user);
  const text = await sys.fs.readTextIfExists(path, { maxBytes: MAX_BYTES });
  if (text === undefined) return undefined;
  const patched = patchKubeletConfig(text, user.home, path);
  if (patched === text) return { path, changed: false };
  if (sys.dryRun) return { path, changed: true };
  const r = await sys.fs.writeFileAtomic(path, patched, {
    mode: 0o644,
    uid: user.uid,
    gid: user.gid,
    backup: false,
  });
  return { path, changed: r.changed };
}
