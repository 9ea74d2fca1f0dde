/**
 * The child phase of the namespace: a POSIX sh script run by RootlessKit as PID 1's payload, as uid 0
 * inside the namespace. Installed root-owned (u7s-admin can run it, not change it). Every wait is bounded.
 */

/** Text of the child-phase script. */
export const CHILD_SCRIPT_TEXT = `#!/bin/sh
# u7s namespace, child phase (installed by podsec-k8s, root-owned): runs as uid 0 inside the RootlessKit
# namespaces of u7s-admin, prepares them, writes the ready marker and runs the payload.
set -eu
: "\${XDG_RUNTIME_DIR:?}" "\${XDG_DATA_HOME:?}" "\${ROOTLESSKIT_STATE_DIR:?}" "\${U7S_READY_MARKER:?}"
state=$ROOTLESSKIT_STATE_DIR
fail() { echo "u7s child: $*" >&2; exit 1; }
private_dir() { if [ -L "$1" ]; then rm -f "$1"; fi; mkdir -p "$1"; }

mkdir -p "$XDG_RUNTIME_DIR/usernetes"
printf '%s\\n' "\${U7S_PARENT_IP:-}" > "$XDG_RUNTIME_DIR/usernetes/parent_ip"
# copied-up links to the host's runtime state and configuration must not be used in here
for l in /run/xtables.lock /run/netns /run/runc /run/crun /run/flannel /run/containerd /run/containers \\
  /run/crio /etc/containerd /etc/crio; do
  if [ -L "$l" ]; then rm -f "$l"; fi
done
mkdir -p /etc/kubernetes/pki 2>/dev/null || true
mkdir -p /usr/libexec/kubernetes 2>/dev/null || true
if [ -n "\${U7S_CNI_DIR:-}" ] && [ -d "$U7S_CNI_DIR" ]; then
  private_dir /opt/cni
  private_dir /opt/cni/bin
  mount --bind "$U7S_CNI_DIR" /opt/cni/bin
  mount -o remount,bind,ro /opt/cni/bin 2>/dev/null || true
fi
private_dir /run/crio
ln -sfn "$XDG_RUNTIME_DIR/usernetes/crio/crio.sock" /run/crio/crio.sock
for p in /var/lib/kubelet /var/lib/cni /var/log /var/lib/containers /var/cache; do
  src="$XDG_DATA_HOME/usernetes/$(printf '%s' "$p" | tr / _)"
  mkdir -p "$src"
  private_dir "$p"
  mount --bind "$src" "$p"
done
mount --make-rshared /var/lib/kubelet
ln -sfn _var_lib_kubelet "$XDG_DATA_HOME/usernetes/kubelet"
echo 1 > /proc/sys/net/ipv4/ip_forward
if [ -n "\${U7S_EXTIP:-}" ]; then
  n=0
  until ip addr add "$U7S_EXTIP/32" dev tap0 2>/dev/null || ip -4 addr show dev tap0 | grep -q " $U7S_EXTIP/32 "; do
    n=$((n + 1)); [ "$n" -lt "\${U7S_WAIT_SECONDS:-30}" ] || fail "tap0 did not take $U7S_EXTIP"
    sleep 1
  done
  if [ -n "\${U7S_SLIRP4IP:-}" ]; then
    ip addr del "$U7S_SLIRP4IP/\${U7S_SERVICEMASK:?}" dev tap0 2>/dev/null || true
  fi
fi
n=0
while [ ! -s "$state/child_pid" ]; do
  n=$((n + 1)); [ "$n" -lt 600 ] || fail "RootlessKit wrote no child_pid"
  sleep 0.05
done
if [ $# -eq 0 ]; then set -- sleep infinity; fi
"$@" &
payload=$!
trap 'kill -TERM "$payload" 2>/dev/null || true' TERM INT
cat "$state/child_pid" > "$state/$U7S_READY_MARKER.tmp"
mv -f "$state/$U7S_READY_MARKER.tmp" "$state/$U7S_READY_MARKER"
echo "RootlessKit ready, PID=$(cat "$state/child_pid")" >&2
set +e
wait "$payload"
status=$?
# a trapped signal interrupts wait: wait again for the payload's real status
if kill -0 "$payload" 2>/dev/null; then wait "$payload"; status=$?; fi
exit "$status"
`;
