import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestSystem, runBothPaths } from '@podsec/test-utils';
import { cli } from './podsec-get-platform.ts';
import { fast } from './podsec-get-platform.fast.ts';

const TREES: Record<string, Record<string, string>> = {
  alt: { 'etc/os-release': 'NAME="ALT"\nALT_BRANCH_ID=p11\n' },
  cpe: { 'etc/os-release': 'CPE_NAME="cpe:/o:alt:spserver:10.2"\n' },
  debian: { 'etc/os-release': 'ID=debian\n' },
  invalid: { 'etc/os-release': 'ALT_BRANCH_ID="P 11"\n' },
  none: {},
};

describe('podsec-get-platform fast path', () => {
  it('prints the same bytes and exit code as the full program for every invocation it handles', async (t) => {
    const handled = [
      [],
      ['--json'],
      ['--arch'],
      ['--arch', '--json'],
      ['-v'],
      ['--verbose', '--json'],
      ['--debug', '--json'],
    ];
    for (const [name, tree] of Object.entries(TREES)) {
      const system = await createTestSystem(t, { tree });
      for (const args of handled)
        for (const env of [
          { LANG: 'C' },
          { LANG: 'ru_RU.UTF-8' },
          { LANG: 'C', U7S_PLATFORM: 'c10f' },
          { LANG: 'C', U7S_PLATFORM: 'Bad Name' },
        ]) {
          const r = await runBothPaths(fast, cli, args, {
            system: { ...system, env: { ...system.env, ...env } },
            env,
          });
          assert.ok(r.fast, `the fast path takes ${args.join(' ')}`);
          assert.deepEqual(r.fast, r.full, `${name}: ${args.join(' ')} ${JSON.stringify(env)}`);
        }
    }
  });

  it('leaves everything else to commander', () => {
    for (const args of [
      ['--help'],
      ['-h'],
      ['--machine', 'mips'],
      ['--root', '/tmp'],
      ['extra'],
      ['--bogus'],
      ['-vj'],
      ['--json=1'],
    ])
      assert.equal(fast.parse(args), undefined, args.join(' '));
  });
});
