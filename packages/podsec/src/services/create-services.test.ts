import assert from 'node:assert/strict';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { createProcessRunner } from '@podsec/core/system';
import {
  baseTree,
  createTestSystem,
  FakeRunner,
  runProgram,
  snapshotTree,
  type Tree,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-create-services.ts';
import { createServices } from './create-services.ts';
import { renderNginxMain } from './plan-services.ts';

const IP = '192.168.10.5';
const HOSTS = `127.0.0.1 localhost\n${IP} registry.local sigstore.local trivy.local\n`;
const REGISTRY_YML = `# ALT default\nversion: 0.1\nlog:\n  fields:\n    service: registry\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n  debug:\n    addr: :5001\n`;
const SERVER: Tree = {
  ...baseTree,
  'etc/hosts': HOSTS,
  'etc/docker-registry/config.yml': REGISTRY_YML,
  'etc/nginx/sites-available.d/default.conf': 'server { listen 80; }\n',
  'var/sigstore/index.html': '<html><body><h1>SigStore works!</h1></body></html>\n',
};

const snapshot = snapshotTree;

/**
 * PID 1 is not systemd in this test environment, so systemctl cannot run: it is scripted. podman is scripted
 * too in the host-managing tests, because `podman volume create` would create the volume in this machine's
 * storage, outside the temp root. nginx and openssl are the real programs.
 */
function hostRunner(
  o: { httpd2?: boolean; inactive?: string[]; trivy?: boolean; volumeExists?: boolean } = {},
): FakeRunner {
  return new FakeRunner(createProcessRunner({ PATH: process.env['PATH'] }))
    .on('systemctl', (args) => {
      if (args[0] === 'is-active') {
        const unit = args.at(-1) ?? '';
        if (unit === 'httpd2') return { exitCode: o.httpd2 ? 0 : 3 };
        return { exitCode: o.inactive?.includes(unit) ? 3 : 0 };
      }
      if (args[0] === 'list-unit-files')
        return (o.trivy ?? true) ? { stdout: 'trivy.service enabled enabled\n' } : { exitCode: 1 };
      return { exitCode: 0 };
    })
    .on('podman volume', (args) =>
      args[1] === 'exists'
        ? { exitCode: o.volumeExists ? 0 : 1 }
        : o.volumeExists
          ? { exitCode: 125, stderr: 'Error: volume with name registry already exists' }
          : { stdout: 'registry\n' },
    );
}

/** A server tree with an nginx.conf (real nginx -t) including the ALT sites-enabled.d under the root. */
async function managedServer(t: Parameters<typeof createTestSystem>[0], runner: FakeRunner) {
  const sys = await createTestSystem(t, {
    tree: SERVER,
    localAddresses: ['127.0.0.1', IP],
    proc: runner,
  });
  const main = renderNginxMain({
    runDir: path.join(sys.root, 'run'),
    includes: [path.join(sys.root, 'etc/nginx/sites-enabled.d/*.conf')],
  });
  await sys.fs.writeFileAtomic('/etc/nginx/nginx.conf', main);
  return sys;
}

const systemctlCalls = (r: FakeRunner) =>
  r.calls.filter(([f]) => f === 'systemctl' || f === 'podman').map(([f, a]) => [f, ...a].join(' '));

describe('podsec-create-services: guards', () => {
  it('exits 1 for a non-root caller, no side effects (docs/weaknesses.md#w5-root-checks)', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, uid: 1000, localAddresses: [IP] });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, [], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /root/);
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('exits 1 "Services cannot be started" when the names are not bound, nothing run or written (docs/weaknesses.md#w1-host-role-guard)', async (t) => {
    const runner = hostRunner();
    const system = await createTestSystem(t, {
      tree: { ...SERVER, 'etc/hosts': '127.0.0.1 localhost\n' },
      localAddresses: [IP],
      proc: runner,
    });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, [], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Services cannot be started/);
    assert.deepEqual(runner.calls, []);
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('exits 1 when the names are bound to a remote server, in Russian under LANG=ru_RU', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: ['10.0.0.1'] });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, [], { system, env: { LANG: 'ru_RU.UTF-8' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Сервисы не могут быть запущены/);
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('exits 2 on an unparseable config.yml before any change', async (t) => {
    const system = await createTestSystem(t, {
      tree: { ...SERVER, 'etc/docker-registry/config.yml': 'http: [\n' },
      localAddresses: [IP],
    });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, [], { system });
    assert.equal(r.code, 2);
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('exits 1 on a bad --sigstore-listen', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: [IP] });
    const r = await runProgram(cli, ['--sigstore-listen', 'x:81'], { system });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid listen address/);
  });
});

