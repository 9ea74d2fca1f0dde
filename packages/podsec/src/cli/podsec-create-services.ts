import {
  Command,
  InvalidArgumentError,
  requireRoot,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { PodsecError } from '@podsec/core';
import { changesMessages } from '@podsec/core/changes';
import { checkSigstoreServer } from '../host/role.ts';
import type { CreateServicesResult } from '../services/create-services.ts';
import { parseListen } from '../services/listen.ts';

/**
 * Exit codes of podsec-create-services. The original exits with trivy's status; 1 stays "cannot run here"
 * (not root, not the server, httpd2 conflict, bad arguments).
 */
export const exitCodes = {
  NOT_ROOT: 1,
  NOT_SIGSTORE_SERVER: 1,
  HTTPD2_CONFLICT: 1,
  USAGE_BAD_LISTEN: 1,
  NGINX_CONFIG_INVALID: 2,
  REGISTRY_CONFIG_INVALID: 2,
  SERVICE_FAILED: 3,
  PROC_FAILED: 4,
  PROC_SPAWN_FAILED: 4,
} as const;

/** Messages of podsec-create-services (error codes and result lines). */
export const messages = {
  en: {
    ...changesMessages.en,
    NOT_SIGSTORE_SERVER: 'Services cannot be started: {reason}',
    HTTPD2_CONFLICT:
      'httpd2 is running and conflicts with docker-registry on port 80: rerun with --stop-httpd2 to stop and disable it',
    USAGE_BAD_LISTEN: 'invalid listen address "{value}" (expected <ipv4>:<port>)',
    NGINX_CONFIG_INVALID: 'nginx rejects the configuration: {reason}',
    REGISTRY_CONFIG_INVALID: '{file} cannot be edited: {reason}',
    SERVICE_FAILED: 'service not active after start: {units} (see journalctl -u <unit>)',
    'file.created': 'created {path}',
    'file.updated': 'updated {path}',
    'file.backup': '  previous content kept in {backup}',
    'file.unchanged': 'unchanged {path}',
    'file.linked': 'enabled {path}',
    'run.command': 'run: {command}',
    'plan.command': 'would run: {command}',
    'plan.file': 'would write {path} ({action})',
    'service.active': '{unit}: active',
    'note.registryBinaryMissing':
      'warning: no docker-registry binary found in the tree; the unit uses {path}',
    'note.notManaged':
      'the tree {root} is not the running system: services are not started (units written only)',
    'note.siteNotIncluded':
      'warning: {config} does not include {dir}: the sigstore site is not served',
    'note.httpd2Stopped': 'httpd2 conflicts with docker-registry: stopping and disabling it',
    'note.trivyMissing': 'warning: the trivy unit does not exist; trivy is not started',
    done: 'registry and signature server configured on {ip}',
    'role.server': 'this host ({ip}) is the registry and signature server',
  },
  ru: {
    ...changesMessages.ru,
    NOT_SIGSTORE_SERVER: 'Сервисы не могут быть запущены: {reason}',
    HTTPD2_CONFLICT:
      'запущен httpd2, он конфликтует с docker-registry на порту 80: повторите с --stop-httpd2, чтобы остановить и отключить его',
    USAGE_BAD_LISTEN: 'недопустимый адрес "{value}" (ожидается <ipv4>:<порт>)',
    NGINX_CONFIG_INVALID: 'nginx отвергает конфигурацию: {reason}',
    REGISTRY_CONFIG_INVALID: 'не удаётся изменить {file}: {reason}',
    SERVICE_FAILED: 'сервис не активен после запуска: {units} (см. journalctl -u <сервис>)',
    'file.created': 'создан {path}',
    'file.updated': 'обновлён {path}',
    'file.backup': '  прежнее содержимое сохранено в {backup}',
    'file.unchanged': 'без изменений {path}',
    'file.linked': 'включён {path}',
    'run.command': 'выполнено: {command}',
    'plan.command': 'будет выполнено: {command}',
    'plan.file': 'будет записан {path} ({action})',
    'service.active': '{unit}: активен',
    'note.registryBinaryMissing':
      'предупреждение: в дереве нет программы docker-registry; в юните указан {path}',
    'note.notManaged':
      'дерево {root} не является работающей системой: сервисы не запускаются (записаны только файлы)',
    'note.siteNotIncluded':
      'предупреждение: {config} не подключает {dir}: сайт sigstore не обслуживается',
    'note.httpd2Stopped': 'httpd2 конфликтует с docker-registry: он останавливается и отключается',
    'note.trivyMissing': 'предупреждение: юнита trivy нет; trivy не запускается',
    done: 'сервер реестра и подписей настроен на {ip}',
    'role.server': 'этот узел ({ip}) является сервером реестра и подписей',
  },
} as const;

function listenParser(allowEmptyHost: boolean) {
  return (value: string): string => {
    try {
      parseListen(value, { allowEmptyHost });
    } catch {
      throw new InvalidArgumentError(
        `invalid listen address "${value}" (expected ${allowEmptyHost ? '[<ipv4>]' : '<ipv4>'}:<port>)`,
      );
    }
    return value;
  };
}

function createProgram(ctx: CliContext) {
  return new Command('podsec-create-services')
    .description(
      'Configure and start the registry (docker-registry, registry.local:80), the signature server (nginx,\n' +
        'sigstore.local:81) and trivy on the registry/signature server. Root only.\n' +
        'Exit codes: 0 ok, 1 not root / not the server / httpd2 running / usage, 2 invalid nginx or registry\n' +
        'configuration, 3 a service is not active after start, 4 an external program failed.',
    )
    .option('--sigstore-listen <addr>', 'nginx bind address', listenParser(false), '0.0.0.0:81')
    .option('--registry-listen <addr>', 'docker-registry http.addr', listenParser(true), ':80')
    .option(
      '--tls',
      'create a local CA and serve HTTPS (CA published as /var/sigstore/keys/ca.crt)',
    )
    .option('--no-trivy', 'do not enable trivy')
    .option('--stop-httpd2', 'stop and disable a running httpd2 (it conflicts with the registry)')
    .option(
      '--check-role',
      'only check that this host is the registry/signature server (exit 0), else say why (exit 1); changes nothing',
    )
    .argument('[ignored...]')
    .action(async (ignored, opts) => {
      if (opts.checkRole) {
        const role = await checkSigstoreServer(ctx.system);
        if (!role.isServer)
          throw new PodsecError(
            'NOT_SIGSTORE_SERVER',
            `Services cannot be started: ${role.message ?? ''}`,
            {
              details: { reason: role.message ?? '' },
            },
          );
        ctx.system.report.result(ctx.t('role.server', { ip: role.ip ?? '' }), {
          server: true,
          ip: role.ip,
        });
        return;
      }
      if (ignored.length > 0)
        ctx.stderr(`podsec-create-services: extra arguments ignored: ${ignored.join(' ')}\n`);
      requireRoot(ctx);
      const { createServices } = await import('../services/create-services.ts');
      const r = await createServices(ctx.system, {
        sigstoreListen: opts.sigstoreListen,
        registryListen: opts.registryListen,
        tls: opts.tls === true,
        trivy: opts.trivy,
        stopHttpd2: opts.stopHttpd2 === true,
      });
      ctx.system.report.result(formatResult(ctx, r), r);
    });
}

function formatResult(ctx: CliContext, r: CreateServicesResult): string {
  const lines: string[] = [];
  for (const n of r.notes) ctx.stderr(`${ctx.t(n.code, n.params)}\n`);
  for (const f of r.files) {
    lines.push(
      r.dryRun
        ? ctx.t('plan.file', { path: f.path, action: f.action })
        : ctx.t(`file.${f.action}`, { path: f.path }),
    );
    if (!r.dryRun && f.backup !== undefined) lines.push(ctx.t('file.backup', { backup: f.backup }));
  }
  for (const c of r.commands)
    lines.push(ctx.t(r.dryRun ? 'plan.command' : 'run.command', { command: c.join(' ') }));
  for (const s of r.services) lines.push(ctx.t('service.active', { unit: s.unit }));
  lines.push(r.dryRun ? ctx.t('cli.dryRun') : ctx.t('done', { ip: r.ip }));
  return lines.join('\n');
}

/** The podsec-create-services binary. */
export const cli: CliDefinition = {
  name: 'podsec-create-services',
  create: createProgram,
  exitCodes,
  messages,
  mutates: true,
};
