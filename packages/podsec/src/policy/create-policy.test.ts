import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { generateKey } from '@podsec/core/trust';
import { parseRegistriesConf } from '@podsec/core/config';
import {
  baseTree,
  createTestSystem,
  FakeRunner,
  makeTestCert,
  runProgram,
  type Tree,
} from '@podsec/test-utils';
import { createProcessRunner } from '@podsec/core/system';
import { cli } from '../cli/podsec-create-policy.ts';
import { fetchTrust } from './fetch-trust.ts';
import { snapshotTree as snapshot } from '@podsec/test-utils';

const IP = '192.168.10.5';
const STAMP = '20250801-120000';
const OLD_POLICY =
  '{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}\n';
const OLD_CONF = '# distribution file\nunqualified-search-registries = ["registry.altlinux.org"]\n';
const SERVER_TREE: Tree = {
  ...baseTree,
  'etc/hosts': '127.0.0.1 localhost\n',
  'run/utmp': '',
  'etc/containers/policy.json': OLD_POLICY,
  'etc/containers/registries.conf': OLD_CONF,
  'proc/sys/kernel/unprivileged_userns_clone': '0\n',
  'etc/control.d/facilities/newgidmap': '#!/bin/sh\n',
  'etc/control.d/facilities/newuidmap': '#!/bin/sh\n',
};

/**
 * sysctl and control cannot run here (another root; control is ALT-only): scripted with state, so that a
 * re-run sees their effect; everything else (groupadd --prefix) is real.
 */
function fakeTools(root: () => string): FakeRunner {
  const control = new Map<string, string>();
  return new FakeRunner(createProcessRunner({ PATH: process.env['PATH'] }))
    .on('sysctl', async () => {
      await writeFile(`${root()}/proc/sys/kernel/unprivileged_userns_clone`, '1\n');
      return { stdout: 'kernel.unprivileged_userns_clone = 1\n' };
    })
    .on('control', (args) => {
      if (args[1] !== undefined) control.set(args[0]!, args[1]);
      return { stdout: args.length === 1 ? `${control.get(args[0]!) ?? 'public'}\n` : '' };
    });
}

async function serverSystem(t: TestContext, tree: Tree = SERVER_TREE, given?: FakeRunner) {
  let root = '';
  const proc = given ?? fakeTools(() => root);
  const sys = await createTestSystem(t, { tree, localAddresses: ['127.0.0.1', IP], proc });
  root = sys.root;
  // decisions that depend on "is this the running system" see "/", all files stay in the temp root
  return { sys: { ...sys, root: '/' }, root: sys.root, proc };
}

const calls = (p: FakeRunner) =>
  p.calls.map(([f, a]) =>
    [f, ...a.filter((x) => !x.startsWith('/tmp/') && x !== '--prefix' && x !== '--')].join(' '),
  );

