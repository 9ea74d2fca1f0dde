/** Backpressure of the System boundary's writers (a child's stdin, an HTTP request body). */

/** The part of a writable stream {@link drained} needs. */
interface Drainable {
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Resolves when `w` asks for more (`drain`) or is gone (`close`), after a `write` returned false. */
export function drained(w: Drainable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
