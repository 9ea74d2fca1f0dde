/**
 * The one no-echo line prompt (passwords, passphrases). Light at import: errors only; the terminal is
 * touched when a prompt is shown.
 */
import { UsageError } from '../errors.ts';

/** A stream that may be a terminal (`tty.ReadStream` has `setRawMode`). */
type MaybeTty = NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown; isTTY?: boolean };

/** Options of {@link readHiddenLine}. */
export interface HiddenLineOptions {
  /** Refuse (`aborted`) a stream that is not a terminal instead of reading it with echo. @default false */
  readonly requireTty?: boolean;
  /** Longest accepted line in bytes; a longer one fails with `tooLong`. @default 4096 */
  readonly maxBytes?: number;
  /** The error of Ctrl-C, Ctrl-D, end of input before a line, or a non-terminal with `requireTty`. */
  readonly aborted?: () => Error;
  /** The error of a line longer than `maxBytes`. */
  readonly tooLong?: (maxBytes: number) => Error;
}

const defaultAborted = () => new UsageError('PROMPT_ABORTED', 'aborted', { details: {} });
const defaultTooLong = (max: number) =>
  new UsageError('PROMPT_TOO_LONG', `the answer is longer than ${max} bytes`, {
    details: { max },
  });

/**
 * One line from `input` without echo when it is a terminal (raw mode, set before the prompt shows so
 * typing right after it is not echoed; backspace edits; Ctrl-C/Ctrl-D abort). The prompt goes to `write`
 * (stderr). A stream that is not a terminal is read as it is (one line, bounded) unless `requireTty`.
 */
export async function readHiddenLine(
  input: NodeJS.ReadableStream,
  write: (s: string) => void,
  prompt: string,
  o: HiddenLineOptions = {},
): Promise<string> {
  const aborted = o.aborted ?? defaultAborted;
  const max = o.maxBytes ?? 4096;
  const tty = input as MaybeTty;
  const raw = typeof tty.setRawMode === 'function' && tty.isTTY === true;
  if (!raw && o.requireTty) throw aborted();
  if (raw) tty.setRawMode!(true);
  write(prompt);
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
      // end of a non-terminal stream: the last line counts even without its newline
      const onEnd = (): void => done(line === '' ? aborted() : undefined);
      const onData = (chunk: Buffer | string): void => {
        for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003' || ch === '\u0004') return done(aborted());
          if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else line += ch;
          if (Buffer.byteLength(line) > max) return done((o.tooLong ?? defaultTooLong)(max));
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
