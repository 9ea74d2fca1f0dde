// The launchers of every binary (packages/<pkg>/bin/<bin>, linked into node_modules/.bin, and the bundle launcher
// packages/<pkg>/bundle/<bin>.cjs): the same bundled code, on a Node >= 22.19, and nothing at start that the
// invocation does not use. Needs `npm run build` (npm test builds first).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { execa, execaSync } from 'execa';
import { generateKey } from '@podsec/core/trust';
import { fetchManifest, startRegistry, writeOciArchive } from '@podsec/test-utils';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Bin {
  readonly pkg: string;
  readonly name: string;
}
function allBins(): Bin[] {
  const out: Bin[] = [];
  for (const pkg of readdirSync(path.join(repo, 'packages')).sort()) {
    const file = path.join(repo, 'packages', pkg, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { bin?: Record<string, string> };
    for (const name of Object.keys(manifest.bin ?? {})) out.push({ pkg, name });
  }
  return out;
}
const bins = allBins();
const bundleOf = (b: Bin) => path.join(repo, 'packages', b.pkg, 'bundle', `${b.name}.cjs`);

// Packages that no binary may load before its action runs (--help, argument errors): signatures, YAML and TOML
// parsing, process spawning. They are reached through dynamic imports only.
const HEAVY = ['openpgp', 'yaml', 'smol-toml', 'execa'];
// Binaries that still load one of them at start, to be fixed in their package (each entry must go; the test fails
// when a listed binary no longer needs its place here).
const PENDING = new Set<string>([]);

/** The system's own Node, when it is older than the one podsec needs (Debian 12's nodejs is 18). */
function olderSystemNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/bin/nodejs', '/usr/local/bin/node']) {
    if (!existsSync(candidate)) continue;
    const version = execaSync(candidate, ['--version']).stdout.trim();
    const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 19)) return candidate;
  }
  return undefined;
}
function needOlderNode(t: TestContext): string | undefined {
  const node = olderSystemNode();
  if (node === undefined)
    t.skip('no Node older than 22.19 on this machine to start the launcher with');
  return node;
}

const env = { LANG: 'C', U7S_PLATFORM: 'p10', PATH: '/usr/local/bin:/usr/bin:/bin' };

/** A scratch directory removed after the test. */
async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-launcher-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A real podsec-load-sign-oci load: amd64.tar.xz, an OCI layout of one image c10f/app:1 (index.json first, as
 * podsec-save-oci writes it), loaded into a docker-registry on 127.0.0.1 and signed with a fresh key into the
 * lookaside-staging of the caller's registries.d, under a root of its own where the caller is a member of podman_dev.
 * The registries.d file is JSON, which only the YAML library reads. `load(...more)` are the arguments of a load (more
 * appended), `refused(archive, arch)` those of one refused before any work; `reset()` empties the registry and the
 * lookaside, so that each run of a load starts from the same state (a second load into the same state prints
 * "already signed"). `protectedKey` needs the passphrase in `passphrase`; `wrongPassphrase` is another.
 */
