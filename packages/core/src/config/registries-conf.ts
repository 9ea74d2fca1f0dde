/**
 * containers-registries.conf(5): read the v2 (`[[registry]]`) and v1 (`[registries.*]`) formats and
 * make podsec's one edit (an insecure registry) without ever mixing the two formats or losing comments.
 */
import { parse, TomlError } from 'smol-toml';
import { InternalError, UsageError } from '../errors.ts';
import { isRecord } from '../util.ts';
import { parsePlainToml } from './toml-plain.ts';

/** A mirror of a `[[registry]]` entry. */
export interface RegistryMirror {
  readonly location: string;
  readonly insecure?: boolean;
  readonly 'pull-from-mirror'?: string;
}

/** One `[[registry]]` entry (v2). */
export interface RegistryEntry {
  readonly prefix?: string;
  readonly location?: string;
  readonly insecure?: boolean;
  readonly blocked?: boolean;
  readonly 'mirror-by-digest-only'?: boolean;
  readonly mirror?: readonly RegistryMirror[];
}

/** A parsed registries.conf. */
export interface RegistriesConf {
  /** 1 when `[registries.search|insecure|block]` tables are used, else 2. */
  readonly version: 1 | 2;
  readonly registries: readonly RegistryEntry[];
  readonly unqualifiedSearchRegistries: readonly string[];
  readonly shortNameMode?: string;
  /** `[aliases]` short name -> reference. */
  readonly aliases: Readonly<Record<string, string>>;
  /** v1 lists (empty for v2). */
  readonly v1: {
    readonly search: readonly string[];
    readonly insecure: readonly string[];
    readonly block: readonly string[];
  };
}

