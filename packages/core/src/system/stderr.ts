/**
 * Standard error written with blocking writes to descriptor 2. `process.stderr` on a pipe is a net.Socket, and
 * creating it loads node:net and the stream machinery behind it: a measurable part of the start of a command that
 * prints one line. Pipes and files take the same bytes in the same order; should the descriptor be non-blocking and
 * full (EAGAIN), the rest goes through `process.stderr`, which queues it; a closed one (EPIPE) drops the text.
 */
import { writeSync } from 'node:fs';

/** Writes `text` to standard error. */
export function writeStderr(text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(2, bytes, off);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // nobody reads standard error any more: the message has nowhere to go
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') throw e;
    process.stderr.write(bytes.subarray(off));
  }
}
