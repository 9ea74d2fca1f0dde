/** A plain object (not null, an array or a date): what a JSON/YAML/TOML table parses to. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Text from untrusted bytes (archive member names, registry answers, file contents) made safe to print on a
 * terminal: C0 and C1 control characters, DEL, and the bidirectional overrides/isolates that reorder what is shown
 * (U+202A-U+202E, U+2066-U+2069) become visible `\xNN` / `\u{NNNN}` escapes; a backslash is doubled so an escape
 * cannot be forged. Everything else, including other non-ASCII text, is kept.
 */
export function escapeForTerminal(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/**
 * `f()` as a promise: its value, or a rejection with what it throws (never a synchronous throw). For the interfaces
 * that are asynchronous but whose real implementation makes a quick synchronous system call.
 */
export function settled<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

/** The errno name (`ENOENT`, ...) of a failed Node system call, or undefined. */
export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
