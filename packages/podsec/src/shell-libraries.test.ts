/**
 * The original's sourced shell libraries: a POSIX sh script sources podsec-functions and
 * podsec-policy-functions and calls their functions, which run our binaries (from source here).
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createTestSystem, requireCommand } from '@podsec/test-utils';

const LIB = fileURLToPath(new URL('../lib/', import.meta.url));
const CLI = fileURLToPath(new URL('./cli/', import.meta.url));
const RUNNER = fileURLToPath(new URL('../../../test/utils/src/crash-runner.ts', import.meta.url));
const IP = '192.168.10.5';
const POLICY = JSON.stringify({
  default: [{ type: 'reject' }],
  transports: {
    docker: {
      a: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: '/var/sigstore/keys/a.pgp' }],
      b: [{ type: 'insecureAcceptAnything' }],
    },
    dir: { '': [{ type: 'reject' }] },
  },
});

describe('podsec-functions and podsec-policy-functions', () => {
  it('a script that sources both libraries gets the original outputs from our binaries', async (t) => {
    requireCommand(t, 'jq');
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-shlib-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // the binaries, run from source (the built shims need a build)
    for (const name of ['podsec-trust', 'podsec-create-services', 'podsec-get-platform']) {
      const shim = path.join(dir, name);
      await writeFile(
        shim,
        `#!/bin/sh\nexec "${process.execPath}" --conditions=podsec-source "${RUNNER}" "${CLI}${name}.ts" "$@"\n`,
      );
      await chmod(shim, 0o755);
    }
    await writeFile(path.join(dir, 'policy.json'), POLICY);
    const server = await createTestSystem(t, {
      tree: { 'etc/hosts': `${IP} registry.local sigstore.local trivy.local\n` },
    });
    const client = await createTestSystem(t, {
      tree: { 'etc/hosts': `10.9.9.9 registry.local sigstore.local trivy.local\n` },
    });
    const script = `
. "${LIB}podsec-functions"
. "${LIB}podsec-policy-functions"
cd "${dir}"
echo "default=$(getDefaultPolicy policy.json)"
echo "missing=$(getDefaultPolicy missing.json)"
echo "registries=$(getRegistries policy.json json)"
getRegistries policy.json
echo "signed=$(getSignedRegistries policy.json json)"
echo "notsigned=$(getNotSignedRegistries policy.json json)"
echo "forbidden=$(getForbiddenTransports policy.json json)"
echo "tree=$(echo '["a/x@sha256:1","b/x@sha256:1","c/y@sha256:2"]' | imagesTree)"
echo "groups=$(getGroups root)"
if PODSEC_ROOT="${server.root}" isSigstoreServer; then echo "server ip=$ip"; fi
if PODSEC_ROOT="${client.root}" isSigstoreServer 2>err; then echo wrong; else echo "client: $(cat err)"; fi
U7S_PLATFORM=p11; getPlatform 2>/dev/null; echo "platform=$U7S_PLATFORM"
`;
    const r = await execa('sh', ['-c', script], {
      env: {
        PATH: `${dir}:${process.env['PATH'] ?? ''}`,
        LANG: 'C',
        PODSEC_CRASH_LOCAL_ADDRESSES: `127.0.0.1,${IP}`,
      },
      extendEnv: false,
      reject: false,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(r.stdout.split('\n'), [
      'default=reject',
      'missing=',
      'registries=["a","b"]',
      '"a"',
      '"b"',
      'signed=["a"]',
      'notsigned=["b"]',
      'forbidden=["dir"]',
      'tree={"sha256:1":["a/x","b/x"],"sha256:2":["c/y"]}',
      'groups=["root"]',
      `server ip=${IP}`,
      'client: Services cannot be started: registry.local and sigstore.local are bound to the remote server 10.9.9.9',
      'platform=p11',
    ]);
  });
});
