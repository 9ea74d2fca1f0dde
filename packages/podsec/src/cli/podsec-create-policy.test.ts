import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { baseTree, createTestSystem, FakeRunner, runProgram } from '@podsec/test-utils';
import { createProcessRunner } from '@podsec/core/system';
import { snapshotTree as snapshot } from '@podsec/test-utils';
import { cli } from './podsec-create-policy.ts';

const IP = '192.168.10.5';

async function system(t: TestContext, hosts = '127.0.0.1 localhost\n', o: { uid?: number } = {}) {
  const proc = new FakeRunner(createProcessRunner({ PATH: process.env['PATH'] }));
  const sys = await createTestSystem(t, {
    tree: {
      ...baseTree,
      'etc/hosts': hosts,
      'run/utmp': '',
      'etc/containers/policy.json': '{"default":[{"type":"insecureAcceptAnything"}]}\n',
    },
    localAddresses: ['127.0.0.1', IP],
    proc,
    ...(o.uid === undefined ? {} : { uid: o.uid }),
  });
  return { sys, proc };
}

/** Runs and checks the exit code and that nothing changed and no command ran. */
async function refused(
  t: TestContext,
  args: string[],
  code: number,
  o: { hosts?: string; uid?: number; env?: Record<string, string> } = {},
) {
  const { sys, proc } = await system(t, o.hosts, o);
  const before = await snapshot(sys.root);
  const r = await runProgram(cli, args, { system: sys, ...(o.env ? { env: o.env } : {}) });
  assert.equal(r.code, code, r.stderr);
  assert.deepEqual(await snapshot(sys.root), before);
  assert.deepEqual(proc.calls, []);
  return r;
}

describe('podsec-create-policy exit codes (docs/commands/podsec-create-policy.md#exit-codes)', () => {
  it('row 1: no argument -> 1 with a usage line naming the program', async (t) => {
    const r = await refused(t, [], 1);
    assert.match(r.stderr, /Format:\n[\t ]podsec-create-policy <ip>/);
  });
  it('row 2: two addresses -> 1', async (t) => {
    assert.match((await refused(t, ['1.2.3.4', '5.6.7.8'], 1)).stderr, /only one IP address/);
  });
  it('rows 3 and 6: loopback, 0.0.0.0, broadcast, multicast -> 1', async (t) => {
    for (const ip of ['127.0.0.1', '127.0.0.2', '0.0.0.0', '255.255.255.255', '224.0.0.251'])
      await refused(t, [ip], 1);
  });
  it('row 4: shape errors -> 2', async (t) => {
    for (const ip of ['10.0.0', '1.2.3.4.5', 'fe80::1']) await refused(t, [ip], 2);
  });
  it('row 5: range and format errors -> 3', async (t) => {
    for (const ip of ['256.1.1.1', 'a.b.c.d', '1.2.3.-4', ' 1.2.3.4']) await refused(t, [ip], 3);
  });
  it('row 9: the IP is already partly bound -> 1 naming it, and no side effects at all', async (t) => {
    const r = await refused(t, [IP], 1, { hosts: `${IP} registry.local\n` });
    assert.match(r.stderr, /registry\.local is already bound to 192\.168\.10\.5/);
  });
  it('row 10: the names are bound to another IP -> 1 naming that IP', async (t) => {
    assert.match(
      (await refused(t, [IP], 1, { hosts: '10.9.9.9 registry.local\n' })).stderr,
      /10\.9\.9\.9/,
    );
  });
  it('row 16: a non-root caller -> 1, no side effects', async (t) => {
    assert.match((await refused(t, [IP], 1, { uid: 1000 })).stderr, /root rights/);
  });
  it('messages are in Russian under LANG=ru_RU.UTF-8', async (t) => {
    const r = await refused(t, ['256.1.1.1'], 3, { env: { LANG: 'ru_RU.UTF-8' } });
    assert.match(r.stderr, /неверный IP-адрес "256\.1\.1\.1"/);
  });
  it('--json gives the error document', async (t) => {
    const r = await refused(t, ['10.0.0', '--json'], 2);
    assert.equal(JSON.parse(r.stdout).error.code, 'POLICY_IP_SHAPE');
  });
});

describe('podsec-create-policy runs', () => {
  it('row 11: a commented binding does not count; re-run with all three names bound to the IP is accepted', async (t) => {
    const { sys } = await system(t, `# ${IP} registry.local\n`);
    const r = await runProgram(cli, [IP, '--json'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.mode, 'server');
    assert.ok(out.changedFiles.includes('/etc/hosts'));
    const again = await runProgram(cli, [IP, '--json'], { system: sys });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).changedFiles, []);
  });
  it('prints the exit codes and the trust options in --help', async (t) => {
    const { sys } = await system(t);
    const r = await runProgram(cli, ['--help'], { system: sys });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Exit codes: 0 ok/);
    assert.match(r.stdout, /--export-bundle <file>/);
    // the truth about --root (as the README says): option files are host paths, system files are under --root
    assert.match(r.stdout, /--export-bundle\) are\s+host paths/);
    assert.doesNotMatch(r.stdout, /read under --root/);
    assert.match(r.stdout, /podman_dev are created on every node/);
  });
});
