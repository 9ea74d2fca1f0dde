import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import {
  generateKey,
  readPublicKeys,
  readSignatures,
  verifySimpleSigning,
} from '@podsec/core/trust';
import { createTestSystem, FakeRunner, runProgram, snapshotTree } from '@podsec/test-utils';
import { createArchiveHost, packArchive } from '@podsec/core/system';
import { cli } from './podsec-load-sign-oci.ts';

const host = createArchiveHost({ PATH: process.env['PATH'] });
const keyPromise = generateKey({
  type: 'ed25519',
  name: 'Image Maker',
  email: 'maker@example.org',
  date: new Date(2025, 0, 1),
});
const protectedKeyPromise = generateKey({
  type: 'ed25519',
  name: 'Image Maker',
  email: 'maker@example.org',
  passphrase: 'secret words',
  date: new Date(2025, 0, 1),
});

const TREE = (key: string, groupLine = 'podman_dev:x:991:maker') => ({
  'etc/passwd':
    'root:x:0:0:root:/root:/bin/bash\nmaker:x:1000:990::/home/maker:/bin/bash\nother:x:1001:1001::/home/other:/bin/bash\n',
  'etc/group': `root:x:0:\npodman:x:990:\n${groupLine}\nother:x:1001:\n`,
  'etc/hosts': '127.0.0.1 localhost\n127.0.0.1 registry.local sigstore.local trivy.local\n',
  'home/maker/.config/podsec/signing-key.asc': key,
});

interface Setup {
  root: string;
  work: string;
  tmp: string;
  runner: FakeRunner;
  system: Awaited<ReturnType<typeof createTestSystem>>;
  archive: (
    refs: string[],
    o?: { arch?: string; index?: boolean; top?: string },
  ) => Promise<string>;
}

