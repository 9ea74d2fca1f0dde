/** Configuration of the CRI inside the u7s namespace: CRI-O (the default) or containerd (pure). */
import { userPaths } from '../paths.ts';

/** Inputs of {@link renderCrioConf} and {@link renderContainerdConf}. */
export interface CriConfigInput {
  readonly uid: number;
  readonly home: string;
  /** Full pause image reference, e.g. `registry.local/c10f/pause:3.10`. */
  readonly pauseImage: string;
  /** Registries CRI-O may reach without TLS verification (fix: none unless configured). @default [] */
  readonly insecureRegistries?: readonly string[];
  /** @default '/usr/bin/crun' */
  readonly runtimePath?: string;
  /** @default '/usr/bin/conmon' */
  readonly conmon?: string;
}

/** A TOML basic string (JSON string escapes are valid TOML for the characters we emit). */
const q = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`;

/** Pure: `crio.conf` of the namespace: the user's storage and runtime dirs, cgroupfs, crun, the podsec policy. */
export function renderCrioConf(i: CriConfigInput): string {
  const p = userPaths(i.uid, i.home);
  const run = `${p.runtime}/usernetes`;
  return [
    '# CRI-O inside the u7s namespace (rendered by podsec-u7s-kubeadm)',
    '[crio]',
    `runroot = ${q(`${run}/containers/storage`)}`,
    `root = ${q(`${p.usernetesData}/containers/storage`)}`,
    `version_file = ${q(`${run}/crio/version`)}`,
    `storage_driver = "overlay"`,
    '',
    '[crio.api]',
    `listen = ${q(p.crioSocket)}`,
    '',
    '[crio.image]',
    `signature_policy = "/etc/containers/policy.json"`,
    `pause_image = ${q(i.pauseImage)}`,
    `insecure_registries = ${list(i.insecureRegistries ?? [])}`,
    '',
    '[crio.runtime]',
    `conmon = ${q(i.conmon ?? '/usr/bin/conmon')}`,
    `conmon_cgroup = "pod"`,
    `hooks_dir = ${list([`${p.usernetesData}/containers/oci/hooks.d`])}`,
    `container_exits_dir = ${q(`${run}/crio/exits`)}`,
    `container_attach_socket_dir = ${q(`${run}/crio`)}`,
    `namespaces_dir = ${q(`${run}/crio/ns`)}`,
    `cgroup_manager = "cgroupfs"`,
    `default_runtime = "crun"`,
    '',
    '[crio.runtime.runtimes.crun]',
    `runtime_path = ${q(i.runtimePath ?? '/usr/bin/crun')}`,
    `runtime_root = ${q(`${p.runtime}/crio/crun`)}`,
    '',
    '[crio.network]',
    `network_dir = "/etc/cni/net.d/"`,
    `plugin_dirs = ["/opt/cni/bin/"]`,
    '',
  ].join('\n');
}

/** Pure: containerd `config.toml` (version 2) for the same layout, for nodes that use containerd. */
export function renderContainerdConf(i: CriConfigInput): string {
  const p = userPaths(i.uid, i.home);
  const run = `${p.runtime}/usernetes`;
  return [
    '# containerd inside the u7s namespace (rendered by podsec-u7s-kubeadm)',
    'version = 2',
    `root = ${q(`${p.usernetesData}/containerd`)}`,
    `state = ${q(`${run}/containerd`)}`,
    '',
    '[grpc]',
    `address = ${q(`${run}/containerd/containerd.sock`)}`,
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    `sandbox_image = ${q(i.pauseImage)}`,
    'disable_apparmor = true',
    'restrict_oom_score_adj = true',
    '',
    '[plugins."io.containerd.grpc.v1.cri".containerd]',
    'snapshotter = "overlayfs"',
    'default_runtime_name = "crun"',
    '',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun]',
    'runtime_type = "io.containerd.runc.v2"',
    '',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]',
    `BinaryName = ${q(i.runtimePath ?? '/usr/bin/crun')}`,
    'SystemdCgroup = false',
    '',
    '[plugins."io.containerd.grpc.v1.cri".cni]',
    'bin_dir = "/opt/cni/bin"',
    'conf_dir = "/etc/cni/net.d"',
    '',
  ].join('\n');
}
