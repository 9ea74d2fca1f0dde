import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Command } from '@commander-js/extra-typings';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { PodsecError } from '../errors.ts';
import { requireRoot, runCli, type CliDefinition } from './run-cli.ts';

function def(
  action: (ctx: Parameters<CliDefinition['create']>[0]) => Promise<void>,
): CliDefinition {
  return {
    name: 'podsec-test',
    exitCodes: { TEST_MAPPED: 5 },
    messages: { en: { TEST_MAPPED: 'mapped {x}' }, ru: { TEST_MAPPED: 'отображено {x}' } },
    create: (ctx) => new Command('podsec-test').action(() => action(ctx)),
  };
}

describe('runCli', () => {
  it('maps a listed error code to the table exit status, localised', async (t) => {
    const system = await createTestSystem(t);
    const d = def(async () => {
      throw new PodsecError('TEST_MAPPED', 'english', { details: { x: 1 } });
    });
    const en = await runProgram(d, [], { system });
    assert.deepEqual([en.code, en.stderr], [5, 'podsec-test: mapped 1\n']);
    const ru = await runProgram(d, [], { system, env: { LC_ALL: 'ru_RU.UTF-8' } });
    assert.deepEqual([ru.code, ru.stderr], [5, 'podsec-test: отображено 1\n']);
  });

  it('gives 1 for an unlisted podsec error and 70 with a report line for a bug', async (t) => {
    const system = await createTestSystem(t);
    const r1 = await runProgram(
      def(async () => {
        throw new PodsecError('OTHER', 'boom');
      }),
      [],
      { system },
    );
    assert.equal(r1.code, 1);
    const r2 = await runProgram(
      def(async () => {
        throw new TypeError('oops');
      }),
      [],
      { system },
    );
    assert.equal(r2.code, 70);
    assert.match(r2.stderr, /internal error: oops[\s\S]*Please report/);
  });

  it('passes --root, --dry-run and --json to the context', async (t) => {
    const system = await createTestSystem(t);
    let seen: unknown;
    const d = def(async (ctx) => {
      seen = { ...ctx.options };
    });
    await runProgram(d, ['--root', '/x', '--dry-run', '--json'], { system });
    assert.deepEqual(seen, { root: '/x', json: true, dryRun: true, verbose: false, debug: false });
  });

  it('requireRoot refuses a non-root caller with NOT_ROOT', async (t) => {
    const system = await createTestSystem(t, { uid: 1000 });
    const r = await runProgram(
      def(async (ctx) => requireRoot(ctx)),
      [],
      { system },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /must be run by a user with root rights/);
  });
});

describe('runCli and bad input', () => {
  const capture = async (d: CliDefinition, args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(d, args, {
      env: { LANG: 'C' },
      stdout: (s) => void (stdout += s),
      stderr: (s) => void (stderr += s),
    });
    return { code, stdout, stderr };
  };
  const oneLine = (s: string) => s.trimEnd().split('\n').length === 1 && !/\n\s+at /.test(s);

  it("refuses --root '', a missing root and a file as the root, in one line, before the action", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-runcli-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'file'), '');
    let ran = 0;
    const d = def(async (ctx) => {
      ran++;
      await ctx.system.fs.readTextIfExists('/etc/passwd');
    });
    const cases: [string, RegExp][] = [
      ['', /must not be empty/],
      [path.join(dir, 'missing'), /does not exist/],
      [path.join(dir, 'file'), /is not a directory/],
    ];
    for (const [root, message] of cases) {
      const r = await capture(d, ['--root', root]);
      assert.equal(r.code, 1, `${root}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.ok(oneLine(r.stderr), r.stderr);
    }
    assert.equal(ran, 0);
    assert.deepEqual(await readdir(dir), ['file']);
  });

  it('reports a refusal of the host (EACCES, EROFS ...) in one line with exit 1, not as a bug', async () => {
    const r = await capture(
      def(async () => {
        throw Object.assign(new Error("EROFS: read-only file system, open '/etc/x'"), {
          code: 'EROFS',
          syscall: 'open',
        });
      }),
      [],
    );
    assert.equal(r.code, 1);
    assert.ok(oneLine(r.stderr), r.stderr);
    assert.doesNotMatch(r.stderr, /internal error|report/);
  });

  it('escapes terminal control characters of untrusted text in messages', async () => {
    const r = await capture(
      def(async () => {
        throw new PodsecError('OTHER', 'bad name "\u001b]0;owned\u0007x"');
      }),
      [],
    );
    assert.equal(r.code, 1);
    assert.equal(r.stderr.includes('\u001b'), false);
    assert.match(r.stderr, /\\x1b\]0;owned\\x07x/);
  });
});
