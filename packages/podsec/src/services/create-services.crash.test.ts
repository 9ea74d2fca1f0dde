/**
 * Deterministic crash test of podsec-create-services --tls on a tree (units written, nothing started): the
 * command is interrupted before each write step in turn (an injected error in-process, SIGKILL in a child
 * process). After each, the published CA is the installed CA whenever both exist, and the tree is the old
 * one, the new one, or a re-run converges to it. Keys and certificates are random per run, so the view
 * compares their presence and modes, and the chain is checked with openssl.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  baseTree,
  crashEveryStep,
  createTestSystem,
  requireCommand,
  runCrashChild,
  runProgram,
  withFaults,
  type TestSystem,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-services.ts';

const IP = '192.168.10.5';
const CLI_MODULE = fileURLToPath(new URL('../cli/podsec-create-services.ts', import.meta.url));
const TREE = {
  ...baseTree,
  'etc/hosts': `127.0.0.1 localhost\n${IP} registry.local sigstore.local trivy.local\n`,
  'etc/docker-registry/config.yml': 'version: 0.1\nhttp:\n  addr: :5000\n',
  'var/sigstore/index.html': 'x\n',
};
/** Random material: compared by kind and mode only. */
const RANDOM = /^(etc\/podsec\/tls\/(ca|server)\.(key|crt)|var\/sigstore\/keys\/ca\.crt)$/;

async function tlsConsistent(root: string, step: number): Promise<void> {
  const read = (p: string) => readFile(path.join(root, p), 'utf8').catch(() => undefined);
  const published = await read('var/sigstore/keys/ca.crt');
  const ca = await read('etc/podsec/tls/ca.crt');
  if (published !== undefined)
    assert.equal(published, ca, `step ${step}: the published CA is not the installed one`);
}

async function chainValid(root: string): Promise<void> {
  const p = (s: string) => path.join(root, s);
  const v = await execa(
    'openssl',
    ['verify', '-CAfile', p('etc/podsec/tls/ca.crt'), p('etc/podsec/tls/server.crt')],
    { reject: false },
  );
  assert.equal(v.exitCode, 0, v.stderr);
}

describe('podsec-create-services crash safety', () => {
  const options = (t: Parameters<typeof createTestSystem>[0]) => ({
    prepare: () => createTestSystem(t, { tree: TREE, localAddresses: [IP] }),
    rootOf: (s: TestSystem) => s.root,
    invariant: tlsConsistent,
    random: (rel: string) => RANDOM.test(rel),
  });

  it('an error at every write step leaves the old tree, the new tree, or one a re-run completes', async (t) => {
    requireCommand(t, 'nginx');
    requireCommand(t, 'openssl');
    let last: TestSystem | undefined;
    const r = await crashEveryStep<TestSystem>({
      ...options(t),
      run: async (sys, failAt) => {
        last = sys;
        const f = withFaults(sys, failAt === undefined ? {} : { failAt });
        const out = await runProgram(cli, ['--tls'], { system: f.system });
        return { code: out.code, fired: f.fired() };
      },
    });
    await chainValid(last!.root);
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 10, `only ${r.steps} write steps`);
  });

  it('SIGKILL before every write step (child process): the same', async (t) => {
    requireCommand(t, 'nginx');
    requireCommand(t, 'openssl');
    const r = await crashEveryStep<TestSystem>({
      ...options(t),
      concurrency: 4,
      run: async (sys, at) => {
        const out = await runCrashChild(CLI_MODULE, ['--root', sys.root, '--tls'], {
          localAddresses: [IP],
          ...(at === undefined ? {} : { at }),
        });
        return { code: out.code ?? 137, fired: out.signal === 'SIGKILL' };
      },
      rerun: (sys) => runProgram(cli, ['--tls'], { system: sys }),
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.steps >= 10, `only ${r.steps} write steps`);
  });
});
