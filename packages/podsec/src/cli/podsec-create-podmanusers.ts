import {
  Command,
  requireRoot,
  UsageError,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { readSecretFile, resolveHostPath } from '@podsec/core/system';
import { changeReportJson, changesMessages, formatChangeReport } from '@podsec/core/changes';
import { createPodmanUsers, type PasswordSource } from '../users/podman-users.ts';

const NAME = 'podsec-create-podmanusers';

/** Exit codes of podsec-create-podmanusers (docs/commands/podsec-create-podmanusers.md#exit-codes: everything refused is 1; a failed user is 2). */
export const exitCodes = {
  NOT_ROOT: 1,
  USAGE_BAD_NAME: 1,
  PODUSERS_NO_USERS: 1,
  PODUSERS_USER_EXISTS: 1,
  PODUSERS_PASSWORD_REQUIRED: 1,
  PODUSERS_OPTIONS: 1,
  PODUSERS_USER_FAILED: 2,
  SECRET_NOT_FOUND: 1,
  SECRET_UNSAFE: 1,
  SECRET_TOO_LARGE: 1,
} as const;

const messages = {
  en: {
    ...changesMessages.en,
    PODUSERS_NO_USERS: 'no user names given\nFormat:\n\t{command} <username> ...',
    PODUSERS_USER_EXISTS:
      'user {users} already exists; give --existing to lock the account down anyway (its password is kept)',
    PODUSERS_PASSWORD_REQUIRED:
      'no terminal to ask for a password: give --password-file <file> or --no-password',
    PODUSERS_OPTIONS: '{reason}',
    PODUSERS_USER_FAILED: 'user {user} failed: {reason} (completed before it: {done})',
    'users.prompt': 'Enter the password for the container users ({users}): ',
    'users.again': 'Repeat the password: ',
    'users.mismatch': 'the passwords do not match',
    'users.done': 'User {user}: home {home}{created}',
    'users.created': ', created',
  },
  ru: {
    ...changesMessages.ru,
    PODUSERS_NO_USERS:
      'не указаны имена пользователей\nФормат:\n\t{command} <имя_пользователя> ...',
    PODUSERS_USER_EXISTS:
      'пользователь {users} уже существует; укажите --existing, чтобы всё равно ограничить учётную запись (пароль сохраняется)',
    PODUSERS_PASSWORD_REQUIRED:
      'нет терминала для ввода пароля: укажите --password-file <файл> или --no-password',
    PODUSERS_OPTIONS: '{reason}',
    PODUSERS_USER_FAILED: 'ошибка для пользователя {user}: {reason} (до него обработаны: {done})',
    'users.prompt': 'Введите пароль для пользователей контейнеров ({users}): ',
    'users.again': 'Повторите пароль: ',
    'users.mismatch': 'пароли не совпадают',
    'users.done': 'Пользователь {user}: домашний каталог {home}{created}',
    'users.created': ', создан',
  },
} as const;

const EPILOG = `
Exit codes: 0 ok; 1 not root, no or invalid user names, existing user without --existing, no password
source; 2 creating or locking down a user failed (users before it are complete).

Each user gets primary group podman, ~/.config owned by root (0755), an empty ~/.config/containers
<user>:podman 0500 made immutable (chattr +i, on the running system only), and subordinate uid/gid ranges.

Limits of the lockdown: it only removes the per-user configuration files podman reads by default. A
user can still point HOME or XDG_CONFIG_HOME elsewhere, set CONTAINERS_REGISTRIES_CONF,
CONTAINERS_STORAGE_CONF, CONTAINERS_CONF, or run "podman --signature-policy <file>"/"podman pull
--signature-policy". The real enforcement is the system policy /etc/containers/policy.json (default
reject), the restricted newuidmap/newgidmap and the registry/keys served by the signature server.
--password-file is a file of this host (not under --root); the password never appears on a command line.`;

/** Reads one secret per prompt from a terminal without echo (one listener, so no keystroke is lost). */
async function readSecrets(ctx: CliContext, prompts: readonly string[]): Promise<string[]> {
  const stdin = ctx.stdin;
  if (!stdin) throw new UsageError('PODUSERS_PASSWORD_REQUIRED', 'no terminal', { details: {} });
  const raw = (on: boolean) =>
    (stdin as unknown as { setRawMode?: (b: boolean) => unknown }).setRawMode?.call(stdin, on);
  raw(true);
  const answers: string[] = [];
  ctx.stderr(prompts[0] ?? '');
  try {
    return await new Promise<string[]>((resolve, reject) => {
      let value = '';
      const finish = (e?: Error) => {
        stdin.removeListener('data', onData);
        stdin.removeListener('end', onEnd);
        if (e) reject(e);
        else resolve(answers);
      };
      const aborted = () =>
        new UsageError('PODUSERS_PASSWORD_REQUIRED', 'password entry aborted', { details: {} });
      const onEnd = () => finish(aborted());
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') {
            ctx.stderr('\n');
            answers.push(value);
            value = '';
            if (answers.length === prompts.length) return finish();
            ctx.stderr(prompts[answers.length] ?? '');
          } else if (ch === '\u0003' || ch === '\u0004') {
            return finish(aborted());
          } else value = ch === '\u007f' || ch === '\b' ? value.slice(0, -1) : value + ch;
        }
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    });
  } finally {
    raw(false);
    stdin.pause();
  }
}

