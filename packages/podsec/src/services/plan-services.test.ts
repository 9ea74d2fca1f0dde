import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import {
  minimalRegistryConfig,
  parseListen,
  planRegistryConfig,
  renderNginxDropIn,
  renderNginxMain,
  renderNginxSite,
  renderRegistryUnit,
} from './plan-services.ts';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'podsec-plan-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const ALT_CONFIG = `# docker-registry configuration (ALT)
version: 0.1
log:
  fields:
    service: registry # keep me
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  debug:
    addr: :5001
  headers:
    X-Content-Type-Options: [nosniff]
`;

describe('renderNginxSite', () => {
  it('declares the directives of docs/files.md#nginx-site, read-only, listings only of keys/ and sigstore/', () => {
    const s = renderNginxSite();
    for (const d of [
      'listen 0.0.0.0:81;',
      'server_name sigstore.local;',
      'root /var/sigstore;',
      'autoindex on;',
      'autoindex_format json;',
    ]) {
      assert.ok(s.includes(d), d);
    }
    assert.match(s, /location \/keys\/ \{[^}]*limit_except GET \{ deny all; \}[^}]*autoindex on;/);
    assert.match(s, /location \/ \{\n\s+limit_except GET \{ deny all; \}\n\s+\}/);
    assert.match(s, /^\s+autoindex off;$/m);
  });

  it('is accepted by the real nginx -t, with and without a custom listen address', async (t) => {
    const d = await tempDir(t);
    await writeFile(
      path.join(d, 'site.conf'),
      renderNginxSite({ listen: '127.0.0.1:8081', root: path.join(d, 'sig') }),
    );
    await writeFile(
      path.join(d, 'nginx.conf'),
      renderNginxMain({ runDir: d, includes: [path.join(d, 'site.conf')] }),
    );
    const r = await execa(
      'nginx',
      ['-t', '-p', d, '-e', path.join(d, 'error.log'), '-c', path.join(d, 'nginx.conf')],
      { reject: false },
    );
    assert.equal(r.exitCode, 0, r.stderr);
  });
});

describe('planRegistryConfig', () => {
  it('sets rootdirectory and http.addr only; comments and the debug listener stay (docs/weaknesses.md#w14-service-configuration)', () => {
    const r = planRegistryConfig(ALT_CONFIG);
    assert.equal(r.changed, true);
    const y = parse(r.text);
    assert.equal(
      y.storage.filesystem.rootdirectory,
      '/var/lib/containers/storage/volumes/registry/_data/',
    );
    assert.equal(y.http.addr, ':80');
    assert.equal(y.http.debug.addr, ':5001');
    assert.deepEqual(y.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.match(r.text, /^# docker-registry configuration \(ALT\)$/m);
    assert.match(r.text, /# keep me/);
  });

  it('returns the text byte for byte when nothing needs changing (second run)', () => {
    const once = planRegistryConfig(ALT_CONFIG).text;
    const twice = planRegistryConfig(once);
    assert.equal(twice.changed, false);
    assert.equal(twice.text, once);
  });

  it('writes a complete minimal configuration for a missing file, itself stable', () => {
    const r = planRegistryConfig(undefined, { addr: '127.0.0.1:80' });
    assert.equal(r.text, minimalRegistryConfig({ addr: '127.0.0.1:80' }));
    const y = parse(r.text);
    assert.equal(y.version, 0.1);
    assert.equal(y.http.addr, '127.0.0.1:80');
    assert.equal(planRegistryConfig(r.text, { addr: '127.0.0.1:80' }).changed, false);
  });

  it('adds http.tls with TLS', () => {
    const y = parse(planRegistryConfig(ALT_CONFIG, { tls: { certificate: '/c', key: '/k' } }).text);
    assert.deepEqual(y.http.tls, { certificate: '/c', key: '/k' });
  });

  it('replaces a non-mapping intermediate key', () => {
    const y = parse(planRegistryConfig('version: 0.1\nstorage: ~\nhttp: x\n').text);
    assert.equal(
      y.storage.filesystem.rootdirectory,
      '/var/lib/containers/storage/volumes/registry/_data/',
    );
    assert.equal(y.http.addr, ':80');
  });

  it('refuses invalid YAML and a non-mapping document', () => {
    assert.throws(() => planRegistryConfig('a: [\n'), { code: 'REGISTRY_CONFIG_INVALID' });
    assert.throws(() => planRegistryConfig('- a\n- b\n'), { code: 'REGISTRY_CONFIG_INVALID' });
  });
});

describe('systemd units', () => {
  it('podsec-registry.service passes systemd-analyze verify without a warning and is hardened', async (t) => {
    const d = await tempDir(t);
    const unit = path.join(d, 'podsec-registry.service');
    const text = renderRegistryUnit({ binary: '/usr/bin/docker-registry' });
    await writeFile(unit, text);
    // --man=no: the man page named in Documentation= is installed by the RPM, not present here
    const r = await execa('systemd-analyze', ['verify', '--man=no', unit], { reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stderr, '');
    for (const k of [
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'PrivateTmp=yes',
      'ReadWritePaths=/var/lib/containers/storage/volumes/registry/_data',
    ]) {
      assert.ok(text.includes(`\n${k}\n`), k);
    }
    assert.match(
      text,
      /^ExecStart=\/usr\/bin\/docker-registry serve \/etc\/docker-registry\/config\.yml$/m,
    );
  });

  it('the nginx drop-in loads on top of the host nginx.service without a warning', async (t) => {
    const d = await tempDir(t);
    await mkdir(path.join(d, 'nginx.service.d'));
    await writeFile(path.join(d, 'nginx.service.d', 'podsec.conf'), renderNginxDropIn());
    await writeFile(
      path.join(d, 'nginx.service.d', 'zz-probe.conf'),
      '[Service]\nBogusKeyForProbe=1\n',
    );
    // SYSTEMD_UNIT_PATH with a trailing ':' = our dir first, then the default search path
    const r = await execa('systemd-analyze', ['verify', 'nginx.service'], {
      reject: false,
      env: { SYSTEMD_UNIT_PATH: `${d}:` },
    });
    // the probe proves the drop-in directory was read; our file adds no warning of its own
    assert.match(r.stderr, /zz-probe\.conf:2: Unknown key/);
    assert.doesNotMatch(r.stderr, /podsec\.conf/);
  });
});

describe('parseListen', () => {
  it('accepts host:port and :port, refuses the rest', () => {
    assert.deepEqual(parseListen('0.0.0.0:81', { allowEmptyHost: false }), {
      host: '0.0.0.0',
      port: 81,
    });
    assert.deepEqual(parseListen(':80', { allowEmptyHost: true }), { host: '', port: 80 });
    assert.throws(() => parseListen(':80', { allowEmptyHost: false }), {
      code: 'USAGE_BAD_LISTEN',
    });
    for (const bad of [
      '256.0.0.1:80',
      'localhost:80',
      '1.2.3.4:99999',
      '1.2.3.4:x',
      '1.2.3.4:80;evil',
    ]) {
      assert.throws(
        () => parseListen(bad, { allowEmptyHost: true }),
        { code: 'USAGE_BAD_LISTEN' },
        bad,
      );
    }
  });
});
