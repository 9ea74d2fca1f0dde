// The fast path of podsec-u7s-kubeadm as real processes (it replaces its own process with kubeadm, so it cannot run
// inside the test runner): the same output and exit status as the full binary for `version`, the same refusal of
// a kubeadm that others can change, and everything else left to the full binary.
import assert from 'node:assert/strict';
import { chmod, copyFile, link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { requireCommand } from '@podsec/test-utils';
import { fast, planFastVersion } from './podsec-u7s-kubeadm.fast.ts';

const full = fileURLToPath(new URL('../test-helpers/podsec-u7s-kubeadm-main.ts', import.meta.url));
const fastSrc = new URL('./podsec-u7s-kubeadm.fast.ts', import.meta.url).href;
const FAST_MAIN = `import { runFastCli } from '@podsec/core/cli/fast';
import { fast } from ${JSON.stringify(fastSrc)};
const code = await runFastCli(fast, process.argv.slice(1));
if (code === undefined) { console.error('stepped aside'); process.exitCode = 99; } else process.exitCode = code;`;

describe(
  'podsec-u7s-kubeadm fast path',
  { skip: process.geteuid?.() !== 0 && 'needs root' },
  () => {
    it('version: the same stdout, stderr and status as the full binary; an untrusted kubeadm refused the same way', async (t) => {
      const real = requireCommand(t, 'kubeadm');
      if (real === undefined) return;
      const dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-fast-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      await chmod(dir, 0o755);
      const kubeadm = path.join(dir, 'bin/kubeadm');
      await mkdir(path.dirname(kubeadm), { mode: 0o755 });
      await link(real, kubeadm).catch(() => copyFile(real, kubeadm));
      const writable = path.join(dir, 'writable');
      await mkdir(writable);
      await chmod(writable, 0o777);
      await copyFile(kubeadm, path.join(writable, 'kubeadm'));
      const run = (how: 'fast' | 'full', args: string[], bin: string) =>
        execa(
          process.execPath,
          how === 'fast'
            ? ['--conditions=podsec-source', '--input-type=module', '-e', FAST_MAIN, ...args]
            : ['--conditions=podsec-source', full, ...args],
          {
            reject: false,
            extendEnv: false,
            env: { PATH: process.env['PATH'], LANG: 'C', U7S_KUBEADM: bin },
            timeout: 60_000,
          },
        );
      for (const [args, bin] of [
        [['version', '-o', 'short'], kubeadm],
        [['version'], kubeadm],
        [['version', '-o', 'nonsense'], kubeadm],
        [['version', '-o', 'short'], path.join(writable, 'kubeadm')],
        [['version'], path.join(dir, 'missing')],
      ] as const) {
        const [f, c] = await Promise.all([
          run('fast', [...args], bin),
          run('full', [...args], bin),
        ]);
        const what = `${args.join(' ')} with ${bin}`;
        assert.equal(f.exitCode, c.exitCode, `${what}: ${f.stderr}`);
        assert.equal(f.stdout, c.stdout, what);
        assert.equal(f.stderr, c.stderr, what);
      }
      const ok = await run('fast', ['version', '-o', 'short'], kubeadm);
      assert.match(ok.stdout, /^v1\.\d+\.\d+$/);
      const untrusted = await run('fast', ['version'], path.join(writable, 'kubeadm'));
      assert.equal(untrusted.exitCode, 4);
      assert.match(untrusted.stderr, /refusing to run .*writable is writable by group or others/);
    });

    it('leaves everything but a plain version to the full binary', () => {
      for (const args of [
        [],
        ['init'],
        ['token', 'list'],
        ['--help'],
        ['version', '--json'],
        ['version', '--dry-run'],
        ['version', '-o', 'short', '--json'],
        ['version', '--help'],
        ['version', '-h'],
        ['version', '-v'],
        ['-v', '5', 'version'],
        ['--root', '/tmp', 'version'],
      ])
        assert.equal(fast.parse(args), undefined, args.join(' '));
      assert.deepEqual(planFastVersion(['version', '-o', 'short']), ['version', '-o', 'short']);
    });
  },
);
