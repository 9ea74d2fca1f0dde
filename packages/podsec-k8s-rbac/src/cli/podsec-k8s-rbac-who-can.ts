import { Command, InvalidArgumentError, Option, type CliDefinition } from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { parseNamespace } from '../validate.ts';
import { formatGrants, parseAccessQuery } from '../whocan/evaluate.ts';
import { whoCanInCluster } from '../whocan/who-can.ts';
import {
  API_CODES,
  exitHelp,
  exitTable,
  kubeOptions,
  openKubeApi,
  type KubeOpts,
} from './common.ts';

const NAME = 'podsec-k8s-rbac-who-can';
const exitCodes = exitTable([...API_CODES, 'RBAC_BAD_QUERY', 'RBAC_BAD_NAMESPACE']);

interface Opts extends KubeOpts {
  readonly namespace?: string;
  readonly subresource?: string;
  readonly apiGroup?: string;
  readonly output?: 'json' | 'table';
}

/** The podsec-k8s-rbac-who-can binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  mutates: false,
  create: (ctx) => {
    const cmd = new Command(NAME)
      .description(
        'Which users, groups and service accounts may do something, and through which binding (from the RBAC objects)',
      )
      .argument('<verb>', 'get, list, create, update, delete, watch, ... or *')
      .argument(
        '<target>',
        'TYPE[.GROUP], TYPE[.GROUP]/NAME, or a non-resource URL such as /healthz',
      )
      .option('-n, --namespace <ns>', 'namespace of the request (default: cluster-wide)')
      .option('--subresource <name>', 'subresource, e.g. log, exec, status')
      .option('--api-group <group>', 'API group of TYPE (default: known built-in group, else core)')
      .addOption(
        new Option('-o, --output <format>', 'table (default) or json').argParser((v) => {
          if (v !== 'json' && v !== 'table')
            throw new InvalidArgumentError('expected json or table');
          return v;
        }),
      );
    for (const o of kubeOptions()) cmd.addOption(o);
    return cmd.addHelpText('after', exitHelp(exitCodes)).action(async (verb, target, opts) => {
      const o = opts as unknown as Opts;
      const q = parseAccessQuery(verb, target, {
        ...(o.namespace === undefined ? {} : { namespace: parseNamespace(o.namespace) }),
        ...(o.subresource === undefined ? {} : { subresource: o.subresource }),
        ...(o.apiGroup === undefined ? {} : { apiGroup: o.apiGroup }),
      });
      const grants = await whoCanInCluster(await openKubeApi(ctx, o), q);
      if (ctx.options.json || o.output === 'json')
        ctx.stdout(`${JSON.stringify({ query: q, subjects: grants }, null, 2)}\n`);
      else ctx.stdout(formatGrants(grants));
    });
  },
};
