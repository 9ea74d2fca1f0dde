import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { generateKey } from '@podsec/core/trust';
import { writeOciArchive } from '@podsec/test-utils';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(repo, 'packages/podsec/bundle/podsec-load-sign-oci.mjs');

/** `<file>` = amd64.tar.xz of a valid OCI layout holding one image without layers, named `p1/img:1`. */
async function tinyArchive(dir: string, file: string): Promise<void> {
  await rename((await writeOciArchive(dir, { ref: 'p1/img:1' })).archive, file);
}

// The real signal to the bundled binary mid-run (while skopeo pushes): the handler of runCli removes the private temp
// directory with the extracted archive, then the signal ends the process as it would have.
describe('SIGINT and SIGTERM during podsec-load-sign-oci (bundled binary)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: the process dies of the signal and its temp directory is gone`, async (t) => {
      assert.ok(existsSync(BIN), `${BIN} missing: run npm run build first`);
      const dir = await mkdtemp(path.join(tmpdir(), 'podsec-signal-e2e-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const root = path.join(dir, 'root');
      await mkdir(path.join(root, 'etc'), { recursive: true });
      await writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
      await writeFile(path.join(root, 'etc/group'), 'root:x:0:\npodman_dev:x:991:root\n');
      const key = await generateKey({
        type: 'ed25519',
        name: 'Maker',
        email: 'maker@example.org',
        date: new Date(2025, 0, 1),
      });
      await writeFile(path.join(dir, 'key.asc'), key.privateKeyArmored, { mode: 0o600 });
      const archive = path.join(dir, 'amd64.tar.xz');
      await tinyArchive(dir, archive);
      const tmp = path.join(dir, 'tmp');
      await mkdir(tmp);
      // a "registry" that accepts the connection and never answers: the push (skopeo) hangs mid-run
      const sockets = new Set<Socket>();
      let connected: () => void = () => {};
      const reached = new Promise<void>((resolve) => {
        connected = resolve;
      });
      const server = createServer((sock) => {
        sockets.add(sock);
        connected();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => {
        for (const sock of sockets) sock.destroy();
        server.close();
      });
      const port = (server.address() as AddressInfo).port;
      const child = execa(
        process.execPath,
        [
          BIN,
          archive,
          'amd64',
          'maker@example.org',
          '--root',
          root,
          '--registry-host',
          `127.0.0.1:${port}`,
          '--platform',
          'p1',
          '--key',
          path.join(dir, 'key.asc'),
          '--tmpdir',
          tmp,
        ],
        {
          reject: false,
          // the skopeo path: the hanging registry keeps skopeo waiting (the native push would wait in its probe)
          env: { PATH: process.env['PATH'] ?? '', LANG: 'C', PODSEC_OCI_PUSH: 'skopeo' },
          extendEnv: false,
        },
      );
      const early = child.then((r) => r);
      await Promise.race([
        reached,
        early.then((r) => assert.fail(`ended before the push: ${r.exitCode} ${r.stderr}`)),
      ]);
      // the archive is extracted in the private directory while skopeo waits for the registry
      assert.equal((await readdir(tmp)).length, 1);
      child.kill(signal);
      const r = await child;
      assert.equal(r.signal, signal, `exit code ${r.exitCode}: ${r.stderr}`);
      assert.deepEqual(await readdir(tmp), []);
    });
  }
});
