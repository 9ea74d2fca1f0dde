/**
 * Temporary directories and files that go away on every way out of a command. The normal paths remove them in the
 * caller's `finally`; a SIGINT, SIGTERM or SIGHUP would end a Node process without running any `finally`, so
 * {@link installSignalCleanup} (called by runCli around every command) removes what is still registered,
 * synchronously, and then lets the signal end the process as it would have (the parent sees the signal), unless the
 * command listens to the signal itself.
 * Child processes that would keep writing into such a directory register a hook with {@link onSignalCleanup}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { errno, settled } from '../util.ts';
import { fsPromises } from './fs-promises.ts';

/** A registered temporary directory. */
export interface TempDir {
  readonly path: string;
  /** Remove it (recursively) and forget it. Idempotent. */
  remove(): Promise<void>;
  /** It was handed over (e.g. renamed to its final name): no longer remove it on a signal. */
  forget(): void;
}

const paths = new Set<string>();
const hooks = new Set<() => void>();

/**
 * Register a path (a directory tree or a file this command created) to be removed if a signal ends the command.
 * Returns the function that unregisters it (call it once the path is removed or handed over).
 */
export function removeOnSignal(p: string): () => void {
  const abs = path.resolve(p);
  paths.add(abs);
  return () => void paths.delete(abs);
}

/** A synchronous hook run on SIGINT/SIGTERM/SIGHUP before the registered paths are removed (e.g. kill a child). */
export function onSignalCleanup(hook: () => void): () => void {
  hooks.add(hook);
  return () => void hooks.delete(hook);
}

/**
 * `mkdtemp(<parent>/<prefix>-XXXXXX)` (mode 0700), registered with {@link removeOnSignal}. The mkdtemp is
 * synchronous: a single mkdir costs far less than the thread-pool round trip of an asynchronous one.
 */
export function makeTempDir(parent: string, prefix: string): Promise<TempDir> {
  return settled(() => {
    let dir: string;
    try {
      dir = mkdtempSync(path.join(parent, `${prefix}-`));
    } catch (e) {
      const code = errno(e) ?? '';
      const reason = UNUSABLE[code];
      if (reason === undefined) throw e;
      // a missing or read-only --tmpdir is the caller's to fix: one clear line, not mkdtemp's errno text
      throw new UsageError(
        'TEMP_DIR_UNUSABLE',
        `cannot create a temporary directory in ${parent}: ${reason}`,
        { details: { parent, reason, errno: code }, cause: e },
      );
    }
    return registeredTempDir(dir);
  });
}

const UNUSABLE: Readonly<Record<string, string>> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

function registeredTempDir(dir: string): TempDir {
  const forget = removeOnSignal(dir);
  return {
    path: dir,
    async remove() {
      await fsPromises().rm(dir, { recursive: true, force: true });
      forget();
    },
    forget,
  };
}

/** Run the hooks and remove every registered path now (synchronously). Exported for tests. */
export function runSignalCleanup(): void {
  for (const hook of [...hooks]) {
    try {
      hook();
    } catch {
      // a hook must not keep the others from running
    }
  }
  hooks.clear();
  for (const p of [...paths]) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort: nothing else can be done while the process ends
    }
  }
  paths.clear();
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = 0;
const handler = (signal: NodeJS.Signals): void => {
  runSignalCleanup();
  for (const s of SIGNALS) process.removeListener(s, handler);
  installed = 0;
  // A command that handles the signal itself (e.g. a graceful stop) has its listener called by this same delivery;
  // otherwise the signal takes its course again, now without us: Node's default action ends the process.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
};

/**
 * Remove the registered paths when SIGINT, SIGTERM or SIGHUP arrives, then re-raise the signal. Nestable; the
 * returned function uninstalls (the handlers are gone when the last caller uninstalled).
 */
export function installSignalCleanup(): () => void {
  if (installed++ === 0) for (const s of SIGNALS) process.on(s, handler);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (installed > 0 && --installed === 0)
      for (const s of SIGNALS) process.removeListener(s, handler);
  };
}
