import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { cli, messages } from './podsec-serve.ts';

// Start/stop, SIGTERM and child death are tested in ../services/serve.test.ts (spawned process).
describe('podsec-serve CLI', () => {
  it('prints help without --dry-run', async (t) => {
    const system = await createTestSystem(t, {});
    const r = await runProgram(cli, ['--help'], { system });
    assert.equal(r.code, 0);
    for (const o of ['--registry', '--sigstore', '--ready-file', '--json'])
      assert.ok(r.stdout.includes(o), o);
    assert.doesNotMatch(r.stdout, /--dry-run/);
  });

  it('has every message in English and Russian', () => {
    assert.deepEqual(Object.keys(messages.ru).sort(), Object.keys(messages.en).sort());
  });

  it('exits 1 with a Russian message for a bad address', async (t) => {
    const system = await createTestSystem(t, {});
    const r = await runProgram(cli, ['--sigstore', '1.2.3:80'], {
      system,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /недопустимый адрес/);
  });
});
