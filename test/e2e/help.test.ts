// The --help of every bundled binary and of each of its subcommands, laid out at the width the user has: at
// COLUMNS=80 and 60 no line is wider (unless it is one word that cannot be split), words are never broken across
// lines (the words are those of the unwrapped text), and every command that talks to a registry spells --tls-verify as podman and skopeo do, with --insecure as
// an alias. Needs `npm run build` (npm test builds first).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Bin {
  readonly pkg: string;
  readonly name: string;
}
const bins: Bin[] = [];
for (const pkg of readdirSync(path.join(repo, 'packages')).sort()) {
  const file = path.join(repo, 'packages', pkg, 'package.json');
  if (!existsSync(file)) continue;
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { bin?: Record<string, string> };
  for (const name of Object.keys(manifest.bin ?? {})) bins.push({ pkg, name });
}

async function help(bin: Bin, args: readonly string[], columns?: number): Promise<string> {
  const r = await execa(
    process.execPath,
    [path.join(repo, 'packages', bin.pkg, 'bundle', `${bin.name}.mjs`), ...args, '--help'],
    {
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/',
        ...(columns === undefined ? {} : { COLUMNS: String(columns) }),
        LANG: 'C',
      },
      extendEnv: false,
      reject: false,
    },
  );
  assert.equal(r.exitCode, 0, `${bin.name} ${args.join(' ')} --help: ${r.stderr}`);
  return r.stdout;
}

/** The subcommands a help text lists under "Commands:". */
function subcommands(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf('Commands:');
  if (start < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^ {2}([a-z][\w-]*)/.exec(line);
    if (m?.[1]) {
      if (m[1] !== 'help') out.push(m[1]);
    } else if (!/^ {3,}/.test(line)) break;
  }
  return out;
}

/** Lines wider than `width` that could have been wrapped (more than one word after the indentation). */
function overlong(text: string, width: number): string[] {
  return text.split('\n').filter((l) => l.length > width && /\S\s+\S/.test(l.trim()));
}

/** The words of a text in order: wrapping may change only the white space between them. */
const words = (text: string): string[] => text.split(/\s+/).filter((w) => w !== '');

describe('--help layout of every binary', () => {
  for (const bin of bins) {
    it(`${bin.name}: fits 80 and 60 columns, words whole`, async () => {
      const top = await help(bin, [], 80);
      // on a pipe without COLUMNS the launcher prints the help rendered at build time: 80 columns too
      assert.deepEqual(overlong(await help(bin, []), 80), [], `${bin.name} on a pipe`);
      for (const args of [[], ...subcommands(top).map((s) => [s])]) {
        const wide = words(await help(bin, args, 500));
        for (const width of [80, 60]) {
          const text = await help(bin, args, width);
          const where = `${bin.name} ${args.join(' ')} at ${width}`;
          assert.deepEqual(overlong(text, width), [], where);
          assert.deepEqual(words(text), wide, `${where}: a word was split or changed`);
        }
      }
    });
  }
});

describe('registry options spelled as podman and skopeo spell them', () => {
  const registryCommands: readonly [string, readonly string[]][] = [
    ['podsec-load-sign-oci', []],
    ['podsec-save-oci', []],
    ['podsec-k8s-save-oci', []],
    ['podsec-trust', ['verify']],
    ['podsec-trust', ['sign']],
  ];
  for (const [name, args] of registryCommands) {
    it(`${[name, ...args].join(' ')} offers --tls-verify and the alias --insecure`, async () => {
      const bin = bins.find((b) => b.name === name);
      assert.ok(bin, name);
      const text = await help(bin, args, 200);
      assert.match(text, /^ {2}--tls-verify\b/m);
      assert.match(text, /^ {2}--insecure\b/m);
    });
  }
});

describe('help says which paths are read under --root', () => {
  // commands whose options name files: those are host paths, the system files are under --root
  const commands = [
    'podsec-create-policy',
    'podsec-create-imagemakeruser',
    'podsec-create-podmanusers',
    'podsec-load-sign-oci',
    'podsec-save-oci',
  ];
  for (const name of commands) {
    it(`${name} names the host paths and the --root ones`, async () => {
      const bin = bins.find((b) => b.name === name);
      assert.ok(bin, name);
      const text = (await help(bin, [], 500)).replace(/\s+/g, ' ');
      assert.match(text, /(files|paths|a file) of this host|host paths/);
      assert.match(text, /(even|also) with --root|not under --root/);
    });
  }
});
