import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatRegistriesD,
  lookasideFor,
  mergeRegistriesD,
  parseRegistriesDFile,
  updateRegistriesDText,
} from './registries-d.ts';

const SERVER = `default-docker:
  lookaside: http://sigstore.local:81/sigstore/
  sigstore: http://sigstore.local:81/sigstore/
`;
const MAKER = `default-docker:
  lookaside: http://sigstore.local:81/sigstore/
  sigstore: http://sigstore.local:81/sigstore/
  lookaside-staging: file:///var/sigstore/sigstore/
  sigstore-staging: file:///var/sigstore/sigstore/
`;

describe('parseRegistriesDFile', () => {
  it('parses default-docker and docker scopes with every key', () => {
    const c = parseRegistriesDFile(
      'a.yaml',
      `${MAKER}docker:\n  registry.local/c10f:\n    lookaside: http://x/\n    use-sigstore-attachments: true\n`,
    );
    assert.equal(c.defaultDocker?.['lookaside-staging'], 'file:///var/sigstore/sigstore/');
    assert.deepEqual(c.docker['registry.local/c10f'], {
      lookaside: 'http://x/',
      'use-sigstore-attachments': true,
    });
  });

  it('accepts an empty file', () => {
    assert.deepEqual(parseRegistriesDFile('e.yaml', '# nothing\n'), { docker: {} });
  });

  it('rejects unknown keys at the top level and inside namespaces', () => {
    assert.throws(() => parseRegistriesDFile('a.yaml', 'default-dokcer:\n  lookaside: x\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
    assert.throws(
      () => parseRegistriesDFile('a.yaml', 'default-docker:\n  lookaside-stageing: x\n'),
      { code: 'REGISTRIES_D_INVALID' },
    );
    assert.throws(() => parseRegistriesDFile('a.yaml', 'docker:\n  r.io:\n    url: x\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
  });

  it('rejects wrong types, duplicate keys, invalid scopes and malformed YAML', () => {
    assert.throws(() => parseRegistriesDFile('a.yaml', 'default-docker:\n  lookaside: [1]\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
    assert.throws(
      () => parseRegistriesDFile('a.yaml', 'default-docker:\n  use-sigstore-attachments: "yes"\n'),
      { code: 'REGISTRIES_D_INVALID' },
    );
    assert.throws(
      () => parseRegistriesDFile('a.yaml', 'default-docker:\n  lookaside: a\n  lookaside: b\n'),
      { code: 'REGISTRIES_D_INVALID' },
    );
    assert.throws(
      () => parseRegistriesDFile('a.yaml', 'docker:\n  "Bad Scope":\n    lookaside: a\n'),
      { code: 'REGISTRIES_D_INVALID' },
    );
    assert.throws(() => parseRegistriesDFile('a.yaml', 'default-docker: [\n'), {
      code: 'REGISTRIES_D_INVALID',
    });
    assert.throws(() => parseRegistriesDFile('a.yaml', '- a\n'), { code: 'REGISTRIES_D_INVALID' });
  });
});

describe('mergeRegistriesD', () => {
  it('merges only *.yaml files', () => {
    const m = mergeRegistriesD([
      { name: 'default.yaml', text: SERVER },
      { name: 'default_2024-01-01T00:00:00', text: 'default-docker:\n  lookaside: http://old/\n' },
      { name: 'default.yaml.bak', text: 'default-docker:\n  lookaside: http://bak/\n' },
      { name: 'x.yaml', text: 'docker:\n  registry.local/a:\n    lookaside: http://a/\n' },
    ]);
    assert.equal(m.defaultDocker?.lookaside, 'http://sigstore.local:81/sigstore/');
    assert.deepEqual(m.sources, {
      defaultDocker: 'default.yaml',
      docker: { 'registry.local/a': 'x.yaml' },
    });
  });

  it('rejects default-docker defined in two files', () => {
    assert.throws(
      () =>
        mergeRegistriesD([
          { name: 'a.yaml', text: SERVER },
          { name: 'b.yaml', text: MAKER },
        ]),
      {
        code: 'REGISTRIES_D_CONFLICT',
        message: /a\.yaml and b\.yaml/,
      },
    );
  });

  it('rejects a docker scope defined in two files', () => {
    const t = 'docker:\n  registry.local:\n    lookaside: http://a/\n';
    assert.throws(
      () =>
        mergeRegistriesD([
          { name: 'a.yaml', text: t },
          { name: 'b.yaml', text: t },
        ]),
      { code: 'REGISTRIES_D_CONFLICT' },
    );
  });
});

describe('lookasideFor', () => {
  const config = mergeRegistriesD([
    { name: 'default.yaml', text: MAKER },
    {
      name: 'scopes.yaml',
      text: `docker:
  registry.local/c10:
    lookaside: http://c10/
  registry.local/c10f:
    sigstore: http://c10f-legacy/
    lookaside: http://c10f/
  registry.local:
    sigstore: http://host/
    sigstore-staging: file:///host-staging/
  registry.local/empty:
    use-sigstore-attachments: true
  "*.example.com":
    lookaside: http://wild/
`,
    },
  ]);

  it('uses the most specific scope by path components, not by string prefix', () => {
    assert.equal(lookasideFor(config, 'registry.local/c10f/pause:3.9'), 'http://c10f/');
    assert.equal(lookasideFor(config, 'registry.local/c10/pause:3.9'), 'http://c10/');
    assert.equal(lookasideFor(config, 'registry.local/c10x/pause:3.9'), 'http://host/');
  });

  it('prefers lookaside over sigstore', () => {
    assert.equal(lookasideFor(config, 'registry.local/c10f/pause'), 'http://c10f/');
  });

  it('skips scopes without a URL and falls back to default-docker', () => {
    assert.equal(lookasideFor(config, 'registry.local/empty/x:1'), 'http://host/');
    assert.equal(lookasideFor(config, 'quay.io/x:1'), 'http://sigstore.local:81/sigstore/');
  });

  it('matches *.domain wildcards', () => {
    assert.equal(lookasideFor(config, 'a.example.com:5000/x:1'), 'http://wild/');
  });

  it('uses staging keys for writing, then the read keys', () => {
    assert.equal(
      lookasideFor(config, 'quay.io/x:1', { write: true }),
      'file:///var/sigstore/sigstore/',
    );
    assert.equal(
      lookasideFor(config, 'registry.local/x:1', { write: true }),
      'file:///host-staging/',
    );
    assert.equal(lookasideFor(config, 'registry.local/c10f/x:1', { write: true }), 'http://c10f/');
    const onlyLegacy = parseRegistriesDFile(
      'a.yaml',
      'default-docker:\n  sigstore: http://r/\n  sigstore-staging: file:///s/\n  lookaside-staging: file:///l/\n',
    );
    assert.equal(lookasideFor(onlyLegacy, 'x.io/a', { write: true }), 'file:///l/');
    assert.equal(lookasideFor(onlyLegacy, 'x.io/a'), 'http://r/');
  });

  it('returns undefined when nothing is configured (the docs/weaknesses.md#w9-policy-inspection-functions case is handled by default-docker)', () => {
    assert.equal(lookasideFor({ docker: {} }, 'x.io/a:1'), undefined);
  });
});

describe('formatRegistriesD', () => {
  it('writes the server file of docs/files.md#system-lookaside-configuration and round-trips', () => {
    const text = formatRegistriesD({
      defaultDocker: {
        lookaside: 'http://sigstore.local:81/sigstore/',
        sigstore: 'http://sigstore.local:81/sigstore/',
      },
      docker: {},
    });
    assert.equal(text, SERVER);
    assert.deepEqual(
      parseRegistriesDFile('a.yaml', formatRegistriesD(parseRegistriesDFile('b.yaml', MAKER))),
      parseRegistriesDFile('b.yaml', MAKER),
    );
  });
});

describe('updateRegistriesDText', () => {
  it('adds keys while keeping comments', () => {
    const r = updateRegistriesDText(`# managed by podsec\n${SERVER}`, null, {
      'lookaside-staging': 'file:///var/sigstore/sigstore/',
    });
    assert.equal(r.changed, true);
    assert.match(r.text, /^# managed by podsec\n/);
    assert.equal(
      parseRegistriesDFile('a.yaml', r.text).defaultDocker?.['lookaside-staging'],
      'file:///var/sigstore/sigstore/',
    );
  });

  it('returns the same text when nothing changes', () => {
    const input = `# c\n${SERVER}`;
    assert.deepEqual(
      updateRegistriesDText(input, null, { lookaside: 'http://sigstore.local:81/sigstore/' }),
      { text: input, changed: false },
    );
  });

  it('creates docker scopes in an empty file and removes keys', () => {
    const a = updateRegistriesDText('', 'registry.local', { lookaside: 'http://x/' });
    assert.deepEqual(parseRegistriesDFile('a.yaml', a.text).docker, {
      'registry.local': { lookaside: 'http://x/' },
    });
    const b = updateRegistriesDText(a.text, 'registry.local', { lookaside: undefined });
    assert.equal(b.changed, true);
  });

  it('rejects unknown keys and invalid scopes', () => {
    assert.throws(() => updateRegistriesDText(SERVER, null, { bogus: 'x' } as never), {
      code: 'REGISTRIES_D_INVALID',
    });
    assert.throws(() => updateRegistriesDText(SERVER, 'Bad Scope', { lookaside: 'x' }), {
      code: 'REGISTRIES_D_INVALID',
    });
  });
});

describe('parseRegistriesDFile and YAML aliases', () => {
  it('reports an unresolved alias or an alias bomb as REGISTRIES_D_INVALID, not a crash', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'docker: {}',
    ].join('\n');
    for (const text of ['docker: *nowhere\n', bomb]) {
      assert.throws(
        () => parseRegistriesDFile('x.yaml', text),
        (e: Error & { code?: string }) =>
          e.code === 'REGISTRIES_D_INVALID' && !e.message.includes('\n'),
      );
    }
  });
});
