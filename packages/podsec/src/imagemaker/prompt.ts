import { UsageError } from '@podsec/core';

/** A stream that may be a terminal (`tty.ReadStream` has `setRawMode`). */
type MaybeTty = NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown; isTTY?: boolean };

/**
 * Read one line from `input` without echo when it is a terminal (raw mode; backspace edits, Ctrl-C/Ctrl-D
 * abort with `IMAGEMAKER_ABORTED`). The prompt goes to `write` (stderr).
 */
export async function readHiddenLine(
  input: NodeJS.ReadableStream,
  write: (s: string) => void,
  prompt: string,
): Promise<string> {
  const tty = input as MaybeTty;
  const raw = typeof tty.setRawMode === 'function' && tty.isTTY === true;
  write(prompt);
  if (raw) tty.setRawMode!(true);
  input.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const done = (err?: Error): void => {
        input.off('data', onData);
        input.off('end', onEnd);
        if (err) reject(err);
        else resolve(line);
      };
      const onEnd = (): void =>
        done(
          line === ''
            ? new UsageError('IMAGEMAKER_ABORTED', 'aborted', { details: {} })
            : undefined,
        );
      const onData = (chunk: Buffer | string): void => {
        for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003' || ch === '\u0004')
            return done(new UsageError('IMAGEMAKER_ABORTED', 'aborted', { details: {} }));
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
        }
      };
      input.on('data', onData);
      input.on('end', onEnd);
    });
  } finally {
    if (raw) tty.setRawMode!(false);
    input.pause();
    write('\n');
  }
}

/**
 * Ask a secret twice on a terminal; refuses empty values and mismatches.
 * @throws UsageError `IMAGEMAKER_SECRET_EMPTY`, `IMAGEMAKER_SECRET_MISMATCH`, `IMAGEMAKER_ABORTED`
 */
export async function promptSecret(
  input: NodeJS.ReadableStream,
  write: (s: string) => void,
  prompts: { readonly first: string; readonly again: string; readonly what: string },
): Promise<string> {
  const a = await readHiddenLine(input, write, prompts.first);
  if (a === '')
    throw new UsageError('IMAGEMAKER_SECRET_EMPTY', `the ${prompts.what} must not be empty`, {
      details: { what: prompts.what },
    });
  const b = await readHiddenLine(input, write, prompts.again);
  if (a !== b)
    throw new UsageError('IMAGEMAKER_SECRET_MISMATCH', `the ${prompts.what}s do not match`, {
      details: { what: prompts.what },
    });
  return a;
}

/**
 * A secret read from a file: one line (one trailing newline removed), not empty.
 * @throws UsageError `IMAGEMAKER_SECRET_EMPTY`, `IMAGEMAKER_SECRET_INVALID`
 */
export function checkSecretLine(value: string, what: string): string {
  if (value === '')
    throw new UsageError('IMAGEMAKER_SECRET_EMPTY', `the ${what} must not be empty`, {
      details: { what },
    });
  if (/[\r\n]/.test(value))
    throw new UsageError('IMAGEMAKER_SECRET_INVALID', `the ${what} must be one line`, {
      details: { what },
    });
  return value;
}
