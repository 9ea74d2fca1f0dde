/**
 * A tool's binary output, byte for byte. execa's `stripFinalNewline` (on by default) also applies to
 * `encoding: 'buffer'`: it drops a final 0x0A (and a 0x0D before it) from the bytes. A gpg export or signature ends
 * in MPI bytes, so about one key or signature in 128 lost its last byte that way, and openpgp.js then read a
 * truncated packet ("Unexpected end of packet": the intermittent interop failure of a fresh-machine run).
 */
import { execa, type Options } from 'execa';

/** Runs `file args` (execa, rejecting on a non-zero exit) and resolves with its stdout exactly as written. */
export async function execBytes(
  file: string,
  args: readonly string[],
  options: Omit<Options, 'encoding' | 'stripFinalNewline' | 'lines'> = {},
): Promise<Uint8Array> {
  const r = await execa(file, args, { ...options, encoding: 'buffer', stripFinalNewline: false });
  return r.stdout;
}
