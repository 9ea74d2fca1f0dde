import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readPublicKeys } from '@podsec/core/trust';
import { parsePolicy } from '@podsec/core/config';
import { parseRegistriesDFile } from '@podsec/core/config/registries-d';
import { runProgram } from '@podsec/test-utils';
import {
  FRESH_POLICY,
  PASSPHRASE_FILE,
  PASSWORD_FILE,
  prepareServer,
  snapshotTree,
} from '../imagemaker/test-helpers/server-root.ts';
import { cli } from './podsec-create-imagemakeruser.ts';

const FAST = ['--key-type', 'ed25519', '--passphrase-file', PASSPHRASE_FILE, '--no-password'];
const signedBy = (user: string) => [
  { type: 'signedBy', keyType: 'GPGKeys', keyPath: `/var/sigstore/keys/${user}.pgp` },
];
const json = async (root: string, p: string) =>
  JSON.parse(await readFile(path.join(root, p), 'utf8'));

describe('podsec-create-imagemakeruser', () => {
  it('12.3-1: exits 1 for a non-root caller and changes nothing', async (t) => {
    const { system } = await prepareServer(t, { uid: 1000 });
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, FAST, { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /must be run by a user with root rights/);
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('12.3-2: exits 1 with a hint when /var/sigstore is missing, changing nothing', async (t) => {
    const { system } = await prepareServer(t, { sigstore: false });
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, FAST, { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\/var\/sigstore\/ not created\. Run podsec-create-policy/);
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('exits 1 on a host that is not the signature server (docs/weaknesses.md#w1-host-role-guard)', async (t) => {
    const { system } = await prepareServer(t, {
      tree: { 'etc/hosts': '10.9.9.9 registry.local sigstore.local trivy.local\n' },
    });
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, FAST, { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not the signature server: .*remote server 10\.9\.9\.9/);
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('12.3-3: without arguments makes imagemaker@registry.local with policy, key and personal files', async (t) => {
    const { system, runner } = await prepareServer(t, { record: true });
    const r = await runProgram(cli, FAST, { system });
    assert.equal(r.code, 0, r.stderr);
    const useradd = runner!.calls.find(([f]) => f === 'useradd');
    assert.deepEqual(useradd, [
      'useradd',
      [
        '--prefix',
        system.root,
        '-g',
        'podman',
        '-G',
        'podman_dev',
        '-d',
        '/home/imagemaker',
        '-m',
        '--',
        'imagemaker',
      ],
    ]);
    const policy = await json(system.root, 'etc/containers/policy.json');
    assert.deepEqual(policy.default, [{ type: 'reject' }]);
    assert.deepEqual(policy.transports.docker['registry.local'], signedBy('imagemaker'));
    assert.ok((await lstat(path.join(system.root, 'etc/containers/policy.json'))).isSymbolicLink());
    assert.deepEqual(await json(system.root, 'var/sigstore/keys/policy.json'), policy);
    const pgp = await readFile(path.join(system.root, 'var/sigstore/keys/imagemaker.pgp'), 'utf8');
    assert.match(
      pgp,
      /^-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*-----END PGP PUBLIC KEY BLOCK-----\s*$/,
    );
    const pgpStat = await lstat(path.join(system.root, 'var/sigstore/keys/imagemaker.pgp'));
    assert.deepEqual(
      [pgpStat.mode & 0o777, pgpStat.uid, pgpStat.gid],
      [0o644, 0, 0],
      'written by root (docs/weaknesses.md#w7-permissions-of-varsigstore)',
    );
    const user = (await system.users.getUser('imagemaker'))!;
    const personal = await json(system.root, 'home/imagemaker/.config/containers/policy.json');
    assert.deepEqual(personal, { ...policy, default: [{ type: 'insecureAcceptAnything' }] });
    const yamlPath = path.join(
      system.root,
      'home/imagemaker/.config/containers/registries.d/default.yaml',
    );
    assert.deepEqual(
      parseRegistriesDFile('default.yaml', await readFile(yamlPath, 'utf8')).defaultDocker,
      {
        lookaside: 'http://sigstore.local:81/sigstore/',
        sigstore: 'http://sigstore.local:81/sigstore/',
        'lookaside-staging': 'file:///var/sigstore/sigstore/',
        'sigstore-staging': 'file:///var/sigstore/sigstore/',
      },
    );
    for (const f of [
      'home/imagemaker/.config/containers/policy.json',
      'home/imagemaker/.config/containers/registries.d/default.yaml',
    ]) {
      const st = await lstat(path.join(system.root, f));
      assert.deepEqual([st.uid, st.gid], [user.uid, 500], f);
    }
    const key = await lstat(
      path.join(system.root, 'home/imagemaker/.config/podsec/signing-key.asc'),
    );
    assert.deepEqual([key.mode & 0o777, key.uid, key.gid], [0o600, user.uid, 500]);
    const keyDir = await lstat(path.join(system.root, 'home/imagemaker/.config/podsec'));
    assert.equal(keyDir.mode & 0o777, 0o700);
    assert.match(
      await readFile(path.join(system.root, 'etc/subuid'), 'utf8'),
      /^imagemaker:\d+:65536$/m,
    );
    assert.match(
      await readFile(path.join(system.root, 'etc/subgid'), 'utf8'),
      /^imagemaker:\d+:65536$/m,
    );
    assert.match(r.stdout, /Image makers: imagemaker/);
  });

  it('12.3-4: a single argument bob binds registry.local to bob.pgp', async (t) => {
    const { system } = await prepareServer(t);
    const r = await runProgram(cli, [...FAST, 'bob'], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await json(system.root, 'etc/containers/policy.json')).transports.docker, {
      'registry.local': signedBy('bob'),
    });
  });

  it('12.3-5: two makers get their own scopes and keys; the namespace directory belongs to its maker', async (t) => {
    const { system } = await prepareServer(t);
    const r = await runProgram(
      cli,
      [...FAST, '--json', 'a@registry.local/c10f', 'b@registry.local'],
      { system },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await json(system.root, 'etc/containers/policy.json')).transports.docker, {
      'registry.local/c10f': signedBy('a'),
      'registry.local': signedBy('b'),
    });
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      out.makers.map((m: { user: string; key: { state: string } }) => [m.user, m.key.state]),
      [
        ['a', 'generated'],
        ['b', 'generated'],
      ],
    );
    assert.notEqual(out.makers[0].key.fingerprint, out.makers[1].key.fingerprint);
    const dir = await lstat(path.join(system.root, 'var/sigstore/sigstore/c10f'));
    assert.deepEqual(
      [dir.mode & 0o7777, dir.uid],
      [0o755, (await system.users.getUser('a'))!.uid],
      'owned by the maker (docs/weaknesses.md#w7-permissions-of-varsigstore, docs/weaknesses.md#w8-shared-paths-in-the-signature-store)',
    );
  });

  for (const [row, args, exit] of [
    ['12.3-6', ['a@r.local/x', 'b@r.local/x'], 2],
    ['12.3-7', ['a@r.local/x', 'b'], 1],
    ['12.3-7', ['a@'], 1],
    ['12.3-7', ['@r.local'], 1],
  ] as const) {
    it(`${row}: ${args.join(' ')} exits ${exit} before any change`, async (t) => {
      const { system } = await prepareServer(t);
      const before = await snapshotTree(system.root);
      const r = await runProgram(cli, [...FAST, ...args], { system });
      assert.equal(r.code, exit, r.stderr);
      assert.deepEqual(await snapshotTree(system.root), before);
    });
  }

  it('12.3-9: a scope bound to another key exits 2 unless --force', async (t) => {
    const old = JSON.stringify({
      default: [{ type: 'reject' }],
      transports: { docker: { 'registry.local': signedBy('old') } },
    });
    const { system } = await prepareServer(t, { policy: old });
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, [...FAST, 'x@registry.local'], { system });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /registry\.local is already bound to \/var\/sigstore\/keys\/old\.pgp .*--force/,
    );
    assert.deepEqual(await snapshotTree(system.root), before);
    const f = await runProgram(cli, [...FAST, '--force', 'x@registry.local'], { system });
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(
      (await json(system.root, 'etc/containers/policy.json')).transports.docker['registry.local'],
      signedBy('x'),
    );
  });

  it('docs/weaknesses.md#w12-personal-policies: carol keeps her policy; podman_dev member dave and the makers are refreshed', async (t) => {
    const carolPolicy = '{"default":[{"type":"reject"}]}';
    const { system } = await prepareServer(t, {
      tree: {
        'etc/passwd':
          'root:x:0:0:root:/root:/bin/bash\ncarol:x:1500:500::/home/carol:/bin/sh\ndave:x:1501:500::/srv/dave:/bin/sh\n',
        'etc/group': 'root:x:0:\npodman:x:500:carol\npodman_dev:x:501:dave\n',
        'home/carol/.config/containers/policy.json': carolPolicy,
        'srv/dave/.config/containers/policy.json':
          '{"default":[{"type":"insecureAcceptAnything"}]}',
      },
    });
    const r = await runProgram(cli, [...FAST, 'a@registry.local'], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readFile(path.join(system.root, 'home/carol/.config/containers/policy.json'), 'utf8'),
      carolPolicy,
    );
    const dave = await json(system.root, 'srv/dave/.config/containers/policy.json');
    assert.deepEqual(
      dave.transports.docker['registry.local'],
      signedBy('a'),
      'home taken from passwd, not /home/*',
    );
  });

  it('docs/weaknesses.md#w12-personal-policies: does not follow a symlinked ~/.config of a podman_dev member', async (t) => {
    const { system } = await prepareServer(t, {
      tree: {
        'etc/passwd':
          'root:x:0:0:root:/root:/bin/bash\nmallory:x:1502:500::/home/mallory:/bin/sh\n',
        'etc/group': 'root:x:0:\npodman:x:500:\npodman_dev:x:501:mallory\n',
        'home/mallory/.keep': '',
      },
    });
    await symlink(path.join(system.root, 'etc'), path.join(system.root, 'home/mallory/.config'));
    const r = await runProgram(cli, [...FAST, 'a@registry.local'], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Not writing \/home\/mallory\/.config: is a symbolic link/);
    assert.deepEqual(
      (await json(system.root, 'etc/containers/policy.json')).default,
      [{ type: 'reject' }],
      'system policy not loosened',
    );
  });

  it('refuses an existing account unless --existing, and then keeps its password', async (t) => {
    const { system } = await prepareServer(t);
    await system.users.addUser('eve', { group: 'podman' });
    const shadowBefore = await readFile(path.join(system.root, 'etc/shadow'), 'utf8');
    const r = await runProgram(cli, [...FAST, 'eve@registry.local'], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /User eve already exists; use --existing/);
    const ok = await runProgram(cli, [...FAST, '--existing', 'eve@registry.local'], { system });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await system.users.groupsOf('eve'), ['podman', 'podman_dev']);
    assert.equal(await readFile(path.join(system.root, 'etc/shadow'), 'utf8'), shadowBefore);
  });

  it('sets the password of a new account from --password-file (chpasswd)', async (t) => {
    const { system } = await prepareServer(t);
    const r = await runProgram(
      cli,
      [
        '--key-type',
        'ed25519',
        '--passphrase-file',
        PASSPHRASE_FILE,
        '--password-file',
        PASSWORD_FILE,
        'pat',
      ],
      { system },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(await readFile(path.join(system.root, 'etc/shadow'), 'utf8'), /^pat:\$6\$/m);
    assert.doesNotMatch(r.stderr + r.stdout, /S3cret-pw|correct horse/);
  });

  it('docs/weaknesses.md#w21-interactive-only-flows: without a passphrase file and without a terminal exits 1 before any change', async (t) => {
    const { system } = await prepareServer(t);
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, ['--key-type', 'ed25519', '--no-password', 'a'], {
      system,
      isTTY: false,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No passphrase for the signing key of a: give --passphrase-file/);
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('docs/weaknesses.md#w21-interactive-only-flows: asks the passphrase twice on a terminal without echo', async (t) => {
    const { system } = await prepareServer(t);
    const stdin = new PassThrough();
    const answers = ['typed pass\n', 'typed pass\n'];
    const orig = stdin.resume.bind(stdin);
    stdin.resume = () => {
      const a = answers.shift();
      if (a) setImmediate(() => stdin.write(a));
      return orig();
    };
    const r = await runProgram(cli, ['--key-type', 'ed25519', '--no-password', 'a'], {
      system,
      isTTY: true,
      stdin,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Enter the passphrase of the signing key of a <a@localhost>/);
    assert.doesNotMatch(r.stderr, /typed pass/);
  });

  it('--dry-run prints the planned changes and changes nothing', async (t) => {
    const { system } = await prepareServer(t);
    const before = await snapshotTree(system.root);
    const r = await runProgram(
      cli,
      ['--dry-run', '--key-type', 'ed25519', 'a@registry.local/c10f'],
      { system },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Planned changes \(nothing was changed\):/);
    assert.match(r.stdout, /create user a \(groups podman_dev\)/);
    assert.match(r.stdout, /create file \/var\/sigstore\/keys\/a\.pgp/);
    assert.match(r.stdout, /update versioned \/etc\/containers\/policy\.json \(-> policy_/);
    assert.match(r.stdout, /create dir \/var\/sigstore\/sigstore\/c10f \(0755 a:podman\)/);
    assert.match(r.stdout, /dry run: nothing was changed/);
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('--dry-run --json prints exactly the change list the real run then applies', async (t) => {
    const args = [...FAST, '--json', 'a@registry.local/c10f', 'b@registry.local'];
    const dry = await prepareServer(t);
    const planned = JSON.parse(
      (await runProgram(cli, [...args, '--dry-run'], { system: dry.system })).stdout,
    );
    const real = await prepareServer(t);
    const r = await runProgram(cli, args, { system: real.system });
    assert.equal(r.code, 0, r.stderr);
    const applied = JSON.parse(r.stdout);
    assert.equal(planned.dryRun, true);
    assert.equal(applied.dryRun, false);
    // the temp roots differ: compare with the root taken out of gpg's --homedir; a dry run generates no key, so
    // the revocation certificate's name has a placeholder for the fingerprint
    const norm = (changes: { target: string }[], root: string) =>
      changes.map((c) => ({
        ...c,
        target: c.target
          .replaceAll(root, '<root>')
          .replace(/\/[0-9A-F]{40}\.rev$/, '/<fingerprint>.rev'),
      }));
    assert.deepEqual(
      norm(applied.changes, real.system.root),
      norm(planned.changes, dry.system.root),
    );
    assert.ok(applied.changes.length >= 20, `${applied.changes.length} changes`);
    for (const kind of ['user', 'subids', 'dir', 'file', 'versioned'])
      assert.ok(
        applied.changes.some((c: { kind: string }) => c.kind === kind),
        kind,
      );
  });

  it('a failing validation changes nothing: not the accounts, not the lock directory', async (t) => {
    const { system } = await prepareServer(t);
    // a directory where the published policy goes: found by the engine's validation of the whole list
    await mkdir(path.join(system.root, 'var/sigstore/keys/policy.json'));
    const before = await snapshotTree(system.root);
    const r = await runProgram(cli, [...FAST, 'a@registry.local/c10f', 'b@registry.local'], {
      system,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /nothing changed: .*\/var\/sigstore\/keys\/policy\.json: exists and is not a file/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 2, r.stderr); // the progress line and the error
    assert.deepEqual(await snapshotTree(system.root), before);
    assert.equal(await system.users.getUser('a'), undefined);
  });

  it('is idempotent: a second run with --existing changes nothing and keeps the key', async (t) => {
    const { system } = await prepareServer(t);
    const args = [...FAST, '--json', 'a@registry.local/c10f', 'b@registry.local'];
    const first = await runProgram(cli, args, { system });
    assert.equal(first.code, 0, first.stderr);
    const before = await snapshotTree(system.root);
    const second = await runProgram(cli, [...args, '--existing'], { system });
    assert.equal(second.code, 0, second.stderr);
    const out = JSON.parse(second.stdout);
    assert.deepEqual(out.changes, []);
    assert.deepEqual(
      out.makers.map((m: { key: { state: string } }) => m.key.state),
      ['reused', 'reused'],
    );
    assert.deepEqual(
      out.makers.map((m: { key: { fingerprint: string } }) => m.key.fingerprint),
      JSON.parse(first.stdout).makers.map(
        (m: { key: { fingerprint: string } }) => m.key.fingerprint,
      ),
    );
    assert.match(
      second.stderr,
      /already has the signing key [0-9A-F]{40}: not generating a new one/,
    );
    assert.deepEqual(await snapshotTree(system.root), before);
  });

  it('12.3-11: exports only the new key although the keyring holds another one', async (t) => {
    const { system } = await prepareServer(t);
    await system.users.addUser('k', { group: 'podman' });
    const home = path.join(system.root, 'home/k');
    await mkdir(path.join(home, '.gnupg'), { mode: 0o700 });
    const other = await import('@podsec/core/trust').then((c) =>
      c.generateKey({ type: 'ed25519', name: 'old', email: 'old@example.org' }),
    );
    await writeFile(path.join(home, 'old.asc'), other.publicKeyArmored);
    const { execa } = await import('execa');
    await execa('gpg', [
      '--homedir',
      path.join(home, '.gnupg'),
      '--batch',
      '--import',
      path.join(home, 'old.asc'),
    ]);
    // the agent root's gpg may have left on that home would otherwise answer the maker's import
    await execa('gpgconf', ['--homedir', path.join(home, '.gnupg'), '--kill', 'gpg-agent'], {
      reject: false,
    });
    const r = await runProgram(cli, [...FAST, '--existing', '--json', 'k@registry.local'], {
      system,
    });
    assert.equal(r.code, 0, r.stderr);
    const fpr = JSON.parse(r.stdout).makers[0].key.fingerprint;
    const keys = await readPublicKeys(
      await readFile(path.join(system.root, 'var/sigstore/keys/k.pgp')),
    );
    assert.deepEqual(
      keys.map((k) => k.getFingerprint().toUpperCase()),
      [fpr],
    );
    // listed as the maker, as the maker's own gpg sees it (root's gpg would start a second agent on the same home)
    const maker = (await system.users.getUser('k'))!;
    const list = await execa(
      'setpriv',
      [
        `--reuid=${maker.uid}`,
        `--regid=${maker.gid}`,
        '--clear-groups',
        'gpg',
        '--homedir',
        path.join(home, '.gnupg'),
        '--batch',
        '--list-secret-keys',
        '--with-colons',
      ],
      { env: { HOME: home } },
    );
    assert.match(
      list.stdout,
      new RegExp(`fpr:::::::::${fpr}:`),
      `imported into the GnuPG keyring: ${r.stdout} ${r.stderr}`,
    );
    assert.equal(
      (await lstat(path.join(home, '.gnupg/pubring.kbx'))).uid,
      (await system.users.getUser('k'))!.uid,
      'keyring owned by the user',
    );
    await execa('gpgconf', ['--homedir', path.join(home, '.gnupg'), '--kill', 'gpg-agent'], {
      reject: false,
    });
  });

  it('prints errors in Russian under LANG=ru_RU', async (t) => {
    const { system } = await prepareServer(t);
    const r = await runProgram(cli, [...FAST, 'a@r.local/x', 'b@r.local/x'], {
      system,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Путь репозитория r\.local\/x указан более одного раза/);
  });

  it('keeps the fresh policy byte for byte when validation fails', async (t) => {
    const { system } = await prepareServer(t);
    await runProgram(cli, [...FAST, 'bad@'], { system });
    assert.equal(
      await readFile(path.join(system.root, 'etc/containers/policy.json'), 'utf8'),
      FRESH_POLICY,
    );
    assert.deepEqual(parsePolicy(FRESH_POLICY).transports, { docker: {} });
  });
});
