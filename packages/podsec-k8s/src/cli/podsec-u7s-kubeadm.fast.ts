// The fast path of podsec-u7s-kubeadm (no commander, no planner): `kubeadm version [flags of kubeadm version]`, the
// everyday call that runs the real kubeadm on the host. The real kubeadm is checked as always (root-owned, nobody
// else can change it or a directory above it), then it replaces this process. Anything else, and `version` with
// the wrapper's own --json or --dry-run, steps aside to the full binary.
import { FAST_DEFAULTS, type FastCliDefinition } from '@podsec/core/cli/fast';
import { checkTrustedBinary, planKubeadmPath } from '../kubeadm/binary.ts';
import { planHostArgv } from '../kubeadm/classify.ts';
import { u7sMessages } from '../messages.ts';

/** Exit codes of podsec-u7s-kubeadm (kubeadm's own status for help, version and pass-through commands). */
export const exitCodes = {
  NOT_ROOT: 1,
  KUBEADM_NO_COMMAND: 1,
  KUBEADM_UNKNOWN_COMMAND: 1,
  KUBEADM_UNKNOWN_FLAG: 1,
  KUBEADM_FLAG_REFUSED: 1,
  KUBEADM_FLAG_WRONG_COMMAND: 1,
  KUBEADM_FLAG_NEEDS_VALUE: 1,
  KUBEADM_BAD_ARGS: 1,
  KUBEADM_BAD_DISCOVERY_FILE: 1,
  KUBEADM_BAD_DISCOVERY: 1,
  U7S_NET_OVERLAP: 1,
  KUBEADM_FAILED: 1,
  KUBEADM_ETCD_MEMBER_EXISTS: 1,
  KUBEADM_ETCD_MEMBER_KEPT: 1,
  KUBEADM_NO_ADMIN_CONF: 2,
  U7S_BAD_KUBELET_CONFIG: 2,
  U7S_NOT_RUNNING: 3,
  U7S_KUBE_DIR_HIDDEN: 3,
  U7S_NO_USER: 3,
  KUBEADM_BINARY_UNTRUSTED: 4,
  KUBEADM_BINARY_UNREACHABLE: 4,
  KUBEADM_BINARY_MISSING: 4,
  KUBEADM_TIMEOUT: 5,
  // init succeeded, the cluster has no network add-on yet: podsec-u7s apply-flannel tries again
  KUBEADM_FLANNEL_FAILED: 6,
  U7S_NO_FLANNEL_MANIFEST: 6,
  // another node-changing run holds the run lock
  KUBEADM_BUSY: 7,
} as const;

/** Pure: the argv of kubeadm for a fast `version`, or undefined when the full binary must handle `argv`. */
export function planFastVersion(argv: readonly string[]): string[] | undefined {
  if (argv[0] !== 'version') return undefined;
  // the wrapper's own flags (and anything that looks like them) are the full binary's
  if (argv.some((a) => /^--?(json|dry-run|root|debug|verbose|help)(=|$)|^-[vh]$/.test(a)))
    return undefined;
  return planHostArgv(argv);
}

/** `podsec-u7s-kubeadm version …`: the checked kubeadm, exec'd. */
export const fast: FastCliDefinition = {
  name: 'podsec-u7s-kubeadm',
  exitCodes,
  messages: u7sMessages,
  parse(argv) {
    const hostArgv = planFastVersion(argv);
    if (hostArgv === undefined) return undefined;
    return {
      options: FAST_DEFAULTS,
      async run(ctx) {
        const sys = ctx.system;
        const kubeadm = await checkTrustedBinary(sys.hostFs, planKubeadmPath(sys.env));
        sys.daemons.replace({
          file: kubeadm,
          args: hostArgv,
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: sys.env['LANG'] ?? 'C' },
        });
      },
    };
  },
};
