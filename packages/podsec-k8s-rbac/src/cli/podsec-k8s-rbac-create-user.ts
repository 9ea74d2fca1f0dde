import { Command, requireRoot, UsageError, type CliDefinition } from '@podsec/core/cli';
import { rbacMessages } from '../messages.ts';
import { createUser } from '../users/create-user.ts';
import { parseUserName } from '../validate.ts';
import { exitHelp, exitTable } from './common.ts';
import { promptPassword, readPasswordFile, readPasswordStdin } from './password.ts';

const NAME = 'podsec-k8s-rbac-create-user';
const exitCodes = exitTable([
  'NOT_ROOT',
  'RBAC_BAD_USER',
  'RBAC_USER_EXISTS',
  'RBAC_GROUP_MISSING',
  'RBAC_CREATE_USER_FAILED',
  'RBAC_BAD_ARGS',
  'RBAC_PASSWORD_ABORTED',
  'RBAC_PASSWORD_INVALID',
  'RBAC_PASSWORD_MISMATCH',
  'RBAC_PASSWORD_FILE',
]);

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
      .option(
        '--password-file <file>',
        'read the password (one line) from a file readable by its owner only (mode 0600)',
      )
      .option(
        '--no-password',
        'leave the password locked (the default when no terminal can ask for one)',
      )
      .option('--compat-home-mode', 'home directory mode 0770 (group k8s) as the original made it')
      .addHelpText('after', exitHelp(exitCodes))
      .action(async (user, opts) => {
        const name = parseUserName(user);
        requireRoot(ctx);
        const sources = [opts.passwordStdin, opts.passwordFile !== undefined, !opts.password];
        if (sources.filter(Boolean).length > 1)
          throw new UsageError(
            'RBAC_BAD_ARGS',
            'give at most one of --password-stdin, --password-file and --no-password',
            {
              details: {
                reason: 'give at most one of --password-stdin, --password-file and --no-password',
              },
            },
          );
        // never on the command line: a file, standard input, or the terminal (no echo)
        const password: (() => Promise<string>) | undefined = opts.passwordStdin
          ? () => readPasswordStdin(ctx)
          : opts.passwordFile !== undefined
            ? () => readPasswordFile(ctx, opts.passwordFile!)
            : opts.password && ctx.isTTY
              ? () => promptPassword(ctx, name)
              : undefined;
        // a file is read (and refused) before anything is checked or changed
        const early = opts.passwordFile !== undefined ? await password!() : undefined;
        const r = await createUser(ctx.system, {
          user: name,
          ...(early !== undefined
            ? { password: early }
            : password === undefined
              ? {}
              : { password }),
          ...(opts.compatHomeMode ? { compatHomeMode: true } : {}),
        });
        const lines = r.dryRun
          ? [
              ctx.t('cli.dryRun'),
              ...r.changes.map(
                (c) => `  ${c.action} ${c.kind} ${c.target}${c.detail ? ` (${c.detail})` : ''}`,
              ),
            ]
          : [
              ctx.t('rbac.userCreated', { user: r.user, home: r.home }),
              ...(password === undefined ? [ctx.t('rbac.passwordLocked', { user: r.user })] : []),
            ];
        ctx.system.report.result(lines.join('\n'), {
          user: r.user,
          home: r.home,
          changes: r.changes,
          dryRun: r.dryRun,
        });
      }),
};