describe('podsec-create-services: files', () => {
  it('writes the site, enables it, edits the registry YAML, writes the units; second run byte-identical', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: [IP] });
    const r = await runProgram(cli, [], { system });
    assert.equal(r.code, 0, r.stderr);
    const root = system.root;
    const site = await readFile(
      path.join(root, 'etc/nginx/sites-available.d/podsec-sigstore.conf'),
      'utf8',
    );
    for (const d of [
      'listen 0.0.0.0:81;',
      'server_name sigstore.local;',
      'root /var/sigstore;',
      'autoindex on;',
      'autoindex_format json;',
    ])
      assert.ok(site.includes(d), d);
    assert.equal(
      await readlink(path.join(root, 'etc/nginx/sites-enabled.d/podsec-sigstore.conf')),
      '../sites-available.d/podsec-sigstore.conf',
    );
    // the distribution's default site is not touched (docs/weaknesses.md#w14-service-configuration)
    assert.equal(
      await readFile(path.join(root, 'etc/nginx/sites-available.d/default.conf'), 'utf8'),
      'server { listen 80; }\n',
    );
    const y = parse(await readFile(path.join(root, 'etc/docker-registry/config.yml'), 'utf8'));
    assert.equal(
      y.storage.filesystem.rootdirectory,
      '/var/lib/containers/storage/volumes/registry/_data/',
    );
    assert.equal(y.http.addr, ':80');
    assert.equal(y.http.debug.addr, ':5001');
    assert.equal(y.log.fields.service, 'registry');
    assert.ok(
      (
        await stat(path.join(root, 'var/lib/containers/storage/volumes/registry/_data'))
      ).isDirectory(),
    );
    assert.match(
      await readFile(path.join(root, 'etc/systemd/system/podsec-registry.service'), 'utf8'),
      /ExecStart=\/usr\/bin\/docker-registry serve/,
    );
    assert.match(
      await readFile(path.join(root, 'etc/systemd/system/nginx.service.d/podsec.conf'), 'utf8'),
      /NoNewPrivileges=yes/,
    );
    assert.match(r.stderr, /not the running system/);

    const before = await snapshot(root);
    const again = await runProgram(cli, ['--json'], { system });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      await snapshot(root),
      before,
      'second run changes nothing (no new files or backups)',
    );
    const j = JSON.parse(again.stdout);
    assert.ok(
      j.files.every((f: { action: string }) => f.action === 'unchanged'),
      again.stdout,
    );
  });

  it('uses Debian sites-available/sites-enabled when the ALT directories are absent', async (t) => {
    const tree = Object.fromEntries(
      Object.entries(SERVER).filter(([k]) => k !== 'etc/nginx/sites-available.d/default.conf'),
    );
    const system = await createTestSystem(t, {
      tree: {
        ...tree,
        'etc/nginx/sites-available/default': 'server { listen 80; }\n',
        'etc/nginx/sites-enabled/.keep': '',
      },
      localAddresses: [IP],
    });
    const r = await runProgram(cli, [], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      await readlink(path.join(system.root, 'etc/nginx/sites-enabled/podsec-sigstore.conf')),
      '../sites-available/podsec-sigstore.conf',
    );
    await assert.rejects(stat(path.join(system.root, 'etc/nginx/sites-available.d')));
  });

  it('writes a complete config.yml when there is none', async (t) => {
    const tree = Object.fromEntries(
      Object.entries(SERVER).filter(([k]) => k !== 'etc/docker-registry/config.yml'),
    );
    const system = await createTestSystem(t, { tree, localAddresses: [IP] });
    const r = await runProgram(cli, ['--registry-listen', '127.0.0.1:80'], { system });
    assert.equal(r.code, 0, r.stderr);
    const y = parse(
      await readFile(path.join(system.root, 'etc/docker-registry/config.yml'), 'utf8'),
    );
    assert.equal(y.version, 0.1);
    assert.equal(y.http.addr, '127.0.0.1:80');
  });

  it('--dry-run changes nothing and lists the planned files', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: [IP] });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, ['--dry-run', '--json'], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await snapshot(system.root), before);
    const j = JSON.parse(r.stdout);
    assert.equal(j.dryRun, true);
    assert.ok(
      j.files.some(
        (f: { path: string; action: string }) =>
          f.path === '/etc/nginx/sites-available.d/podsec-sigstore.conf' && f.action === 'created',
      ),
    );
  });
});

