/**
 * podsec-serve / startServices: docker-registry and nginx in the foreground, on given (loopback) addresses,
 * for sandboxes, the quickstart and tests. Per-run configuration lives in a private 0700 directory
 * `/run/podsec-serve.<random>` under the root, removed on stop; the registry stores into the root's
 * registry volume directory and nginx serves the root's /var/sigstore read-only.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage, PodsecError, UsageError } from '@podsec/core';
import { findFreePort, type Daemon, type DaemonExit, type System } from '@podsec/core/system';
import { REGISTRY_STORAGE, SIGSTORE_DIR, SIGSTORE_KEYS, SIGSTORE_SIGNATURES } from '../paths.ts';
import { parseListen, renderNginxMain, renderNginxSite } from './plan-services.ts';

/** How a service process ended on its own. */
export interface ServiceExit {
  readonly name: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last few KiB of its output. */
  readonly output: string;
}

/** Options of {@link startServices}. */
export interface StartServicesOptions {
  /** `ip:port` of the registry; port 0 picks a free port. @default '127.0.0.1:0' */
  readonly registry?: string;
  /** `ip:port` of the signature/key server; port 0 picks a free port. @default '127.0.0.1:0' */
  readonly sigstore?: string;
  /** Milliseconds to wait until both answer. @default 20000 */
  readonly timeoutMs?: number;
  /** @default '/usr/bin/docker-registry' */
  readonly registryBinary?: string;
  /** @default 'nginx' (from PATH) */
  readonly nginxBinary?: string;
}

/** Running services, as returned by {@link startServices}. */
export interface RunningServices {
  /** `host` is `ip:port`, usable in image references (`<host>/repo:tag`); `url` is `http://ip:port`. */
  readonly registry: { readonly host: string; readonly url: string; readonly pid: number };
  /** `url` is `http://ip:port` (no trailing slash): keys under `${url}/keys/`, signatures under `${url}/sigstore/`. */
  readonly sigstore: { readonly host: string; readonly url: string; readonly pid: number };
  /** Settles only if a service ends on its own (not after {@link stop}). */
  readonly exited: Promise<ServiceExit>;
  /** Stops both (SIGTERM, then SIGKILL) and removes the per-run directory. Idempotent. */
  stop(): Promise<void>;
}

