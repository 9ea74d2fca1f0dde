/**
 * A tool's binary output, byte for byte. execa's `stripFinalNewline` (on by default) also applies to
 * `encoding: 'buffer'`: it drops a final 0x0A (and a 0x0D before it) from the bytes. A gpg export or signature ends
 * in MPI bytes, so about one key or signature in 128 lost its last byte that way, and openpgp.js then read a
 * truncated packet ("Unexpected end of packet": the intermittent interop failure of a fresh-machine run).
 */
import { execa } from 'execa';

/** Runs `file args` (execa, rejecting on a non-zero exit) and resolves with its stdout exactly as written. */
export async function execBytes(
  file: string,
  args: readonly string[],
  options: { readonly env?: Record<string, string | undefined>; readonly input?: Uint8Array } = {},
): Promise<Uint8Array> {
  const r = await execa(file, args, {
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.input === undefined ? {} : { input: options.input }),
    encoding: 'buffer',
    stripFinalNewline: false,
  });
  return r.stdout;
}
