import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { generateKey } from '@podsec/core/trust';
import { createArchiveHost, packArchive } from '@podsec/core/system';
import { createTestSystem, FakeRunner, runBothPaths } from '@podsec/test-utils';
import { cli } from './podsec-load-sign-oci.ts';
import { fast } from './podsec-load-sign-oci.fast.ts';

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

// as in podsec-load-sign-oci.test.ts: the maker in podman_dev, registry.local on this host, the default key
const TREE = (key: string) => ({
  'etc/passwd':
    'root:x:0:0:root:/root:/bin/bash\nmaker:x:1000:990::/home/maker:/bin/bash\nother:x:1001:1001::/home/other:/bin/bash\n',
  'etc/group': 'root:x:0:\npodman:x:990:\npodman_dev:x:991:maker\nother:x:1001:\n',
  'etc/hosts': '127.0.0.1 localhost\n127.0.0.1 registry.local sigstore.local trivy.local\n',
  'home/maker/.config/podsec/signing-key.asc': key,
});

/** One path's own System over a fresh root, with skopeo faked (every image takes the skopeo path). */
async function freshSystem(t: TestContext, key: string) {
  const runner = new FakeRunner();
  runner.on('skopeo', async (args) => {
    const i = args.indexOf('--digestfile');
    const dest = args[args.length - 1] ?? '';
    await writeFile(
      args[i + 1] as string,
      `sha256:${createHash('sha256').update(dest).digest('hex')}`,
    );
    return { exitCode: 0 };
  });
  const system0 = await createTestSystem(t, {
    tree: TREE(key),
    proc: runner,
    env: { PATH: process.env['PATH'], U7S_PLATFORM: 'c10f', PODSEC_OCI_PUSH: 'skopeo' },
  });
  const system = { ...system0, identity: { uid: 1000, gid: 990, user: 'maker' } } as typeof system0;
  return { system, runner };
}