describe('createPolicy, server mode', () => {
  it('binds the names, creates groups, sysctl, control, /var/sigstore and the three versioned files', async (t) => {
    const { sys, root, proc } = await serverSystem(t);
    const r = await runProgram(cli, [IP], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readFile(`${root}/etc/hosts`, 'utf8'),
      `127.0.0.1 localhost\n${IP} registry.local sigstore.local trivy.local\n`,
    );
    assert.equal(
      await readFile(`${root}/etc/sysctl.d/99-podman.conf`, 'utf8'),
      'kernel.unprivileged_userns_clone=1\n',
    );
    assert.deepEqual(calls(proc), [
      // read: the state of the helpers, before any change (checked outside the lock, read again under it)
      'control newgidmap',
      'control newuidmap',
      'control newgidmap',
      'control newuidmap',
      // apply
      'groupadd -r podman',
      'groupadd -r podman_dev',
      'sysctl -w kernel.unprivileged_userns_clone=1',
      'control newgidmap podmanonly',
      'control newuidmap podmanonly',
    ]);
    const snap = await snapshot(root);
    const devGid = (await sys.users.getGroup('podman_dev'))!.gid;
    assert.equal(snap['var/sigstore'], 'dir 755 0:0');
    assert.equal(snap['var/sigstore/keys'], 'dir 755 0:0'); // [fix] docs/weaknesses.md#w7-permissions-of-varsigstore: not group-writable
    assert.equal(snap['var/sigstore/sigstore'], `dir 1775 0:${devGid}`); // [fix] sticky
    assert.equal(
      await readFile(`${root}/var/sigstore/index.html`, 'utf8'),
      '<html><body><h1>SigStore works!</h1></body></html>\n',
    );
    assert.equal(snap['etc/containers/policy.json'], `link policy_${STAMP}`);
    assert.equal(
      await readFile(`${root}/etc/containers/policy.json.${STAMP}.bak`, 'utf8'),
      OLD_POLICY,
    );
    assert.deepEqual(JSON.parse(await readFile(`${root}/etc/containers/policy.json`, 'utf8')), {
      default: [{ type: 'reject' }],
      transports: { docker: {} },
    });
    assert.equal(snap['etc/containers/registries.d/default.yaml'], `link default_${STAMP}`);
    assert.equal(snap['etc/containers/registries.conf'], `link registries_${STAMP}`);
    assert.equal(
      await readFile(`${root}/etc/containers/registries.conf.${STAMP}.bak`, 'utf8'),
      OLD_CONF,
    );
    const conf = await readFile(`${root}/etc/containers/registries.conf`, 'utf8');
    assert.ok(conf.startsWith(OLD_CONF));
    assert.deepEqual(parseRegistriesConf(conf).registries, [
      { location: 'registry.local', insecure: true },
    ]);
    assert.equal(snap['run/podsec.lock.lock'], undefined);
    assert.equal(snap['dev/nul'], undefined);
  });

  it('a second run changes nothing at all, runs no command, and keeps scopes added by image makers', async (t) => {
    const { sys, root, proc } = await serverSystem(t);
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    // an image maker added since (podsec-create-imagemakeruser): the scope must survive re-runs
    const maker =
      '{"default":[{"type":"reject"}],"transports":{"docker":{"registry.local":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/var/sigstore/keys/im.pgp"}]}}}';
    const { writeVersioned } = await import('../config-files/versioned.ts');
    await writeVersioned(
      sys,
      '/etc/containers/policy.json',
      `${JSON.stringify(JSON.parse(maker), null, 2)}\n`,
      { prefix: 'policy_' },
    );
    const before = await snapshot(root);
    const n = proc.calls.length;
    const r = await runProgram(cli, [IP, '--json'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).changedFiles, []);
    assert.deepEqual(await snapshot(root), before);
    assert.deepEqual(calls(proc).slice(n), [
      'control newgidmap',
      'control newuidmap',
      'control newgidmap',
      'control newuidmap',
    ]); // state reads only (outside the lock, then under it)
    assert.deepEqual(
      JSON.parse(await readFile(`${root}/etc/containers/policy.json`, 'utf8')),
      JSON.parse(maker),
    );
  });

  it('a failing check creates nothing, not even /run for the lock', async (t) => {
    const noRun = Object.fromEntries(Object.entries(SERVER_TREE).filter(([p]) => p !== 'run/utmp'));
    const { sys, root } = await serverSystem(t, {
      ...noRun,
      'etc/hosts': '127.0.0.1 localhost\n10.9.9.9 registry.local\n',
    });
    const before = await snapshot(root);
    assert.equal(before['run'], undefined);
    const r = await runProgram(cli, [IP], { system: sys });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /registry\.local/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.deepEqual(await snapshot(root), before);
  });

  it('--dry-run lists every change and changes nothing', async (t) => {
    const { sys, root, proc } = await serverSystem(t);
    const before = await snapshot(root);
    const r = await runProgram(cli, [IP, '--dry-run', '--json'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await snapshot(root), before);
    const out = JSON.parse(r.stdout);
    assert.equal(out.dryRun, true);
    for (const p of [
      '/etc/hosts',
      '/etc/sysctl.d/99-podman.conf',
      '/var/sigstore/index.html',
      '/etc/containers/policy.json',
      '/etc/containers/registries.d/default.yaml',
      '/etc/containers/registries.conf',
    ]) {
      assert.ok(out.changedFiles.includes(p), p);
    }
    assert.ok(
      out.changes.some(
        (c: { kind: string; target: string }) => c.kind === 'group' && c.target === 'podman_dev',
      ),
    );
    assert.deepEqual(
      calls(proc).filter((c) => !/^control new[ug]idmap$/.test(c)),
      [],
    );
  });

  it('row 8: an insecure registry.local entry leaves registries.conf alone', async (t) => {
    const conf = '[[registry]]\nlocation = "registry.local"\ninsecure = true\n';
    const { sys, root } = await serverSystem(t, {
      ...SERVER_TREE,
      'etc/containers/registries.conf': conf,
    });
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    const snap = await snapshot(root);
    assert.match(snap['etc/containers/registries.conf']!, /^file /);
    assert.equal(
      Object.keys(snap).filter((k) => k.startsWith('etc/containers/registries_')).length,
      0,
    );
  });

  it('row 17: creates a missing registries.d; docs/weaknesses.md#w17-configuration-file-management: refuses another default-docker and changes nothing', async (t) => {
    const { sys, root } = await serverSystem(t);
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    assert.match(
      (await snapshot(root))['etc/containers/registries.d/default.yaml']!,
      /^link default_/,
    );
    const other = await serverSystem(t, {
      ...SERVER_TREE,
      'etc/containers/registries.d/zz.yaml': 'default-docker:\n  lookaside: http://x/\n',
    });
    const before = await snapshot(other.root);
    const r = await runProgram(cli, [IP], { system: other.sys });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /zz\.yaml already defines default-docker/);
    assert.deepEqual(await snapshot(other.root), before);
  });

  it('a check that fails late (a file where the registries.d directory goes) changes nothing: no group, no hosts line, no policy switch', async (t) => {
    const { sys, root, proc } = await serverSystem(t, {
      ...SERVER_TREE,
      'etc/containers/registries.d': 'a file in the way',
    });
    const before = await snapshot(root);
    const r = await runProgram(cli, [IP], { system: sys });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nothing changed: .*registries\.d exists and is not a directory/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/); // one line, no stack
    assert.deepEqual(await snapshot(root), before);
    assert.deepEqual(
      calls(proc).filter((c) => !/^control new[ug]idmap$/.test(c)),
      [],
    );
  });

  it('--dry-run --json prints exactly the change list the real run then applies', async (t) => {
    const dry = await serverSystem(t);
    const planned = JSON.parse(
      (await runProgram(cli, [IP, '--dry-run', '--json'], { system: dry.sys })).stdout,
    );
    const real = await serverSystem(t);
    const applied = JSON.parse(
      (await runProgram(cli, [IP, '--json'], { system: real.sys })).stdout,
    );
    assert.equal(planned.dryRun, true);
    assert.equal(applied.dryRun, false);
    assert.ok(planned.changes.length > 10);
    assert.deepEqual(planned.changes, applied.changes);
    assert.deepEqual(planned.changedFiles, applied.changedFiles);
    const again = JSON.parse((await runProgram(cli, [IP, '--json'], { system: real.sys })).stdout);
    assert.deepEqual([again.changed, again.changes], [false, []]);
  });

  it('row 18: a v1 registries.conf stays pure v1 with registry.local insecure', async (t) => {
    const v1 =
      '[registries.search]\nregistries = ["docker.io"]\n\n[registries.insecure]\nregistries = []\n';
    const { sys, root } = await serverSystem(t, {
      ...SERVER_TREE,
      'etc/containers/registries.conf': v1,
    });
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    const conf = parseRegistriesConf(
      await readFile(`${root}/etc/containers/registries.conf`, 'utf8'),
    );
    assert.equal(conf.version, 1);
    assert.deepEqual(conf.v1.insecure, ['registry.local']);
    assert.deepEqual(conf.registries, []);
  });

  it('row 19: runs in the same second keep every backup and leave valid JSON', async (t) => {
    const { sys, root } = await serverSystem(t);
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    // the administrator replaces both files by regular files again within the same second
    for (const f of ['policy.json', 'registries.conf']) await rm(`${root}/etc/containers/${f}`);
    await writeFile(`${root}/etc/containers/policy.json`, OLD_POLICY);
    await writeFile(`${root}/etc/containers/registries.conf`, '# second\n');
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    const snap = await snapshot(root);
    assert.equal(
      await readFile(`${root}/etc/containers/registries.conf.${STAMP}.bak`, 'utf8'),
      OLD_CONF,
    );
    assert.equal(
      await readFile(`${root}/etc/containers/registries.conf.${STAMP}.1.bak`, 'utf8'),
      '# second\n',
    );
    assert.equal(snap['etc/containers/registries.conf'], `link registries_${STAMP}.1`);
    assert.match(snap[`etc/containers/policy_${STAMP}`]!, /^file/);
    JSON.parse(await readFile(`${root}/etc/containers/policy.json`, 'utf8'));
  });

  it('without control and away from "/", restricts newuidmap/newgidmap to group podman (4750) and warns about the sysctl', async (t) => {
    const sys = await createTestSystem(t, {
      tree: {
        ...baseTree,
        'usr/bin/newuidmap': { content: 'x', mode: 0o4755 },
        'usr/bin/newgidmap': { content: 'x', mode: 0o4755 },
      },
      localAddresses: [IP],
    });
    const r = await runProgram(cli, [IP], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const gid = (await sys.users.getGroup('podman'))!.gid;
    const snap = await snapshot(sys.root);
    assert.match(snap['usr/bin/newuidmap']!, new RegExp(`^file 4750 0:${gid} `));
    assert.match(snap['usr/bin/newgidmap']!, new RegExp(`^file 4750 0:${gid} `));
    assert.equal(snap['etc/sysctl.d/99-podman.conf'], undefined);
    assert.match(r.stderr, /kernel.unprivileged_userns_clone is not available/);
  });
});

