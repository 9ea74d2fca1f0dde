/**
 * Standard error (and, for the fast paths, standard output) written with blocking writes to the descriptor.
 * `process.stderr` on a pipe is a net.Socket, and creating it loads node:net and the stream machinery behind it: a
 * measurable part of the start of a command that prints one line. Pipes and files take the same bytes in the same
 * order; should the descriptor be non-blocking and full (EAGAIN), the rest and everything after it goes through the
 * process's stream, which queues it in order; a closed one (EPIPE) drops the text.
 */
import { writeSync } from 'node:fs';

/** Descriptors that went over to their stream (EAGAIN once): later text must queue behind what is queued. */
const queued = new Set<number>();

function writeBlocking(fd: 1 | 2, text: string): void {
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  const bytes = Buffer.from(text, 'utf8');
  if (queued.has(fd)) {
    stream().write(bytes);
    return;
  }
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(fd, bytes, off);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    // nobody reads the descriptor any more: the text has nowhere to go
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') throw e;
    queued.add(fd);
    stream().write(bytes.subarray(off));
  }
}

/** Writes `text` to standard error. */
export function writeStderr(text: string): void {
  writeBlocking(2, text);
}

/** Writes `text` to standard output (the fast paths, which print one result and nothing through process.stdout). */
export function writeStdout(text: string): void {
  writeBlocking(1, text);
}
