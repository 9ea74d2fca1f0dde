import { UsageError } from '@podsec/core';
import { readHiddenLine } from '@podsec/core/cli';

const aborted = () => new UsageError('IMAGEMAKER_ABORTED', 'aborted', { details: {} });

/** One line without echo on a terminal (core's prompt; a non-terminal stream is read as it is). */
const readHiddenSecret = (
  input: NodeJS.ReadableStream,
  write: (s: string) => void,
  prompt: string,
) => readHiddenLine(input, write, prompt, { aborted });

/**
 * Ask a secret twice on a terminal; refuses empty values and mismatches.
 * @throws UsageError `IMAGEMAKER_SECRET_EMPTY`, `IMAGEMAKER_SECRET_MISMATCH`, `IMAGEMAKER_ABORTED`
 */
export async function promptSecret(
  input: NodeJS.ReadableStream,
  write: (s: string) => void,
  prompts: { readonly first: string; readonly again: string; readonly what: string },
): Promise<string> {
  const a = await readHiddenSecret(input, write, prompts.first);
  if (a === '')
    throw new UsageError('IMAGEMAKER_SECRET_EMPTY', `the ${prompts.what} must not be empty`, {
      details: { what: prompts.what },
    });
  const b = await readHiddenSecret(input, write, prompts.again);
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