/** An OCI archive of `refs` (the index only: the faked skopeo never reads a blob), as in podsec-load-sign-oci.test.ts. */
async function archive(work: string, name: string, refs: string[]): Promise<string> {
  const parent = path.join(work, `layout-${name}`);
  await mkdir(path.join(parent, 'amd64', 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(parent, 'amd64', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const manifests = refs.map((r, i) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${String(i).padStart(64, '0')}`,
    size: 1,
    annotations: { 'org.opencontainers.image.ref.name': r },
  }));
  await writeFile(
    path.join(parent, 'amd64', 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests }),
  );
  const out = path.join(work, `${name}.tar.xz`);
  await packArchive(host, parent, 'amd64', out, { mtime: 0 });
  return out;
}

// What differs between two runs of the same invocation, and only that: the name of the private work directory, a
// mkdtemp (podsec-oci-XXXXXX) under --tmpdir, in a dry run's "would push oci:<dir>/amd64:..." and in the skopeo
// calls; the durations of the timing lines -v prints ("time: <step> 12 ms"); and in the stack trace --debug prints,
// the frames below the action (runFastCli or commander's parseAsync and runCli, and the test's). The key, the
// registry's probe and the index are made ready at the same time, so the order in which -v names them ("ready after
// probe N ms, key N ms, index N ms") and the place of the debug line of the key among the lines of the stream are
// the order they happened to finish in: the entries are sorted and that line is put first.
const KEY_LINE = /^signing key read (?:natively \(node:crypto\)|with openpgp\.js)\n/m;
const normalise = (s: string) => {
  const key = KEY_LINE.exec(s)?.[0] ?? '';
  return `${key}${s.replace(KEY_LINE, '')}`
    .replace(/\/podsec-oci-[A-Za-z0-9]{6}\b/g, '/podsec-oci-XXXXXX')
    .replace(/^time: .*$/gm, (line) => line.replace(/\b\d+ ms\b/g, 'N ms'))
    .replace(
      /ready after ([^)]*)\)/g,
      (_, list: string) => `ready after ${list.split(', ').sort().join(', ')})`,
    )
    .replace(/^( {4}at async runLoadSign \(.*\n)(?: {4}at .*\n)*/gm, '$1    at <caller>\n');
};

describe('podsec-load-sign-oci fast path', () => {
  it('prints the same bytes and exit code as the full program for every invocation it handles', async (t) => {
    const key = (await keyPromise).privateKeyArmored;
    // the files both paths read, the same paths in both (they are printed): archives, keys, the passphrase, --tmpdir
    const work = await mkdtemp(path.join(tmpdir(), 'podsec-lso-fast-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const tmp = path.join(work, 'tmp');
    await mkdir(tmp);
    const c10f = await archive(work, 'c10f', ['c10f/pause:3.9', 'c10f/etcd:3.5.9']);
    const p10 = await archive(work, 'p10', ['p10/pause:3.9']);
    const protectedKey = path.join(work, 'protected.asc');
    await writeFile(protectedKey, (await protectedKeyPromise).privateKeyArmored, { mode: 0o600 });
    const plainKey = path.join(work, 'plain.asc');
    await writeFile(plainKey, key, { mode: 0o600 });
    const pass = path.join(work, 'pass');
    await writeFile(pass, 'secret words\n', { mode: 0o600 });
    const missing = path.join(work, 'missing.tar.xz');
    const me = 'maker@example.org';
    // <archive> <arch> <signer-email> --tmpdir <tmp> and more
    const c10fLoad = (...more: string[]) => [c10f, 'amd64', me, '--tmpdir', tmp, ...more];
    const p10Load = (...more: string[]) => [p10, 'amd64', me, '--tmpdir', tmp, ...more];
    const handled: [number, string[]][] = [
      [0, c10fLoad()],
      [0, [c10f, 'amd64', me, 'registry.local/apps', `--tmpdir=${tmp}`]],
      // options before, between and after the arguments
      [0, ['--tmpdir', tmp, '--json', c10f, 'amd64', me]],
      [0, [c10f, '--tmpdir', tmp, 'amd64', '--verbose', me, 'registry.local/c10f']],
      [0, [c10f, 'amd64', me, '--dry-run', '--tmpdir', tmp]],
      [0, ['--dry-run', c10f, 'amd64', '--json', me, '--tmpdir', tmp]],
      [0, c10fLoad('-v', '--debug')],
      [0, c10fLoad('--key', plainKey)],
      [0, c10fLoad('--key', protectedKey, '--passphrase-file', pass)],
      [
        0,
        [
          c10f,
          'amd64',
          me,
          `--key=${protectedKey}`,
          `--passphrase-file=${pass}`,
          `--tmpdir=${tmp}`,
        ],
      ],
      [0, c10fLoad('--tls-verify')],
      [0, c10fLoad('--tls-verify=true', '--json')],
      [0, c10fLoad('--tls-verify=false')],
      [0, c10fLoad('--insecure')],
      [0, c10fLoad('--tls-verify', '--insecure')],
      [0, c10fLoad('--registry-host', '127.0.0.1:5000')],
      [0, c10fLoad('--registry-host=127.0.0.1:5000', '--json')],
      [0, c10fLoad('--lookaside', 'file:///var/sigstore/other')],
      [0, c10fLoad('--lookaside=file:///var/sigstore/other', '--dry-run')],
      [0, c10fLoad('--root', '/')],
      [0, c10fLoad('--root=/', '--platform', 'c10f')],
      [0, p10Load('--platform', 'p10')],
      [0, p10Load('--platform=p10', '--json')],
      [0, p10Load('--yes')],
      [0, [p10, '--yes', 'amd64', me, 'registry.local/apps', '--tmpdir', tmp, '--dry-run']],
      // a repeated option: the last counts
      [0, p10Load('--platform', 'c10f', '--platform', 'p10')],
      [0, [c10f, 'amd64', me, '--tmpdir', '/nowhere', '--tmpdir', tmp]],
      [0, c10fLoad('--key', missing, '--key', plainKey)],
      [0, c10fLoad('--tls-verify=false', '--tls-verify')],
      [0, c10fLoad('--registry-host', 'x.y', '--registry-host=127.0.0.1:1')],
      // a bare --tls-verify takes no value: a "false" after it is the target, for commander too
      [1, [c10f, 'amd64', me, '--tls-verify', 'false', '--tmpdir', tmp]],
      // errors: an unknown architecture (3), a registry without a dot (5) or without a path, a missing archive, a
      // missing key, a signer the key does not name, a protected key without its passphrase, another platform
      // without --yes, a missing --tmpdir
      [3, [c10f, 'mips', me, '--tmpdir', tmp]],
      [3, [c10f, 'mips', me, '--tmpdir', tmp, '--json']],
      [5, [c10f, 'amd64', me, 'localreg/x', '--tmpdir', tmp]],
      [5, [c10f, 'amd64', me, 'localreg/x', '--tmpdir', tmp, '--json', '--debug']],
      [1, [c10f, 'amd64', me, 'registry.local', '--tmpdir', tmp]],
      [1, [missing, 'amd64', me, '--tmpdir', tmp]],
      [1, [missing, 'amd64', me, '--tmpdir', tmp, '--json']],
      [1, c10fLoad('--key', missing)],
      [1, [c10f, 'amd64', 'someone@example.org', '--tmpdir', tmp]],
      [1, [c10f, 'amd64', 'someone@example.org', '--tmpdir', tmp, '--json']],
      [1, c10fLoad('--key', protectedKey)],
      [1, c10fLoad('--key', protectedKey, '--passphrase-file', missing)],
      [1, p10Load()],
      [1, p10Load('--json', '-v')],
      [1, p10Load('--platform', 'k8s-p10')],
      [1, [c10f, 'amd64', me, '--tmpdir', path.join(work, 'no-such-dir')]],
      // with --debug, the stack (a system error) and the causes (a wrong passphrase)
      [1, [c10f, 'amd64', me, '--tmpdir', path.join(work, 'no-such-dir'), '--debug']],
      [1, c10fLoad('--key', protectedKey, '--passphrase-file', plainKey, '--debug')],
    ];
    for (const [code, args] of handled) {
      const label = args.map((a) => a.replace(work, '<work>')).join(' ');
      for (const env of [{ LANG: 'C' }, { LANG: 'ru_RU.UTF-8' }]) {
        // each path on its own identical fresh root: a push and a signature change it (a second run in the same
        // root would print "already signed")
        const a = await freshSystem(t, key);
        const b = await freshSystem(t, key);
        const r = await runBothPaths(fast, cli, args, {
          system: a.system,
          fullSystem: b.system,
          env,
          isTTY: false,
        });
        assert.ok(r.fast, `the fast path takes ${label}`);
        const out = (x: { code: number; stdout: string; stderr: string }) => ({
          code: x.code,
          stdout: normalise(x.stdout),
          stderr: normalise(x.stderr),
        });
        assert.deepEqual(out(r.fast), out(r.full), `${label} (${env.LANG})`);
        assert.equal(r.fast.code, code, `${label} (${env.LANG}): ${r.fast.stderr}`);
        // and the same pushes were made
        assert.deepEqual(
          a.runner.calls.map((c) => normalise(c[1].join(' '))),
          b.runner.calls.map((c) => normalise(c[1].join(' '))),
          `${label} (${env.LANG}): the skopeo calls`,
        );
      }
    }
  });

  it('leaves everything else to commander', () => {
    const a = ['a.tar.xz', 'amd64', 'maker@example.org'];
    for (const args of [
      [],
      ['--help'],
      ['-h'],
      [...a, '--help'],
      [...a, '-h'],
      ['a.tar.xz', 'amd64'],
      [...a, 'registry.local/x', 'extra'],
      [...a, '--max-size', '1G'],
      [...a, '--max-size=1G'],
      [...a, '--max-ratio', '5'],
      [...a, '--max-entries', '9'],
      [...a, '--key'],
      [...a, '--key='],
      ['--key', '--json', 'a', 'b', 'c', 'd'],
      [...a, '--key', ''],
      [...a, '--platform'],
      [...a, '--platform', '--yes'],
      [...a, '--passphrase-file=-'],
      [...a, '--lookaside', '-x'],
      [...a, '--registry-host='],
      [...a, '--tmpdir'],
      [...a, '--root', ''],
      [...a, '--root='],
      [...a, '--root'],
      [...a, '--bogus'],
      [...a, '-vy'],
      [...a, '-y'],
      [...a, '-j'],
      [...a, '--'],
      ['--', ...a],
      [...a, '-'],
      ['-', 'amd64', 'maker@example.org'],
      [...a, 'registry.local/x', '--tls-verify', 'false'],
      [...a, '--tls-verify=no'],
      [...a, '--tls-verify=TRUE'],
      [...a, '--insecure=true'],
      [...a, '--yes=true'],
      [...a, '--json=1'],
      [...a, '--dry-run=false'],
      [...a, '--no-tls-verify'],
      [...a, '--version'],
    ])
      assert.equal(fast.parse(args), undefined, args.join(' '));
  });
});
