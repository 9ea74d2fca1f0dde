/**
 * A small JSON parser that, unlike `JSON.parse`, rejects duplicate object keys (as containers/image's
 * paranoid unmarshaller does) and keeps `__proto__` as an ordinary key.
 */

/** A JSON syntax error with the offset where parsing stopped. */
export class JsonSyntaxError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'JsonSyntaxError';
    this.offset = offset;
  }
}

/** Define an own enumerable property, safe for keys like `__proto__`. */
export function defineKey(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parse JSON text strictly; duplicate keys in one object are an error.
 * @throws JsonSyntaxError
 */
export function parseStrictJson(text: string): unknown {
  let i = 0;
  const skip = (): void => {
    while (i < text.length && WS.has(text[i] as string)) i++;
  };
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, i);
  };
  const parseString = (): string => {
    const start = i;
    i++; // opening quote
    let simple = true;
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        simple = false;
        i += 2;
        continue;
      }
      i++;
    }
    i++;
    const raw = text.slice(start, i);
    if (simple) return raw.slice(1, -1);
    try {
      return JSON.parse(raw) as string;
    } catch {
      i = start;
      return fail('invalid string escape');
    }
  };
  const parseValue = (depth: number): unknown => {
    if (depth > 512) fail('nesting too deep');
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      const seen = new Set<string>();
      skip();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') fail('expected object key');
        const keyAt = i;
        const key = parseString();
        if (seen.has(key)) {
          i = keyAt;
          fail(`duplicate key ${JSON.stringify(key)}`);
        }
        seen.add(key);
        skip();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        defineKey(obj, key, parseValue(depth + 1));
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skip();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail('unexpected character');
  };
  const value = parseValue(0);
  skip();
  if (i !== text.length) fail('unexpected data after the JSON value');
  return value;
}
