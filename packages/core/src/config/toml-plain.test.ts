import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { parsePlainToml } from './toml-plain.ts';

// smol-toml's document of `text`, or the error it throws
function library(text: string): unknown {
  try {
    return { doc: parse(text) };
  } catch (e) {
    return { error: String(e) };
  }
}

// what the distributions ship: registries.conf all comments, shortnames.conf one [aliases] table
const SHIPPED_CONF = [
  '# For more information on this configuration file, see containers-registries.conf(5).',
  '#',
  '# unqualified-search-registries = ["example.com"]',
  '#',
  '# [[registry]]',
  '# # The "prefix" field is used to choose the relevant [[registry]] TOML table;',
  '# location = "internal-registry-for-example.com/bar"',
  '',
  '',
].join('\n');
const SHIPPED_ALIASES = [
  '[aliases]',
  '  # almalinux',
  '  "almalinux" = "docker.io/library/almalinux"',
  '  "almalinux-minimal" = "docker.io/library/almalinux-minimal"',
  '  # containers',
  '  "skopeo" = "quay.io/skopeo/stable"',
  '  "ubi8/openjdk-8" = "registry.access.redhat.com/ubi8/openjdk-8"',
  '',
].join('\n');

describe('parsePlainToml', () => {
  const taken = [
    '',
    '\n\n',
    SHIPPED_CONF,
    SHIPPED_ALIASES,
    SHIPPED_ALIASES.replaceAll('\n', '\r\n'),
    'short-name-mode = "enforcing"\n[aliases]\n"a" = "b" # trailing comment\n',
    'short-name-mode="permissive"\n[ aliases ]\t# comment\nbare_key-1 = ""\n',
    '[aliases]\n"" = "empty key"\n"__proto__" = "x"\n"ключ" = "значение\tс табуляцией"\n',
    'flag = true\nother = false\n[t]\nflag = false\n[u]\n',
    '# comment with "quotes" and [brackets] and é\n',
  ];
  for (const text of taken)
    it(`reads ${JSON.stringify(text.slice(0, 50))} as smol-toml does`, () => {
      const doc = parsePlainToml(text);
      assert.notEqual(doc, undefined, 'the plain reader takes it');
      assert.deepEqual({ doc }, library(text));
    });

  const leftToLibrary = [
    // other forms: arrays, array tables, inline tables, numbers, escapes, literal and multi-line strings, dotted keys
    'unqualified-search-registries = ["docker.io"]\n',
    '[[registry]]\nlocation = "r.local"\ninsecure = true\n',
    'a = { b = "c" }\n',
    'n = 1\n',
    '"a" = "b\\"c"\n',
    "a = 'literal'\n",
    'a = """\n[aliases]\n"""\n',
    'a.b = "c"\n',
    '[a.b]\n',
    '[ "quoted" ]\n',
    // errors smol-toml reports: a repeated key or table, a table over a key, control characters, a bare CR
    '"a" = "b"\n"a" = "c"\n',
    'a = "b"\na = "b"\n',
    '[aliases]\n[aliases]\n',
    'aliases = "x"\n[aliases]\n',
    '# a\u0001b\n',
    '"a" = "b\u007f"\n',
    'a = "b"\rc = "d"\n',
    'a = "b" c = "d"\n',
    'a = TRUE\n',
    '= "b"\n',
  ];
  for (const text of leftToLibrary)
    it(`leaves ${JSON.stringify(text)} to smol-toml`, () => {
      assert.equal(parsePlainToml(text), undefined);
    });
});
