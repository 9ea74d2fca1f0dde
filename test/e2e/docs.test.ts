// The documentation in docs/ against the code: every citation of a page or heading in a code comment (or test
// title) resolves to an existing heading, no comment cites a bare weakness label or a section number instead of
// a page, every binary has its page in docs/commands, every relative link in the Markdown users read resolves, and
// nothing users read points outside the repository.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SKIP_DIRS = new Set(['node_modules', 'dist', 'bundle', '.git', '.turbo', 'coverage']);

/** Files under `dir` (repository-relative) whose name matches `pattern`, build output and dependencies skipped. */
function walk(dir: string, pattern: RegExp): string[] {
  const out: string[] = [];
  const abs = path.join(repo, dir);
  if (!existsSync(abs)) return out;
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...walk(rel, pattern));
    } else if (entry.isFile() && pattern.test(entry.name)) out.push(rel);
  }
  return out;
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const anchorCache = new Map<string, Set<string>>();
/** The anchors of a Markdown file: one per heading (duplicates numbered as GitHub does), plus explicit ids. */
function anchorsOf(file: string): Set<string> {
  let set = anchorCache.get(file);
  if (set) return set;
  set = new Set<string>();
  const seen = new Map<string, number>();
  let fence = false;
  for (const line of readFileSync(path.join(repo, file), 'utf8').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence;
    if (fence) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h?.[1] !== undefined) {
      const base = slug(h[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      set.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) if (m[1]) set.add(m[1]);
  }
  anchorCache.set(file, set);
  return set;
}

/** Why a reference to `target` (a repository-relative file, optionally with #anchor) does not resolve, or undefined. */
function unresolved(target: string): string | undefined {
  const [file = '', anchor] = target.split('#', 2);
  if (!existsSync(path.join(repo, file))) return `${file} does not exist`;
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(path.join(repo, file)).isDirectory())
    return `${file} is a directory, it has no #${anchor}`;
  if (!file.endsWith('.md')) return undefined;
  return anchorsOf(file).has(anchor) ? undefined : `${file} has no heading #${anchor}`;
}

const codeFiles = ['packages', 'tools', 'test'].flatMap((d) => walk(d, /\.(ts|mts|mjs|js)$/));
const userDocs = [
  ...['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].filter((f) => existsSync(path.join(repo, f))),
  ...walk('docs', /\.md$/),
  ...walk('packages', /\.md$/),
  ...walk('test', /\.md$/),
  ...walk('tools', /\.md$/),
];

const binaries: string[] = [];
for (const pkg of readdirSync(path.join(repo, 'packages')).sort()) {
  const manifest = path.join(repo, 'packages', pkg, 'package.json');
  if (!existsSync(manifest)) continue;
  const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: Record<string, string> }).bin;
  binaries.push(...Object.keys(bin ?? {}));
}

describe('docs', () => {
  it('finds the code, the pages and the binaries it checks', () => {
    assert.ok(codeFiles.length > 100, `only ${codeFiles.length} code files`);
    assert.ok(userDocs.includes('docs/weaknesses.md') && userDocs.includes('docs/architecture.md'));
    assert.ok(binaries.includes('podsec-create-policy') && binaries.length >= 18);
  });

  it('resolves every docs/… citation in the code to an existing page and heading', () => {
    const bad: string[] = [];
    let count = 0;
    for (const file of codeFiles) {
      if (file === 'test/e2e/docs.test.ts') continue;
      const lines = readFileSync(path.join(repo, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const m of line.matchAll(/\bdocs\/[\w./-]+\.md(?:#[\w-]+)?/g)) {
          count++;
          const why = unresolved(m[0]);
          if (why) bad.push(`${file}:${i + 1}: ${m[0]}: ${why}`);
        }
      });
    }
    assert.deepEqual(bad, []);
    assert.ok(count > 50, `only ${count} citations found`);
  });

  it('cites weaknesses by their page, never by a bare label', () => {
    const bad: string[] = [];
    for (const file of codeFiles) {
      if (file === 'test/e2e/docs.test.ts') continue;
      readFileSync(path.join(repo, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\bW\d{1,2}\b/.test(line)) bad.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(bad, []);
  });

  it('cites no section numbers of documents outside the repository', () => {
    const bad: string[] = [];
    for (const file of codeFiles) {
      if (file === 'test/e2e/docs.test.ts') continue;
      readFileSync(path.join(repo, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // "RFC 4880 section 5.6" is fine; "§4.2", "spec 10.3" point to a document users do not have
          if (/§\s?\d|\bspec\s+§?\d/.test(line)) bad.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(bad, []);
  });

  it('has a page for every binary of every package, with the sections users look for', () => {
    const missing: string[] = [];
    for (const bin of binaries) {
      const page = `docs/commands/${bin}.md`;
      if (!existsSync(path.join(repo, page))) {
        missing.push(`${page} does not exist`);
        continue;
      }
      for (const section of [
        'synopsis',
        'exit-codes',
        'json-output',
        'differences-from-the-original',
      ])
        if (!anchorsOf(page).has(section)) missing.push(`${page} has no section #${section}`);
      if (!readFileSync(path.join(repo, 'docs/commands/README.md'), 'utf8').includes(`(${bin}.md)`))
        missing.push(`docs/commands/README.md does not link ${bin}.md`);
    }
    assert.deepEqual(missing, []);
  });

  it('has one heading per weakness label W1 … W21', () => {
    const anchors = [...anchorsOf('docs/weaknesses.md')];
    for (let n = 1; n <= 21; n++)
      assert.ok(
        anchors.some((a) => a.startsWith(`w${n}-`)),
        `docs/weaknesses.md has no heading for W${n}`,
      );
  });

  it('resolves every relative link of the Markdown users read', () => {
    const bad: string[] = [];
    for (const file of userDocs) {
      let fence = false;
      readFileSync(path.join(repo, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/^\s*(```|~~~)/.test(line)) fence = !fence;
          if (fence) return;
          for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
            const href = m[1] ?? '';
            if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto: …
            const [p = '', anchor] = href.split('#', 2);
            const target = p === '' ? file : path.normalize(path.join(path.dirname(file), p));
            if (target.startsWith('..')) {
              bad.push(`${file}:${i + 1}: ${href} leaves the repository`);
              continue;
            }
            const why = unresolved(anchor === undefined ? target : `${target}#${anchor}`);
            if (why) bad.push(`${file}:${i + 1}: ${href}: ${why}`);
          }
        });
    }
    assert.deepEqual(bad, []);
  });

  it('points users to nothing outside the repository', () => {
    const bad: string[] = [];
    for (const file of userDocs) {
      readFileSync(path.join(repo, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\.\.\/shared|\/work\/|\bspec\s*§|§\s?\d|\bspec\/[\w-]+\.md/i.test(line))
            bad.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(bad, []);
  });
});
