/**
 * TOML without the parser library, for the plain form registries.conf files nearly always have (the distributions'
 * registries.conf is all comments, registries.conf.d/shortnames.conf one `[aliases]` table of quoted names): comment
 * and blank lines, `[table]` headers with a bare name, and `key = "string"` or `key = true|false` with a bare or
 * quoted key. Any other line (arrays, inline tables, numbers, dates, escapes, multi-line or literal strings, dotted
 * keys), a repeated key or table, or a character TOML forbids makes it step aside (`undefined`) for smol-toml, which
 * gives the same document for every text this reader takes. Reading two such files with smol-toml was about two
 * milliseconds of every `podsec-trust verify`: its code runs cold, a character at a time.
 */

// a basic string's content: no quote, no backslash, no control character but tab
const STRING = '"([^"\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]*)"';
const COMMENT = '(?:#[^\\x00-\\x08\\x0a-\\x1f\\x7f]*)?';
const BARE = '([A-Za-z0-9_-]+)';
const BLANK_LINE = new RegExp(`^[ \\t]*${COMMENT}$`);
const TABLE_LINE = new RegExp(`^[ \\t]*\\[[ \\t]*${BARE}[ \\t]*\\][ \\t]*${COMMENT}$`);
const KEY_VALUE_LINE = new RegExp(
  `^[ \\t]*(?:${BARE}|${STRING})[ \\t]*=[ \\t]*(?:${STRING}|(true|false))[ \\t]*${COMMENT}$`,
);

type Table = Record<string, unknown>;

/** The document of `text` (tables without a prototype, as smol-toml's), or `undefined` for smol-toml to read. */
export function parsePlainToml(text: string): Table | undefined {
  const root: Table = Object.create(null) as Table;
  let table = root;
  for (const raw of text.split('\n')) {
    // CRLF line ends; a carriage return anywhere else fails the patterns below (a control character)
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (BLANK_LINE.test(line)) continue;
    const header = TABLE_LINE.exec(line);
    if (header) {
      const name = header[1] as string;
      // a table defined twice, or a name the root already holds: an error for smol-toml to report
      if (Object.hasOwn(root, name)) return undefined;
      table = Object.create(null) as Table;
      root[name] = table;
      continue;
    }
    const kv = KEY_VALUE_LINE.exec(line);
    if (kv === null) return undefined;
    const key = (kv[1] ?? kv[2]) as string;
    if (Object.hasOwn(table, key)) return undefined;
    table[key] = kv[3] ?? kv[4] === 'true';
  }
  return root;
}