describe('podsec-create-services: services (systemctl scripted: PID 1 is not systemd here)', () => {
  it('records enable nginx, volume, enable registry, enable trivy in order, then is-active', async (t) => {
    const runner = hostRunner();
    const sys = await managedServer(t, runner);
    const r = await createServices(sys, { manageHost: true });
    assert.deepEqual(systemctlCalls(runner), [
      'systemctl is-active --quiet httpd2',
      'systemctl daemon-reload',
      'systemctl enable --now nginx',
      'systemctl reload-or-restart nginx',
      'podman volume exists registry',
      'podman volume create registry',
      'systemctl enable --now podsec-registry',
      'systemctl reload-or-restart podsec-registry',
      'systemctl list-unit-files --no-legend trivy.service',
      'systemctl enable --now trivy',
      'systemctl is-active --quiet nginx',
      'systemctl is-active --quiet podsec-registry',
      'systemctl is-active --quiet trivy',
    ]);
    assert.deepEqual(
      r.services.map((s) => s.active),
      [true, true, true],
    );
    // the real nginx checked the host configuration, which includes the site
    assert.ok(
      runner.calls.some(
        ([f, a]) => f === 'nginx' && a[0] === '-t' && a.at(-1)?.endsWith('/etc/nginx/nginx.conf'),
      ),
    );
    assert.ok(!r.notes.some((n) => n.code === 'note.siteNotIncluded'), JSON.stringify(r.notes));

    // second run: the volume exists, nothing changed -> no reload, exit status unaffected
    const runner2 = hostRunner({ volumeExists: true });
    const r2 = await createServices({ ...sys, proc: runner2 }, { manageHost: true });
    assert.ok(r2.files.every((f) => f.action === 'unchanged'));
    assert.ok(
      !systemctlCalls(runner2).some(
        (c) => c.includes('reload-or-restart') || c.includes('volume create'),
      ),
    );
  });

  it('refuses a running httpd2 without --stop-httpd2 (exit 1, nothing changed), stops it before the registry with it (docs/weaknesses.md#w14-service-configuration)', async (t) => {
    const runner = hostRunner({ httpd2: true });
    const sys = await managedServer(t, runner);
    const before = await snapshot(sys.root);
    await assert.rejects(createServices(sys, { manageHost: true }), { code: 'HTTPD2_CONFLICT' });
    assert.deepEqual(await snapshot(sys.root), before);
    assert.deepEqual(systemctlCalls(runner), ['systemctl is-active --quiet httpd2']);

    const runner2 = hostRunner({ httpd2: true });
    await createServices({ ...sys, proc: runner2 }, { manageHost: true, stopHttpd2: true });
    const calls = systemctlCalls(runner2);
    const stop = calls.indexOf('systemctl disable --now httpd2');
    assert.ok(
      stop > 0 && stop < calls.indexOf('systemctl enable --now podsec-registry'),
      calls.join('\n'),
    );
  });

  it('httpd2 not running: no disable recorded; --no-trivy and a missing trivy unit skip trivy', async (t) => {
    const runner = hostRunner({ trivy: false });
    const sys = await managedServer(t, runner);
    const r = await createServices(sys, { manageHost: true });
    assert.ok(!systemctlCalls(runner).some((c) => c.includes('httpd2') && c.includes('disable')));
    assert.ok(!systemctlCalls(runner).some((c) => c.includes('enable --now trivy')));
    assert.ok(r.notes.some((n) => n.code === 'note.trivyMissing'));
    const runner2 = hostRunner();
    await createServices({ ...sys, proc: runner2 }, { manageHost: true, trivy: false });
    assert.ok(!systemctlCalls(runner2).some((c) => c.includes('trivy')));
  });

  it('exits non-zero (3) when the registry is not active after start', async (t) => {
    const runner = hostRunner({ inactive: ['podsec-registry'] });
    const sys = await managedServer(t, runner);
    await assert.rejects(
      createServices(sys, { manageHost: true }),
      (e: { code: string; details: { units: string } }) => {
        assert.equal(e.code, 'SERVICE_FAILED');
        assert.equal(e.details.units, 'podsec-registry');
        return true;
      },
    );
    assert.equal(cli.exitCodes?.['SERVICE_FAILED'], 3);
  });

  it('reports a site that the host nginx.conf does not include', async (t) => {
    const runner = hostRunner();
    const sys = await managedServer(t, runner);
    await sys.fs.writeFileAtomic(
      '/etc/nginx/nginx.conf',
      renderNginxMain({ runDir: path.join(sys.root, 'run'), includes: [] }),
    );
    const r = await createServices(sys, { manageHost: true });
    assert.ok(r.notes.some((n) => n.code === 'note.siteNotIncluded'));
  });
});

