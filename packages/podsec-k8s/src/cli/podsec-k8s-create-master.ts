import {
  Command,
  requireRoot,
  UsageError,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { changeReportJson, changesMessages, formatChangeReport } from '@podsec/core/changes';
import { u7sMessages } from '../messages.ts';

const NAME = 'podsec-k8s-create-master';

/** Exit codes of podsec-k8s-create-master (1 as the original; 2 and 3 are new). */
export const exitCodes = {
  NOT_ROOT: 1,
  MASTER_USAGE: 1,
  MASTER_NO_USER: 1,
  MASTER_BAD_HOME: 1,
  MASTER_BAD_VERSION: 1,
  MASTER_BAD_REPOSITORY: 1,
  MASTER_BAD_SERVICE: 1,
  MASTER_BAD_PATH: 1,
  MASTER_NO_VERSION: 1,
  MASTER_NO_PLATFORM: 1,
  U7S_BAD_CIDR: 1,
  U7S_BAD_ADDRESS: 1,
  CHANGES_INVALID: 1,
  MASTER_NO_KUBEADM: 2,
  PROC_FAILED: 3,
} as const;

function createProgram(ctx: CliContext) {
  return new Command(NAME)
    .description(
      'Create a rootful first control plane (kubeadm init on the host) for clusters that mix rootful and\n' +
        'rootless nodes: kubeadm configuration with the API audit, the audit policy, crio and kubelet enabled,\n' +
        'kubeadm init, the admin kubeconfig for root and for <adminUser>. sshd is never touched.\n\n' +
        'Exit codes: 0 ok, 1 usage, not root, unknown user or invalid input (nothing changed), 2 kubeadm\n' +
        'missing, 3 a command (systemctl, kubeadm init, kubectl apply) failed.',
    )
    .argument('[adminUser...]', 'the administrator who gets ~/.kube/config')
    .option('--kubernetes-version <v>', 'e.g. v1.37.2 (default: the installed kubeadm)')
    .option('--image-repository <repo>', 'default: registry.local/<platform>')
    .option('--pod-network-cidr <cidr>', 'pod network', '10.244.0.0/16')
    .option('--service-cidr <cidr>', 'service network', '10.96.0.0/12')
    .option('--apiserver-advertise-address <ip>', 'address the API server advertises')
    .option('--cri-socket <url>', 'CRI endpoint', 'unix:///var/run/crio/crio.sock')
    .option('--cni-manifest <file>', 'CNI manifest applied after the init (kubectl apply -f)')
    .action(async (users: string[], o) => {
      if (users.length !== 1)
        throw new UsageError('MASTER_USAGE', `Format:\n\t${NAME} <adminUser>`, {
          details: { command: NAME },
        });
      requireRoot(ctx);
      const { createMaster } = await import('../master/create-master.ts');
      const r = await createMaster(ctx.system, {
        user: users[0]!,
        podNetworkCidr: o.podNetworkCidr,
        serviceCidr: o.serviceCidr,
        criSocket: o.criSocket,
        ...(o.kubernetesVersion ? { kubernetesVersion: o.kubernetesVersion } : {}),
        ...(o.imageRepository ? { imageRepository: o.imageRepository } : {}),
        ...(o.apiserverAdvertiseAddress ? { advertiseAddress: o.apiserverAdvertiseAddress } : {}),
        ...(o.cniManifest ? { cniManifest: o.cniManifest } : {}),
      });
      ctx.system.report.result(
        [
          ...formatChangeReport(r.report, ctx.t),
          ...r.skipped.map((s) => ctx.t('master.skipped', { command: s })),
        ].join('\n'),
        { ...changeReportJson(r.report), skipped: r.skipped },
      );
    });
}

/** The podsec-k8s-create-master binary. */
export const cli: CliDefinition = {
  name: NAME,
  create: createProgram,
  exitCodes,
  messages: {
    en: { ...changesMessages.en, ...u7sMessages.en },
    ru: { ...changesMessages.ru, ...u7sMessages.ru },
  },
};
