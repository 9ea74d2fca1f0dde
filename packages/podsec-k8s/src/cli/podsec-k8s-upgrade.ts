import path from 'node:path';
import { UsageError } from '@podsec/core';
import {
  Command,
  Option,
  requireRoot,
  tlsVerifyOption,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { u7sMessages } from '../messages.ts';

const NAME = 'podsec-k8s-upgrade';

/** Exit codes of podsec-k8s-upgrade (1 as the original for usage and refusals). */
export const exitCodes = {
  NOT_ROOT: 1,
  UPGRADE_NO_MASTER: 1,
  UPGRADE_NOT_CONTROL_PLANE: 1,
  UPGRADE_NO_SELF: 1,
  UPGRADE_BAD_VERSION: 1,
  UPGRADE_BAD_PATH: 1,
  UPGRADE_NOTHING: 1,
  UPGRADE_NO_VERSIONS: 1,
  UPGRADE_SKEW: 2,
  UPGRADE_MINOR_MISSING: 2,
  UPGRADE_BAD_TAGS_URL: 1,
  UPGRADE_TLS_CONFLICT: 1,
  UPGRADE_TAGS_PLAIN_HTTP: 1,
  UPGRADE_UNREACHABLE: 3,
  UPGRADE_TAGS_FAILED: 3,
  UPGRADE_STEP_FAILED: 4,
  UPGRADE_WAIT_TIMEOUT: 5,
} as const;

function createProgram(ctx: CliContext) {
  return new Command(NAME)
    .description(
      'Upgrade Kubernetes on this node, one minor at a time, in step with the cluster: wait until the\n' +
        'version skew allows it, drain, kubeadm upgrade plan/apply (first control plane) or kubeadm upgrade\n' +
        'node, restart the kubelet, uncordon, wait for the new kubelet. Run it on every node; --dry-run prints\n' +
        'the plan.\n\n' +
        'Exit codes: 0 ok, 1 usage or refused input, 2 version skew or a minor missing, 3 cluster or\n' +
        'registry not reachable, 4 a step failed, 5 a wait timed out.',
    )
    .argument('<masterNodeName>', 'the first control-plane node (runs kubeadm upgrade apply)')
    .argument('[toMinorVersion]', 'target minor, e.g. 1.39 (default: the highest available)')
    .option(
      '--available <versions>',
      'versions the registry offers, comma-separated (e.g. v1.38.1,v1.39.0)',
    )
    .option(
      '--tags-from <url>',
      'or read them: the vX.Y.Z tags of this image repository (e.g. https://registry.local/c10f/kube-apiserver)',
    )
    .option('--ca-file <file>', 'CA of the registry for --tags-from (default: the system CAs)')
    .addOption(
      tlsVerifyOption(
        'bare or =true: --tags-from over https with a verified certificate (the default; plain http only from a loopback registry); =false: an unverified certificate or plain http',
      ),
    )
    .addOption(new Option('--insecure', 'the same as --tls-verify=false'))
    .option('--node <name>', 'this node (default: the host name)')
    .option('--kubeconfig <file>', 'admin kubeconfig', '/etc/kubernetes/admin.conf')
    .option(
      '--rootless',
      "a rootless node: kubeadm through podsec-u7s-kubeadm (inside u7s-admin's namespace), the kubelet the user unit of u7s-admin",
    )
    .action(async (master: string, toMinor: string | undefined, o) => {
      const { readUpgradePlan, runUpgrade } = await import('../upgrade/upgrade.ts');
      const { formatUpgradePlan } = await import('../upgrade/plan-upgrade.ts');
      if ((o.available === undefined) === (o.tagsFrom === undefined))
        throw new UsageError(
          'UPGRADE_NO_VERSIONS',
          'give the versions the registry offers: --available or --tags-from (one of them)',
        );
      let available = (o.available ?? '').split(',').filter((x) => x !== '');
      if (o.tagsFrom !== undefined) {
        const { readRegistryVersions } = await import('../upgrade/tags.ts');
        available = await readRegistryVersions(ctx.system, o.tagsFrom, {
          ...(o.caFile ? { caFile: path.resolve(o.caFile) } : {}),
          ...(o.insecure
            ? { tlsVerify: false }
            : o.tlsVerify === undefined
              ? {}
              : { tlsVerify: o.tlsVerify }),
        });
      }
      const opts = {
        master,
        ...(toMinor === undefined ? {} : { toMinor }),
        self: o.node ?? (await ctx.system.hostFs.readText('/proc/sys/kernel/hostname')).trim(),
        kubeconfig: o.kubeconfig,
        available,
        ...(o.rootless ? { rootless: true } : {}),
      };
      const plan = await readUpgradePlan(ctx.system, opts);
      if (!ctx.system.dryRun) {
        requireRoot(ctx);
        await runUpgrade(ctx.system, opts, plan);
      }
      ctx.system.report.result(formatUpgradePlan(plan).join('\n'), {
        dryRun: ctx.system.dryRun,
        plan,
      });
    });
}

/** The podsec-k8s-upgrade binary. */
export const cli: CliDefinition = {
  name: NAME,
  create: createProgram,
  exitCodes,
  messages: u7sMessages,
};