interface Opts {
  readonly passwordFile?: string;
  readonly password?: boolean;
  readonly existing?: true;
}

async function passwordSource(
  ctx: CliContext,
  users: readonly string[],
  o: Opts,
): Promise<PasswordSource> {
  const bad = (reason: string) =>
    new UsageError('PODUSERS_OPTIONS', reason, { details: { reason } });
  if (o.passwordFile !== undefined && o.password === false)
    throw bad('--password-file and --no-password exclude each other');
  if (o.passwordFile !== undefined) {
    // a host file of the caller or root, 0600/0400, bounded, no symlink followed
    const file = resolveHostPath(o.passwordFile);
    const text = Buffer.from(await readSecretFile(ctx.system, file)).toString('utf8');
    const value = text.split('\n')[0] ?? '';
    if (value === '') throw bad(`password file ${o.passwordFile} is empty`);
    return { kind: 'secret', value };
  }
  if (o.password === false || o.existing) return { kind: 'none' };
  if (!ctx.isTTY || ctx.options.dryRun) {
    if (ctx.options.dryRun) return { kind: 'none' };
    throw new UsageError(
      'PODUSERS_PASSWORD_REQUIRED',
      'no terminal to ask for a password: give --password-file <file> or --no-password',
      { details: {} },
    );
  }
  const [first, second] = await readSecrets(ctx, [
    ctx.t('users.prompt', { users: users.join(', ') }),
    ctx.t('users.again'),
  ]);
  if (first !== second) throw bad(ctx.t('users.mismatch'));
  if (!first) throw bad('the password is empty');
  return { kind: 'secret', value: first };
}

function createProgram(ctx: CliContext) {
  return new Command(NAME)
    .description(
      'Create container users (primary group podman) whose personal containers configuration is locked',
    )
    .argument('[user...]', 'user names')
    .option(
      '--password-file <file>',
      'password (plain or crypt hash) for the new users, first line of <file>',
    )
    .option('--no-password', 'create the accounts with a locked password')
    .option(
      '--existing',
      'also accept existing accounts and lock them down (their password is kept)',
    )
    .addHelpText('after', EPILOG)
    .action(async (users: string[], opts: Opts) => {
      if (users.length === 0)
        throw new UsageError(
          'PODUSERS_NO_USERS',
          `no user names given\nFormat:\n\t${NAME} <username> ...`,
          { details: { command: NAME } },
        );
      requireRoot(ctx);
      const password = await passwordSource(ctx, users, opts);
      const r = await createPodmanUsers(ctx.system, {
        users,
        password,
        ...(opts.existing ? { existing: true } : {}),
      });
      const lines = [
        ...formatChangeReport(r.report, ctx.t),
        ...r.users.map((u) =>
          ctx.t('users.done', {
            user: u.user,
            home: u.home,
            created: u.created ? ctx.t('users.created') : '',
          }),
        ),
      ];
      ctx.system.report.result(lines.join('\n'), {
        ...changeReportJson(r.report),
        groupCreated: r.groupCreated,
        users: r.users.map((u) => ({
          user: u.user,
          home: u.home,
          created: u.created,
          immutable: u.immutable === true,
          ...(u.immutable === true ? {} : { immutableReason: u.immutable.reason }),
        })),
      });
    });
}

/** The podsec-create-podmanusers binary. */
export const cli: CliDefinition = {
  name: NAME,
  create: createProgram,
  exitCodes,
  messages,
  mutates: true,
};
