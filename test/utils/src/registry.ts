/**
 * A throw-away docker-registry (distribution) on 127.0.0.1 for integration tests:
 * filesystem storage in a mkdtemp directory, no TLS, no auth.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, usable as the registry part of image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Temp directory holding the config and the storage. */
  readonly dir: string;
  /** Kill the registry and remove its directory. */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** @default '/usr/bin/docker-registry' */
  readonly binary?: string;
  /** Milliseconds to wait for `GET /v2/`. @default 15000 */
  readonly timeoutMs?: number;
}

/** A port the kernel reports free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Start `docker-registry serve <config.yml>` on a free 127.0.0.1 port and wait until `/v2/` answers. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const binary = options.binary ?? '/usr/bin/docker-registry';
  const timeoutMs = options.timeoutMs ?? 15000;
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-registry-'));
  // A port can be taken between probing and binding: retry a few times.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = path.join(dir, 'config.yml');
    await writeFile(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        '',
      ].join('\n'),
    );
    const child = execa(binary, ['serve', config], {
      reject: false,
      stdin: 'ignore',
      buffer: true,
      cleanup: true,
    });
    let exited = false;
    void child.then(() => {
      exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (!exited && Date.now() < deadline) {
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.body?.cancel();
        if (res.status === 200) {
          up = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (up) {
      return {
        host,
        url: `http://${host}`,
        dir,
        async stop() {
          if (!exited) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await child;
            clearTimeout(timer);
          }
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    if (!exited) {
      child.kill('SIGKILL');
      await child;
    }
    const result = await child;
    if (attempt === 4 || !/address already in use/i.test(String(result.stderr))) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(
        `docker-registry did not start on ${host}: ${String(result.stderr).slice(0, 2000)}`,
      );
    }
  }
  throw new Error('unreachable');
}

/**
 * Writes a containers-policy.json to `file` that rejects everything except images of registry `host` signed by a
 * key of the binary keyring `keyPath` (a signedBy GPGKeys requirement); returns `file`.
 */
export async function writeSignedByPolicy(
  file: string,
  host: string,
  keyPath: string,
): Promise<string> {
  await writeFile(
    file,
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: { [host]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }] },
      },
    }),
  );
  return file;
}
