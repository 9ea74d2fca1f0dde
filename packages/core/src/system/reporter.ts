import type { Reporter } from './types.ts';

/** Where a reporter writes. */
export interface ReporterStreams {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Options of {@link createStreamReporter}. */
export interface StreamReporterOptions {
  /** Results as one JSON document on stdout; human messages still go to stderr. */
  readonly json?: boolean;
  readonly verbose?: boolean;
  /** Messages only for results (no info/progress). */
  readonly quiet?: boolean;
}

/**
 * The reporter of the CLIs: results on stdout, everything else on stderr (as the original tools do).
 * With `json`, `result()` prints its data as JSON instead of the text.
 */
export function createStreamReporter(s: ReporterStreams, o: StreamReporterOptions = {}): Reporter {
  return {
    info: (m) => {
      if (!o.quiet) s.err(`${m}\n`);
    },
    warn: (m) => s.err(`${m}\n`),
    progress: (m) => {
      if (!o.quiet) s.err(`${m}\n`);
    },
    debug: (m) => {
      if (o.verbose) s.err(`${m}\n`);
    },
    result: (text, data) => {
      if (o.json) s.out(`${JSON.stringify(data ?? { result: text }, null, 2)}\n`);
      else if (text !== '') s.out(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}

/** A reporter that records everything (tests). */
export function createMemoryReporter(): Reporter & {
  readonly messages: Array<{ kind: string; text: string; data?: unknown }>;
} {
  const messages: Array<{ kind: string; text: string; data?: unknown }> = [];
  const push = (kind: string) => (text: string) => {
    messages.push({ kind, text });
  };
  return {
    messages,
    info: push('info'),
    warn: push('warn'),
    progress: push('progress'),
    debug: push('debug'),
    result: (text, data) => {
      messages.push({ kind: 'result', text, data });
    },
  };
}
