import { Command, type CliContext, type CliDefinition } from '@podsec/core/cli';
import type { OffboardEntry, OffboardResult } from '../bindings/offboard.ts';
import { rbacMessages } from '../messages.ts';
import { parseSubjectName } from '../validate.ts';
import {
  API_CODES,
  exitHelp,
  exitTable,
  kubeOptions,
  openKubeApi,
  type KubeOpts,
} from './common.ts';

const NAME = 'podsec-k8s-rbac-offboard';
const exitCodes = exitTable([...API_CODES, 'RBAC_BAD_USER']);

function entryLine(ctx: CliContext, user: string, e: OffboardEntry, dryRun: boolean): string {
  const params = {
    user,
    kind: e.kind,
    binding: e.namespace === undefined ? e.binding : `${e.namespace}/${e.binding}`,
    role: e.role,
  };
  const key =
    e.action === 'delete'
      ? 'rbac.offboardDeleted'
      : e.action === 'update'
        ? 'rbac.offboardRemoved'
        : 'rbac.offboardGone';
  return `  ${ctx.t(dryRun && e.action !== 'none' ? `${key}DryRun` : key, params)}`;
}

function format(ctx: CliContext, r: OffboardResult): string {
  if (r.entries.length === 0) return ctx.t('rbac.offboardNothing', { user: r.user });
  return [
    ctx.t(r.dryRun ? 'rbac.offboardDryRun' : 'rbac.offboardDone', {
      user: r.user,
      count: r.entries.filter((e) => e.action !== 'none').length,
    }),
    ...r.entries.map((e) => entryLine(ctx, r.user, e, r.dryRun)),
  ].join('\n');
}

/** The podsec-k8s-rbac-offboard binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  create: (ctx) => {
    const cmd = new Command(NAME)
      .description(
        'Remove a user from every role binding of the cluster (bindings whose last subject it is are deleted)',
      )
      .argument('<user>', 'user name, or a full system: name (subjects of kind User)');
    for (const o of kubeOptions()) cmd.addOption(o);
    return cmd.addHelpText('after', exitHelp(exitCodes)).action(async (user, opts) => {
      const o = opts as unknown as KubeOpts;
      const name = parseSubjectName(user).name;
      const api = await openKubeApi(ctx, o);
      const { offboardUser } = await import('../bindings/offboard.ts');
      const r = await offboardUser(ctx.system, api, name);
      ctx.system.report.result(format(ctx, r), r);
      // bindings are all RBAC can take away; the certificate itself stays valid
      if (!r.dryRun && r.entries.length > 0)
        ctx.system.report.warn(ctx.t('rbac.offboardNote', { user: r.user }));
    });
  },
};
