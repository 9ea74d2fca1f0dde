import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from '@commander-js/extra-typings';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { PodsecError } from '../errors.ts';
import { requireRoot, type CliDefinition } from './run-cli.ts';

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
