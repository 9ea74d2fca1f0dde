import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baseTree, createTestSystem, runProgram } from '@podsec/test-utils';
import { cli, messages } from './podsec-create-services.ts';

// Behaviour (guards, files, systemctl order, TLS) is tested in ../services/create-services.test.ts.
describe('podsec-create-services CLI', () => {
  it('prints help with the options and the exit codes', async (t) => {
    const system = await createTestSystem(t, {});
    const r = await runProgram(cli, ['--help'], { system });
    assert.equal(r.code, 0);
    for (const o of [
      '--sigstore-listen',
      '--registry-listen',
      '--tls',
      '--no-trivy',
      '--stop-httpd2',
      '--dry-run',
      '--json',
    ])
      assert.ok(r.stdout.includes(o), o);
    assert.match(r.stdout, /Exit codes/);
  });

  it('has every message in English and Russian', () => {
    assert.deepEqual(Object.keys(messages.ru).sort(), Object.keys(messages.en).sort());
  });

  it('prints the planned files and commands in text form with --dry-run', async (t) => {
    const system = await createTestSystem(t, {
      tree: { ...baseTree, 'etc/hosts': '10.0.0.5 registry.local sigstore.local trivy.local\n' },
      localAddresses: ['10.0.0.5'],
    });
    const r = await runProgram(cli, ['--dry-run'], { system, env: { LANG: 'ru_RU.UTF-8' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /будет записан \/etc\/nginx\/sites-available\.d\/podsec-sigstore\.conf \(created\)/,
    );
    assert.match(r.stdout, /пробный запуск/);
  });
});
