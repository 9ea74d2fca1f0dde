import { resolveHostPath } from '@podsec/core';
import { Command, PodsecError, type CliContext, type CliDefinition } from '@podsec/core/cli';
import { createRootFs } from '@podsec/core/system';

/** Exit codes of podsec-serve. */
export const exitCodes = {
  USAGE_BAD_LISTEN: 1,
  USAGE_SAME_ADDRESS: 1,
  SERVE_ROOT_MISSING: 1,
  SERVE_START_FAILED: 2,
  SERVE_SERVICE_DIED: 3,
} as const;

/** Messages of podsec-serve. */
export const messages = {
  en: {
    USAGE_BAD_LISTEN: 'invalid listen address "{value}" (expected <ipv4>:<port>)',
    USAGE_SAME_ADDRESS: 'the registry and the signature server cannot share {address}',
    SERVE_ROOT_MISSING: 'the root directory {root} does not exist',
    SERVE_START_FAILED: '{service} did not start on {address}: {reason}',
    SERVE_SERVICE_DIED: '{service} stopped unexpectedly (exit {status}): {reason}',
    'serve.registry': 'registry: {url}',
    'serve.sigstore': 'sigstore: {url}',
    'serve.stopping': 'stopping ({signal})',
  },
  ru: {
    USAGE_BAD_LISTEN: 'недопустимый адрес "{value}" (ожидается <ipv4>:<порт>)',
    USAGE_SAME_ADDRESS: 'реестр и сервер подписей не могут использовать один адрес {address}',
    SERVE_ROOT_MISSING: 'корневой каталог {root} не существует',
    SERVE_START_FAILED: '{service} не запустился на {address}: {reason}',
    SERVE_SERVICE_DIED: '{service} неожиданно остановился (код {status}): {reason}',
    'serve.registry': 'реестр: {url}',
    'serve.sigstore': 'сервер подписей: {url}',
    'serve.stopping': 'остановка ({signal})',
  },
} as const;

function createProgram(ctx: CliContext) {
  return new Command('podsec-serve')
    .description(
      'Run docker-registry and nginx (read-only /var/sigstore with JSON listings of keys/ and sigstore/) in the\n' +
        'foreground on the given addresses, for sandboxes and tests; port 0 picks a free port. Stops both on\n' +
        'SIGINT/SIGTERM. Exit codes: 0 stopped by a signal, 1 usage, 2 a service did not start, 3 a service died.',
    )
    .option('--registry <ip:port>', 'registry address', '127.0.0.1:0')
    .option('--sigstore <ip:port>', 'signature/key server address', '127.0.0.1:0')
    .option(
      '--ready-file <file>',
      'write the addresses as JSON to <file> once both answer (removed on exit)',
    )
    .option('--timeout <ms>', 'how long to wait for both to answer', '20000')
    .action(async (opts) => {
      const sys = ctx.system;
      const { startServices } = await import('../services/serve.ts');
      const s = await startServices(sys, {
        registry: opts.registry,
        sigstore: opts.sigstore,
        timeoutMs: Number(opts.timeout) || 20_000,
      });
      const data = {
        registry: s.registry.url,
        sigstore: s.sigstore.url,
        registryHost: s.registry.host,
        pids: { registry: s.registry.pid, nginx: s.sigstore.pid },
      };
      // the ready file is a path on this host, not under --root
      const hostFs = createRootFs('/');
      const readyFile = opts.readyFile === undefined ? undefined : resolveHostPath(opts.readyFile);
      const signals = ['SIGINT', 'SIGTERM'] as const;
      let onSignal: ((s: NodeJS.Signals) => void) | undefined;
      const signalled = new Promise<NodeJS.Signals>((resolve) => {
        onSignal = resolve;
        for (const n of signals) process.once(n, resolve);
      });
      try {
        sys.report.result(
          `${ctx.t('serve.registry', { url: s.registry.url })}\n${ctx.t('serve.sigstore', { url: s.sigstore.url })}`,
          data,
        );
        if (readyFile !== undefined)
          await hostFs.writeFileAtomic(readyFile, `${JSON.stringify(data)}\n`, { backup: false });
        const outcome = await Promise.race([
          signalled.then((sig) => ({ sig })),
          s.exited.then((died) => ({ died })),
        ]);
        if ('sig' in outcome) {
          sys.report.info(ctx.t('serve.stopping', { signal: outcome.sig }));
          return;
        }
        const d = outcome.died;
        const reason = d.output.trim().split('\n').slice(-3).join('\n');
        throw new PodsecError(
          'SERVE_SERVICE_DIED',
          `${d.name} stopped unexpectedly (exit ${d.exitCode ?? d.signal}): ${reason}`,
          {
            details: { service: d.name, status: String(d.exitCode ?? d.signal), reason },
          },
        );
      } finally {
        for (const n of signals) if (onSignal) process.removeListener(n, onSignal);
        await s.stop();
        if (readyFile !== undefined) await hostFs.remove(readyFile);
      }
    });
}

/** The podsec-serve binary. */
export const cli: CliDefinition = {
  name: 'podsec-serve',
  create: createProgram,
  exitCodes,
  messages,
  mutates: false,
};