describe('podsec-create-services --tls (real openssl and nginx)', () => {
  it('creates a CA and a server certificate (0600 keys, SANs), HTTPS site, registry tls, published CA; stable on rerun', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: [IP] });
    const r = await runProgram(cli, ['--tls'], { system });
    assert.equal(r.code, 0, r.stderr);
    const p = (s: string) => path.join(system.root, s);
    for (const k of ['etc/podsec/tls/ca.key', 'etc/podsec/tls/server.key'])
      assert.equal((await stat(p(k))).mode & 0o777, 0o600, k);
    const v = await execa(
      'openssl',
      ['verify', '-CAfile', p('etc/podsec/tls/ca.crt'), p('etc/podsec/tls/server.crt')],
      { reject: false },
    );
    assert.equal(v.exitCode, 0, v.stderr);
    const san = await execa('openssl', [
      'x509',
      '-in',
      p('etc/podsec/tls/server.crt'),
      '-noout',
      '-ext',
      'subjectAltName',
    ]);
    assert.match(
      san.stdout,
      /DNS:registry\.local, DNS:sigstore\.local, IP Address:192\.168\.10\.5/,
    );
    assert.equal(
      await readFile(p('var/sigstore/keys/ca.crt'), 'utf8'),
      await readFile(p('etc/podsec/tls/ca.crt'), 'utf8'),
    );
    const site = await readFile(p('etc/nginx/sites-available.d/podsec-sigstore.conf'), 'utf8');
    assert.match(site, /listen 0\.0\.0\.0:81 ssl;/);
    assert.match(site, /ssl_certificate_key \/etc\/podsec\/tls\/server\.key;/);
    const y = parse(await readFile(p('etc/docker-registry/config.yml'), 'utf8'));
    assert.deepEqual(y.http.tls, {
      certificate: '/etc/podsec/tls/server.crt',
      key: '/etc/podsec/tls/server.key',
    });
    // no staging directory left behind, and the key never was an argument
    assert.deepEqual((await readdir(p('etc/podsec/tls'))).sort(), [
      'ca.crt',
      'ca.key',
      'server.crt',
      'server.key',
    ]);

    const before = await snapshot(system.root);
    const again = await runProgram(cli, ['--tls'], { system });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('re-issues the server certificate when the IP in /etc/hosts changed, keeping the CA', async (t) => {
    const system = await createTestSystem(t, { tree: SERVER, localAddresses: [IP, '10.1.1.1'] });
    assert.equal((await runProgram(cli, ['--tls'], { system })).code, 0);
    const ca = await readFile(path.join(system.root, 'etc/podsec/tls/ca.crt'), 'utf8');
    await system.fs.writeFileAtomic(
      '/etc/hosts',
      '10.1.1.1 registry.local sigstore.local trivy.local\n',
    );
    const r = await runProgram(cli, ['--tls'], { system });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(path.join(system.root, 'etc/podsec/tls/ca.crt'), 'utf8'), ca);
    const san = await execa('openssl', [
      'x509',
      '-in',
      path.join(system.root, 'etc/podsec/tls/server.crt'),
      '-noout',
      '-ext',
      'subjectAltName',
    ]);
    assert.match(san.stdout, /IP Address:10\.1\.1\.1/);
  });
});

describe('podsec-create-services: read -> plan -> validate -> apply', () => {
  it('a check that fails after the TLS material was made writes nothing: no CA, no published copy (tree unchanged)', async (t) => {
    const system = await createTestSystem(t, {
      tree: { ...SERVER, 'etc/nginx/sites-available.d/podsec-sigstore.conf/in-the-way': 'x' },
      localAddresses: [IP],
    });
    const before = await snapshot(system.root);
    const r = await runProgram(cli, ['--tls'], { system });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /nothing changed: file \/etc\/nginx\/sites-available\.d\/podsec-sigstore\.conf: exists and is not a file/,
    );
    assert.deepEqual(await snapshot(system.root), before);
  });

  it('--dry-run lists exactly the changes the real run then applies (with --tls)', async (t) => {
    const dry = await createTestSystem(t, { tree: SERVER, localAddresses: [IP], dryRun: true });
    const before = await snapshot(dry.root);
    const planned = await createServices(dry, { tls: true });
    assert.deepEqual(await snapshot(dry.root), before);
    const real = await createTestSystem(t, { tree: SERVER, localAddresses: [IP] });
    const applied = await createServices(real, { tls: true });
    assert.ok(planned.changes.length >= 10, JSON.stringify(planned.changes));
    assert.deepEqual(planned.changes, applied.changes);
    const again = await createServices(real, { tls: true });
    assert.deepEqual(again.changes, []);
  });
});