async function loadSetup(t: TestContext) {
  const dir = await scratch(t);
  const registry = await startRegistry();
  t.after(() => registry.stop());
  const { archive, digest } = await writeOciArchive(dir, {
    ref: 'c10f/app:1',
    layer: 'launcher test layer\n',
  });
  // the caller in podman_dev (the user database is read under --root); the lookaside is a path under the root
  const me = userInfo();
  const root = path.join(dir, 'root');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  await writeFile(
    path.join(root, 'etc/passwd'),
    `${me.username}:x:${me.uid}:${me.gid}::${dir}:/bin/sh\n`,
  );
  await writeFile(path.join(root, 'etc/group'), `podman_dev:x:991:${me.username}\n`);
  const registriesD = path.join(root, dir, '.config/containers/registries.d');
  await mkdir(registriesD, { recursive: true });
  await writeFile(
    path.join(registriesD, 'default.yaml'),
    JSON.stringify({ 'default-docker': { 'lookaside-staging': 'file:///var/sigstore/sigstore' } }),
  );
  const key = await generateKey({ type: 'ed25519', name: 'Launcher', email: 'maker@example.org' });
  const keyFile = path.join(dir, 'key.asc');
  await writeFile(keyFile, key.privateKeyArmored, { mode: 0o600 });
  const secret = async (name: string, text: string) => {
    await writeFile(path.join(dir, name), text, { mode: 0o600 });
    return path.join(dir, name);
  };
  const locked = await generateKey({
    type: 'ed25519',
    name: 'Launcher',
    email: 'maker@example.org',
    passphrase: 'launcher words',
  });
  const protectedKey = await secret('protected.asc', locked.privateKeyArmored);
  const passphrase = await secret('passphrase', 'launcher words\n');
  const wrongPassphrase = await secret('wrong', 'other words\n');
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  const load = (...more: string[]) => [
    ...[archive, 'amd64', 'maker@example.org', '--root', root, '--platform', 'c10f'],
    ...['--registry-host', registry.host, '--key', keyFile, '--tmpdir', tmp, ...more],
  ];
  const refused = (file: string, arch: string) => [
    file,
    arch,
    'maker@example.org',
    '--root',
    root,
    '--registry-host',
    registry.host,
  ];
  const reset = async () => {
    await rm(path.join(registry.dir, 'data'), { recursive: true, force: true });
    await rm(path.join(root, 'var'), { recursive: true, force: true });
  };
  return {
    dir,
    registry,
    archive,
    root,
    load,
    refused,
    reset,
    manifest: digest,
    protectedKey,
    passphrase,
    wrongPassphrase,
  };
}

