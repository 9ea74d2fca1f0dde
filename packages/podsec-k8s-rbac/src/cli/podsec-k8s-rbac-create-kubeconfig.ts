import path from 'node:path';
import {
  Command,
  InvalidArgumentError,
  Option,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { DEFAULT_DAYS } from '../paths.ts';
import { KEY_TYPES, type KeyType } from '../pki/csr.ts';
import { parseGroup, parseNamespace, parseUserAtRemote } from '../validate.ts';
import {
  API_CODES,
  exitHelp,
  exitTable,
  kubeConnection,
  kubeOptions,
  type KubeOpts,
} from './common.ts';

const NAME = 'podsec-k8s-rbac-create-kubeconfig';
const exitCodes = exitTable([
  ...API_CODES,
  'RBAC_BAD_USER',
  'RBAC_BAD_GROUP',
  'RBAC_BAD_NAMESPACE',
  'RBAC_BAD_ARGS',
  'RBAC_PRIVILEGED_GROUP',
  'RBAC_ADMIN_ENTRY_FOREIGN',
  'RBAC_CSR_INVALID',
  'RBAC_USER_MISSING',
  'RBAC_UNSAFE_DIR',
  'RBAC_NOTHING_TO_RENEW',
  'RBAC_CSR_FOREIGN',
  'RBAC_CSR_DENIED',
  'RBAC_CSR_TIMEOUT',
  'RBAC_CERT_INVALID',
  'RBAC_PROBE_FAILED',
  'RBAC_CA_UNKNOWN',
  'RBAC_CSR_SUBJECT',
  'RBAC_CONFIG_UNVERIFIED',
]);

interface Opts extends KubeOpts {
  readonly days?: number;
  readonly expirationSeconds?: number;
  readonly timeout: number;
  readonly approve: boolean;
  readonly adminContext: boolean;
  readonly force?: true;
  readonly allowPrivilegedGroup?: true;
  readonly namespace?: string;
  readonly keyType: KeyType;
  readonly rsaBits: number;
  readonly csr?: string;
  readonly renew?: true;
}

const positive = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new InvalidArgumentError(`expected an integer >= ${min}`);
  return n;
};

async function run(ctx: CliContext, target: string, groupArgs: string[], o: Opts) {
  const { user, remote } = parseUserAtRemote(target);
  const groups = groupArgs.map((g) => parseGroup(g, o.allowPrivilegedGroup === true));
  if (o.namespace !== undefined) parseNamespace(o.namespace);
  if (remote !== undefined) ctx.system.report.warn(ctx.t('rbac.remoteIgnored', { remote }));
  const expirationSeconds = o.expirationSeconds ?? (o.days ?? DEFAULT_DAYS) * 86_400;
  const csrPem =
    o.csr === undefined
      ? undefined
      : await ctx.system.hostFs.readText(path.resolve(process.cwd(), o.csr));
  const { file, connect } = kubeConnection(ctx, o);
  const { createKubeconfig } = await import('../kubeconfig/create-kubeconfig.ts');
  const r = await createKubeconfig(ctx.system, connect, {
    user,
    groups,
    kubeconfig: file,
    ...(o.context === undefined ? {} : { context: o.context }),
    expirationSeconds,
    timeoutMs: o.timeout * 1000,
    noApprove: !o.approve,
    noAdminContext: !o.adminContext,
    ...(o.force ? { force: true } : {}),
    ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    keyType: o.keyType,
    rsaBits: o.rsaBits,
    ...(csrPem === undefined ? {} : { csrPem }),
    ...(o.renew ? { renew: true } : {}),
    by: NAME,
  });
  if (r.dryRun) {
    ctx.system.report.result(
      `${ctx.t('rbac.dryRun')}\n${(await import('yaml')).stringify(r.csr).trimEnd()}`,
      r,
    );
    return;
  }
  const lines = [
    ctx.t('rbac.configCreated', {
      path: r.files.find((f) => f.endsWith('/config')) ?? r.files[0] ?? '',
      notAfter: r.notAfter ?? '',
    }),
  ];
  if (r.adminContext) lines.push(ctx.t('rbac.adminContext', { user: r.user, file }));
  if (r.previousNotAfter !== undefined)
    ctx.system.report.warn(
      ctx.t('rbac.previousValid', { user: r.user, notAfter: r.previousNotAfter }),
    );
  ctx.system.report.result(lines.join('\n'), r);
}

/** The podsec-k8s-rbac-create-kubeconfig binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  create: (ctx) => {
    const cmd = new Command(NAME)
      .description(
        "Issue a client certificate for a user through the Kubernetes CSR API and write the user's ~/.kube/config",
      )
      .argument('<user[@remoteuser]>', 'local user (the @remoteuser part is accepted and ignored)')
      .argument('[group...]', 'certificate groups, one O= each (default: k8s)')
      .option(
        '--days <n>',
        `requested lifetime in days (default ${DEFAULT_DAYS}; signers cap it)`,
        positive(1),
      )
      .option(
        '--expiration-seconds <n>',
        'requested lifetime in seconds (at least 600)',
        positive(600),
      )
      .option('--timeout <seconds>', 'wait this long for approval and issue', positive(1), 60)
      .option('--no-approve', 'submit only; wait for someone else to approve')
      .option('--no-admin-context', "do not add the user's context to the caller's kubeconfig")
      .option('--force', 'replace entries of the caller kubeconfig that this tool did not create')
      .option(
        '--allow-privileged-group',
        'allow system:masters, kubeadm:cluster-admins and system: groups',
      )
      .option('--namespace <ns>', 'default namespace of the new contexts')
      .addOption(new Option('--key-type <type>', 'key algorithm').choices(KEY_TYPES).default('rsa'))
      .option('--rsa-bits <n>', 'RSA key size', positive(2048), 2048)
      .option('--csr <file>', "submit the user's own PEM request (the key never leaves the user)")
      .option('--renew', "renew an existing user's certificate (groups default to the old ones)");
    for (const o of kubeOptions()) cmd.addOption(o);
    return cmd
      .addHelpText('after', exitHelp(exitCodes))
      .action((target, groups, opts) => run(ctx, target, groups, opts as unknown as Opts));
  },
};
