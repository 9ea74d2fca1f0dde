// Round trip with the real tools (12.6-7): buildah images -> podsec-save-oci -> archive -> podsec-load-sign-oci into a
// second docker-registry, signed with a core-generated key -> skopeo under a signedBy policy accepts the loaded
// images and refuses an unsigned one. Everything lives in temp dirs; no /etc file is read for the policy.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { generateKey } from '@podsec/core/trust';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { buildTinyImage } from '../../../../test/utils/src/image.ts';
import { startRegistry, type TestRegistry } from '../../../../test/utils/src/registry.ts';
import { cli as loadCli } from '../cli/podsec-load-sign-oci.ts';
import { cli as saveCli } from '../cli/podsec-save-oci.ts';

describe('save-oci -> load-sign-oci -> skopeo signedBy policy', () => {
  let source: TestRegistry;
  let target: TestRegistry;
  let work: string;
  before(async () => {
    [source, target] = await Promise.all([startRegistry(), startRegistry()]);
    work = await mkdtemp(path.join(tmpdir(), 'podsec-roundtrip-'));
    await buildTinyImage(source.host, 'c10f/pause', '3.9');
    await buildTinyImage(source.host, 'c10f/etcd', '3.5.9');
    await buildTinyImage(target.host, 'c10f/unsigned', '1');
  });
  after(async () => {
    await Promise.all([source.stop(), target.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('loads signed images that a signedBy policy accepts, and the unsigned one is refused', async (t) => {
    // 1. save
    const saver = await createTestSystem(t);
    const out = path.join(work, 'out');
    const saved = await runProgram(
      saveCli,
      [
        out,
        'amd64',
        'c10f/pause:3.9',
        'c10f/etcd:3.5.9',
        '--registry',
        source.host,
        '--tmpdir',
        work,
        '--xz-level',
        '1',
      ],
      {
        system: saver,
      },
    );
    assert.equal(saved.code, 0, saved.stderr);

    // 2. load and sign as an image maker, with the key of core's generateKey
    const key = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      name: 'Maker',
      email: 'maker@example.org',
      passphrase: 'pw',
      date: new Date(2025, 0, 1),
    });
    await writeFile(path.join(work, 'key.asc'), key.privateKeyArmored, { mode: 0o600 });
    await writeFile(path.join(work, 'pass'), 'pw\n', { mode: 0o600 });
    const pub = path.join(work, 'maker.pgp');
    await writeFile(pub, key.publicKeyBinary);
    const maker0 = await createTestSystem(t, {
      tree: {
        'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nmaker:x:1000:990::/home/maker:/bin/bash\n',
        'etc/group': 'root:x:0:\npodman:x:990:\npodman_dev:x:991:maker\n',
      },
      env: { PATH: process.env['PATH'], U7S_PLATFORM: 'c10f', HOME: work },
    });
    const maker = { ...maker0, identity: { uid: 1000, gid: 990, user: 'maker' } };
    const loadArgs = [
      path.join(out, 'amd64.tar.xz'),
      'amd64',
      'maker@example.org',
      '--registry-host',
      target.host,
      '--key',
      path.join(work, 'key.asc'),
      '--passphrase-file',
      path.join(work, 'pass'),
      '--tmpdir',
      work,
    ];
    const loaded = await runProgram(loadCli, loadArgs, { system: maker });
    assert.equal(loaded.code, 0, loaded.stderr);
    assert.match(loaded.stderr, /\[4\/4\] pushed and signed /);
    const lookaside = path.join(maker.root, 'var/sigstore/sigstore');
    assert.deepEqual((await readdir(lookaside)).sort(), ['c10f', 'k8s-c10f2']);

    // a repeated run changes nothing in the signature store
    const again = await runProgram(loadCli, loadArgs, { system: maker });
    assert.equal(again.code, 0, again.stderr);
    for (const d of await readdir(path.join(lookaside, 'c10f')))
      assert.deepEqual(await readdir(path.join(lookaside, 'c10f', d)), ['signature-1']);

    // 3. verify with skopeo: signedBy the maker's key for the target registry, lookaside = the staging dir
    const policy = path.join(work, 'policy.json');
    await writeFile(
      policy,
      JSON.stringify({
        default: [{ type: 'reject' }],
        transports: {
          docker: { [target.host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: pub }] },
          dir: { '': [{ type: 'insecureAcceptAnything' }] },
        },
      }),
    );
    const regd = path.join(work, 'registries.d');
    await mkdir(regd);
    await writeFile(
      path.join(regd, 'default.yaml'),
      `default-docker:\n  lookaside: file://${lookaside}\n`,
    );
    const copy = (ref: string) =>
      execa(
        'skopeo',
        [
          'copy',
          '--quiet',
          '--policy',
          policy,
          '--registries.d',
          regd,
          '--src-tls-verify=false',
          `docker://${target.host}/${ref}`,
          `dir:${path.join(work, `pulled-${ref.replace(/[/:]/g, '_')}`)}`,
        ],
        {
          reject: false,
        },
      );
    for (const ref of [
      'c10f/pause:3.9',
      'c10f/etcd:3.5.9',
      'k8s-c10f2/pause:3.9',
      'k8s-c10f2/etcd:3.5.9',
    ]) {
      const r = await copy(ref);
      assert.equal(r.exitCode, 0, `${ref}: ${r.stderr}`);
    }
    const refused = await copy('c10f/unsigned:1');
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /signature|rejected|A signature was required/i);
  });
});
