// Benchmark: podsec-load-sign-oci (safe extraction, skopeo oci: -> docker://, in-process signing) against the original's
// approach done by hand (xz | tar -x, per image skopeo oci: -> containers-storage:, then a signed push
// `skopeo copy --sign-by <fpr>` from containers-storage, as `podman push --sign-by` does, gpg in a temp GNUPGHOME).
// Run: node --conditions=podsec-source tools/bench/load-sign-oci.mjs [N=20] [BIG_MB=50]
// Prints wall times, the ratio ours/original (target <= 1.0) and peak RSS (/usr/bin/time -v "Maximum resident set size").
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  // child mode: run one CLI in this process so that /usr/bin/time measures exactly it
  const { runCli } = await import('../../packages/core/src/cli/index.ts');
  const mod =
    process.argv[3] === 'save'
      ? await import('../../packages/podsec/src/cli/podsec-save-oci.ts')
      : await import('../../packages/podsec/src/cli/podsec-load-sign-oci.ts');
  process.exitCode = await runCli(mod.cli, process.argv.slice(4));
} else {
  const N = Number(process.argv[2] ?? 20);
  const BIG_MB = Number(process.argv[3] ?? 50);
  const { startRegistry } = await import('../../test/utils/src/registry.ts');
  const { buildTinyImage } = await import('../../test/utils/src/image.ts');
  const { generateKey } = await import('../../packages/core/src/trust/keys.ts');

  const work = await mkdtemp(path.join(tmpdir(), 'podsec-bench-lso-'));
  const registries = [];
  const startReg = async () => {
    const r = await startRegistry();
    registries.push(r);
    return r;
  };
  /** Run a command under /usr/bin/time -v; returns wall seconds and max RSS in MiB. */
  const timed = async (file, args, env = {}) => {
    const t0 = performance.now();
    const { stderr } = await run('/usr/bin/time', ['-v', file, ...args], {
      env: { ...process.env, LANG: 'C', ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    const wall = (performance.now() - t0) / 1000;
    const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? 0) / 1024;
    return { wall, rss };
  };
  try {
    const key = await generateKey({
      type: 'rsa',
      rsaBits: 3072,
      name: 'Bench Maker',
      email: 'maker@example.org',
      date: new Date(Date.now() - 86400e3),
    });
    await writeFile(path.join(work, 'key.asc'), key.privateKeyArmored, { mode: 0o600 });
    const gnupg = path.join(work, 'gnupg');
    await mkdir(gnupg, { mode: 0o700 });
    await run('gpg', ['--batch', '--quiet', '--import', path.join(work, 'key.asc')], {
      env: { ...process.env, GNUPGHOME: gnupg },
    });

    // maker's root: group membership, nothing else (lookaside: <root>/var/sigstore/sigstore)
    const root = path.join(work, 'root');
    await mkdir(path.join(root, 'etc'), { recursive: true });
    await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
    await writeFile(path.join(root, 'etc/group'), 'root:x:0:\npodman_dev:x:991:root\n');

    const variants = [{ name: `${N} tiny images`, size: 0 }];
    if (BIG_MB > 0)
      variants.push({ name: `${N} images with a ${BIG_MB} MB layer`, size: BIG_MB * 1e6 });
    for (const variant of variants) {
      const source = await startReg();
      process.stdout.write(`\n== ${variant.name}: building ...`);
      for (let i = 0; i < N; i++) {
        const contents =
          variant.size > 0
            ? randomBytes(variant.size / 2).toString('hex')
            : `bench ${i} ${Math.random()}\n`;
        await buildTinyImage(source.host, `bench/img${i}`, '1', { contents });
      }
      const out = path.join(work, `out-${variant.size}`);
      const images = Array.from({ length: N }, (_, i) => `bench/img${i}:1`);
      const save = await timed(process.execPath, [
        '--conditions=podsec-source',
        self,
        '--child',
        'save',
        out,
        'amd64',
        ...images,
        '--registry',
        source.host,
        '--tmpdir',
        work,
        '--xz-level',
        '1',
      ]);
      const archive = path.join(out, 'amd64.tar.xz');
      const { stdout: size } = await run('du', ['-m', archive]);
      console.log(` archive ${size.split('\t')[0]} MiB (save-oci ${save.wall.toFixed(1)} s)`);

      // ours
      const t1 = await startReg();
      const ours = await timed(process.execPath, [
        '--conditions=podsec-source',
        self,
        '--child',
        'load',
        archive,
        'amd64',
        'maker@example.org',
        '--root',
        root,
        '--registry-host',
        t1.host,
        '--key',
        path.join(work, 'key.asc'),
        '--tmpdir',
        work,
        '--platform',
        'bench',
      ]);

      // the original's approach by hand
      const t2 = await startReg();
      const regd = path.join(work, `regd-${variant.size}`);
      await mkdir(regd);
      await writeFile(
        path.join(regd, 'default.yaml'),
        `default-docker:\n  lookaside-staging: file://${path.join(work, `orig-sigs-${variant.size}`)}\n`,
      );
      const storage = `containers-storage:[vfs@${path.join(work, `st-${variant.size}`, 'root')}+${path.join(work, `st-${variant.size}`, 'run')}]`;
      const env = { GNUPGHOME: gnupg };
      const t0 = performance.now();
      let origRss = 0;
      const ext = path.join(work, `ext-${variant.size}`);
      await mkdir(ext);
      const x = await timed('sh', ['-c', 'xz -d < "$1" | tar -x -C "$2"', 'sh', archive, ext]);
      origRss = Math.max(origRss, x.rss);
      for (const img of images) {
        const ref = `${t2.host}/${img}`;
        const a = await timed('skopeo', [
          '--override-arch',
          'amd64',
          'copy',
          '--quiet',
          `oci:${ext}/amd64:${img}`,
          `${storage}${ref}`,
        ]);
        const b = await timed(
          'skopeo',
          [
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            '--registries.d',
            regd,
            '--sign-by',
            key.fingerprint,
            `${storage}${ref}`,
            `docker://${ref}`,
          ],
          env,
        );
        origRss = Math.max(origRss, a.rss, b.rss);
      }
      const orig = (performance.now() - t0) / 1000;
      await rm(ext, { recursive: true, force: true });
      await run('rm', ['-rf', path.join(work, `st-${variant.size}`)]);

      console.log(
        `  ours (podsec-load-sign-oci): ${ours.wall.toFixed(2)} s, peak RSS ${ours.rss.toFixed(0)} MiB`,
      );
      console.log(
        `  original approach:           ${orig.toFixed(2)} s, peak RSS of the largest process ${origRss.toFixed(0)} MiB`,
      );
      console.log(
        `  ratio ours/original:         ${(ours.wall / orig).toFixed(2)} (target <= 1.0)`,
      );
    }
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
    await run('rm', ['-rf', work]).catch(() => {});
  }
}
