import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { createTestSystem, FakeRunner, runProgram } from '@podsec/test-utils';
import { startRegistry, type TestRegistry } from '../../../../test/utils/src/registry.ts';
import { buildTinyImage } from '../../../../test/utils/src/image.ts';
import { planSaveOci } from '../oci/plan-save.ts';
import { cli } from './podsec-save-oci.ts';

async function work(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-save-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A fake skopeo that creates a minimal OCI layout, or fails for `fail`. */
function fakeSkopeo(fail?: string): FakeRunner {
  return new FakeRunner().on('skopeo', async (args) => {
    const src = args.at(-2) ?? '';
    if (fail !== undefined && src.endsWith(fail))
      return { exitCode: 1, stderr: 'Error: manifest unknown\n' };
    const dest = (args.at(-1) ?? '').slice('oci:'.length);
    const layout = dest.slice(0, dest.indexOf(':'));
    await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(layout, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    return { exitCode: 0 };
  });
}

/**
 * A test's scratch directory (`out` below it, not yet made) and System: with a fake skopeo (failing for `fail`),
 * or with `real` the real one.
 */
async function setup(
  t: TestContext,
  o: { fail?: string; env?: Record<string, string>; uid?: number; real?: boolean } = {},
) {
  const dir = await work(t);
  const runner = fakeSkopeo(o.fail);
  const system = await createTestSystem(t, {
    ...(o.real ? {} : { proc: runner }),
    ...(o.env ? { env: { PATH: process.env['PATH'], ...o.env } } : {}),
    ...(o.uid !== undefined ? { uid: o.uid } : {}),
  });
  return { dir, out: path.join(dir, 'out'), runner, system };
}

const skopeoCalls = (r: FakeRunner) =>
  r.calls
    .filter((c) => c[0] === 'skopeo')
    .map((c) => c[1].join(' ').replace(/oci:\S*?\/(\w+):/, 'oci:<tmp>/$1:'));

describe('planSaveOci', () => {
  it('accepts the positional transport only when it looks like one; --transport wins', () => {
    assert.equal(
      planSaveOci({ args: ['d', 'amd64', 'docker://', 'c10f/pause:3.9'] }).transport,
      'docker://',
    );
    assert.deepEqual(planSaveOci({ args: ['d', 'amd64', 'c10f/pause:3.9'] }).images, [
      'c10f/pause:3.9',
    ]);
    const cs = planSaveOci({ args: ['d', 'amd64', 'containers-storage:[vfs@/x+/y]', 'a/b:c'] });
    assert.equal(cs.copies[0]?.source, 'containers-storage:[vfs@/x+/y]registry.altlinux.org/a/b:c');
    assert.equal(
      planSaveOci({ args: ['d', 'amd64', 'oci:', 'a/b:c'], transport: 'docker://' }).transport,
      'docker://',
    );
  });
  it('takes the registry from --registry, U7S_ALTREGISTRY, else registry.altlinux.org (12.6-5)', () => {
    assert.equal(
      planSaveOci({ args: ['d', 'all', 'a/b:c'] }).copies[0]?.source,
      'docker://registry.altlinux.org/a/b:c',
    );
    assert.equal(
      planSaveOci({ args: ['d', 'all', 'a/b:c'], env: { U7S_ALTREGISTRY: 'r.example.org' } })
        .registry,
      'r.example.org',
    );
    assert.deepEqual(
      planSaveOci({ args: ['d', 'all', 'a/b:c'], registry: '127.0.0.1:5000' }).sourceFlags,
      ['--src-tls-verify=false'],
    );
    assert.deepEqual(planSaveOci({ args: ['d', 'all', 'a/b:c'] }).archs, [
      'amd64',
      'arm64',
      'arm',
      'ppc64le',
      '386',
    ]);
  });
});

describe('podsec-save-oci', () => {
  it('exits 1 for no arguments, one argument, no image and an existing dir, without side effects (12.6-1, 12.6-6)', async (t) => {
    const { dir, out, runner, system } = await setup(t);
    assert.match(
      (await runProgram(cli, [], { system })).stderr,
      /Image archiving directory not specified/,
    );
    assert.equal((await runProgram(cli, [out], { system })).code, 1);
    assert.equal((await runProgram(cli, [out, 'amd64'], { system })).code, 1);
    assert.equal((await runProgram(cli, [out, 'amd64', 'docker://'], { system })).code, 1);
    assert.equal(existsSync(out), false);
    const r = await runProgram(cli, [dir, 'amd64', 'c10f/pause:3.9'], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists/);
    assert.deepEqual(runner.calls, []);
  });

  it('exits 2 for any unknown architecture in the list (12.6-2)', async (t) => {
    const { dir, system } = await setup(t);
    assert.equal(
      (await runProgram(cli, [path.join(dir, 'o'), 'foo', 'c10f/pause:3.9'], { system })).code,
      2,
    );
    const r = await runProgram(cli, [path.join(dir, 'o'), 'amd64,foo', 'c10f/pause:3.9'], {
      system,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /неизвестная архитектура foo/);
    assert.equal(existsSync(path.join(dir, 'o')), false);
  });

  it('exits 1 when not run as root (docs/weaknesses.md#w5-root-checks)', async (t) => {
    const { dir, system } = await setup(t, { uid: 1000 });
    assert.equal(
      (
        await runProgram(cli, [path.join(dir, 'o'), 'amd64', 'c10f/pause:3.9'], {
          system: { ...system, identity: { uid: 1000, gid: 1000 } },
        })
      ).code,
      1,
    );
  });

  it('copies straight into an OCI layout and writes archives in architecture order (12.6-3, 12.6-4)', async (t) => {
    const { dir, out, runner, system } = await setup(t, {
      env: { U7S_ALTREGISTRY: 'registry.altlinux.org' },
    });
    const r = await runProgram(
      cli,
      [out, 'all', 'docker://', 'c10f/pause:3.9', '--tmpdir', dir, '--xz-level', '0'],
      { system },
    );
    assert.equal(r.code, 0, r.stderr);
    const calls = skopeoCalls(runner);
    assert.equal(
      calls[0],
      '--override-arch amd64 copy --quiet --remove-signatures --dest-oci-accept-uncompressed-layers docker://registry.altlinux.org/c10f/pause:3.9 oci:<tmp>/amd64:c10f/pause:3.9',
    );
    assert.deepEqual(
      calls.map((c) => c.split(' ')[1]),
      ['amd64', 'arm64', 'arm', 'ppc64le', '386'],
    );
    assert.deepEqual((await readdir(out)).sort(), [
      '386.tar.xz',
      'amd64.tar.xz',
      'arm.tar.xz',
      'arm64.tar.xz',
      'ppc64le.tar.xz',
    ]);
    assert.ok(!runner.calls.some((c) => c[0] === 'podman'));
    // only the temp parent's own files remain: work dirs are gone
    assert.deepEqual((await readdir(dir)).sort(), ['out']);
  });

  it('--dry-run lists exactly the copies and archives the real run then makes, and creates nothing', async (t) => {
    const { dir, out, runner, system } = await setup(t, {
      env: { U7S_ALTREGISTRY: 'registry.altlinux.org' },
    });
    const args = [out, 'all', 'docker://', 'c10f/pause:3.9', 'c10f/etcd:3.5.9', '--tmpdir', dir];
    const dry = await runProgram(cli, [...args, '--dry-run', '--json'], { system });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(skopeoCalls(runner), []);
    assert.equal(existsSync(out), false);
    const dryDoc = JSON.parse(dry.stdout) as { dryRun: boolean; archives: { file: string }[] };
    assert.equal(dryDoc.dryRun, true);
    const copied = (stderr: string) =>
      [...stderr.matchAll(/\[(\w+)\] (\d+)\/(\d+) copied (\S+)/g)].map((m) => `${m[1]} ${m[4]}`);
    const planned = copied(dry.stderr);
    assert.equal(planned.length, 10, dry.stderr);
    const real = await runProgram(cli, [...args, '--xz-level', '0', '--json'], { system });
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(copied(real.stderr), planned);
    assert.deepEqual(
      skopeoCalls(runner).map((c) => `${c.split(' ')[1]} ${c.split(' ').at(-2)}`),
      planned,
    );
    const realDoc = JSON.parse(real.stdout) as { dryRun: boolean; archives: { file: string }[] };
    assert.deepEqual(
      realDoc.archives.map((a) => a.file),
      dryDoc.archives.map((a) => a.file),
    );
    assert.deepEqual(
      (await readdir(out)).sort(),
      dryDoc.archives.map((a) => path.basename(a.file)).sort(),
    );
  });

  it('stops at the first failed copy: non-zero exit, no archive for that arch (12.6-6)', async (t) => {
    const { dir, out, runner, system } = await setup(t, { fail: 'c10f/etcd:3.5.9' });
    const r = await runProgram(
      cli,
      [out, 'amd64,arm64', 'c10f/pause:3.9', 'c10f/etcd:3.5.9', '--tmpdir', dir],
      { system },
    );
    assert.equal(r.code, 3);
    assert.match(
      r.stderr,
      /copying docker:\/\/registry\.altlinux\.org\/c10f\/etcd:3\.5\.9 \(amd64\) failed: Error: manifest unknown/,
    );
    // no empty <dir> is left behind that would block the re-run, and no staging or work directory
    assert.deepEqual(await readdir(dir), []);
    assert.equal(skopeoCalls(runner).length, 2);
  });

  it('a missing --tmpdir is a usage error naming it, before any copy, and leaves nothing behind', async (t) => {
    const { dir, out, runner, system } = await setup(t);
    const missing = path.join(dir, 'no-such-tmp');
    const r = await runProgram(cli, [out, 'amd64', 'c10f/pause:3.9', '--tmpdir', missing], {
      system,
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `podsec-save-oci: cannot create a temporary directory in ${missing}: no such directory\n`,
    );
    assert.deepEqual(skopeoCalls(runner), []);
    assert.deepEqual(await readdir(dir), []);
    const ru = await runProgram(cli, [out, 'amd64', 'c10f/pause:3.9', '--tmpdir', missing], {
      system,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(ru.code, 1);
    assert.match(ru.stderr, /не удаётся создать временный каталог в .*no-such-tmp \(ENOENT\)/);
  });

  describe('with a real registry and skopeo', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry();
      await buildTinyImage(registry.host, 'c10f/pause', '3.9');
      await buildTinyImage(registry.host, 'c10f/etcd', '3.5.9');
    });
    after(() => registry.stop());
    /** podsec-save-oci <out> amd64 <args...> from the test registry. */
    const save = (s: Awaited<ReturnType<typeof setup>>, args: string[]) =>
      runProgram(cli, [s.out, 'amd64', ...args, '--registry', registry.host, '--tmpdir', s.dir], {
        system: s.system,
      });

    it('writes amd64.tar.xz with only amd64/ entries including index.json and oci-layout (12.6-3)', async (t) => {
      const s = await setup(t, { real: true });
      const { out } = s;
      const r = await save(s, ['c10f/pause:3.9', 'c10f/etcd:3.5.9', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).archives[0].arch, 'amd64');
      const { stdout } = await execa('tar', ['-tJf', path.join(out, 'amd64.tar.xz')]);
      const names = stdout.trim().split('\n');
      assert.ok(
        names.every((n) => n.startsWith('amd64/')),
        stdout,
      );
      assert.ok(names.includes('amd64/index.json') && names.includes('amd64/oci-layout'));
      const index = JSON.parse(
        (await execa('tar', ['-xJOf', path.join(out, 'amd64.tar.xz'), 'amd64/index.json'])).stdout,
      );
      assert.deepEqual(
        index.manifests.map(
          (m: { annotations: Record<string, string> }) =>
            m.annotations['org.opencontainers.image.ref.name'],
        ),
        ['c10f/pause:3.9', 'c10f/etcd:3.5.9'],
      );
      assert.deepEqual(await readdir(out), ['amd64.tar.xz']);
    });

    it('fails with exit 3 for an image missing in the registry and leaves no archive', async (t) => {
      const s = await setup(t, { real: true });
      const { dir, out } = s;
      const r = await save(s, ['--transport', 'docker://', 'c10f/nothere:1']);
      assert.equal(r.code, 3);
      assert.match(r.stderr, /c10f\/nothere:1/);
      assert.deepEqual(await readdir(dir), []);
      // the re-run is not blocked by what the failed run left
      const again = await save(s, ['c10f/pause:3.9']);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(await readdir(out), ['amd64.tar.xz']);
    });
  });
});