// The name of a load's private work directory (a mkdtemp under --tmpdir), in its --json result: the one thing that
// differs between two runs of the same load.
const workDirName = (s: string) =>
  s.replace(/\/podsec-oci-[A-Za-z0-9]{6}\//g, '/podsec-oci-XXXXXX/');

describe('binary launchers', () => {
  it('every bin field names the generated sh launcher (tools/scripts/bin-shims.mjs --check)', async () => {
    assert.ok(bins.length > 0);
    const r = await execa(
      process.execPath,
      [path.join(repo, 'tools/scripts/bin-shims.mjs'), '--check'],
      {
        reject: false,
      },
    );
    assert.equal(r.exitCode, 0, r.stderr);
  });

  it('node_modules/.bin/<bin> is the package launcher and every bundle exists', () => {
    for (const b of bins) {
      const entry = path.join(repo, 'node_modules/.bin', b.name);
      assert.ok(existsSync(entry), `${entry} missing (npm ci links it)`);
      assert.equal(realpathSync(entry), path.join(repo, 'packages', b.pkg, 'bin', b.name));
      assert.ok(existsSync(bundleOf(b)), `${bundleOf(b)} missing (npm run build)`);
    }
  });

  it(`no binary loads ${HEAVY.join(', ')} at start (esbuild metafile of each bundle)`, () => {
    const offenders: string[] = [];
    for (const b of bins) {
      const file = path.join(repo, 'packages', b.pkg, 'bundle/lib', b.name, 'startup.json');
      const closure = JSON.parse(readFileSync(file, 'utf8')) as { inputs: Record<string, number> };
      const loaded = HEAVY.filter((p) => p in closure.inputs);
      if (PENDING.has(b.name))
        assert.ok(loaded.length > 0, `${b.name} is fixed: remove it from PENDING`);
      else if (loaded.length > 0) offenders.push(`${b.name} loads ${loaded.join(', ')}`);
    }
    assert.deepEqual(
      offenders,
      [],
      'break the chain with a dynamic import (tools/scripts/why-loaded.mjs)',
    );
  });

  it('node_modules/.bin entries run the bundle with the repository Node, whatever `node` is first on PATH', async (t) => {
    // a `node` first on PATH that must not be used
    const dir = await scratch(t);
    await writeFile(path.join(dir, 'node'), '#!/bin/sh\necho "wrong node" >&2\nexit 99\n');
    await chmod(path.join(dir, 'node'), 0o755);
    const pathWithOther = `${dir}:${env.PATH}`;
    for (const b of bins) {
      const r = await execa(path.join(repo, 'node_modules/.bin', b.name), ['--help'], {
        reject: false,
        env: { ...env, PATH: pathWithOther },
        extendEnv: false,
      });
      assert.equal(r.exitCode, 0, `${b.name} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: ${b.name}`), b.name);
    }
    const viaEntry = await execa(
      path.join(repo, 'node_modules/.bin/podsec-get-platform'),
      ['--json'],
      { env: { ...env, PATH: pathWithOther }, extendEnv: false },
    );
    const viaBundle = await execa(
      process.execPath,
      [bundleOf({ pkg: 'podsec', name: 'podsec-get-platform' }), '--json'],
      { env, extendEnv: false },
    );
    assert.equal(viaEntry.stdout, viaBundle.stdout);
  });

  it('the fast paths print what the full binaries print (bundle/lib/<bin>/fast.cjs against main.mjs)', async (t) => {
    const dir = await scratch(t);
    const policy = path.join(dir, 'policy.json');
    await writeFile(
      policy,
      '{"default":[{"type":"reject"}],"transports":{"docker":{"r.local":[]}}}',
    );
    const l = await loadSetup(t);
    // a load changes the registry and the lookaside: each of its runs starts from the same empty ones
    const cases: [string, string[], (() => Promise<void>)?][] = [
      ['podsec-get-platform', ['--json']],
      ['podsec-get-platform', ['--arch']],
      ['podsec-trust', ['show', '--policy', policy]],
      ['podsec-trust', ['show', 'r.local/x:1', '--json', '--policy', policy]],
      ['podsec-trust', ['show', '--policy', path.join(dir, 'missing.json')]],
      ['podsec-load-sign-oci', l.load(), l.reset],
      ['podsec-load-sign-oci', l.load('--json'), l.reset],
      ['podsec-load-sign-oci', l.load('--dry-run', '--json')],
      [
        'podsec-load-sign-oci',
        l.load('--lookaside', 'file:///var/sigstore/other', '--json'),
        l.reset,
      ],
      [
        'podsec-load-sign-oci',
        l.load('--key', l.protectedKey, '--passphrase-file', l.passphrase),
        l.reset,
      ],
      // refused: a wrong passphrase (openpgp.js says why), an unknown architecture (3), a missing archive (1)
      [
        'podsec-load-sign-oci',
        l.load('--key', l.protectedKey, '--passphrase-file', l.wrongPassphrase),
      ],
      ['podsec-load-sign-oci', l.refused(l.archive, 'mips')],
      ['podsec-load-sign-oci', [...l.refused(l.archive, 'mips'), '--json']],
      ['podsec-load-sign-oci', l.refused(path.join(dir, 'none.tar.xz'), 'amd64')],
      ['podsec-load-sign-oci', l.load('--root', path.join(dir, 'no-root'))],
      // commander's (the launcher steps aside)
      ['podsec-load-sign-oci', l.load('--max-size', '1G'), l.reset],
      ['podsec-load-sign-oci', l.load('--max-entries', '2')],
    ];
    for (const [name, args, fresh] of cases) {
      const lib = path.join(repo, 'packages/podsec/bundle/lib', name);
      assert.ok(existsSync(path.join(lib, 'fast.cjs')), `${name} has no fast path`);
      const run = async (file: string) => {
        await fresh?.();
        return execa(process.execPath, [file, ...args], { env, extendEnv: false, reject: false });
      };
      const viaLauncher = await run(path.join(repo, 'packages/podsec/bundle', `${name}.cjs`));
      const full = await run(path.join(lib, 'main.mjs'));
      const got = (r: typeof full) => [r.exitCode, workDirName(r.stdout), workDirName(r.stderr)];
      assert.deepEqual(got(viaLauncher), got(full), `${name} ${args.join(' ')}`);
    }
    const refused = await execa(
      process.execPath,
      [
        path.join(repo, 'packages/podsec/bundle/podsec-load-sign-oci.cjs'),
        ...l.refused(l.archive, 'mips'),
      ],
      { env, extendEnv: false, reject: false },
    );
    assert.equal(refused.exitCode, 3, refused.stderr);
    // the load through the launcher is a real one: both references in the registry, each with its signature
    await l.reset();
    const loaded = await execa(
      process.execPath,
      [path.join(repo, 'packages/podsec/bundle/podsec-load-sign-oci.cjs'), ...l.load('--json')],
      { env, extendEnv: false, reject: false },
    );
    assert.equal(loaded.exitCode, 0, loaded.stderr);
    assert.match(loaded.stderr, /^\[1\/2\] pushed and signed 127\.0\.0\.1:\d+\/c10f\/app:1$/m);
    assert.match(loaded.stderr, /^\[2\/2\] pushed and signed 127\.0\.0\.1:\d+\/k8s-c10f2\/app:1$/m);
    for (const repoName of ['c10f/app', 'k8s-c10f2/app']) {
      assert.equal((await fetchManifest(l.registry.host, repoName, '1')).digest, l.manifest);
      const sigs = path.join(
        l.root,
        'var/sigstore/sigstore',
        `${repoName}@sha256=${l.manifest.slice(7)}`,
      );
      assert.deepEqual(readdirSync(sigs), ['signature-1'], repoName);
    }
  });

  it('the help text and the fast paths start neither the ES module loader nor the stream machinery nor fs/promises, and take the builtin modules as they are', async (t) => {
    const dir = await scratch(t);
    // preloaded: at exit, the builtin modules the process loaded go to the file named by the environment, with the
    // number of objects given a `default` that is a builtin module (esbuild's __toESM wrapper of a CommonJS module:
    // a getter per property, made again in every module that imports it)
    const hook = path.join(dir, 'loaded.cjs');
    await writeFile(
      hook,
      [
        "const { builtinModules } = require('node:module');",
        'const define = Object.defineProperty;',
        'const defaults = [];',
        "Object.defineProperty = function (o, k, d) { if (k === 'default' && d && d.value) defaults.push(d.value); return define(o, k, d); };",
        "process.on('exit', () => { const list = [...process.moduleLoadList]; const wrapped = defaults.filter((v) => builtinModules.some((m) => process.getBuiltinModule(m) === v)).length; require('node:fs').writeFileSync(process.env.LOADED, JSON.stringify({ list, wrapped })); });",
        '',
      ].join('\n'),
    );
    const policy = path.join(dir, 'policy.json');
    await writeFile(policy, '{"default":[{"type":"reject"}]}');
    const ESM_LOADER = 'NativeModule internal/modules/esm/module_job';
    const SLOW = [
      ESM_LOADER,
      'NativeModule stream',
      'NativeModule net',
      // the rooted file system reads with synchronous calls; fs/promises is for writes
      'NativeModule fs/promises',
    ];
    const l = await loadSetup(t);
    // a load (xz, the archive stream, HTTP to the registry) legitimately loads the stream machinery, node:net and
    // fs/promises: of it only the ES module loader is checked
    const cases: [Bin, string[], string[]][] = [
      [{ pkg: 'podsec', name: 'podsec-trust' }, ['show', '--policy', policy], SLOW],
      [{ pkg: 'podsec', name: 'podsec-get-platform' }, ['--json'], SLOW],
      [{ pkg: 'podsec', name: 'podsec-create-policy' }, ['--help'], SLOW],
      [{ pkg: 'podsec', name: 'podsec-load-sign-oci' }, l.load('--json'), [ESM_LOADER]],
      [
        { pkg: 'podsec', name: 'podsec-load-sign-oci' },
        l.load('--dry-run', '--json'),
        [ESM_LOADER],
      ],
    ];
    for (const [b, args, slow] of cases) {
      const loaded = path.join(dir, `${b.name}.json`);
      const r = await execa(process.execPath, ['--require', hook, bundleOf(b), ...args], {
        env: { ...env, LOADED: loaded },
        extendEnv: false,
        reject: false,
      });
      assert.equal(r.exitCode, 0, `${b.name} ${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stdout.length > 0, `${b.name} ${args.join(' ')} printed nothing`);
      const { list, wrapped } = JSON.parse(readFileSync(loaded, 'utf8')) as {
        list: string[];
        wrapped: number;
      };
      assert.deepEqual(
        slow.filter((m) => list.includes(m)),
        [],
        `${b.name} ${args.join(' ')}`,
      );
      assert.equal(wrapped, 0, `${b.name} ${args.join(' ')}: builtins wrapped by __toESM`);
    }
  });

  it('bundle/<bin>.mjs, the ES module entry, runs the same launcher', async () => {
    const b = { pkg: 'podsec', name: 'podsec-get-platform' };
    const run = (file: string) =>
      execa(process.execPath, [file, '--json'], { env, extendEnv: false, reject: false });
    const viaCjs = await run(bundleOf(b));
    const viaMjs = await run(bundleOf(b).replace(/\.cjs$/, '.mjs'));
    assert.equal(viaCjs.exitCode, 0, viaCjs.stderr);
    assert.deepEqual([viaMjs.exitCode, viaMjs.stdout], [viaCjs.exitCode, viaCjs.stdout]);
  });

  it('node_modules/.bin entries find the bundle and the Node without starting readlink', async (t) => {
    // a readlink first on PATH that fails: the entry must not need it (one process less at every start)
    const dir = await scratch(t);
    await writeFile(path.join(dir, 'readlink'), '#!/bin/sh\necho "readlink ran" >&2\nexit 99\n');
    await chmod(path.join(dir, 'readlink'), 0o755);
    for (const b of bins) {
      const r = await execa(path.join(repo, 'node_modules/.bin', b.name), ['--help'], {
        reject: false,
        env: { ...env, PATH: `${dir}:${env.PATH}` },
        extendEnv: false,
      });
      assert.equal(r.exitCode, 0, `${b.name} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: ${b.name}`), b.name);
    }
    // the package's own bin/ path (not next to node_modules/node) still resolves itself with readlink
    const direct = await execa(path.join(repo, 'packages/podsec/bin/podsec-trust'), ['--help'], {
      reject: false,
      env: { ...env, PATH: `${dir}:${env.PATH}` },
      extendEnv: false,
    });
    assert.equal(direct.exitCode, 127);
  });

  it('--help on a pipe prints the text rendered at build, the same as the binary itself prints', async () => {
    // COLUMNS=80 makes the launcher load the binary, which renders its help with commander at the same width
    const run = (b: Bin, extra: Record<string, string>) =>
      execa(process.execPath, [bundleOf(b), '--help'], {
        env: { ...env, ...extra },
        extendEnv: false,
        reject: false,
      });
    for (const b of bins) {
      const file = path.join(repo, 'packages', b.pkg, 'bundle/lib', b.name, 'help.en.txt');
      assert.ok(existsSync(file), `${b.name}: no help rendered at build (${file})`);
      const fast = await run(b, {});
      const slow = await run(b, { COLUMNS: '80' });
      assert.equal(fast.exitCode, 0, `${b.name}: ${fast.stderr}`);
      assert.equal(slow.exitCode, 0, `${b.name}: ${slow.stderr}`);
      assert.equal(fast.stdout, slow.stdout, b.name);
      assert.equal(fast.stdout, readFileSync(file, 'utf8').trimEnd(), b.name);
    }
    // the Russian catalogue: a binary whose help uses it
    const b = { pkg: 'podsec', name: 'podsec-create-policy' };
    const ru = await run(b, { LANG: 'ru_RU.UTF-8' });
    const ruSlow = await run(b, { LANG: 'ru_RU.UTF-8', COLUMNS: '80' });
    assert.equal(ru.stdout, ruSlow.stdout);
  });

  it("V8's compile cache goes under the user's own ~/.cache, never into a directory others can write", async (t) => {
    const dir = await scratch(t);
    const bundle = bundleOf({ pkg: 'podsec', name: 'podsec-get-platform' });
    const home = path.join(dir, 'home');
    await mkdir(home, { mode: 0o700 });
    const ok = await execa(process.execPath, [bundle, '--json'], {
      env: { ...env, HOME: home },
      extendEnv: false,
    });
    assert.equal(ok.exitCode, 0);
    const cache = path.join(home, '.cache/podsec/node-compile-cache');
    assert.ok(existsSync(cache), 'the cache directory was not made');
    assert.equal(statSync(cache).mode & 0o777, 0o700);
    assert.ok(readdirSync(cache).length > 0, 'nothing was cached');
    // a home (or cache) directory another user can write: no cache at all, and the command still works
    const shared = path.join(dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o777);
    const r = await execa(process.execPath, [bundle, '--json'], {
      env: { ...env, HOME: shared },
      extendEnv: false,
    });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(readdirSync(shared), []);
    // XDG_CACHE_HOME through a symbolic link (to a good directory): refused as well
    await symlink(home, path.join(dir, 'link'));
    const l = await execa(process.execPath, [bundle, '--json'], {
      env: { ...env, HOME: shared, XDG_CACHE_HOME: path.join(dir, 'link') },
      extendEnv: false,
    });
    assert.equal(l.exitCode, 0);
    assert.ok(!existsSync(path.join(home, 'podsec')), 'cache made through a symbolic link');
  });

  it('the fast paths run with the code cache the build trained, and without it when it is missing, stale, made by another Node or not ours', async (t) => {
    const dir = await scratch(t);
    // preloaded: each compile of the launcher's with a code cache is logged (used or refused by V8) at exit
    const hook = path.join(dir, 'vm.cjs');
    await writeFile(
      hook,
      [
        "const vm = require('node:vm');",
        'const Script = vm.Script;',
        'const log = [];',
        "vm.Script = class extends Script { constructor(s, o) { super(s, o); if (o && o.cachedData) log.push(this.cachedDataRejected ? 'refused' : 'used'); } };",
        "process.on('exit', () => require('node:fs').writeFileSync(process.env.CACHE_LOG, JSON.stringify(log)));",
        '',
      ].join('\n'),
    );
    const policy = path.join(dir, 'policy.json');
    await writeFile(
      policy,
      '{"default":[{"type":"reject"}],"transports":{"docker":{"r.local":[]}}}',
    );
    const l = await loadSetup(t);
    // a real load, from an empty registry and lookaside each time (else "already signed"), and a refused one
    const cases: [string, string[], (() => Promise<void>)?][] = [
      ['podsec-trust', ['show', 'r.local/x:1', '--json', '--policy', policy]],
      ['podsec-get-platform', ['--json']],
      ['podsec-load-sign-oci', l.load('--json'), l.reset],
      ['podsec-load-sign-oci', l.refused(l.archive, 'mips')],
    ];
    // a copy of the bundles, to spoil the caches in
    const copy = path.join(dir, 'bundle');
    await cp(path.join(repo, 'packages/podsec/bundle'), copy, { recursive: true });
    const run = async (
      bundleDir: string,
      name: string,
      args: string[],
      fresh?: () => Promise<void>,
    ) => {
      const log = path.join(dir, 'log.json');
      await fresh?.();
      const r = await execa(
        process.execPath,
        ['--require', hook, path.join(bundleDir, `${name}.cjs`), ...args],
        { env: { ...env, CACHE_LOG: log }, extendEnv: false, reject: false },
      );
      return {
        out: [r.exitCode, workDirName(r.stdout), workDirName(r.stderr)],
        log: JSON.parse(readFileSync(log, 'utf8')),
      };
    };
    for (const [name, args, fresh] of cases) {
      const shipped = await run(path.join(repo, 'packages/podsec/bundle'), name, args, fresh);
      assert.deepEqual(shipped.log, ['used'], `${name}: the trained cache`);
      const cache = path.join(copy, 'lib', name, 'fast.cjs.cache');
      const spoiled: [string, () => Promise<void>, string[]][] = [
        // V8 refuses a cache of other code (another build, another Node) and compiles as without one
        ['stale', () => writeFile(cache, Buffer.alloc(4096, 7), { mode: 0o644 }), ['refused']],
        ['writable by others', () => chmod(cache, 0o666), []],
        // (only root can give a file away)
        ...(process.getuid?.() === 0
          ? [
              [
                'owned by another user',
                () => chmod(cache, 0o644).then(() => chown(cache, 65534, 65534)),
                [],
              ] as [string, () => Promise<void>, string[]],
            ]
          : []),
        // made by another Node (the system's older one compiling the same source)
        ...(olderSystemNode() === undefined
          ? []
          : [
              [
                'made by another Node',
                async () => {
                  await rm(cache, { force: true });
                  await execa(olderSystemNode()!, [
                    '-e',
                    'const fs = require("fs"); const [f, out] = process.argv.slice(1); const src = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(f, "utf8")}\\n})`; fs.writeFileSync(out, new (require("vm").Script)(src, { filename: f }).createCachedData(), { mode: 0o644 });',
                    path.join(copy, 'lib', name, 'fast.cjs'),
                    cache,
                  ]);
                },
                ['refused'],
              ] as [string, () => Promise<void>, string[]],
            ]),
        ['missing', () => rm(cache), []],
      ];
      for (const [what, spoil, log] of spoiled) {
        await spoil();
        const r = await run(copy, name, args, fresh);
        assert.deepEqual(r.log, log, `${name}, cache ${what}`);
        assert.deepEqual(r.out, shipped.out, `${name}, cache ${what}: the same output`);
      }
    }
  });

  it('the build trains the code cache of podsec-load-sign-oci on real loads (train-code-cache.mjs): several times an untrained one', async (t) => {
    const dir = await scratch(t);
    const lib = path.join(dir, 'podsec-load-sign-oci');
    await cp(path.join(repo, 'packages/podsec/bundle/lib/podsec-load-sign-oci'), lib, {
      recursive: true,
    });
    const fast = path.join(lib, 'fast.cjs');
    const train = (bin: string) =>
      execa(
        process.execPath,
        [path.join(repo, 'tools/scripts/launcher/train-code-cache.mjs'), bin, fast],
        {
          // as bundle.mjs runs it
          env: { PATH: env.PATH, LANG: 'C' },
          extendEnv: false,
          reject: false,
        },
      );
    await rm(`${fast}.cache`);
    // no training runs (a binary it has none for): the code of the file's top level only
    const none = await train('podsec-no-training');
    assert.equal(none.exitCode, 0, none.stderr);
    const loadedOnly = statSync(`${fast}.cache`).size;
    await rm(`${fast}.cache`);
    // the loads into the registry it serves: exit 0 (a failed run exits 1 and writes no cache)
    const r = await train('podsec-load-sign-oci');
    assert.equal(r.exitCode, 0, r.stderr);
    // each of its two loads (an RSA key, an Ed25519 key with a passphrase) pushed and signed train/app:1
    assert.deepEqual(
      r.stderr.split('\n').map((line) => line.replace(/127\.0\.0\.1:\d+/, '<registry>')),
      Array(2).fill('[1/1] pushed and signed <registry>/train/app:1'),
    );
    const trained = statSync(`${fast}.cache`).size;
    // V8's cache of the source compiled and not run, as a launcher without training would get
    const source = readFileSync(fast, 'utf8');
    const untrained = new vm.Script(
      `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
      { filename: fast },
    ).createCachedData().length;
    // the functions a load runs (archive, key, signature, push) are in the trained cache: 3 to 4 times as large here
    assert.ok(trained > 2 * loadedOnly, `trained ${trained} bytes, loaded only ${loadedOnly}`);
    assert.ok(trained > 2 * untrained, `trained ${trained} bytes, untrained ${untrained}`);
    const shipped = statSync(
      path.join(repo, 'packages/podsec/bundle/lib/podsec-load-sign-oci/fast.cjs.cache'),
    ).size;
    assert.ok(
      shipped > 2 * untrained,
      `the build's cache ${shipped} bytes, untrained ${untrained}`,
    );
  });

  it('a bundle started by an older Node re-runs itself on the repository Node', async (t) => {
    const old = needOlderNode(t);
    if (old === undefined) return;
    const bundle = bundleOf({ pkg: 'podsec', name: 'podsec-get-platform' });
    const r = await execa(old, [bundle, '--json'], { env, extendEnv: false, reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { platform: string }).platform, 'p10');
  });

  it('a bundle on an older Node with no newer one at hand stops with one line naming both versions', async (t) => {
    const old = needOlderNode(t);
    if (old === undefined) return;
    const oldVersion = execaSync(old, ['--version']).stdout.trim();
    const bundle = bundleOf({ pkg: 'podsec', name: 'podsec-trust' });
    // PODSEC_NODE names the Node to use instead of the repository's: here the old one itself
    const r = await execa(old, [bundle, 'show'], {
      env: { ...env, PODSEC_NODE: old },
      extendEnv: false,
      reject: false,
    });
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^podsec-trust: needs Node\.js >= 22\.19, but .* is v\d+/);
    assert.ok(r.stderr.includes(oldVersion), r.stderr);
  });

  it('a node_modules/.bin entry whose bundle is missing says how to build it', async (t) => {
    // a copy of a package's launcher beside no bundle
    const dir = await scratch(t);
    const bin = path.join(dir, 'pkg/bin/podsec-nothing');
    await mkdir(path.dirname(bin), { recursive: true });
    await writeFile(bin, readFileSync(path.join(repo, 'packages/podsec/bin/podsec-trust'), 'utf8'));
    await chmod(bin, 0o755);
    const r = await execa(bin, ['--help'], { env, extendEnv: false, reject: false });
    assert.equal(r.exitCode, 127);
    assert.match(
      r.stderr,
      /^podsec-nothing: .*bundle\/podsec-nothing\.cjs is missing: run 'npm run build'/,
    );
  });
});
