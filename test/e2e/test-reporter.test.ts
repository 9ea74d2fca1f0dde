// The test run's reporter (tools/scripts/test-reporter.mjs): node:test's TAP with a list of the failed tests
// just above the final counts, so a log cut to its tail still names what failed. Runs a real `node --test` on
// two throw-away test files in a temporary directory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const reporter = path.join(repo, 'tools/scripts/test-reporter.mjs');

const dir = mkdtempSync(path.join(tmpdir(), 'podsec-reporter-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function runNodeTest(
  files: string[],
): Promise<{ status: number | undefined; lines: string[] }> {
  // NODE_TEST_CONTEXT would make the inner run report to this one in node:test's child protocol
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  delete env.NODE_TEST_CONTEXT;
  const run = await execa(
    process.execPath,
    ['--test', `--test-reporter=${reporter}`, '--test-concurrency=2', ...files],
    { cwd: dir, env, extendEnv: false, reject: false, timeout: 60_000 },
  );
  return { status: run.exitCode, lines: run.stdout.split('\n') };
}

describe('the test reporter', () => {
  const failing = write(
    'failing.test.mjs',
    [
      "import assert from 'node:assert/strict';",
      "import { describe, it } from 'node:test';",
      "it('passes', () => {});",
      "describe('outer', () => { describe('inner', () => {",
      "  it('compares', () => { assert.equal(1, 2, 'one is not two'); });",
      "  it('fine', () => {});",
      '}); });',
      '',
    ].join('\n'),
  );
  const throwing = write(
    'throwing.test.mjs',
    [
      "import { it } from 'node:test';",
      "it('throws', () => { throw new Error('first line\\nsecond line'); });",
      '',
    ].join('\n'),
  );

  it('lists each failed test, with its suites, file, line and error, right above the counts', async () => {
    const { status, lines } = await runNodeTest([failing, throwing]);
    assert.equal(status, 1);
    const first = lines.indexOf('# failed tests: 2');
    const counts = lines.findIndex((line) => /^# tests \d+$/.test(line));
    assert.ok(first >= 0, `no failure list in:\n${lines.join('\n')}`);
    assert.equal(
      counts,
      lines.length - 8,
      'the counts are the last eight lines, as node:test prints them',
    );
    const list = lines.slice(first + 1, counts);
    assert.deepEqual(list, [
      `# 1. outer > inner > compares (${failing}:5)`,
      '#    testCodeFailure: one is not two',
      '#    1 !== 2',
      `# 2. throws (${throwing}:2)`,
      '#    testCodeFailure: first line',
      '#    second line',
    ]);
    // the suites that failed only because of a test in them are not listed, and the TAP itself is unchanged
    assert.ok(lines.includes('TAP version 13'));
    assert.ok(lines.some((line) => /^\s*not ok \d+ - compares$/.test(line)));
    assert.equal(lines.at(-5), '# fail 2');
    assert.ok(/^# duration_ms [\d.]+$/.test(lines.at(-1) ?? ''));
  });

  it('adds nothing when every test passes', async () => {
    const passing = write(
      'passing.test.mjs',
      "import { it } from 'node:test';\nit('passes', () => {});\n",
    );
    const { status, lines } = await runNodeTest([passing]);
    assert.equal(status, 0);
    assert.ok(!lines.some((line) => line.startsWith('# failed tests')));
    assert.equal(lines.at(-5), '# fail 0');
    assert.equal(lines.at(-6), '# pass 1');
  });
});
