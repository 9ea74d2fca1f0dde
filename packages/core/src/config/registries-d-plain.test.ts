import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parsePlainRegistriesDFile,
  readRegistriesDTexts,
  type RegistriesDConfig,
} from './registries-d-plain.ts';
import { formatRegistriesD, mergeRegistriesD, parseRegistriesDFile } from './registries-d.ts';

/** [text, read by the plain reader] */
const SAMPLES: readonly [string, boolean][] = [
  ['default-docker:\n  lookaside: file:///var/lib/containers/sigstore\n', true],
  [
    '# podsec\ndefault-docker:\n    lookaside: https://sigs.local/sig\n    sigstore-staging: file:///s\n',
    true,
  ],
  [
    'docker:\n  127.0.0.1:5000:\n    lookaside: http://127.0.0.1:81/sigstore\n    lookaside-staging: file:///var/sigstore\n  registry.local/c10f:\n      sigstore: file:///x\n',
    true,
  ],
  [
    'docker:\n  "127.0.0.1:41399":\n    lookaside: file:///tmp/a\n    lookaside-staging: file:///tmp/a\n',
    true,
  ],
  ['default-docker:\n  lookaside: "file:///quoted"\n  use-sigstore-attachments: true\n', true],
  [
    'docker:\n  registry.local:\n    use-sigstore-attachments: false\n\n  # comment\n  other.local:\n',
    true,
  ],
  ['default-docker:\ndocker:\n', true],
  ['', true],
  ['# only a comment\n', true],
  ['docker:\n  "*.example.com":\n    lookaside: file:///w\n', true],
  // forms left to the YAML reader (some valid, some errors)
  ["default-docker:\n  lookaside: 'file:///single'\n", false],
  ['default-docker:\n  lookaside: file:///x # trailing comment\n', false],
  ['default-docker: {lookaside: "file:///flow"}\n', false],
  ['---\ndefault-docker:\n  lookaside: file:///x\n', false],
  ['default-docker:\n\tlookaside: file:///tab\n', false],
  ['default-docker:\r\n  lookaside: file:///crlf\r\n', false],
  ['default-docker:\n  lookaside: /not/a/url\n', false],
  ['default-docker:\n  lookaside:\n', false],
  ['default-docker:\n  lookaside: 12\n', false],
  ['default-docker:\n  lookaside: "a\\"b"\n', false],
  ['default-docker:\n  unknown: file:///x\n', false],
  ['default-docker:\n  lookaside: file:///a\n  lookaside: file:///b\n', false],
  ['docker:\n  1.5:\n    lookaside: file:///float-key\n', false],
  ['docker:\n  true:\n    lookaside: file:///bool-key\n', false],
  ['docker:\n  Bad_Scope!:\n    lookaside: file:///x\n', false],
  ['docker:\n  a.local:\n    lookaside: file:///x\n   other: 1\n', false],
  ['docker:\n  a.local:\n  lookaside: file:///x\n', false],
  ['other:\n  a: b\n', false],
  ['default-docker:\n  lookaside: &a file:///anchor\n', false],
  ['- list\n', false],
  ['\uFEFFdefault-docker:\n  lookaside: file:///bom\n', false],
];

const viaYaml = (text: string): unknown => {
  try {
    return parseRegistriesDFile('f.yaml', text);
  } catch (e) {
    return { error: (e as Error).message };
  }
};

describe('parsePlainRegistriesDFile', () => {
  for (const [text, plain] of SAMPLES) {
    it(`${plain ? 'reads' : 'leaves to YAML'} ${JSON.stringify(text)}`, () => {
      const got = parsePlainRegistriesDFile(text);
      if (!plain) return assert.equal(got, undefined);
      assert.notEqual(got, undefined);
      // exactly what the YAML reader makes of it
      assert.deepEqual(got, viaYaml(text));
    });
  }

  it('reads what podsec writes (formatRegistriesD)', () => {
    const configs: RegistriesDConfig[] = [
      { defaultDocker: { lookaside: 'file:///var/sigstore' }, docker: {} },
      {
        docker: {
          '192.168.1.5': {
            lookaside: 'http://192.168.1.5:81/sigstore',
            'lookaside-staging': 'file:///var/sigstore',
          },
          'registry.local:5000/team': { sigstore: 'https://s.local/x' },
        },
      },
    ];
    for (const config of configs) {
      const text = formatRegistriesD(config);
      assert.deepEqual(parsePlainRegistriesDFile(text), viaYaml(text), text);
      assert.notEqual(parsePlainRegistriesDFile(text), undefined, text);
    }
  });
});

describe('readRegistriesDTexts', () => {
  const settle = async (p: () => unknown) => {
    try {
      return { ok: await p() };
    } catch (e) {
      return { error: (e as Error).message, code: (e as { code?: string }).code };
    }
  };
  it('merges a directory as mergeRegistriesD does: order, non-yaml names, conflicts, YAML-only files', async () => {
    const a = { name: 'a.yaml', text: 'docker:\n  a.local:\n    lookaside: file:///a\n' };
    const b = { name: 'b.yaml', text: 'default-docker:\n  lookaside: file:///b\n' };
    const c = { name: 'c.yaml', text: "docker:\n  a.local:\n    lookaside: 'file:///c'\n" };
    const d = { name: 'd.yaml', text: 'default-docker:\n  sigstore: file:///d\n' };
    const txt = { name: 'z.conf', text: 'garbage: [' };
    for (const files of [[b, a], [a, b, txt], [a, c], [b, d], [c], [d, a], []]) {
      const expected = await settle(() => mergeRegistriesD(files));
      assert.deepEqual(await settle(() => readRegistriesDTexts(files)), expected);
    }
  });
});