function invalid(message: string, cause?: unknown): UsageError {
  return new UsageError(
    'REGISTRIES_CONF_INVALID',
    `invalid registries.conf: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** smol-toml returns null-prototype tables; give callers ordinary objects. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v !== 'object' || v === null || v instanceof Date) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    Object.defineProperty(out, k, {
      value: plain(x),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

function parseToml(text: string): Record<string, unknown> {
  try {
    return plain(parsePlainToml(text) ?? parse(text)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw invalid(e.message.split('\n')[0] ?? 'malformed TOML', e);
    throw invalid(String(e), e);
  }
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw invalid(`${where} must be an array of strings`);
  return v as string[];
}

function optional<T extends string | boolean>(
  obj: Record<string, unknown>,
  key: string,
  type: 'string' | 'boolean',
  where: string,
): T | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== type) throw invalid(`${where}.${key} must be a ${type}`);
  return v as T;
}

function parseEntry(v: unknown, i: number): RegistryEntry {
  const where = `registry[${i}]`;
  if (!isRecord(v)) throw invalid(`${where} must be a table`);
  const out: Record<string, unknown> = { ...v };
  for (const key of ['prefix', 'location'] as const) optional(v, key, 'string', where);
  for (const key of ['insecure', 'blocked', 'mirror-by-digest-only'] as const)
    optional(v, key, 'boolean', where);
  if (v['mirror'] !== undefined) {
    if (!Array.isArray(v['mirror'])) throw invalid(`${where}.mirror must be an array of tables`);
    v['mirror'].forEach((m: unknown, j: number) => {
      const mw = `${where}.mirror[${j}]`;
      if (!isRecord(m) || typeof m['location'] !== 'string')
        throw invalid(`${mw} needs a string location`);
      optional(m, 'insecure', 'boolean', mw);
    });
  }
  if (out['prefix'] === undefined && out['location'] === undefined)
    throw invalid(`${where} needs a prefix or a location`);
  return out;
}

function detectVersion(doc: Record<string, unknown>): 1 | 2 {
  const v1 = isRecord(doc['registries']);
  const v2 = doc['registry'] !== undefined || doc['unqualified-search-registries'] !== undefined;
  // containers/image refuses a file mixing both formats.
  if (v1 && v2) throw invalid('mixing the v1 [registries.*] tables with v2 keys is not supported');
  return v1 ? 1 : 2;
}

/**
 * Parse registries.conf (v1 or v2). Known fields are type-checked; other keys are kept by callers that
 * edit text, and ignored here.
 * @throws UsageError `REGISTRIES_CONF_INVALID`
 */
export function parseRegistriesConf(text: string): RegistriesConf {
  const doc = parseToml(text);
  const version = detectVersion(doc);
  const v1 = { search: [] as string[], insecure: [] as string[], block: [] as string[] };
  if (version === 1) {
    const regs = doc['registries'] as Record<string, unknown>;
    for (const key of ['search', 'insecure', 'block'] as const) {
      const t = regs[key];
      if (t === undefined) continue;
      if (!isRecord(t)) throw invalid(`registries.${key} must be a table`);
      v1[key] = stringList(t['registries'], `registries.${key}.registries`);
    }
  }
  const registryList = doc['registry'];
  if (registryList !== undefined && !Array.isArray(registryList))
    throw invalid('registry must be an array of tables');
  const aliases = doc['aliases'];
  if (
    aliases !== undefined &&
    (!isRecord(aliases) || Object.values(aliases).some((x) => typeof x !== 'string'))
  ) {
    throw invalid('aliases must map names to strings');
  }
  const shortNameMode = optional<string>(doc, 'short-name-mode', 'string', '');
  return {
    version,
    registries: (registryList ?? []).map((e: unknown, i: number) => parseEntry(e, i)),
    unqualifiedSearchRegistries: stringList(
      doc['unqualified-search-registries'],
      'unqualified-search-registries',
    ),
    ...(shortNameMode === undefined ? {} : { shortNameMode }),
    aliases: (aliases ?? {}) as Record<string, string>,
    v1,
  };
}

interface Section {
  /** Header text without brackets, e.g. `registry` for `[[registry]]`. */
  readonly header: string;
  readonly array: boolean;
  /** Line index of the header (-1 for the root section). */
  readonly start: number;
  /** Line index after the section's last line. */
  readonly end: number;
}

/** Split TOML text into header-delimited sections (multi-line strings are not tracked; results are re-verified). */
function sections(lines: readonly string[]): Section[] {
  const out: Section[] = [];
  let current = { header: '', array: false, start: -1 };
  lines.forEach((line, i) => {
    const m = /^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$/.exec(line);
    if (m) {
      out.push({ ...current, end: i });
      current = {
        header: (m[2] as string).replace(/\s*\.\s*/g, '.'),
        array: m[1] === '[[',
        start: i,
      };
    }
  });
  out.push({ ...current, end: lines.length });
  return out;
}

function eol(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

function appendBlock(text: string, block: string[]): string {
  const nl = eol(text);
  let base = text;
  if (base !== '' && !base.endsWith('\n')) base += nl;
  const sep = base === '' ? '' : nl;
  return `${base}${sep}${block.join(nl)}${nl}`;
}

/** Result of {@link ensureInsecureRegistry}. */
export interface EnsureInsecureResult {
  readonly text: string;
  /** False when the registry was already insecure; `text` is then the input, byte for byte. */
  readonly changed: boolean;
  readonly version: 1 | 2;
}

/**
 * Make `location` an insecure registry. v2: mark the `[[registry]]` entry whose prefix (or location)
 * is `location` `insecure = true`, or append a new `[[registry]] location/insecure` entry (docs/files.md#registriesconf).
 * v1: add it to `[registries.insecure] registries`. The result is re-parsed and checked.
 * @throws UsageError `REGISTRIES_CONF_INVALID` (malformed or mixed input), `REGISTRIES_CONF_UNSUPPORTED`
 *   (an entry podsec cannot edit textually, e.g. inline tables)
 */
export function ensureInsecureRegistry(text: string, location: string): EnsureInsecureResult {
  if (!/^[A-Za-z0-9.\-:[\]/]+$/.test(location))
    throw new UsageError(
      'REGISTRIES_CONF_INVALID',
      `invalid registry location ${JSON.stringify(location)}`,
    );
  const before = parseRegistriesConf(text);
  const nl = eol(text);
  const lines = text.split(/\r?\n/);
  let out: string;
  if (before.version === 1) {
    if (before.v1.insecure.includes(location)) return { text, changed: false, version: 1 };
    out = addV1Insecure(text, lines, location, nl);
  } else {
    // podman keys entries by location (a trailing / dropped) and refuses two with a different `insecure`:
    // every entry at this location is marked, and one whose prefix is the location is added when missing
    const mine = (r: RegistryEntry) => normalLocation(r.prefix ?? r.location) === location;
    const atLocation = (r: RegistryEntry) => mine(r) || normalLocation(r.location) === location;
    const marked = before.registries
      .map((r, i) => (atLocation(r) && r.insecure !== true ? i : -1))
      .filter((i) => i !== -1);
    const missing = !before.registries.some(mine);
    if (marked.length === 0 && !missing) return { text, changed: false, version: 2 };
    const entries = sections(lines).filter((s) => s.array && s.header === 'registry');
    if (marked.length > 0 && entries.length !== before.registries.length) {
      throw new UsageError(
        'REGISTRIES_CONF_UNSUPPORTED',
        'cannot edit registries.conf: [[registry]] entries are not all written as [[registry]] tables',
      );
    }
    const copy = [...lines];
    // from the last entry up, so that inserted lines do not move the sections still to edit
    for (const index of [...marked].reverse()) {
      const section = entries[index]!;
      let replaced = false;
      for (let i = section.start + 1; i < section.end; i++) {
        const line = copy[i] as string;
        if (/^\s*\[/.test(line)) break; // a [[registry.mirror]] sub-table starts
        if (/^\s*"?insecure"?\s*=/.test(line)) {
          copy[i] = line.replace(/=\s*false/, '= true');
          replaced = true;
          break;
        }
      }
      if (!replaced) copy.splice(section.start + 1, 0, 'insecure = true');
    }
    out = copy.join(nl);
    if (missing)
      out = appendBlock(out, [
        '[[registry]]',
        `location = ${JSON.stringify(location)}`,
        'insecure = true',
      ]);
  }
  verifyInsecureEdit(before, out, location);
  return { text: out, changed: true, version: before.version };
}

function addV1Insecure(text: string, lines: string[], location: string, nl: string): string {
  const section = sections(lines).find((s) => !s.array && s.header === 'registries.insecure');
  if (section === undefined)
    return appendBlock(text, [
      '[registries.insecure]',
      `registries = [${JSON.stringify(location)}]`,
    ]);
  const body = lines.slice(section.start + 1, section.end).join('\n');
  const key = /^\s*registries\s*=\s*\[/m.exec(body);
  if (key === null) {
    const copy = [...lines];
    copy.splice(section.start + 1, 0, `registries = [${JSON.stringify(location)}]`);
    return copy.join(nl);
  }
  // Find the closing bracket of the array, skipping strings and comments.
  const offsetOfSection = lines.slice(0, section.start + 1).join('\n').length + 1;
  const flat = lines.join('\n');
  let i = offsetOfSection + key.index + key[0].length;
  // Position of the last significant character before ']' ('[' itself, a closing quote or a comma).
  let last = i - 1;
  for (; i < flat.length; i++) {
    const c = flat[i];
    if (c === '"' || c === "'") {
      const close = flat.indexOf(c, i + 1);
      if (close === -1) break;
      i = close;
      last = close;
    } else if (c === '#') {
      const e = flat.indexOf('\n', i);
      i = e === -1 ? flat.length : e;
    } else if (c === ',') {
      last = i;
    } else if (c === ']') {
      break;
    }
  }
  const prev = flat[last];
  const insert = `${prev === '[' ? '' : prev === ',' ? ' ' : ', '}${JSON.stringify(location)}`;
  return `${flat.slice(0, last + 1)}${insert}${flat.slice(last + 1)}`.split('\n').join(nl);
}

/** A location as podman compares them: without a trailing `/`. */
function normalLocation(l: string | undefined): string | undefined {
  return l?.replace(/\/+$/, '');
}

function verifyInsecureEdit(before: RegistriesConf, text: string, location: string): void {
  let after: RegistriesConf;
  try {
    after = parseRegistriesConf(text);
  } catch (e) {
    throw new InternalError(
      'REGISTRIES_CONF_EDIT_FAILED',
      'editing registries.conf produced an invalid file',
      { cause: e },
    );
  }
  const ok =
    after.version === before.version &&
    (before.version === 1
      ? after.v1.insecure.includes(location) &&
        after.v1.insecure.length === before.v1.insecure.length + 1
      : after.registries.some(
          (r) => normalLocation(r.prefix ?? r.location) === location && r.insecure === true,
        ) &&
        after.registries.every(
          (r) => normalLocation(r.location) !== location || r.insecure === true,
        ) &&
        after.registries.length - before.registries.length <= 1);
  if (!ok)
    throw new InternalError(
      'REGISTRIES_CONF_EDIT_FAILED',
      'editing registries.conf did not produce the expected entry',
    );
}
