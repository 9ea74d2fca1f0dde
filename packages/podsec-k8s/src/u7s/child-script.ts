/**
 * The child phase of the namespace: a POSIX sh script run by RootlessKit as PID 1's payload, as uid 0
 * inside the namespace. Installed root-owned (u7s-admin can run it, not change it). Every wait is bounded: they
 * share one budget of `U7S_WAIT_SECONDS` (what is left of the caller's `--timeout`), counted from the script's start,
 * and a wait that runs out ends the script with one line starting with {@link CHILD_FAILURE_PREFIX}.
 */

/** How each failure line of the child phase starts (the supervisor's log is searched for it). */
export const CHILD_FAILURE_PREFIX = 'u7s child: ';

/**
 * Pure: the reason of the child phase's last failure line in a log (one line, printable, at most 300 characters),
 * or undefined when the child phase did not fail. The child's output is u7s-admin's, so it is bounded and cleaned
 * before it goes into a message.
 */
export function childFailure(log: string): string | undefined {
  let reason: string | undefined;
  for (const line of log.split('\n'))
    if (line.startsWith(CHILD_FAILURE_PREFIX)) reason = line.slice(CHILD_FAILURE_PREFIX.length);
  if (reason === undefined) return undefined;
  return [...reason.slice(0, 300)].map((c) => (c < ' ' || c === '\x7f' ? '?' : c)).join('');
}

/** Text of the child-phase script. */
export const CHILD_SCRIPT_TEXT = `#!/bin/sh
# u7s namespace, child phase (installed by podsec-k8s, root-owned): runs as uid 0 inside the RootlessKit
# namespaces of u7s-admin, prepares them, writes the ready marker and runs the payload.
set -eu
: "\${XDG_RUNTIME_DIR:?}" "\${XDG_DATA_HOME:?}" "\${ROOTLESSKIT_STATE_DIR:?}" "\${U7S_READY_MARKER:?}"
state=$ROOTLESSKIT_STATE_DIR
fail() { echo "u7s child: $*" >&2; exit 1; }
budget=\${U7S_WAIT_SECONDS:-30}
case $budget in '' | *[!0-9]*) fail "U7S_WAIT_SECONDS is not a number of seconds: $budget" ;; esac
deadline=$(($(date +%s) + budget))
# true while the budget lasts
in_time() { [ "$(date +%s)" -lt "$deadline" ]; }
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
  # done when tap0 carries the address, not when \`ip addr add\` says so (it accepts 0.0.0.0 and adds nothing)
  ip addr add "$U7S_EXTIP/32" dev tap0 2>/dev/null || true
  until ip -4 -o addr show dev tap0 2>/dev/null | grep -qF " $U7S_EXTIP/32 "; do
    in_time || fail "tap0 did not take the node address $U7S_EXTIP/32 within $budget s"
    sleep 0.2
    ip addr add "$U7S_EXTIP/32" dev tap0 2>/dev/null || true
  done
  if [ -n "\${U7S_SLIRP4IP:-}" ]; then
    ip addr del "$U7S_SLIRP4IP/\${U7S_SERVICEMASK:?}" dev tap0 2>/dev/null || true
  fi
fi
while [ ! -s "$state/child_pid" ]; do
  in_time || fail "RootlessKit wrote no $state/child_pid within $budget s"
  sleep 0.05
done
# a payload (the CRI launcher) is ready when its socket exists: a socket of an earlier run must not count
cri=
if [ $# -eq 0 ]; then set -- sleep infinity; else cri=\${U7S_CRI_SOCKET:-}; fi
if [ -n "$cri" ]; then
  mkdir -p "\${cri%/*}"
  rm -f "$cri"
fi
"$@" &
payload=$!
trap 'kill -TERM "$payload" 2>/dev/null || true' TERM INT
if [ -n "$cri" ]; then
  until [ -S "$cri" ]; do
    if ! kill -0 "$payload" 2>/dev/null; then
      wait "$payload" && status=0 || status=$?
      fail "the payload $1 ended (status $status) before the CRI socket $cri appeared"
    fi
    if ! in_time; then
      kill -TERM "$payload" 2>/dev/null || true
      fail "the CRI socket $cri did not appear within $budget s"
    fi
    sleep 0.1
  done
fi
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
