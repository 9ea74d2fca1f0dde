import {
  Command,
  InvalidArgumentError,
  Option,
  requireRoot,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
// key generation (openpgp) and the registries.d writer (YAML) load when the action runs, not for --help
import type { CreateImageMakersResult } from '../imagemaker/create-imagemakers.ts';
import { changeReportJson, formatChangeReport } from '@podsec/core/changes';
import { readSecretFile, resolveHostPath } from '@podsec/core/system';
import { imagemakerMessages } from '../imagemaker/messages.ts';
import { checkSecretLine, promptSecret } from '../imagemaker/prompt.ts';

/** Exit codes of podsec-create-imagemakeruser (docs/commands/podsec-create-imagemakeruser.md#exit-codes; 1 for every other failure). */
export const exitCodes = {
  NOT_ROOT: 1,
  IMAGEMAKER_NOT_SERVER: 1,
  IMAGEMAKER_BAD_FORMAT: 1,
  IMAGEMAKER_BAD_SCOPE: 1,
  USAGE_BAD_NAME: 1,
  IMAGEMAKER_NO_SIGSTORE: 1,
  IMAGEMAKER_USER_EXISTS: 1,
  IMAGEMAKER_KEY_FAILED: 1,
  IMAGEMAKER_NO_PASSPHRASE: 1,
  IMAGEMAKER_NO_PASSWORD: 1,
  IMAGEMAKER_UNSAFE_DIR: 1,
  IMAGEMAKER_DUPLICATE_SCOPE: 2,
  IMAGEMAKER_SCOPE_BOUND: 2,
} as const;

function parseExpire(v: string): number {
  if (!/^\d{1,5}$/.test(v))
    throw new InvalidArgumentError('expected a number of days (0: never expires)');
  return Number(v);
}

function formatResult(r: CreateImageMakersResult, ctx: CliContext): string {
  const lines = [ctx.t('imagemaker.done', { users: r.makers.map((m) => m.user).join(', ') })];
  for (const m of r.makers) {
    const fpr = m.key.fingerprint ?? '(new)';
    lines.push(
      `  ${m.user}${m.created ? ' (new)' : ''}: ${m.scopes.join(' ')}; key ${fpr} <${m.key.email}> ${m.key.state}`,
    );
    if (m.key.privateKeyPath)
      lines.push(
        `    private key: ${m.key.privateKeyPath}${m.key.gpgImported ? ' (+ ~/.gnupg)' : ''}`,
      );
    lines.push(`    public key:  ${m.key.publicKeyPath}`);
  }
  lines.push(...formatChangeReport(r.report, ctx.t));
  if (r.dryRun) lines.push(ctx.t('cli.dryRun'));
  return lines.join('\n');
}

function createProgram(ctx: CliContext) {
  return new Command('podsec-create-imagemakeruser')
    .description(
      'Create image-maker accounts (groups podman + podman_dev) with a signing key each and bind each scope ' +
        'of the system policy to its maker key; only on the signature server. Without arguments: ' +
        'imagemaker@registry.local; one argument without @: <user>@registry.local. ' +
        'The private key is stored in ~<user>/.config/podsec/signing-key.asc (and imported into ~<user>/.gnupg), ' +
        'the public key in /var/sigstore/keys/<user>.pgp. Exit codes: 0 ok, 1 error, 2 scope given twice or ' +
        'already bound to another key (see --force).\n\n' +
        '--passphrase-file and --password-file are files of this host (relative to the working directory), even ' +
        'with --root; the accounts, homes, keys, /var/sigstore and the policies are those under --root.',
    )
    .argument(
      '[user@scope...]',
      'image makers and their repository paths (e.g. immkk8s@registry.local/k8s-c10f1)',
    )
    .option('--force', 'replace a scope already bound to another key')
    .option('--existing', 'make existing accounts image makers (groups added, password untouched)')
    .option('--name <name>', 'real name of new keys ({user} is replaced) (default: the user name)')
    .option(
      '--email <email>',
      'e-mail of new keys, the --sign-by identity ({user} is replaced) (default: <user>@<hostname>)',
    )
    .addOption(
      new Option('--key-type <type>', 'algorithm of new keys')
        .choices(['rsa', 'ed25519'] as const)
        .default('rsa' as const),
    )
    .option('--expire <days>', 'lifetime of new keys in days, 0: never', parseExpire, 0)
    .option(
      '--passphrase-file <file>',
      'file holding the passphrase of new keys (default: asked on the terminal)',
    )
    .option(
      '--password-file <file>',
      'file holding the password of new accounts (default: asked on the terminal)',
    )
    .option('--no-password', 'create new accounts without a password')
    .action(async (args, opts) => {
      requireRoot(ctx);
      // docs/weaknesses.md#w10-invalid-image-maker-arguments: every argument is checked before anything else happens
      const { normalizeMakerArgs } = await import('../imagemaker/plan-imagemakers.ts');
      const makers = normalizeMakerArgs(args);
      const sys = ctx.system;
      const input = ctx.stdin ?? process.stdin;
      const hostPath = (f: string) => resolveHostPath(f);
      let passphraseFromFile: string | undefined;
      let passwordFromFile: string | undefined;
      const { createImageMakers } = await import('../imagemaker/create-imagemakers.ts');
      const { readPassphrase } = await import('@podsec/core/trust');
      const result = await createImageMakers(sys, {
        makers,
        force: opts.force === true,
        existing: opts.existing === true,
        key: {
          ...(opts.name === undefined ? {} : { name: opts.name }),
          ...(opts.email === undefined ? {} : { email: opts.email }),
          type: opts.keyType,
          expireDays: opts.expire,
        },
        translate: ctx.t,
        ...(opts.passphraseFile !== undefined || ctx.isTTY
          ? {
              passphrase: async ({ user, email }) => {
                if (opts.passphraseFile !== undefined) {
                  passphraseFromFile ??= checkSecretLine(
                    await readPassphrase({ file: hostPath(opts.passphraseFile) }, (f) =>
                      readSecretFile(sys, f),
                    ),
                    ctx.t('imagemaker.what.passphrase'),
                  );
                  return passphraseFromFile;
                }
                return promptSecret(input, ctx.stderr, {
                  first: ctx.t('imagemaker.prompt.passphrase', { user, email }),
                  again: ctx.t('imagemaker.prompt.passphraseAgain'),
                  what: ctx.t('imagemaker.what.passphrase'),
                });
              },
            }
          : {}),
        ...(opts.password === false || opts.passwordFile !== undefined || ctx.isTTY
          ? {
              password: async ({ user }) => {
                if (opts.password === false) return null;
                if (opts.passwordFile !== undefined) {
                  passwordFromFile ??= checkSecretLine(
                    await readPassphrase({ file: hostPath(opts.passwordFile) }, (f) =>
                      readSecretFile(sys, f),
                    ),
                    ctx.t('imagemaker.what.password'),
                  );
                  return passwordFromFile;
                }
                return promptSecret(input, ctx.stderr, {
                  first: ctx.t('imagemaker.prompt.password', { user }),
                  again: ctx.t('imagemaker.prompt.passwordAgain', { user }),
                  what: ctx.t('imagemaker.what.password'),
                });
              },
            }
          : {}),
      });
      const { report, ...rest } = result;
      sys.report.result(formatResult(result, ctx), { ...rest, ...changeReportJson(report) });
    });
}

/** The podsec-create-imagemakeruser binary. */
export const cli: CliDefinition = {
  name: 'podsec-create-imagemakeruser',
  create: createProgram,
  exitCodes,
  messages: imagemakerMessages,
  mutates: true,
};