const ADDRESS_IN_USE = /address already in use|bind\(\) to .* failed \(98/i;

async function answers(sys: System, url: string): Promise<boolean> {
  try {
    const res = await sys.http.request(url, { timeoutMs: 2000, maxBytes: 1024 * 1024 });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The registry's per-run configuration (JSON is YAML). */
function registryConfig(storage: string, addr: string): string {
  return `${JSON.stringify(
    {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true } },
      http: { addr },
    },
    null,
    2,
  )}\n`;
}

/**
 * Starts docker-registry and nginx as child processes and waits until `GET /v2/` and `GET /keys/` answer 200.
 * Creates missing served directories (the registry volume directory, /var/sigstore/{keys,sigstore}) with 0755.
 */
export async function startServices(
  sys: System,
  o: StartServicesOptions = {},
): Promise<RunningServices> {
  const reg = parseListen(o.registry ?? '127.0.0.1:0', { allowEmptyHost: false });
  const sig = parseListen(o.sigstore ?? '127.0.0.1:0', { allowEmptyHost: false });
  if (reg.host.startsWith('[') || sig.host.startsWith('[')) {
    throw new UsageError('USAGE_BAD_LISTEN', 'IPv6 listen addresses are not supported', {
      details: { value: reg.host },
    });
  }
  if (reg.port !== 0 && reg.host === sig.host && reg.port === sig.port) {
    throw new UsageError(
      'USAGE_SAME_ADDRESS',
      `the registry and the signature server cannot share ${reg.host}:${reg.port}`,
      {
        details: { address: `${reg.host}:${reg.port}` },
      },
    );
  }
  const timeoutMs = o.timeoutMs ?? 20_000;
  if ((await sys.fs.stat('/'))?.kind !== 'dir') {
    throw new UsageError('SERVE_ROOT_MISSING', `the root directory ${sys.root} does not exist`, {
      details: { root: sys.root },
    });
  }
  for (const d of [SIGSTORE_DIR, SIGSTORE_KEYS, SIGSTORE_SIGNATURES, REGISTRY_STORAGE]) {
    if (!(await sys.fs.exists(d))) await sys.fs.mkdir(d, { mode: 0o755 });
  }
  const runDir = `/run/podsec-serve.${randomBytes(6).toString('hex')}`;
  await sys.fs.mkdir('/run');
  await sys.fs.mkdir(runDir, { mode: 0o700 });
  const hostRun = await sys.fs.resolve(runDir);
  const storage = await sys.fs.resolve(REGISTRY_STORAGE);
  const sigstoreRoot = await sys.fs.resolve(SIGSTORE_DIR);
  const started: Daemon[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    await Promise.all(started.map((d) => d.stop(5000)));
    await sys.fs.remove(runDir, { recursive: true });
  };
  // the services get PATH only, not the caller's whole environment
  const env = { PATH: sys.env['PATH'], LANG: 'C' };

  try {
    const registry = await startWithRetry(
      'registry',
      reg,
      async (addr) => {
        await sys.fs.writeFileAtomic(`${runDir}/registry.yml`, registryConfig(storage, addr), {
          backup: false,
          mode: 0o600,
        });
        return {
          name: 'docker-registry',
          file: o.registryBinary ?? '/usr/bin/docker-registry',
          args: ['serve', `${hostRun}/registry.yml`],
        };
      },
      (addr) => `http://${addr}/v2/`,
    );
    const nginx = await startWithRetry(
      'nginx',
      sig,
      async (addr) => {
        const site = renderNginxSite({
          listen: addr,
          root: sigstoreRoot,
          header: '# podsec-serve: per-run site',
        });
        await sys.fs.writeFileAtomic(`${runDir}/site.conf`, site, { backup: false });
        await sys.fs.writeFileAtomic(
          `${runDir}/nginx.conf`,
          renderNginxMain({
            runDir: hostRun,
            includes: [`${hostRun}/site.conf`],
            foreground: true,
          }),
          {
            backup: false,
          },
        );
        return {
          name: 'nginx',
          file: o.nginxBinary ?? 'nginx',
          args: ['-p', hostRun, '-e', `${hostRun}/error.log`, '-c', `${hostRun}/nginx.conf`],
        };
      },
      (addr) => `http://${addr}/keys/`,
    );

    const exited = new Promise<ServiceExit>((resolve) => {
      for (const d of [registry.daemon, nginx.daemon]) {
        void d.done.then((e: DaemonExit | undefined) => {
          if (!stopping)
            resolve({
              name: d.name,
              exitCode: e?.exitCode ?? null,
              signal: e?.signal ?? null,
              output: e?.output ?? d.output(),
            });
        });
      }
    });
    let stopped: Promise<void> | undefined;
    return {
      registry: {
        host: registry.addr,
        url: `http://${registry.addr}`,
        pid: registry.daemon.pid() ?? 0,
      },
      sigstore: { host: nginx.addr, url: `http://${nginx.addr}`, pid: nginx.daemon.pid() ?? 0 },
      exited,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }

  /**
   * Starts one service under core's daemon supervisor (its own session, ready when `probe` answers 200);
   * on a port taken between probing and binding (port 0 only) tries another port.
   */
  async function startWithRetry(
    name: string,
    l: { host: string; port: number },
    prepare: (addr: string) => Promise<{ name: string; file: string; args: string[] }>,
    probe: (addr: string) => string,
  ): Promise<{ daemon: Daemon; addr: string }> {
    for (let attempt = 0; ; attempt++) {
      const addr = `${l.host}:${l.port === 0 ? await findFreePort(l.host) : l.port}`;
      const spec = await prepare(addr);
      try {
        const daemon = await sys.daemons.start({
          ...spec,
          env,
          ready: { probe: () => answers(sys, probe(addr)), timeoutMs, intervalMs: 50 },
        });
        started.push(daemon);
        return { daemon, addr };
      } catch (e) {
        // the supervisor left nothing running; its error carries the service's last output
        const detail = (e as { details?: { output?: unknown } }).details?.output;
        const output = typeof detail === 'string' ? detail : errorMessage(e);
        if (l.port === 0 && attempt < 4 && ADDRESS_IN_USE.test(output)) continue;
        const reason =
          output.trim().split('\n').slice(-3).join('\n') || `no answer within ${timeoutMs} ms`;
        throw new PodsecError('SERVE_START_FAILED', `${name} did not start on ${addr}: ${reason}`, {
          details: { service: name, address: addr, reason },
        });
      }
    }
  }
}
