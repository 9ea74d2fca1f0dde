import { resolveHostPath } from '@podsec/core';
import {
  Command,
  InvalidArgumentError,
  Option,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { CA_SSH_ACCOUNT, CA_SSH_PATH, DEFAULT_DAYS } from '../paths.ts';
import { KEY_TYPES, type KeyType } from '../pki/csr.ts';
import { parseSshAccount, parseSshHost } from '../remote/scp.ts';
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
  'RBAC_BAD_HOST',
  'RBAC_HOST_KEY',
  'RBAC_REMOTE_COPY_FAILED',
  'RBAC_CA_INVALID',
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
  readonly caFromSsh?: true;
  readonly sshHost?: string;
  readonly sshPort: number;
  readonly sshCaPath?: string;
  readonly identityFile?: string;
  readonly knownHostsFile?: string;
  readonly batch?: true;
}

const sshPort = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError('expected 1..65535');
  return n;
};

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
  if (remote !== undefined && !o.caFromSsh)
    ctx.system.report.warn(ctx.t('rbac.remoteIgnored', { remote }));
  const abs = (f: string) => resolveHostPath(f);
  const caFromSsh = o.caFromSsh
    ? {
        account: parseSshAccount(remote ?? CA_SSH_ACCOUNT),
        port: o.sshPort,
        ...(o.sshHost === undefined ? {} : { host: parseSshHost(o.sshHost) }),
        ...(o.sshCaPath === undefined ? {} : { remotePath: o.sshCaPath }),
        ...(o.identityFile === undefined ? {} : { identityFile: abs(o.identityFile) }),
        ...(o.knownHostsFile === undefined ? {} : { knownHostsFile: abs(o.knownHostsFile) }),
        ...(o.batch ? { batch: true } : {}),
      }
    : undefined;
  const expirationSeconds = o.expirationSeconds ?? (o.days ?? DEFAULT_DAYS) * 86_400;
  const csrPem = o.csr === undefined ? undefined : await ctx.system.hostFs.readText(abs(o.csr));
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
    ...(caFromSsh === undefined ? {} : { caFromSsh }),
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
      .argument(
        '<user[@remoteuser]>',
        'local user (@remoteuser: the SSH account of --ca-from-ssh, otherwise ignored)',
      )
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
      .option('--renew', "renew an existing user's certificate (groups default to the old ones)")
      .option(
        '--ca-from-ssh',
        `copy the cluster CA with scp from <remoteuser>@<API server host>:${CA_SSH_PATH} (default account ${CA_SSH_ACCOUNT}; the host key must be known)`,
      )
      .option('--ssh-host <host>', 'with --ca-from-ssh: the host (default: the API server host)')
      .option('--ssh-port <n>', 'with --ca-from-ssh: the SSH port', sshPort, 22)
      .option('--ssh-ca-path <path>', `with --ca-from-ssh: the CA file on the host`)
      .option('--identity-file <file>', 'with --ca-from-ssh: the SSH private key')
      .option(
        '--known-hosts-file <file>',
        'with --ca-from-ssh: known hosts (host keys are always checked)',
      )
      .option('--batch', 'with --ca-from-ssh: never prompt for a password');
    for (const o of kubeOptions()) cmd.addOption(o);
    return cmd
      .addHelpText('after', exitHelp(exitCodes))
      .action((target, groups, opts) => run(ctx, target, groups, opts as unknown as Opts));
  },
};
