import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from '@commander-js/extra-typings';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { normalizeContainersFlags, tlsVerifyOption } from './containers-flags.ts';
import type { CliDefinition } from './run-cli.ts';

describe('containers tool flags', () => {
  it('a bare --tls-verify means true; values only with =; nothing after -- is touched', () => {
    assert.deepEqual(
      normalizeContainersFlags([
        '--tls-verify',
        'img',
        '--src-tls-verify=false',
        '--',
        '--tls-verify',
      ]),
      ['--tls-verify=true', 'img', '--src-tls-verify=false', '--', '--tls-verify'],
    );
  });

  it('runCli parses --tls-verify, --tls-verify=true, --tls-verify=false as podman does', async (t) => {
    const system = await createTestSystem(t);
    const seen: unknown[] = [];
    const def: CliDefinition = {
      name: 'podsec-test',
      create: () =>
        new Command('podsec-test')
          .argument('<image>')
          .addOption(tlsVerifyOption('verify'))
          .action((image, o) => {
            seen.push([image, o.tlsVerify]);
          }),
    };
    for (const args of [
      ['--tls-verify', 'img'],
      ['img', '--tls-verify=true'],
      ['--tls-verify=false', 'img'],
      ['img'],
    ])
      assert.equal((await runProgram(def, args, { system })).code, 0);
    assert.deepEqual(seen, [
      ['img', true],
      ['img', true],
      ['img', false],
      ['img', undefined],
    ]);
    const bad = await runProgram(def, ['img', '--tls-verify=no'], { system });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /expected true or false/);
  });
});
