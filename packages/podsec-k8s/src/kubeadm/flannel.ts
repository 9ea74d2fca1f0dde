/**
 * Pure rendering of the flannel network add-on of a rootless cluster: our own manifest (the objects flannel's
 * kube-subnet-mgr mode needs), its images from the cluster's registry, and net-conf.json carrying the pod network
 * CIDR the cluster was created with (the original kept flannel's 10.244.0.0/16 whatever --pod-network-cidr said).
 * It is applied with kubectl, never placed among the static pods: kubelet would try to run it as one.
 */
import { UsageError } from '@podsec/core';
import { stringify } from 'yaml';
import { parseCidr } from '../u7s/net.ts';

/** Default flannel release and the CNI plugin image it ships with. */
export const FLANNEL_DEFAULTS = { tag: 'v0.26.7', cniPluginTag: 'v1.6.2-flannel1' } as const;

/** Where the rendered manifest is written (root's, outside /etc/kubernetes/manifests). */
export const FLANNEL_MANIFEST = '/etc/podsec/u7s/manifests/kube-flannel.yml';

/** How long applying the manifest after init may keep trying (the API server may still be settling). */
export const FLANNEL_APPLY_TIMEOUT_MS = 120_000;

/** Pure: the kubectl arguments that apply the rendered manifest with the namespace's admin.conf. */
export function planFlannelApply(): string[] {
  return [
    '--kubeconfig=/etc/kubernetes/admin.conf',
    '--request-timeout=10s',
    'apply',
    '-f',
    FLANNEL_MANIFEST,
  ];
}

/** Inputs of {@link renderFlannelManifest}. */
export interface FlannelInput {
  /** Registry host (with port), e.g. `registry.local`, or `docker.io`. */
  readonly registry: string;
  /** Path below the registry, e.g. `c10f` or `flannel`; empty: images directly under the registry. */
  readonly platform: string;
  /** @default FLANNEL_DEFAULTS.tag */
  readonly tag?: string;
  /** @default FLANNEL_DEFAULTS.cniPluginTag */
  readonly cniPluginTag?: string;
  readonly podNetworkCidr: string;
}

const REGISTRY_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;
const PATH_RE = /^[a-z0-9._-]+(\/[a-z0-9._-]+)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function bad(what: string, value: string): never {
  throw new UsageError('U7S_BAD_FLANNEL', `invalid flannel ${what} "${value}"`, {
    details: { what, value },
  });
}

/** Pure: `registry/platform/name:tag`, the platform left out (no `//`) when empty. */
export function flannelImage(
  registry: string,
  platform: string,
  name: 'flannel' | 'flannel-cni-plugin',
  tag: string,
): string {
  return `${[registry, platform, name].filter((x) => x !== '').join('/')}:${tag}`;
}

/** Pure: the flannel registry and platform of a cluster whose kubeadm images come from `imageRepository`. */
export function planFlannelRepository(
  imageRepository: string,
  override?: string,
): { registry: string; platform: string } {
  const repo =
    override ?? (imageRepository === 'registry.k8s.io' ? 'docker.io/flannel' : imageRepository);
  const slash = repo.indexOf('/');
  return slash < 0
    ? { registry: repo, platform: '' }
    : { registry: repo.slice(0, slash), platform: repo.slice(slash + 1) };
}

/** Pure: the multi-document manifest. Throws `U7S_BAD_FLANNEL` / `U7S_BAD_CIDR` before anything is written. */
export function renderFlannelManifest(i: FlannelInput): string {
  const tag = i.tag ?? FLANNEL_DEFAULTS.tag;
  const cniTag = i.cniPluginTag ?? FLANNEL_DEFAULTS.cniPluginTag;
  if (!REGISTRY_RE.test(i.registry)) bad('registry', i.registry);
  if (i.platform !== '' && !PATH_RE.test(i.platform)) bad('platform', i.platform);
  if (!TAG_RE.test(tag)) bad('tag', tag);
  if (!TAG_RE.test(cniTag)) bad('CNI plugin tag', cniTag);
  const network = parseCidr(i.podNetworkCidr, 'pod network CIDR').text;
  const image = flannelImage(i.registry, i.platform, 'flannel', tag);
  const cniImage = flannelImage(i.registry, i.platform, 'flannel-cni-plugin', cniTag);
  const ns = 'kube-flannel';
  const labels = { app: 'flannel', 'k8s-app': 'flannel', tier: 'node' };
  const cniConf = {
    name: 'cbr0',
    cniVersion: '0.4.0',
    plugins: [
      { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  const netConf = { Network: network, EnableNFTables: false, Backend: { Type: 'vxlan' } };
  const hostPath = (name: string, path: string, type?: string) => ({
    name,
    hostPath: { path, ...(type ? { type } : {}) },
  });
  const docs = [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: ns,
        labels: { 'k8s-app': 'flannel', 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'flannel', labels: { 'k8s-app': 'flannel' } },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'flannel', labels: { 'k8s-app': 'flannel' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flannel' },
      subjects: [{ kind: 'ServiceAccount', name: 'flannel', namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'flannel', namespace: ns, labels: { 'k8s-app': 'flannel' } },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kube-flannel-cfg', namespace: ns, labels },
      data: {
        'cni-conf.json': `${JSON.stringify(cniConf, null, 2)}\n`,
        'net-conf.json': `${JSON.stringify(netConf, null, 2)}\n`,
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'kube-flannel-ds', namespace: ns, labels },
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [
                        { key: 'kubernetes.io/os', operator: 'In', values: ['linux'] },
                      ],
                    },
                  ],
                },
              },
            },
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
            serviceAccountName: 'flannel',
            initContainers: [
              {
                name: 'install-cni-plugin',
                image: cniImage,
                command: ['cp'],
                args: ['-f', '/flannel', '/opt/cni/bin/flannel'],
                volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }],
              },
              {
                name: 'install-cni',
                image,
                command: ['cp'],
                args: [
                  '-f',
                  '/etc/kube-flannel/cni-conf.json',
                  '/etc/cni/net.d/10-flannel.conflist',
                ],
                volumeMounts: [
                  { name: 'cni', mountPath: '/etc/cni/net.d' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                ],
              },
            ],
            containers: [
              {
                name: 'kube-flannel',
                image,
                command: ['/opt/bin/flanneld'],
                args: ['--ip-masq', '--kube-subnet-mgr'],
                resources: { requests: { cpu: '100m', memory: '50Mi' } },
                securityContext: {
                  privileged: false,
                  capabilities: { add: ['NET_ADMIN', 'NET_RAW'] },
                },
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  {
                    name: 'POD_NAMESPACE',
                    valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                  },
                  { name: 'EVENT_QUEUE_DEPTH', value: '5000' },
                ],
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
            ],
            volumes: [
              hostPath('run', '/run/flannel'),
              hostPath('cni-plugin', '/opt/cni/bin'),
              hostPath('cni', '/etc/cni/net.d'),
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            ],
          },
        },
      },
    },
  ];
  return docs
    .map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
}
