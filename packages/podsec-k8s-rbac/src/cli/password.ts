import { isPodsecError, UsageError } from '@podsec/core';
import { readHiddenLine, type CliContext } from '@podsec/core/cli';

/** Longest password accepted (one line; anything longer is not a password). */
export const MAX_PASSWORD_BYTES = 4096;

const aborted = () => new UsageError('RBAC_PASSWORD_ABORTED', 'aborted', { details: {} });

/** One line from a terminal without echo (core's prompt); refuses a stream that is not a terminal. */
const readHiddenPassword = (ctx: CliContext, prompt: string) =>
  readHiddenLine(ctx.stdin, ctx.stderr, prompt, {
    requireTty: true,
    maxBytes: MAX_PASSWORD_BYTES,
    aborted,
    tooLong,
  });

const tooLong = () =>
  new UsageError(
    'RBAC_PASSWORD_INVALID',
    `the password is longer than ${MAX_PASSWORD_BYTES} bytes`,
    {
      details: { reason: `longer than ${MAX_PASSWORD_BYTES} bytes` },
    },
  );

/** A password line: not empty, no control characters (one trailing newline removed). Throws `RBAC_PASSWORD_INVALID`. */
export function checkPassword(text: string): string {
  const line = text.replace(/\r?\n$/, '');
  const invalid = (reason: string) =>
    new UsageError('RBAC_PASSWORD_INVALID', `unusable password: ${reason}`, {
      details: { reason },
    });
  if (line === '') throw invalid('empty');
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\x00-\x1f\x7f]/.test(line)) throw invalid('more than one line or control characters');
  return line;
}

/** Asks twice on the terminal. Throws `RBAC_PASSWORD_MISMATCH`, `RBAC_PASSWORD_INVALID`, `RBAC_PASSWORD_ABORTED`. */
export async function promptPassword(ctx: CliContext, user: string): Promise<string> {
  const a = checkPassword(await readHiddenPassword(ctx, ctx.t('rbac.passwordPrompt', { user })));
  const b = await readHiddenPassword(ctx, ctx.t('rbac.passwordAgain', { user }));
  if (a !== b)
    throw new UsageError('RBAC_PASSWORD_MISMATCH', 'the passwords do not match', { details: {} });
  return a;
}

/**
 * The password from a file only its owner may read (core's secret-file reader: a regular file, no symlink,
 * mode 0600 or 0400, owned by the caller or root, at most MAX_PASSWORD_BYTES). Throws `RBAC_PASSWORD_FILE`,
 * `RBAC_PASSWORD_INVALID`.
 */
export async function readPasswordFile(ctx: CliContext, file: string): Promise<string> {
  // the system subpath brings the process runner: loaded when a file is read, not at start
  const { readSecretFile, resolveHostPath } = await import('@podsec/core/system');
  const abs = resolveHostPath(file);
  const bytes = await readSecretFile(ctx.system, abs, { maxBytes: MAX_PASSWORD_BYTES + 2 }).catch(
    (e: unknown) => {
      if (!(isPodsecError(e) && e.code.startsWith('SECRET_'))) throw e;
      const reason =
        e.code === 'SECRET_NOT_FOUND'
          ? 'not found'
          : e.code === 'SECRET_TOO_LARGE'
            ? `larger than ${MAX_PASSWORD_BYTES} bytes`
            : typeof e.details?.['reason'] === 'string'
              ? e.details['reason']
              : e.message;
      throw new UsageError('RBAC_PASSWORD_FILE', `password file ${abs}: ${reason}`, {
        details: { path: abs, reason },
        cause: e,
      });
    },
  );
  return checkPassword(Buffer.from(bytes).toString('utf8'));
}

/** --password-stdin: one line from standard input (bounded). */
export async function readPasswordStdin(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.stdin) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    chunks.push(b);
    if (size > MAX_PASSWORD_BYTES + 2 || b.includes(0x0a)) break;
  }
  const line = Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
  if (Buffer.byteLength(line) > MAX_PASSWORD_BYTES) throw tooLong();
  return checkPassword(line.replace(/\r$/, ''));
}
