import type { Logger, ProcessRunner } from './types.ts';

/** Logs through `logger -p <facility>.<priority> -t <tag> -- <message>` (syslog / journal). */
export function createSyslogLogger(proc: ProcessRunner, defaultTag: string): Logger {
  return {
    async log(priority, message, o = {}) {
      const tag = o.tag ?? defaultTag;
      // a failing logger must never break the command that logs
      await proc
        .run('logger', ['-p', `${o.facility ?? 'user'}.${priority}`, '-t', tag, '--', message], {
          timeoutMs: 5000,
        })
        .catch(() => undefined);
    },
  };
}

/** A logger that keeps records in memory (tests, `--dry-run`). */
export function createMemoryLogger(): Logger & {
  readonly records: Array<{ priority: string; tag?: string; message: string }>;
} {
  const records: Array<{ priority: string; tag?: string; message: string }> = [];
  return {
    records,
    log(priority, message, o = {}) {
      records.push({ priority, message, ...(o.tag ? { tag: o.tag } : {}) });
      return Promise.resolve();
    },
  };
}