// ---------- client mode over a real HTTPS server

type Routes = Record<string, { status?: number; body: string }>;

async function startServer(t: TestContext, routes: Routes) {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const good = await makeTestCert(dir, 'server');
  const other = await makeTestCert(dir, 'other');
  const server = https.createServer({ key: good.key, cert: good.cert }, (req, res) => {
    const r = routes[req.url ?? ''];
    res.writeHead(r ? (r.status ?? 200) : 404);
    res.end(r ? r.body : 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/keys/`,
    port,
    cert: good.cert,
    fingerprint: good.fingerprint,
    otherCert: other.cert,
    otherFingerprint: other.fingerprint,
  };
}

async function published() {
  const key = await generateKey({
    name: 'imagemaker',
    email: 'imagemaker@example.org',
    type: 'ed25519',
  });
  const policy = `${JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { 'registry.local': [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/imagemaker.pgp' }] } } }, null, 2)}\n`;
  const routes: Routes = {
    '/keys/': {
      body: '[{"name":"imagemaker.pgp","type":"file"},{"name":"policy.json","type":"file"}]',
    },
    '/keys/imagemaker.pgp': { body: key.publicKeyArmored },
    '/keys/policy.json': { body: policy },
  };
  return { key, policy, routes };
}

const CLIENT_TREE: Tree = {
  ...baseTree,
  'etc/hosts': '127.0.0.1 localhost\n',
  'run/utmp': '',
  'etc/containers/policy.json': OLD_POLICY,
  'etc/ca.pem': '',
};

async function clientSystem(t: TestContext, ca: string) {
  return createTestSystem(t, { tree: { ...CLIENT_TREE, 'etc/ca.pem': ca } });
}

describe('createPolicy, client mode (docs/weaknesses.md#w6-trust-bootstrap-on-clients)', () => {
  it('row 13: installs the served keys and policy over HTTPS pinned with --ca; no sigstore/ nor index.html; re-run changes nothing', async (t) => {
    const p = await published();
    const srv = await startServer(t, p.routes);
    const sys = await clientSystem(t, srv.cert);
    const r = await runProgram(cli, [IP, '--url', srv.url, '--ca', `${sys.root}/etc/ca.pem`], {
      system: sys,
    });
    assert.equal(r.code, 0, r.stderr);
    const snap = await snapshot(sys.root);
    assert.equal(
      await readFile(`${sys.root}/var/sigstore/keys/imagemaker.pgp`, 'utf8'),
      p.key.publicKeyArmored,
    );
    assert.equal(await readFile(`${sys.root}/var/sigstore/keys/policy.json`, 'utf8'), p.policy);
    assert.equal(snap['var/sigstore/keys'], 'dir 755 0:0');
    assert.match(snap['var/sigstore/keys/imagemaker.pgp']!, /^file 644 0:0 /);
    assert.equal(snap['etc/containers/policy.json'], `link policy_${STAMP}`);
    assert.equal(await readFile(`${sys.root}/etc/containers/policy_${STAMP}`, 'utf8'), p.policy);
    assert.equal(snap['var/sigstore/sigstore'], undefined);
    assert.equal(snap['var/sigstore/index.html'], undefined);
    assert.ok(await sys.users.getGroup('podman_dev')); // on every node, as the original and its RPM
    assert.ok(await sys.users.getGroup('podman'));
    const again = await runProgram(
      cli,
      [IP, '--url', srv.url, '--fingerprint', srv.fingerprint, '--json'],
      { system: sys },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).changedFiles, []);
    assert.deepEqual(await snapshot(sys.root), snap);
  });

  for (const [title, mutate, opts] of [
    [
      'row 14: policy.json answers 404',
      (r: Routes) => void (r['/keys/policy.json'] = { status: 404, body: '<html>404</html>' }),
      'ca',
    ],
    [
      'row 14: the listing is HTML',
      (r: Routes) => void (r['/keys/'] = { body: '<html><a href="x.pgp">x.pgp</a></html>' }),
      'ca',
    ],
    [
      'row 15: the listing names ../evil',
      (r: Routes) =>
        void (r['/keys/'] = {
          body: '[{"name":"../evil","type":"file"},{"name":"policy.json","type":"file"}]',
        }),
      'ca',
    ],
    [
      'a key file is an error page',
      (r: Routes) => void (r['/keys/imagemaker.pgp'] = { body: '<html>oops</html>' }),
      'ca',
    ],
    ['the server certificate is not signed by --ca', () => undefined, 'wrong-ca'],
    ['the certificate fingerprint does not match --fingerprint', () => undefined, 'wrong-fp'],
  ] as const) {
    it(`${title} -> exit 4, policy.json and keys untouched`, async (t) => {
      const p = await published();
      mutate(p.routes);
      const srv = await startServer(t, p.routes);
      const sys = await clientSystem(t, opts === 'wrong-ca' ? srv.otherCert : srv.cert);
      const before = await snapshot(sys.root);
      const args =
        opts === 'wrong-fp'
          ? ['--fingerprint', srv.otherFingerprint]
          : ['--ca', `${sys.root}/etc/ca.pem`];
      const r = await runProgram(cli, [IP, '--url', srv.url, ...args], { system: sys });
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /nothing changed/);
      assert.deepEqual(await snapshot(sys.root), before);
    });
  }

  it('plain http is refused unless --insecure-http is given; an https URL needs --ca or --fingerprint', async (t) => {
    const sys = await clientSystem(t, '');
    const r = await runProgram(cli, [IP, '--url', 'http://127.0.0.1:9/keys/'], { system: sys });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs --insecure-http/);
    assert.equal(
      (await runProgram(cli, [IP, '--url', 'https://127.0.0.1:9/keys/'], { system: sys })).code,
      1,
    );
    const none = await runProgram(cli, [IP], { system: sys });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--bundle/);
  });

  it('resolves sigstore.local to the server IP before /etc/hosts binds it', async (t) => {
    const p = await published();
    const srv = await startServer(t, p.routes);
    const set = await fetchTrust(await createTestSystem(t), {
      url: `https://sigstore.local:${srv.port}/keys/`,
      ca: srv.cert,
      resolve: { names: ['sigstore.local'], ip: '127.0.0.1' },
    });
    assert.deepEqual([...set.keys.keys()], ['imagemaker.pgp']);
    assert.equal(set.policyText, p.policy);
  });
});

describe('trust bundles (docs/weaknesses.md#w6-trust-bootstrap-on-clients)', () => {
  it('--export-bundle on the server, --bundle on a client installs the same keys and policy', async (t) => {
    const { sys, root } = await serverSystem(t);
    assert.equal((await runProgram(cli, [IP], { system: sys })).code, 0);
    const p = await published();
    await writeFile(`${root}/var/sigstore/keys/imagemaker.pgp`, p.key.publicKeyArmored);
    await writeFile(`${root}/var/sigstore/keys/policy.json`, p.policy);
    const ex = await runProgram(cli, ['--export-bundle', `${root}/root/trust.json`], {
      system: sys,
    });
    assert.equal(ex.code, 0, ex.stderr);
    const bundle = await readFile(`${root}/root/trust.json`, 'utf8');
    assert.deepEqual(Object.keys(JSON.parse(bundle).keys), ['imagemaker.pgp']);

    const client = await createTestSystem(t, {
      tree: { ...CLIENT_TREE, 'root/trust.json': bundle },
    });
    const r = await runProgram(
      cli,
      ['10.0.0.1', '--bundle', `${client.root}/root/trust.json`, '--json'],
      { system: client },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).mode, 'client');
    assert.deepEqual(
      JSON.parse(await readFile(`${client.root}/etc/containers/policy.json`, 'utf8')),
      JSON.parse(p.policy),
    );
    assert.ok(
      (await readFile(`${client.root}/var/sigstore/keys/imagemaker.pgp`, 'utf8')).includes(
        'BEGIN PGP PUBLIC KEY BLOCK',
      ),
    );
  });

  it('row 12: 110.0.0.1 is not 10.0.0.1 (client mode); a bundle missing a referenced key exits 4 with nothing changed', async (t) => {
    const p = await published();
    const bad = JSON.stringify({ version: 1, policy: JSON.parse(p.policy), keys: {} });
    const sys = await createTestSystem(t, {
      tree: { ...CLIENT_TREE, 'root/b.json': bad },
      localAddresses: ['110.0.0.1'],
    });
    const before = await snapshot(sys.root);
    const r = await runProgram(cli, ['10.0.0.1', '--bundle', `${sys.root}/root/b.json`], {
      system: sys,
    });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /imagemaker\.pgp, which is not among the published keys/);
    assert.deepEqual(await snapshot(sys.root), before);
  });
});
