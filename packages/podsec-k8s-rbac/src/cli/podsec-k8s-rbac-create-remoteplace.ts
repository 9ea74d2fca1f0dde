import { resolveHostPath } from '@podsec/core';
import { Command, InvalidArgumentError, type CliDefinition } from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { exitHelp, exitTable } from './common.ts';

const NAME = 'podsec-k8s-rbac-create-remoteplace';
const exitCodes = exitTable([
  'RBAC_BAD_HOST',
  'RBAC_BAD_USER',
  'RBAC_CONFIG_EXISTS',
  'RBAC_NO_HOME',
  'RBAC_REMOTE_COPY_FAILED',
  'RBAC_REMOTE_NOT_KUBECONFIG',
  'RBAC_HOST_KEY',
]);

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError('expected 1..65535');
  return n;
};

/** The podsec-k8s-rbac-create-remoteplace binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  create: (ctx) =>
    new Command(NAME)
      .description(
        'Copy your kubeconfig from the machine where it was prepared into ~/.kube/config (scp, host key checked)',
      )
      .argument('<host>', 'host where the security administrator prepared the kubeconfig')
      .option('--user <account>', 'account on the host (default: your login name)')
      .option('--port <n>', 'SSH port', port, 22)
      .option('--force', 'replace an existing ~/.kube/config (a backup is kept)')
      .option('--identity-file <file>', 'SSH private key')
      .option('--known-hosts-file <file>', 'known hosts file (host keys are always checked)')
      .option('--batch', 'never prompt for a password')
      .addHelpText('after', exitHelp(exitCodes))
      .action(async (host, o) => {
        const abs = (f: string) => resolveHostPath(f);
        const { createRemotePlace } = await import('../remote/create-remoteplace.ts');
        const r = await createRemotePlace(ctx.system, {
          host,
          port: o.port,
          ...(o.user === undefined ? {} : { remoteUser: o.user }),
          ...(o.force ? { force: true } : {}),
          ...(o.identityFile === undefined ? {} : { identityFile: abs(o.identityFile) }),
          ...(o.knownHostsFile === undefined ? {} : { knownHostsFile: abs(o.knownHostsFile) }),
          ...(o.batch ? { batch: true } : {}),
        });
        ctx.system.report.result(
          r.dryRun
            ? ctx.t('cli.dryRun')
            : ctx.t('rbac.remoteInstalled', { path: r.path, source: r.source }),
          r,
        );
      }),
};
