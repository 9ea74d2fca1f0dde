// The `podsec-u7s-kubeadm init` arguments the wrapper's tests give it: a documentation address (RFC 5737), the
// built Kubernetes release and the local registry of platform c10f.
export const INIT_ARGS: readonly string[] = [
  'init',
  '--apiserver-advertise-address',
  '192.0.2.10',
  '--kubernetes-version',
  'v1.37.2',
  '--image-repository',
  'registry.local/c10f',
];