async function setup(
  t: TestContext,
  o: { groupLine?: string; failOn?: string; env?: Record<string, string>; key?: string } = {},
): Promise<Setup> {
  const key = o.key ?? (await keyPromise).privateKeyArmored;
  const runner = new FakeRunner();
  runner.on('skopeo', async (args) => {
    const i = args.indexOf('--digestfile');
    const dest = args[args.length - 1] ?? '';
    if (o.failOn !== undefined && dest === `docker://${o.failOn}`)
      return { exitCode: 1, stderr: 'Error: pinging registry: connection refused\n' };
    await writeFile(
      args[i + 1] as string,
      `sha256:${createHash('sha256').update(dest).digest('hex')}`,
    );
    return { exitCode: 0 };
  });
  const system0 = await createTestSystem(t, {
    tree: TREE(key, o.groupLine),
    proc: runner,
    // skopeo is faked here, so every image takes the skopeo path (the native push: oci/round-trip.test.ts)
    env: { PATH: process.env['PATH'], U7S_PLATFORM: 'c10f', PODSEC_OCI_PUSH: 'skopeo', ...o.env },
  });
  const system = { ...system0, identity: { uid: 1000, gid: 990, user: 'maker' } } as typeof system0;
  const work = await mkdtemp(path.join(tmpdir(), 'podsec-lso-test-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const tmp = path.join(work, 'tmp');
  await mkdir(tmp);
  let n = 0;
  return {
    root: system.root,
    work,
    tmp,
    runner,
    system,
    async archive(refs, a = {}) {
      const arch = a.arch ?? 'amd64';
      const parent = path.join(work, `layout-${++n}`);
      const top = a.top ?? arch;
      await mkdir(path.join(parent, top, 'blobs', 'sha256'), { recursive: true });
      await writeFile(path.join(parent, top, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      if (a.index !== false) {
        const manifests = refs.map((r, i) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${String(i).padStart(64, '0')}`,
          size: 1,
          annotations: { 'org.opencontainers.image.ref.name': r },
        }));
        await writeFile(
          path.join(parent, top, 'index.json'),
          JSON.stringify({ schemaVersion: 2, manifests }),
        );
      }
      const out = path.join(work, `${arch}-${n}.tar.xz`);
      await packArchive(host, parent, top, out, { mtime: 0 });
      return out;
    },
  };
}

const skopeoTargets = (s: Setup) =>
  s.runner.calls.filter((c) => c[0] === 'skopeo').map((c) => `${c[1].at(-2)} -> ${c[1].at(-1)}`);
const LOOKASIDE = 'var/sigstore/sigstore';

async function run(
  s: Setup,
  args: string[],
  o: { isTTY?: boolean; stdin?: string; env?: Record<string, string> } = {},
) {
  return runProgram(cli, ['--tmpdir', s.tmp, ...args], {
    system: s.system,
    ...(o.isTTY !== undefined ? { isTTY: o.isTTY } : { isTTY: false }),
    ...(o.stdin !== undefined ? { stdin: Readable.from([o.stdin]) } : {}),
    env: { LANG: 'C', ...o.env },
  });
}

describe('podsec-load-sign-oci', () => {
  it('pushes, aliases and signs the c10f images in order and removes its temp dir (12.5-6)', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['c10f/pause:3.9', 'c10f/etcd:3.5.9']);
    const r = await run(s, [archive, 'amd64', 'maker@example.org']);
    assert.equal(r.code, 0, r.stderr);
    const layout = (c: string) => c.replace(/oci:[^:]*\/amd64:/, 'oci:<tmp>/amd64:');
    assert.deepEqual(skopeoTargets(s).map(layout), [
      'oci:<tmp>/amd64:c10f/pause:3.9 -> docker://registry.local/c10f/pause:3.9',
      'docker://registry.local/c10f/pause:3.9 -> docker://registry.local/k8s-c10f2/pause:3.9',
      'oci:<tmp>/amd64:c10f/etcd:3.5.9 -> docker://registry.local/c10f/etcd:3.5.9',
      'docker://registry.local/c10f/etcd:3.5.9 -> docker://registry.local/k8s-c10f2/etcd:3.5.9',
    ]);
    const first = s.runner.calls[0]?.[1] ?? [];
    assert.deepEqual(first.slice(0, 3), ['--override-arch', 'amd64', 'copy']);
    assert.ok(first.includes('--dest-tls-verify=false'));
    assert.match(r.stderr, /\[1\/4\] pushed and signed registry\.local\/c10f\/pause:3\.9/);
    assert.match(r.stderr, /\[4\/4\] pushed and signed registry\.local\/k8s-c10f2\/etcd:3\.5\.9/);
    assert.deepEqual(await readdir(s.tmp), []);
    // a verifiable signature for each reference in the default staging store under the root
    const keys = await readPublicKeys((await keyPromise).publicKeyArmored);
    for (const ref of ['registry.local/c10f/pause:3.9', 'registry.local/k8s-c10f2/etcd:3.5.9']) {
      const digest = `sha256:${createHash('sha256').update(`docker://${ref}`).digest('hex')}`;
      // (the root's file layer reports the missing host-path directory as not found)
      const sigs = await readSignatures(`file://${s.root}/${LOOKASIDE}/`, ref, digest, {
        fs: s.system.fs,
      }).catch(() => []);
      assert.equal(sigs.length, 0, 'file:// paths are system paths under the root, not host paths');
      const stored = await readSignatures('file:///var/sigstore/sigstore/', ref, digest, {
        fs: s.system.fs,
      });
      assert.equal(stored.length, 1);
      const v = await verifySimpleSigning(stored[0] as Uint8Array, keys);
      assert.deepEqual([v.payload.dockerReference, v.payload.manifestDigest], [ref, digest]);
    }
  });

  it('does not duplicate signatures on a second run (idempotent)', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['c10f/pause:3.9']);
    assert.equal((await run(s, [archive, 'amd64', 'maker@example.org'])).code, 0);
    const r = await run(s, [archive, 'amd64', 'maker@example.org']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /already signed/);
    const dir = path.join(s.root, LOOKASIDE, 'c10f');
    const sigDir = (await readdir(dir)).find((n) => n.startsWith('pause@sha256='));
    assert.deepEqual(await readdir(path.join(dir, sigDir as string)), ['signature-1']);
  });

  it('uses the 4th argument registry.local/c10f like the default (12.5-7)', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['c10f/pause:3.9']);
    assert.equal(
      (await run(s, [archive, 'amd64', 'maker@example.org', 'registry.local/c10f'])).code,
      0,
    );
    assert.deepEqual(
      skopeoTargets(s).map((x) => x.split(' -> ')[1]),
      ['docker://registry.local/c10f/pause:3.9', 'docker://registry.local/k8s-c10f2/pause:3.9'],
    );
  });

  it('names alt images without alias (12.5-9, 12.5-12)', async (t) => {
    const s = await setup(t, { env: { U7S_PLATFORM: 'alt' } });
    const archive = await s.archive(['alt/alt:p10', 'alt/distroless-base:p10']);
    assert.equal((await run(s, [archive, 'amd64', 'maker@example.org'])).code, 0);
    assert.deepEqual(
      skopeoTargets(s).map((x) => x.split(' -> ')[1]),
      ['docker://registry.local/alt/alt:p10', 'docker://registry.local/alt/distroless-base:p10'],
    );
  });

  describe('platform mismatch (12.5-8)', () => {
    it('asks on a terminal and continues on "y", re-homing under the target without alias', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['p10/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org'], {
        isTTY: true,
        stdin: 'y\n',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Continue \(y\/N\)\?/);
      assert.deepEqual(
        skopeoTargets(s).map((x) => x.split(' -> ')[1]),
        ['docker://registry.local/c10f/pause:3.9'],
      );
    });
    it('exits 1 without copies on end of input, and without a terminal unless --yes', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['p10/pause:3.9']);
      assert.equal(
        (await run(s, [archive, 'amd64', 'maker@example.org'], { isTTY: true, stdin: '' })).code,
        1,
      );
      const r = await run(s, [archive, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /differs from c10f; use --yes/);
      assert.deepEqual(skopeoTargets(s), []);
      assert.equal((await run(s, [archive, 'amd64', 'maker@example.org', '--yes'])).code, 0);
      assert.deepEqual(await readdir(s.tmp), []);
    });
    it('accepts the archive platform given with --platform without asking', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['p10/pause:3.9']);
      assert.equal(
        (await run(s, [archive, 'amd64', 'maker@example.org', '--platform', 'p10'])).code,
        0,
      );
      assert.deepEqual(
        skopeoTargets(s).map((x) => x.split(' -> ')[1]),
        ['docker://registry.local/p10/pause:3.9'],
      );
    });
    it('refuses a k8s- platform with a localised message on stderr', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['k8s-c10f2/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org'], {
        isTTY: true,
        stdin: 'y\n',
        env: { LANG: 'ru_RU.UTF-8' },
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /префикс k8s-/);
      assert.equal(r.stdout, '');
      assert.deepEqual(skopeoTargets(s), []);
    });
  });

  it('stops at the first failed push with exit 9 and names the reference (12.5-10)', async (t) => {
    const s = await setup(t, { failOn: 'registry.local/k8s-c10f2/pause:3.9' });
    const archive = await s.archive(['c10f/pause:3.9', 'c10f/etcd:3.5.9']);
    const r = await run(s, [archive, 'amd64', 'maker@example.org']);
    assert.equal(r.code, 9);
    assert.match(
      r.stderr,
      /pushing or signing registry\.local\/k8s-c10f2\/pause:3\.9 failed: Error: pinging registry/,
    );
    assert.match(r.stderr, /already pushed and signed: registry\.local\/c10f\/pause:3\.9/);
    assert.equal(skopeoTargets(s).length, 2);
    assert.deepEqual(await readdir(s.tmp), []);
  });

  describe('validation', () => {
    it('exits 1 when the caller is not in podman_dev; podman_devx does not count (12.5-1)', async (t) => {
      const s = await setup(t, { groupLine: 'podman_devx:x:991:maker' });
      const archive = await s.archive(['c10f/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not a member of the podman_dev group/);
    });

    it('exits 1 on a host that is not the signature server (docs/weaknesses.md#w1-host-role-guard) unless --registry-host is given', async (t) => {
      const s = await setup(t);
      await writeFile(
        path.join(s.root, 'etc/hosts'),
        '127.0.0.1 localhost\n10.9.9.9 registry.local sigstore.local\n',
      );
      const archive = await s.archive(['c10f/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /not the signature server.*remote server 10\.9\.9\.9/);
      assert.deepEqual(skopeoTargets(s), []);
      const r2 = await run(s, [
        archive,
        'amd64',
        'maker@example.org',
        '--registry-host',
        '127.0.0.1:5000',
      ]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.deepEqual(
        skopeoTargets(s).map((x) => x.split(' -> ')[1]),
        ['docker://127.0.0.1:5000/c10f/pause:3.9', 'docker://127.0.0.1:5000/k8s-c10f2/pause:3.9'],
      );
    });

    it('exits 1 with usage for 2 or 5 arguments (12.5-2) and for registry.local without path (12.5-3)', async (t) => {
      const s = await setup(t);
      const two = await run(s, ['a.tar.xz', 'amd64']);
      assert.equal(two.code, 1);
      assert.match(two.stderr, /Usage: podsec-load-sign-oci/);
      assert.equal((await run(s, ['a', 'amd64', 'm@x', 'r.l/x', 'extra'])).code, 1);
      const archive = await s.archive(['c10f/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org', 'registry.local']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Missing path after registry name/);
    });

    it('exits 1 for a missing archive, 3 for arch mips and 5 for localreg/x (12.5-4)', async (t) => {
      const s = await setup(t);
      assert.equal(
        (await run(s, [path.join(s.work, 'none.tar.xz'), 'amd64', 'maker@example.org'])).code,
        1,
      );
      const archive = await s.archive(['c10f/pause:3.9']);
      assert.equal((await run(s, [archive, 'mips', 'maker@example.org'])).code, 3);
      assert.equal((await run(s, [archive, 'amd64', 'maker@example.org', 'localreg/x'])).code, 5);
      assert.deepEqual(skopeoTargets(s), []);
    });

    it('exits 1 with one line naming a missing --tmpdir, and copies nothing', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['c10f/pause:3.9']);
      const missing = path.join(s.work, 'no-such-tmp');
      const r = await run(s, [archive, 'amd64', 'maker@example.org', '--tmpdir', missing]);
      assert.equal(r.code, 1);
      // after the platform line, the one error line
      assert.deepEqual(
        r.stderr.split('\n').filter((l) => l.startsWith('podsec-load-sign-oci:')),
        [
          `podsec-load-sign-oci: cannot create a temporary directory in ${missing}: no such directory`,
        ],
      );
      assert.deepEqual(skopeoTargets(s), []);
      assert.deepEqual(await readdir(path.join(s.root, LOOKASIDE)).catch(() => []), []);
    });

    it('exits 6 for a non-xz file, 7 without <arch>/, 8 without index.json, and removes the temp dir (12.5-5)', async (t) => {
      const s = await setup(t);
      const notXz = path.join(s.work, 'x.tar.xz');
      await writeFile(notXz, 'plain text');
      assert.equal((await run(s, [notXz, 'amd64', 'maker@example.org'])).code, 6);
      assert.equal(
        (
          await run(s, [
            await s.archive(['c10f/pause:3.9'], { top: 'arm64' }),
            'amd64',
            'maker@example.org',
          ])
        ).code,
        7,
      );
      assert.equal(
        (await run(s, [await s.archive([], { index: false }), 'amd64', 'maker@example.org'])).code,
        8,
      );
      assert.deepEqual(await readdir(s.tmp), []);
      assert.deepEqual(skopeoTargets(s), []);
    });

    it('exits 8 with one clear line for an oversized index.json, before extracting anything after it', async (t) => {
      const s = await setup(t);
      const parent = path.join(s.work, 'big-index');
      await mkdir(path.join(parent, 'amd64', 'blobs', 'sha256'), { recursive: true });
      await writeFile(path.join(parent, 'amd64', 'index.json'), ' '.repeat(5 * 1024 * 1024));
      await writeFile(path.join(parent, 'amd64', 'blobs', 'sha256', 'x'), 'x');
      const archive = path.join(s.work, 'big-index.tar.xz');
      await packArchive(host, parent, 'amd64', archive, { mtime: 0 });
      const r = await run(s, [archive, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 8);
      assert.equal(
        r.stderr
          .split('\n')
          .filter((l) => l.startsWith('podsec-load-sign-oci:'))
          .join('\n'),
        `podsec-load-sign-oci: amd64/index.json in ${archive} is 5242880 bytes, more than the limit of 4194304: not an index of images`,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.deepEqual(await readdir(s.tmp), []);
      assert.deepEqual(skopeoTargets(s), []);
    });

    it('reads index.json first: a refused platform stops before the blobs are extracted', async (t) => {
      const s = await setup(t);
      const parent = path.join(s.work, 'first');
      await mkdir(path.join(parent, 'amd64', 'blobs'), { recursive: true });
      await writeFile(
        path.join(parent, 'amd64', 'index.json'),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              digest: `sha256:${'0'.repeat(64)}`,
              size: 1,
              annotations: { 'org.opencontainers.image.ref.name': 'p11/pause:3.9' },
            },
          ],
        }),
      );
      const archive = path.join(s.work, 'first.tar');
      // GNU tar in the order given: index.json, then a symlink that would be refused with exit 6 if it were reached
      await execa('ln', ['-s', '/etc', path.join(parent, 'amd64', 'blobs', 'etc')]);
      await execa('tar', ['-C', parent, '-cf', archive, 'amd64/index.json', 'amd64/blobs']);
      await execa('xz', ['-0', archive]);
      const r = await run(s, [`${archive}.xz`, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /archive platform p11 differs from c10f/);
      assert.deepEqual(await readdir(s.tmp), []);
    });

    it('exits 6 for an archive with ../../ or a symlink member and writes nothing outside (12.5-11)', async (t) => {
      const s = await setup(t);
      const src = path.join(s.work, 'evil');
      await mkdir(path.join(src, 'amd64'), { recursive: true });
      await execa('ln', ['-s', '/etc', path.join(src, 'amd64', 'etc')]);
      const evil = path.join(s.work, 'evil.tar.xz');
      await execa('tar', ['-C', src, '-cJf', evil, 'amd64']);
      const r = await run(s, [evil, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 6);
      assert.match(r.stderr, /symbolic link/);
      const dotdot = path.join(s.work, 'dotdot.tar.xz');
      await writeFile(path.join(s.work, 'x'), 'x');
      await execa('tar', [
        '-C',
        path.join(s.work, 'evil'),
        '-cJf',
        dotdot,
        '-P',
        '--transform',
        's,^,../../,',
        'amd64',
      ]);
      assert.equal((await run(s, [dotdot, 'amd64', 'maker@example.org'])).code, 6);
      assert.deepEqual(await readdir(s.tmp), []);
      assert.equal(existsSync(path.join(s.work, '..', 'amd64')), false);
    });

    it('exits 1 when the signer e-mail is not a user id of the key', async (t) => {
      const s = await setup(t);
      const archive = await s.archive(['c10f/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'someone@example.org']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has no user id someone@example\.org/);
      assert.deepEqual(skopeoTargets(s), []);
    });

    it('reports a bad key before a bad archive or a platform question, though both are read at once', async (t) => {
      // the key loads while the archive is extracted: its failure still comes first, as when one followed the other
      const s = await setup(t);
      const notXz = path.join(s.work, 'x.tar.xz');
      await writeFile(notXz, 'plain text');
      const bad = await run(s, [notXz, 'amd64', 'someone@example.org']);
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /has no user id someone@example\.org/);
      const other = await s.archive(['p10/pause:3.9']);
      const asked = await run(s, [other, 'amd64', 'someone@example.org'], {
        isTTY: true,
        stdin: 'y\n',
      });
      assert.equal(asked.code, 1, asked.stderr);
      assert.match(asked.stderr, /has no user id someone@example\.org/);
      assert.doesNotMatch(asked.stderr, /Continue \(y\/N\)\?/);
      assert.deepEqual(await readdir(s.tmp), []);
      assert.deepEqual(skopeoTargets(s), []);
    });

    it('needs --passphrase-file for a protected key and then signs', async (t) => {
      const s = await setup(t, { key: (await protectedKeyPromise).privateKeyArmored });
      const archive = await s.archive(['c10f/pause:3.9']);
      const r = await run(s, [archive, 'amd64', 'maker@example.org']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--passphrase-file/);
      const wrong = path.join(s.work, 'wrong');
      await writeFile(wrong, 'other words\n', { mode: 0o600 });
      const bad = await run(s, [archive, 'amd64', 'maker@example.org', '--passphrase-file', wrong]);
      assert.equal(bad.code, 1, bad.stderr);
      // the native signer leaves a wrong passphrase to openpgp.js: one line with its reason, nothing pushed
      const fpr = (await protectedKeyPromise).fingerprint;
      assert.match(
        bad.stderr,
        new RegExp(`^podsec-load-sign-oci: cannot unlock private key ${fpr}: .*passphrase`, 'im'),
      );
      assert.equal(
        bad.stderr.split('\n').filter((l) => l.startsWith('podsec-load-sign-oci:')).length,
        1,
        bad.stderr,
      );
      assert.doesNotMatch(bad.stderr, /\s+at /, 'no stack trace');
      assert.deepEqual(skopeoTargets(s), []);
      const pass = path.join(s.work, 'pass');
      await writeFile(pass, 'secret words\n', { mode: 0o600 });
      const ok = await run(s, [
        archive,
        'amd64',
        'maker@example.org',
        '--passphrase-file',
        pass,
        '--verbose',
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      // unlocked and signed with node:crypto, without openpgp.js
      assert.match(ok.stderr, /signing key read natively/);
    });
  });

  it('refuses a passphrase or key file others may read, a symlink and an oversized file before any work', async (t) => {
    const s = await setup(t, { key: (await protectedKeyPromise).privateKeyArmored });
    const archive = await s.archive(['c10f/pause:3.9']);
    const f = (n: string) => path.join(s.work, n);
    await writeFile(f('pass'), 'secret words\n', { mode: 0o600 });
    await writeFile(f('pass-0640'), 'secret words\n', { mode: 0o640 });
    await chmod(f('pass-0640'), 0o640);
    await symlink(f('pass'), f('pass-link'));
    await writeFile(f('pass-big'), 'x'.repeat(65 * 1024), { mode: 0o600 });
    await writeFile(f('key-0644.asc'), (await protectedKeyPromise).privateKeyArmored, {
      mode: 0o644,
    });
    await chmod(f('key-0644.asc'), 0o644);
    const before = await snapshotTree(s.root);
    for (const [extra, re] of [
      [['--passphrase-file', f('pass-0640')], /mode 0640 lets others read/],
      [['--passphrase-file', f('pass-link')], /symbolic link/],
      [['--passphrase-file', f('pass-big')], /larger than 65536 bytes/],
      [['--key', f('key-0644.asc'), '--passphrase-file', f('pass')], /mode 0644 lets others/],
    ] as const) {
      const r = await run(s, [archive, 'amd64', 'maker@example.org', ...extra]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, re);
      // one error line, no stack (the line before it names the platform in use)
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('podsec-load-sign-oci:'));
      assert.equal(errors.length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.deepEqual(skopeoTargets(s), []);
      assert.deepEqual(await snapshotTree(s.root), before);
    }
  });

  it('spells TLS verification as podman and skopeo: --tls-verify, --tls-verify=false, --insecure', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['alt/pause:3.9']);
    const flags = async (extra: string[]) => {
      const before = s.runner.calls.length;
      const r = await run(s, [
        archive,
        'amd64',
        'maker@example.org',
        'registry.local/alt',
        '--platform',
        'alt',
        ...extra,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return s.runner.calls
        .slice(before)
        .filter((c) => c[0] === 'skopeo')
        .map((c) => c[1].find((a) => a.startsWith('--dest-tls-verify')));
    };
    assert.deepEqual(await flags([]), ['--dest-tls-verify=false']);
    assert.deepEqual(await flags(['--tls-verify']), ['--dest-tls-verify=true']);
    assert.deepEqual(await flags(['--tls-verify=true']), ['--dest-tls-verify=true']);
    assert.deepEqual(await flags(['--tls-verify=false']), ['--dest-tls-verify=false']);
    assert.deepEqual(await flags(['--tls-verify', '--insecure']), ['--dest-tls-verify=false']);
  });

  it('--dry-run lists the plan and pushes and signs nothing', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['c10f/pause:3.9']);
    const r = await run(s, [archive, 'amd64', 'maker@example.org', '--dry-run', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /would push oci:.*:c10f\/pause:3\.9 to registry\.local\/c10f\/pause:3\.9/,
    );
    assert.equal(JSON.parse(r.stdout).dryRun, true);
    assert.deepEqual(skopeoTargets(s), []);
    assert.equal(existsSync(path.join(s.root, LOOKASIDE)), false);
    assert.deepEqual(await readdir(s.tmp), []);
  });

  it('--dry-run lists exactly the pushes and aliases the real run then makes, in order', async (t) => {
    const s = await setup(t);
    const archive = await s.archive(['c10f/pause:3.9', 'c10f/etcd:3.5.9']);
    const layout = (c: string) => c.replace(/oci:[^:]*\/amd64:/, 'oci:<tmp>/amd64:');
    const dry = await run(s, [archive, 'amd64', 'maker@example.org', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = [...dry.stderr.matchAll(/would push (\S+) to (\S+) and sign it/g)].map((m) =>
      layout(`${m[1]} -> docker://${m[2]}`),
    );
    assert.equal(planned.length, 4, dry.stderr);
    assert.deepEqual(skopeoTargets(s), []);
    const real = await run(s, [archive, 'amd64', 'maker@example.org']);
    assert.equal(real.code, 0, real.stderr);
    assert.deepEqual(skopeoTargets(s).map(layout), planned);
  });

  it("writes signatures to the lookaside-staging of the maker's registries.d", async (t) => {
    const s = await setup(t);
    await mkdir(path.join(s.root, 'home/maker/.config/containers/registries.d'), {
      recursive: true,
    });
    await writeFile(
      path.join(s.root, 'home/maker/.config/containers/registries.d/default.yaml'),
      'default-docker:\n  lookaside: http://sigstore.local:81/sigstore/\n  lookaside-staging: file:///home/maker/sigs/\n',
    );
    const archive = await s.archive(['c10f/tool:1']);
    const r = await run(s, [archive, 'amd64', 'maker@example.org', 'registry.local/apps']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readdir(path.join(s.root, 'home/maker/sigs/apps'))).length, 1);
    assert.equal((await readdir(path.join(s.root, 'home/maker/sigs/k8s-c10f2'))).length, 1);
    assert.equal(existsSync(path.join(s.root, LOOKASIDE)), false);
  });
});
