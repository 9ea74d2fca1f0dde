import { Command, requireRoot, type CliContext, type CliDefinition } from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { createUser } from '../users/create-user.ts';
import { parseUserName } from '../validate.ts';
import { exitHelp, exitTable } from './common.ts';

const NAME = 'podsec-k8s-rbac-create-user';
const exitCodes = exitTable([
  'NOT_ROOT',
  'RBAC_BAD_USER',
  'RBAC_USER_EXISTS',
  'RBAC_GROUP_MISSING',
  'RBAC_CREATE_USER_FAILED',
]);

async function readPassword(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.stdin) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    // one line is enough; anything longer is not a password
    if (size > 4096) break;
    chunks.push(b);
  }
  const line = Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
  return line.replace(/\r$/, '');
}

/** The podsec-k8s-rbac-create-user binary. */
export const cli: CliDefinition = {
  name: NAME,
  exitCodes,
  messages: rbacMessages,
  create: (ctx) =>
    new Command(NAME)
      .description(
        'Create the local account of a Kubernetes user: groups podman and k8s, private home and ~/.kube',
      )
      .argument('<user>', 'user name')
      .option('--password-stdin', 'read the password (one line) from standard input')
      .option('--no-password', 'leave the password locked (the default without --password-stdin)')
      .option('--compat-home-mode', 'home directory mode 0770 (group k8s) as the original made it')
      .addHelpText('after', exitHelp(exitCodes))
      .action(async (user, opts) => {
        const name = parseUserName(user);
        requireRoot(ctx);
        const password = opts.passwordStdin ? await readPassword(ctx) : undefined;
        const r = await createUser(ctx.system, {
          user: name,
          ...(password === undefined ? {} : { password }),
          ...(opts.compatHomeMode ? { compatHomeMode: true } : {}),
        });
        const lines = r.dryRun
          ? [
              ctx.t('cli.dryRun'),
              ...r.changes.map((c) => `  ${c.kind} ${c.target} (${c.detail ?? ''})`),
            ]
          : [
              ctx.t('rbac.userCreated', { user: r.user, home: r.home }),
              ...(password === undefined ? [ctx.t('rbac.passwordLocked', { user: r.user })] : []),
            ];
        ctx.system.report.result(lines.join('\n'), r);
      }),
};
