/**
 * Minimal comment-preserving TOML edits: set single-line `key = value` pairs in a `[table]`.
 * Every edit is verified by re-parsing the result.
 */
import { parse, TomlError } from 'smol-toml';
import { InternalError, UsageError } from '../errors.ts';

/** Values podsec writes into TOML files. */
export type TomlScalar = string | number | boolean | readonly string[];

/** Parse TOML, mapping syntax errors to a UsageError with `code`. */
export function parseTomlText(text: string, code: string, what: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (e) {
    const msg = e instanceof TomlError ? (e.message.split('\n')[0] ?? '') : String(e);
    throw new UsageError(code, `invalid ${what}: ${msg}`, { cause: e });
  }
}

/** Value at a table path + key, or undefined. */
export function getTomlValue(
  doc: Record<string, unknown>,
  table: readonly string[],
  key: string,
): unknown {
  let node: unknown = doc;
  for (const part of [...table, key]) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function formatValue(v: TomlScalar): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return String(v);
}

function sameValue(a: unknown, b: TomlScalar): boolean {
  return Array.isArray(b)
    ? Array.isArray(a) && a.length === b.length && a.every((x, i) => x === b[i])
    : a === b;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Set `key = value` in `[table]` (created at the end when missing), keeping comments and layout.
 * Unchanged values return the input text with `changed: false`.
 * @throws UsageError `code` for malformed input, `TOML_EDIT_UNSUPPORTED` for a key podsec cannot edit safely
 */
export function setTomlValue(
  text: string,
  table: readonly string[],
  key: string,
  value: TomlScalar,
  errors: { readonly code: string; readonly what: string },
): { text: string; changed: boolean } {
  if (![...table, key].every((p) => BARE_KEY.test(p)))
    throw new UsageError('TOML_EDIT_UNSUPPORTED', `unsupported key ${[...table, key].join('.')}`);
  const doc = parseTomlText(text, errors.code, errors.what);
  if (sameValue(getTomlValue(doc, table, key), value)) return { text, changed: false };
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const header = table.join('.');
  const headerRe = /^\s*\[\s*([A-Za-z0-9_.\s-]+?)\s*\]\s*(?:#.*)?$/;
  let start = -1;
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/^\s*\[/.test(line)) {
      if (start !== -1) {
        end = i;
        break;
      }
      const m = headerRe.exec(line);
      if (m && (m[1] as string).replace(/\s*\.\s*/g, '.') === header) start = i;
    }
  }
  const assignment = `${key} = ${formatValue(value)}`;
  const keyRe = new RegExp(`^(\\s*)${key}\\s*=`);
  let out: string;
  if (start === -1) {
    if (
      getTomlValue(doc, table.slice(0, -1), table.at(-1) ?? '') !== undefined &&
      table.length > 0
    ) {
      throw new UsageError(
        'TOML_EDIT_UNSUPPORTED',
        `[${header}] is defined in a form podsec cannot edit`,
      );
    }
    let base = text;
    if (base !== '' && !base.endsWith('\n')) base += nl;
    out = `${base}${base === '' ? '' : nl}[${header}]${nl}${assignment}${nl}`;
  } else {
    const copy = [...lines];
    const at = copy.findIndex((l, i) => i > start && i < end && keyRe.test(l));
    if (at === -1) {
      copy.splice(start + 1, 0, assignment);
    } else {
      const old = copy[at] as string;
      const indent = keyRe.exec(old)?.[1] ?? '';
      // Keep a trailing comment when the old value was a simple one-line scalar.
      const comment =
        /^\s*[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^#"'[\]{}]+?)\s*(#.*)$/.exec(
          old,
        )?.[1];
      copy[at] = `${indent}${assignment}${comment === undefined ? '' : ` ${comment}`}`;
    }
    out = copy.join(nl);
  }
  let after: Record<string, unknown>;
  try {
    after = parse(out);
  } catch (e) {
    throw new UsageError(
      'TOML_EDIT_UNSUPPORTED',
      `cannot edit ${key} in [${header}] safely (multi-line value?)`,
      { cause: e },
    );
  }
  if (!sameValue(getTomlValue(after, table, key), value)) {
    throw new InternalError(
      'TOML_EDIT_FAILED',
      `editing ${header}.${key} did not produce the expected value`,
    );
  }
  return { text: out, changed: true };
}
