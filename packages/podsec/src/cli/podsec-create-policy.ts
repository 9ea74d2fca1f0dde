import { resolveHostPath } from '@podsec/core';
import {
  Command,
  requireRoot,
  UsageError,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
// the policy writer (keys, YAML, TOML) is loaded when the action runs, not for --help
import type { CreatePolicyResult, TrustSource } from '../policy/create-policy.ts';
import { changeReportJson, changesMessages, formatChangeReport } from '@podsec/core/changes';
import { KEYS_URL, SIGSTORE_HOST, SIGSTORE_PORT } from '../paths.ts';

const NAME = 'podsec-create-policy';
/** Default HTTPS location of the published keys when only --ca/--fingerprint is given. */
const DEFAULT_HTTPS_KEYS_URL = `https://${SIGSTORE_HOST}:${SIGSTORE_PORT}/keys/`;

/** Exit codes of podsec-create-policy (docs/commands/podsec-create-policy.md#exit-codes; 4 is the docs/weaknesses.md#w6-trust-bootstrap-on-clients fix: trust bootstrap refused). */
export const exitCodes = {
  POLICY_NO_IP: 1,
  POLICY_TOO_MANY_IPS: 1,
  POLICY_IP_FORBIDDEN: 1,
  POLICY_IP_SHAPE: 2,
  POLICY_IP_RANGE: 3,
  HOSTS_ALREADY_BOUND: 1,
  NOT_ROOT: 1,
  TRUST_FETCH_FAILED: 4,
  TRUST_INVALID: 4,
  POLICY_BUNDLE_MISSING: 4,
} as const;

const messages = {
  en: {
    ...changesMessages.en,
    POLICY_NO_IP:
      'the IP address of the registry and signature server is not specified\nFormat:\n\t{command} <ip>',
    POLICY_TOO_MANY_IPS: 'only one IP address may be given\nFormat:\n\t{command} <ip>',
    POLICY_IP_SHAPE: 'invalid IP address "{ip}": expected four dot-separated numbers (IPv4)',
    POLICY_IP_RANGE: 'invalid IP address "{ip}": "{field}" is not a decimal number 0..255',
    POLICY_IP_FORBIDDEN:
      'IP address {ip} must not be a local (loopback), unspecified, broadcast or multicast address',
    HOSTS_ALREADY_BOUND:
      '{name} is already bound to {ip} in /etc/hosts; remove the binding and run again',
    REGISTRIES_D_CONFLICT:
      '{file} already defines default-docker; remove that section and run again',
    POLICY_TRUST_SOURCE_REQUIRED:
      '{ip} is not a local address, so this is a client: give --bundle <file>, or --url <https-url> with --ca <pem> and/or --fingerprint <sha256> (or --insecure-http)',
    POLICY_BUNDLE_MISSING: 'trust bundle {file} not found',
    POLICY_OPTIONS_CONFLICT: 'conflicting options: {reason}',
    POLICY_NOT_SERVER: 'a trust bundle can only be exported on the signature server: {reason}',
    POLICY_NOT_A_DIRECTORY: '{path} exists and is not a directory',
    TRUST_FETCH_FAILED: 'nothing changed: cannot fetch {url}: {reason}',
    TRUST_INVALID: 'nothing changed: the published keys and policy were refused: {reason}',
    'policy.mode.server': 'Server mode: {ip} is an address of this host',
    'policy.mode.client': 'Client mode: keys and policy of {ip} installed',
    'policy.exported': 'Trust bundle {file} written ({count} keys)',
    'policy.insecureHttp': 'WARNING: --insecure-http: the keys and policy are not authenticated',
  },
  ru: {
    ...changesMessages.ru,
    POLICY_NO_IP: 'не указан IP-адрес сервера регистратора и подписей\nФормат:\n\t{command} <ip>',
    POLICY_TOO_MANY_IPS: 'можно указать только один IP-адрес\nФормат:\n\t{command} <ip>',
    POLICY_IP_SHAPE: 'неверный IP-адрес "{ip}": ожидаются четыре числа, разделённые точками (IPv4)',
    POLICY_IP_RANGE: 'неверный IP-адрес "{ip}": "{field}" не является десятичным числом 0..255',
    POLICY_IP_FORBIDDEN:
      'IP-адрес {ip} не должен быть локальным (loopback), нулевым, широковещательным или групповым',
    HOSTS_ALREADY_BOUND:
      '{name} уже привязан к {ip} в /etc/hosts; удалите привязку и запустите снова',
    REGISTRIES_D_CONFLICT:
      'в {file} уже определён default-docker; удалите эту секцию и запустите снова',
    POLICY_TRUST_SOURCE_REQUIRED:
      '{ip} не является локальным адресом, это клиент: укажите --bundle <файл> или --url <https-url> с --ca <pem> и/или --fingerprint <sha256> (или --insecure-http)',
    POLICY_BUNDLE_MISSING: 'файл доверия {file} не найден',
    POLICY_OPTIONS_CONFLICT: 'несовместимые параметры: {reason}',
    POLICY_NOT_SERVER: 'файл доверия можно выгрузить только на сервере подписей: {reason}',
    POLICY_NOT_A_DIRECTORY: '{path} существует и не является каталогом',
    TRUST_FETCH_FAILED: 'ничего не изменено: не удалось получить {url}: {reason}',
    TRUST_INVALID: 'ничего не изменено: опубликованные ключи и политика отвергнуты: {reason}',
    'policy.mode.server': 'Режим сервера: {ip} является адресом этого узла',
    'policy.mode.client': 'Режим клиента: установлены ключи и политика сервера {ip}',
    'policy.exported': 'Файл доверия {file} записан (ключей: {count})',
    'policy.insecureHttp': 'ВНИМАНИЕ: --insecure-http: ключи и политика не аутентифицированы',
  },
} as const;

const EPILOG = `
Exit codes: 0 ok; 1 usage, not root, forbidden address, /etc/hosts conflict, configuration conflict;
2 malformed IPv4 address; 3 a field out of range; 4 client trust bootstrap refused (nothing changed).

Client nodes never take keys over unauthenticated HTTP: use --bundle <file> (made on the server with
--export-bundle <file>), or --url https://sigstore.local:81/keys/ with --ca <pem> and/or --fingerprint
<sha256 of the server certificate>. Files named by an option (--bundle, --ca, --export-bundle) are
host paths, relative to the working directory, even with --root; the system files read and changed
(/etc/hosts, /etc/containers, /var/sigstore, /etc/group ...) are those under --root.
Groups podman and podman_dev are created on every node.
If control(8) is missing, /usr/bin/newuidmap and newgidmap are made root:podman 4750 instead.`;

/** Files the user names (bundle, CA, export target) are host files, relative to the working directory. */
function absolute(file: string, _option: string): string {
  return resolveHostPath(file);
}

interface Opts {
  readonly bundle?: string;
  readonly url?: string;
  readonly ca?: string;
  readonly fingerprint?: string;
  readonly insecureHttp?: true;
  readonly exportBundle?: string;
}

async function trustSource(ctx: CliContext, o: Opts): Promise<TrustSource | undefined> {
  const conflict = (reason: string) =>
    new UsageError('POLICY_OPTIONS_CONFLICT', `conflicting options: ${reason}`, {
      details: { reason },
    });
  if (o.bundle !== undefined) {
    if (o.url !== undefined || o.ca !== undefined || o.fingerprint !== undefined || o.insecureHttp)
      throw conflict('--bundle excludes --url, --ca, --fingerprint, --insecure-http');
    return { kind: 'bundle', file: absolute(o.bundle, '--bundle') };
  }
  if (o.url === undefined && o.ca === undefined && o.fingerprint === undefined && !o.insecureHttp)
    return undefined;
  const url =
    o.url ??
    (o.insecureHttp && o.ca === undefined && o.fingerprint === undefined
      ? KEYS_URL
      : DEFAULT_HTTPS_KEYS_URL);
  if (url.startsWith('http:') && !o.insecureHttp)
    throw conflict('a http: URL needs --insecure-http');
  if (url.startsWith('https:') && o.ca === undefined && o.fingerprint === undefined)
    throw conflict('an https: URL needs --ca and/or --fingerprint');
  if (o.insecureHttp) ctx.system.report.warn(ctx.t('policy.insecureHttp'));
  const ca =
    o.ca === undefined ? undefined : await ctx.system.hostFs.readText(absolute(o.ca, '--ca'));
  return {
    kind: 'url',
    url,
    ...(ca === undefined ? {} : { ca }),
    ...(o.fingerprint === undefined ? {} : { fingerprint: o.fingerprint }),
    ...(o.insecureHttp ? { insecureHttp: true } : {}),
  };
}

function report(ctx: CliContext, r: CreatePolicyResult): void {
  const lines = [
    ctx.t(`policy.mode.${r.mode}`, { ip: r.ip }),
    ...formatChangeReport(r.report, ctx.t),
  ];
  ctx.system.report.result(lines.join('\n'), {
    mode: r.mode,
    ip: r.ip,
    changedFiles: r.changedFiles,
    ...changeReportJson(r.report),
    warnings: r.warnings,
  });
}

function createProgram(ctx: CliContext) {
  return new Command(NAME)
    .description(
      'Configure this node for signed images from the local registry: groups, /etc/hosts, /var/sigstore, policy.json, registries.d, registries.conf',
    )
    .argument('[ip...]', 'IP address of the registry and signature server')
    .option('--bundle <file>', 'client: install keys and policy from this trust bundle')
    .option('--url <url>', 'client: directory URL of the published keys (https)')
    .option('--ca <pem-file>', 'client: CA or self-signed certificate of the signature server')
    .option(
      '--fingerprint <sha256>',
      'client: SHA-256 fingerprint of the signature server certificate',
    )
    .option('--insecure-http', 'client: allow a plain http: URL (unauthenticated; not recommended)')
    .option(
      '--export-bundle <file>',
      'server: write a trust bundle for clients (the IP may then be omitted)',
    )
    .addHelpText('after', EPILOG)
    .action(async (ips: string[], opts: Opts) => {
      const command = { command: NAME };
      if (ips.length === 0 && opts.exportBundle === undefined)
        throw new UsageError('POLICY_NO_IP', `IP address not specified\nFormat:\n\t${NAME} <ip>`, {
          details: command,
        });
      if (ips.length > 1)
        throw new UsageError(
          'POLICY_TOO_MANY_IPS',
          `only one IP address may be given\nFormat:\n\t${NAME} <ip>`,
          { details: command },
        );
      const { parseRegistryIp } = await import('../policy/plan-policy.ts');
      const ip = ips[0] === undefined ? undefined : parseRegistryIp(ips[0]);
      const exportFile =
        opts.exportBundle === undefined
          ? undefined
          : absolute(opts.exportBundle, '--export-bundle');
      requireRoot(ctx);
      if (ip !== undefined) {
        const trust = await trustSource(ctx, opts);
        const { createPolicy } = await import('../policy/create-policy.ts');
        report(ctx, await createPolicy(ctx.system, { ip, ...(trust ? { trust } : {}) }));
      }
      if (exportFile !== undefined) {
        const { exportTrustBundle } = await import('../policy/create-policy.ts');
        const r = await exportTrustBundle(ctx.system, exportFile);
        ctx.system.report.result(ctx.t('policy.exported', { file: r.file, count: r.keys.length }), {
          exported: r.file,
          keys: r.keys,
          changed: r.changed,
        });
      }
    });
}

/** The podsec-create-policy binary. */
export const cli: CliDefinition = {
  name: NAME,
  create: createProgram,
  exitCodes,
  messages,
  mutates: true,
};
