import type {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamReadResult,
} from 'node:stream/web';

/**
 * Reads a byte stream to the end, calling `tooLarge` (which must throw) as soon as more than `limit`
 * bytes arrived: a lying Content-Length or a compression bomb never gets buffered whole.
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  tooLarge: () => never,
): Promise<Uint8Array> {
  const reader: ReadableStreamDefaultReader<Uint8Array> = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk: ReadableStreamReadResult<Uint8Array> = await reader.read();
    if (chunk.done) break;
    total += chunk.value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      tooLarge();
    }
    chunks.push(chunk.value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
