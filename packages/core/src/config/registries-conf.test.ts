import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { requireCommand } from '@podsec/test-utils';
import { ensureInsecureRegistry, parseRegistriesConf } from './registries-conf.ts';

const V2 = `# system registries
unqualified-search-registries = ["registry.altlinux.org", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "docker.io"
location = "mirror.local/docker"
  [[registry.mirror]]
  location = "m1.local"
  insecure = true

[aliases]
"pause" = "registry.local/k8s-c10f2/pause"
`;

const V1 = `# v1 format
[registries.search]
registries = ['docker.io', "quay.io"]

[registries.insecure]
registries = []

[registries.block]
registries = []
`;

describe('parseRegistriesConf', () => {
  it('parses a v2 file with registries, mirrors, search list, short-name mode and aliases', () => {
    const c = parseRegistriesConf(V2);
    assert.equal(c.version, 2);
    assert.deepEqual(c.unqualifiedSearchRegistries, ['registry.altlinux.org', 'docker.io']);
    assert.equal(c.shortNameMode, 'enforcing');
    assert.equal(c.registries[0]?.prefix, 'docker.io');
    assert.deepEqual(c.registries[0]?.mirror, [{ location: 'm1.local', insecure: true }]);
    assert.deepEqual(c.aliases, { pause: 'registry.local/k8s-c10f2/pause' });
  });

  it('detects the v1 format', () => {
    const c = parseRegistriesConf(V1);
    assert.equal(c.version, 1);
    assert.deepEqual(c.v1.search, ['docker.io', 'quay.io']);
  });

  it('rejects malformed TOML, mixed v1/v2 files and wrong types', () => {
    assert.throws(() => parseRegistriesConf('[[registry]\nlocation = "x"'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
    assert.throws(() => parseRegistriesConf(`${V1}\n[[registry]]\nlocation = "x"\n`), {
      code: 'REGISTRIES_CONF_INVALID',
      message: /mixing/,
    });
    assert.throws(() => parseRegistriesConf('[[registry]]\nlocation = "x"\ninsecure = "yes"\n'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
    assert.throws(() => parseRegistriesConf('[[registry]]\ninsecure = true\n'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
    assert.throws(() => parseRegistriesConf('unqualified-search-registries = "docker.io"\n'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
  });

  it('accepts an empty file as v2', () => {
    assert.equal(parseRegistriesConf('').version, 2);
  });
});

describe('ensureInsecureRegistry', () => {
  it('appends the block of docs/files.md#registriesconf to a v2 file after a blank line, keeping everything else', () => {
    const r = ensureInsecureRegistry(V2, 'registry.local');
    assert.equal(r.changed, true);
    assert.equal(r.text, `${V2}\n[[registry]]\nlocation = "registry.local"\ninsecure = true\n`);
    assert.equal(parseRegistriesConf(r.text).registries.at(-1)?.insecure, true);
  });

  it('is idempotent: a second run returns the text byte for byte', () => {
    const once = ensureInsecureRegistry(V2, 'registry.local').text;
    assert.deepEqual(ensureInsecureRegistry(once, 'registry.local'), {
      text: once,
      changed: false,
      version: 2,
    });
  });

  it('marks an existing entry with that prefix insecure instead of adding a duplicate', () => {
    const text =
      '[[registry]]\nprefix = "registry.local"\nlocation = "registry.local"\ninsecure = false\nblocked = false\n';
    const r = ensureInsecureRegistry(text, 'registry.local');
    assert.equal(r.text, text.replace('insecure = false', 'insecure = true'));
    assert.equal(parseRegistriesConf(r.text).registries.length, 1);
  });

  it('inserts insecure = true into an existing entry that lacks it, not into its mirror table', () => {
    const text =
      '[[registry]]\nlocation = "registry.local"\n  [[registry.mirror]]\n  location = "m.local"\n  insecure = false\n';
    const c = parseRegistriesConf(ensureInsecureRegistry(text, 'registry.local').text);
    assert.equal(c.registries[0]?.insecure, true);
    assert.equal(c.registries[0]?.mirror?.[0]?.insecure, false);
  });

  it('adds to [registries.insecure] in a v1 file and never writes [[registry]]', () => {
    const r = ensureInsecureRegistry(V1, 'registry.local');
    assert.equal(r.version, 1);
    assert.doesNotMatch(r.text, /\[\[registry\]\]/);
    assert.deepEqual(parseRegistriesConf(r.text).v1.insecure, ['registry.local']);
    const again = ensureInsecureRegistry(r.text, 'other.local');
    assert.deepEqual(parseRegistriesConf(again.text).v1.insecure, [
      'registry.local',
      'other.local',
    ]);
    assert.match(again.text, /^# v1 format\n/);
  });

  it('handles multi-line v1 arrays and a missing [registries.insecure] table', () => {
    const multi =
      '[registries.search]\nregistries = ["docker.io"]\n[registries.insecure]\nregistries = [\n  "a.local",  # first\n]\n';
    assert.deepEqual(
      parseRegistriesConf(ensureInsecureRegistry(multi, 'b.local').text).v1.insecure,
      ['a.local', 'b.local'],
    );
    const none = '[registries.search]\nregistries = ["docker.io"]\n';
    assert.deepEqual(
      parseRegistriesConf(ensureInsecureRegistry(none, 'b.local').text).v1.insecure,
      ['b.local'],
    );
  });

  it('leaves a v1 file that already lists the registry untouched', () => {
    const text = '[registries.insecure]\nregistries = ["registry.local"]\n';
    assert.deepEqual(ensureInsecureRegistry(text, 'registry.local'), {
      text,
      changed: false,
      version: 1,
    });
  });

  it('refuses entries written as inline arrays it cannot edit safely', () => {
    const text = 'registry = [{ location = "registry.local", insecure = false }]\n';
    assert.throws(() => ensureInsecureRegistry(text, 'registry.local'), {
      code: 'REGISTRIES_CONF_UNSUPPORTED',
    });
  });

  it('rejects malformed input and invalid locations', () => {
    assert.throws(() => ensureInsecureRegistry('[[registry]\n', 'registry.local'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
    assert.throws(() => ensureInsecureRegistry('', 'bad"location\n'), {
      code: 'REGISTRIES_CONF_INVALID',
    });
  });

  it('keeps CRLF line endings', () => {
    const r = ensureInsecureRegistry(
      'unqualified-search-registries = ["docker.io"]\r\n',
      'registry.local',
    );
    assert.equal(
      r.text,
      'unqualified-search-registries = ["docker.io"]\r\n\r\n[[registry]]\r\nlocation = "registry.local"\r\ninsecure = true\r\n',
    );
  });
});

describe('ensureInsecureRegistry as the real podman reads the result', () => {
  /** podman's view of a registries.conf: its registries, or the error it refuses the file with. */
  async function podmanRegistries(t: TestContext, text: string) {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-regconf-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'registries.conf'), text);
    const r = await execa(
      'podman',
      [
        '--root',
        path.join(dir, 'storage'),
        '--runroot',
        path.join(dir, 'run'),
        '--storage-driver',
        'vfs',
        'info',
        '--format',
        'json',
      ],
      {
        reject: false,
        env: { CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf') },
        timeout: 60_000,
      },
    );
    assert.equal(r.exitCode, 0, `podman refuses:\n${text}\n${r.stderr}`);
    return (JSON.parse(r.stdout) as { registries: Record<string, { Insecure?: boolean }> })
      .registries;
  }
  const cases: Record<string, string> = {
    fresh: '',
    'an entry with a trailing /': '[[registry]]\nlocation = "registry.local/"\n',
    'a secure entry': '[[registry]]\nlocation = "registry.local"\ninsecure = false\n',
    'a narrower prefix at the same location':
      '[[registry]]\nprefix = "registry.local/x"\nlocation = "registry.local"\n',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`${name}: podman accepts the file, registry.local is insecure, and a re-run changes nothing`, async (t) => {
      if (requireCommand(t, 'podman') === undefined) return;
      const once = ensureInsecureRegistry(text, 'registry.local');
      assert.equal(once.changed, true);
      const registries = await podmanRegistries(t, once.text);
      assert.equal(registries['registry.local']?.Insecure, true, JSON.stringify(registries));
      const again = ensureInsecureRegistry(once.text, 'registry.local');
      assert.equal(again.changed, false);
      assert.equal(again.text, once.text);
    });
  }
});
