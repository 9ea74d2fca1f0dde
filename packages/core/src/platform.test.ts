import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapArchitecture, parseOsRelease, planPlatform } from './platform.ts';

describe('planPlatform', () => {
  const cases: Array<[string, string]> = [
    ['ALT_BRANCH_ID=c10f2', 'c10f'],
    ['ALT_BRANCH_ID=p11', 'p11'],
    ['ALT_BRANCH_ID="p10"\nCPE_NAME="cpe:/o:alt:spserver:10.1"', 'p10'],
    ['CPE_NAME="cpe:/o:alt:spserver:10.1"', 'c10f'],
    ['CPE_NAME="cpe:/o:alt:sisyphus:20250101"', 'sisyphus'],
    ['CPE_NAME="cpe:/o:alt:server:10.2"', 'p10'],
    ['CPE_NAME="cpe:/o:alt:server:11.0"', 'p11'],
  ];
  for (const [text, want] of cases) {
    it(`maps ${text.replace(/\n/g, ' ')} to ${want}`, () => {
      assert.equal(planPlatform(parseOsRelease(text)).platform, want);
    });
  }
  it('keeps a preset U7S_PLATFORM', () => {
    assert.deepEqual(planPlatform(undefined, 'alt'), { platform: 'alt', source: 'U7S_PLATFORM' });
  });
  it('refuses to guess the useless "p" when CPE_NAME is missing', () => {
    assert.throws(() => planPlatform(parseOsRelease('NAME=Debian\nID=debian\n')), {
      code: 'PLATFORM_UNKNOWN',
    });
    assert.throws(() => planPlatform(undefined), { code: 'PLATFORM_UNKNOWN' });
  });
});

describe('parseOsRelease', () => {
  it('parses quoted values as data, ignoring comments', () => {
    assert.deepEqual(parseOsRelease('# c\nNAME="ALT \\"SP\\""\nID=altlinux\nX=\'a b\'\n'), {
      NAME: 'ALT "SP"',
      ID: 'altlinux',
      X: 'a b',
    });
  });
});

describe('mapArchitecture', () => {
  it('maps machine names', () => {
    assert.deepEqual(
      ['x86_64', 'aarch64', 'armv7l', 'ppc64le', 'i686', 'x64', 'ia32'].map(mapArchitecture),
      ['amd64', 'arm64', 'arm', 'ppc64le', '386', 'amd64', '386'],
    );
  });
  it('refuses an unknown one', () => {
    assert.throws(() => mapArchitecture('mips'), { code: 'PLATFORM_ARCH_UNSUPPORTED' });
  });
});

describe('planPlatform validation', () => {
  it('refuses a platform that is no image path component, from U7S_PLATFORM or os-release', () => {
    for (const bad of ['../etc', 'C10F', 'a b', 'x/y', '\u001b[2J', '-x', 'a'.repeat(65)]) {
      assert.throws(() => planPlatform(undefined, bad), { code: 'PLATFORM_INVALID' }, bad);
      assert.throws(
        () => planPlatform(parseOsRelease(`ALT_BRANCH_ID=${JSON.stringify(bad)}\n`)),
        { code: 'PLATFORM_INVALID' },
        bad,
      );
    }
    for (const good of ['c10f', 'p11', 'sisyphus', 'p10.2', 'my-branch'])
      assert.equal(planPlatform(undefined, good).platform, good);
  });
});
