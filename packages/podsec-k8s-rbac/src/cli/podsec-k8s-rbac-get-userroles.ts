import {
  Command,
  InvalidArgumentError,
  Option,
  UsageError,
  type CliDefinition,
} from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { getUserRoles } from '../userroles/get-userroles.ts';
import { formatReport, OUTPUT_FORMATS, type OutputFormat } from '../userroles/report.ts';
import { parseGroup, parseSubjectName } from '../validate.ts';
import {
  API_CODES,
  exitHelp,
  exitTable,
  kubeOptions,
  openKubeApi,
  type KubeOpts,
} from './common.ts';

const NAME = 'podsec-k8s-rbac-get-userroles';
const exitCodes = exitTable([...API_CODES, 'RBAC_BAD_USER', 'RBAC_BAD_ARGS', 'RBAC_BAD_GROUP']);

interface Opts extends KubeOpts {
  readonly output?: OutputFormat;
  readonly groups?: string;
}

function parseFormat(v: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v))
    throw new InvalidArgumentError(`expected one of ${OUTPUT_FORMATS.join(', ')}`);
  return v as OutputFormat;
}

/** The podsec-k8s-rbac-get-userroles binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  mutates: false,
  create: (ctx) => {
    const cmd = new Command(NAME)
      .description('List the role bindings that name a user, as JSON on stdout')
      .argument('<user>', 'user name (subjects of kind User with exactly this name)')
      .argument('[showRules]', 'the word showRules: add the rules of each role')
      .addOption(
        new Option('-o, --output <format>', `json (default), yaml, table or wide`).argParser(
          parseFormat,
        ),
      )
      .option('--groups <g1,g2>', 'also report bindings of these groups (Group subjects)');
    for (const o of kubeOptions()) cmd.addOption(o);
    return cmd.addHelpText('after', exitHelp(exitCodes)).action(async (user, showRules, opts) => {
      const o = opts as unknown as Opts;
      const name = parseSubjectName(user).name;
      if (showRules !== undefined && showRules !== 'showRules')
        throw new UsageError(
          'RBAC_BAD_ARGS',
          `invalid second parameter ${JSON.stringify(showRules)}: only showRules`,
          {
            details: {
              reason: `invalid second parameter ${JSON.stringify(showRules)}: only showRules`,
            },
          },
        );
      const groups = (o.groups ?? '')
        .split(',')
        .filter((g) => g !== '')
        .map((g) => parseGroup(g, true));
      const api = await openKubeApi(ctx, o);
      const r = await getUserRoles(ctx.system, api, name, {
        showRules: showRules === 'showRules',
        groups,
      });
      // the document is the result in every mode (--json included): stdout carries only it
      const format = o.output ?? 'json';
      const chosen = ctx.options.json ? 'json' : format;
      const yaml = chosen === 'yaml' ? (await import('yaml')).stringify : undefined;
      ctx.stdout(formatReport(r.report, r.matched, chosen, yaml));
    });
  },
};
