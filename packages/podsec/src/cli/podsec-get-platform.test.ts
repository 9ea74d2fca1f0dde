import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { cli } from './podsec-get-platform.ts';

const ALT = {
  'etc/os-release':
    'NAME="ALT SP Server"\nALT_BRANCH_ID=c10f2\nCPE_NAME="cpe:/o:alt:spserver:10.2"\n',
};

describe('podsec-get-platform', () => {
  it('prints the platform and exits 0', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--machine', 'x86_64'], { system });
    assert.deepEqual([r.code, r.stdout], [0, 'c10f\n']);
  });

  it('prints JSON with platform, arch and source', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--json', '--machine', 'aarch64'], { system });
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), {
      platform: 'c10f',
      arch: 'arm64',
      source: 'ALT_BRANCH_ID',
    });
  });

  it('prints the architecture with --arch', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--arch', '--machine', 'armv7l'], { system });
    assert.deepEqual([r.code, r.stdout], [0, 'arm\n']);
  });

  it('uses a preset U7S_PLATFORM and says so on stderr', async (t) => {
    const system = await createTestSystem(t, { tree: {}, env: { U7S_PLATFORM: 'alt' } });
    const r = await runProgram(cli, [], { system });
    assert.deepEqual([r.code, r.stdout], [0, 'alt\n']);
    assert.match(r.stderr, /predefined platform alt/);
  });

  it('exits 1 on an unknown option', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--bogus'], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown option '--bogus'/);
  });

  it('exits 2 when the platform cannot be determined, in Russian under LANG=ru_RU', async (t) => {
    const system = await createTestSystem(t, { tree: { 'etc/os-release': 'ID=debian\n' } });
    const r = await runProgram(cli, [], { system, env: { LANG: 'ru_RU.UTF-8' } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /не удалось определить платформу/);
    assert.equal(r.stdout, '');
  });

  it('exits 2 with a JSON error document under --json', async (t) => {
    const system = await createTestSystem(t, { tree: {} });
    const r = await runProgram(cli, ['--json'], { system });
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.stdout).error.code, 'PLATFORM_UNKNOWN');
  });

  it('exits 3 for an unsupported CPU with --arch', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--arch', '--machine', 'mips'], { system });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /unsupported CPU architecture "mips"/);
  });

  it('exits 0 and prints help with --help', async (t) => {
    const system = await createTestSystem(t, { tree: ALT });
    const r = await runProgram(cli, ['--help'], { system });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: podsec-get-platform/);
  });
});
