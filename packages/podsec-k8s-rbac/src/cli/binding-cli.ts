import { Command, type CliContext, type CliDefinition } from '@podsec/core/cli';
import type { BindingResult } from '../bindings/bind.ts';
import type { BindingRequest } from '../bindings/plan-binding.ts';
import { rbacMessages } from '../messages.ts';
import {
  checkNamespaceFor,
  parseObjectName,
  parseRoleType,
  parseSubjectName,
} from '../validate.ts';
import {
  API_CODES,
  exitHelp,
  exitTable,
  kubeOptions,
  openKubeApi,
  type KubeOpts,
} from './common.ts';

const CODES = [
  ...API_CODES,
  'RBAC_BAD_USER',
  'RBAC_BAD_NAME',
  'RBAC_BAD_NAMESPACE',
  'RBAC_BAD_ROLE_TYPE',
  'RBAC_NAMESPACE_REQUIRED',
  'RBAC_NAMESPACE_FORBIDDEN',
  'RBAC_USER_MISSING',
  'RBAC_ROLE_MISSING',
  'RBAC_CLUSTERROLE_MISSING',
  'RBAC_NAMESPACE_MISSING',
  'RBAC_ROLEREF_MISMATCH',
  'RBAC_NOT_BOUND',
  'RBAC_UNBIND_MISMATCH',
  'RBAC_BINDING_MISSING',
  'RBAC_ROLEBINDING_MISSING',
] as const;

interface Opts extends KubeOpts {
  readonly localCheck: boolean;
}

/** Validates the positional arguments into a request, before any API call. */
export function parseBindingArgs(
  user: string,
  typeWord: string,
  role: string,
  binding: string,
  namespace: string | undefined,
): BindingRequest {
  const subject = parseSubjectName(user);
  const type = parseRoleType(typeWord);
  const ns = checkNamespaceFor(type, namespace);
  return {
    user: subject.name,
    type,
    role: parseObjectName(role, 'role'),
    binding: parseObjectName(binding, 'binding'),
    namespace: ns,
  };
}

async function report(
  ctx: CliContext,
  req: BindingRequest,
  r: BindingResult,
  verb: 'bind' | 'unbind',
): Promise<void> {
  const params = {
    user: req.user,
    kind: req.type.bindingKind,
    binding: req.namespace === undefined ? req.binding : `${req.namespace}/${req.binding}`,
  };
  const data = {
    ...params,
    action: r.action,
    dryRun: r.dryRun,
    attempts: r.attempts,
    object: r.body,
  };
  if (r.dryRun && r.action !== 'none') {
    const text =
      r.action === 'delete'
        ? ctx.t('rbac.dryRunDelete', params)
        : `${ctx.t('rbac.dryRun')}\n${(await import('yaml')).stringify(r.body)}`;
    ctx.system.report.result(text.trimEnd(), data);
    return;
  }
  const key =
    r.action === 'none'
      ? 'rbac.alreadyBound'
      : r.action === 'create'
        ? 'rbac.created'
        : r.action === 'delete'
          ? 'rbac.deleted'
          : verb === 'bind'
            ? 'rbac.bound'
            : 'rbac.unbound';
  ctx.system.report.result(ctx.t(key, params), data);
}

/** The bindrole / unbindrole binary definition. */
export function bindingCli(name: string, verb: 'bind' | 'unbind'): CliDefinition {
  const exitCodes = exitTable(CODES);
  return {
    name,
    exitCodes,
    messages: rbacMessages,
    create: (ctx) => {
      const cmd = new Command(name)
        .description(
          verb === 'bind'
            ? 'Add a user to a role binding (created if missing); refuse a binding that grants another role'
            : 'Remove a user from a role binding; delete the binding when its last subject goes',
        )
        .argument('<user>', 'local user, or a full system: name (e.g. system:serviceaccount:ns:sa)')
        .argument('<type>', 'role | role=clusterrole | clusterrole')
        .argument('<role>', 'name of the Role or ClusterRole')
        .argument('<binding>', 'name of the RoleBinding or ClusterRoleBinding')
        .argument('[namespace]', 'namespace (required for role and role=clusterrole)')
        .option('--no-local-check', 'do not require a home directory of the user on this machine');
      for (const o of kubeOptions()) cmd.addOption(o);
      return cmd
        .addHelpText('after', exitHelp(exitCodes))
        .action(async (user, type, role, binding, namespace, opts) => {
          const o = opts as unknown as Opts;
          const req = parseBindingArgs(user, type, role, binding, namespace);
          const api = await openKubeApi(ctx, o);
          const { bindRole, unbindRole } = await import('../bindings/bind.ts');
          const run = verb === 'bind' ? bindRole : unbindRole;
          const r = await run(ctx.system, api, req, { noLocalCheck: !o.localCheck });
          await report(ctx, req, r, verb);
        });
    },
  };
}
