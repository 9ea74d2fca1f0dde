/**
 * podsec-create-services (docs/commands/podsec-create-services.md, docs/weaknesses.md#w1-host-role-guard, docs/weaknesses.md#w5-root-checks, docs/weaknesses.md#w14-service-configuration): configure and start the signature server (nginx site on
 * :81), the registry (docker-registry on :80) and trivy on the registry/signature server.
 */
import path from 'node:path';
import { ExternalCommandError, PodsecError } from '@podsec/core';
import {
  applyChanges,
  validateChanges,
  type Change,
  type ChangeRecord,
  type ChangeReport,
} from '@podsec/core/changes';
import { runOrThrow, type System } from '@podsec/core/system';
import { checkSigstoreServer } from '../host/role.ts';
import {
  DOCKER_REGISTRY_CONFIG,
  NGINX_SITE_NAME,
  NGINX_SITES_AVAILABLE,
  NGINX_SITES_ENABLED,
  PODSEC_LOCK,
  REGISTRY_STORAGE,
  SIGSTORE_DIR,
  SYSTEMD_UNIT_DIR,
} from '../paths.ts';
import {
  DEBIAN_SITES_AVAILABLE,
  DEBIAN_SITES_ENABLED,
  DEFAULT_REGISTRY_LISTEN,
  DEFAULT_SIGSTORE_LISTEN,
  NGINX_DROPIN,
  NGINX_MAIN_CONFIG,
  parseListen,
  planRegistryConfig,
  PUBLISHED_CA,
  REGISTRY_BINARIES,
  REGISTRY_UNIT_NAME,
  renderNginxDropIn,
  renderNginxMain,
  renderNginxSite,
  renderRegistryUnit,
  type TlsFiles,
  TLS_CA_CERT,
  TLS_SERVER_CERT,
  TLS_SERVER_KEY,
} from './plan-services.ts';
import { planTls } from './tls.ts';

/** Options of {@link createServices}. */
export interface CreateServicesOptions {
  /** nginx bind address. @default 0.0.0.0:81 */
  readonly sigstoreListen?: string;
  /** docker-registry `http.addr`. @default :80 */
  readonly registryListen?: string;
  /** Local CA + server certificate; HTTPS on :81 and on the registry. */
  readonly tls?: boolean;
  /** Enable trivy when its unit exists. @default true */
  readonly trivy?: boolean;
  /** Stop and disable a running httpd2 (it conflicts with the registry on :80). */
  readonly stopHttpd2?: boolean;
  /**
   * Run systemctl, podman and `nginx -t` on the full host configuration. @default sys.root === '/'
   * (units of a tree that is not "/" cannot be started from here).
   */
  readonly manageHost?: boolean;
}

/** What happened to one file. */
export interface FileChange {
  readonly path: string;
  readonly action: 'created' | 'updated' | 'unchanged' | 'linked';
  readonly backup?: string;
}

/** A message for the user: an i18n key of the CLI's catalogue and its parameters. */
export interface ServiceNote {
  readonly code: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Result of {@link createServices}. */
export interface CreateServicesResult {
  readonly ip: string;
  readonly dryRun: boolean;
  readonly files: readonly FileChange[];
  /** External commands run (or, with dry run, planned) in order, systemctl and podman included. */
  readonly commands: ReadonlyArray<readonly string[]>;
  /** `systemctl is-active` per unit (empty when the host is not managed). */
  readonly services: ReadonlyArray<{ readonly unit: string; readonly active: boolean }>;
  readonly notes: readonly ServiceNote[];
  /** The file changes needed (dry run) or made: the same list in both modes. */
  readonly changes: readonly ChangeRecord[];
  readonly backups: readonly string[];
  /** Where the site was written and enabled. */
  readonly site: { readonly available: string; readonly enabled: string };
  readonly tls?: { readonly caCertificate: string; readonly published: string };
}

/** Units podsec starts; exported for the tests and the quickstart. */
export const UNITS = {
  nginx: 'nginx',
  registry: 'podsec-registry',
  trivy: 'trivy',
  httpd2: 'httpd2',
} as const;

/**
 * Configures nginx, docker-registry (and trivy) on the server. Everything is validated (host role, bind
 * addresses, httpd2 conflict, the registry YAML, the nginx site through `nginx -t`) before the first change.
 */
export async function createServices(
  sys: System,
  o: CreateServicesOptions = {},
): Promise<CreateServicesResult> {
  const sigstoreListen = o.sigstoreListen ?? DEFAULT_SIGSTORE_LISTEN;
  const registryListen = o.registryListen ?? DEFAULT_REGISTRY_LISTEN;
  parseListen(sigstoreListen, { allowEmptyHost: false });
  parseListen(registryListen, { allowEmptyHost: true });
  const manageHost = o.manageHost ?? sys.root === '/';
  const dry = sys.dryRun;

  // docs/weaknesses.md#w1-host-role-guard: only on the registry/signature server, and before anything else
  const role = await checkSigstoreServer(sys);
  if (!role.isServer || role.ip === undefined) {
    throw new PodsecError(
      'NOT_SIGSTORE_SERVER',
      `Services cannot be started: ${role.message ?? 'not the server'}`,
      {
        details: { reason: role.message ?? '' },
      },
    );
  }
  const ip = role.ip;
  const files: FileChange[] = [];
  const commands: string[][] = [];
  const notes: ServiceNote[] = [];
  const run = async (file: string, args: readonly string[]) => {
    commands.push([file, ...args]);
    return sys.proc.run(file, args);
  };
  const runChecked = async (file: string, args: readonly string[]) => {
    commands.push([file, ...args]);
    return runOrThrow(sys.proc, file, args);
  };

  // docs/weaknesses.md#w14-service-configuration: httpd2 is stopped only when asked to; read-only query, before any change
  let httpd2Active = false;
  if (manageHost) {
    httpd2Active =
      (await sys.proc.run('systemctl', ['is-active', '--quiet', UNITS.httpd2])).exitCode === 0;
    if (httpd2Active && !o.stopHttpd2) {
      throw new PodsecError(
        'HTTPD2_CONFLICT',
        'httpd2 is running and conflicts with docker-registry: rerun with --stop-httpd2 to stop and disable it',
        {
          details: {},
        },
      );
    }
  }

  // nginx layout: ALT sites-*.d, else Debian sites-*, else ALT (created)
  const debian =
    !(await sys.fs.exists(NGINX_SITES_AVAILABLE)) && (await sys.fs.exists(DEBIAN_SITES_AVAILABLE));
  const availableDir = debian ? DEBIAN_SITES_AVAILABLE : NGINX_SITES_AVAILABLE;
  const enabledDir = debian ? DEBIAN_SITES_ENABLED : NGINX_SITES_ENABLED;
  const sitePath = `${availableDir}/${NGINX_SITE_NAME}`;
  const linkPath = `${enabledDir}/${NGINX_SITE_NAME}`;
  const linkTarget = `../${path.basename(availableDir)}/${NGINX_SITE_NAME}`;

  let binary: string | undefined;
  for (const b of REGISTRY_BINARIES) if (await sys.fs.exists(b)) binary = binary ?? b;
  if (binary === undefined) {
    binary = REGISTRY_BINARIES[0];
    notes.push({ code: 'note.registryBinaryMissing', params: { path: binary } });
  }

  const tlsFiles: TlsFiles | undefined = o.tls
    ? { certificate: TLS_SERVER_CERT, key: TLS_SERVER_KEY }
    : undefined;
  const site = renderNginxSite({ listen: sigstoreListen, ...(tlsFiles ? { tls: tlsFiles } : {}) });
  const registryText = await sys.fs.readTextIfExists(DOCKER_REGISTRY_CONFIG);
  // throws REGISTRY_CONFIG_INVALID before any change
  planRegistryConfig(registryText, {
    addr: registryListen,
    ...(tlsFiles ? { tls: tlsFiles } : {}),
  });
  const unit = renderRegistryUnit({ binary });
  const dropIn = renderNginxDropIn();

  // read -> plan -> validate -> apply: TLS material is made in a private temporary directory and the site is
  // checked by `nginx -t` against it, so a failing check leaves the tree as it was (no CA written or published)
  const tls = o.tls ? await planTls(sys, { ip, commands }) : undefined;
  let report: ChangeReport;
  const fileChanges: Change[] = [];
  try {
    await checkSite(sys, site, tls?.check);
    // read-modify-write of shared configuration under the podsec lock (docs/weaknesses.md#w17-configuration-file-management); a dry run writes nothing, not even the lock
    const locked = <T>(fn: () => Promise<T>): Promise<T> =>
      dry ? fn() : sys.fs.withLock(PODSEC_LOCK, fn);
    const plan = async (): Promise<Change[]> => {
      const current = await sys.fs.readTextIfExists(DOCKER_REGISTRY_CONFIG);
      const registry = planRegistryConfig(current, {
        addr: registryListen,
        ...(tlsFiles ? { tls: tlsFiles } : {}),
      });
      return [
        { kind: 'dir', path: SIGSTORE_DIR },
        ...(tls?.changes ?? []),
        { kind: 'file', path: sitePath, content: site, mode: 0o644 },
        { kind: 'symlink', path: linkPath, target: linkTarget },
        { kind: 'file', path: NGINX_DROPIN, content: dropIn, mode: 0o644 },
        { kind: 'file', path: DOCKER_REGISTRY_CONFIG, content: registry.text, mode: 0o644 },
        {
          kind: 'file',
          path: `${SYSTEMD_UNIT_DIR}/${REGISTRY_UNIT_NAME}`,
          content: unit,
          mode: 0o644,
        },
        // a tree that is not "/": the volume directory; podman creates it on the running host
        ...(manageHost
          ? []
          : [{ kind: 'dir', path: REGISTRY_STORAGE.replace(/\/+$/, ''), mode: 0o755 } as const]),
      ];
    };
    // validated before the lock is taken (the lock itself is a write), and again under it by applyChanges
    await validateChanges(sys, await plan());
    report = await locked(async () => {
      // re-read under the lock: the registry file is edited as YAML (docs/weaknesses.md#w14-service-configuration), comments and other keys kept
      fileChanges.push(...(await plan()));
      return applyChanges(sys, fileChanges);
    });
  } finally {
    await tls?.cleanup();
  }
  const changed = new Map(report.changes.map((c) => [c.target, c]));
  for (const c of fileChanges) {
    if (c.kind !== 'file' && c.kind !== 'symlink') continue;
    const r = changed.get(c.path);
    files.push({
      path: c.path,
      action:
        r === undefined
          ? 'unchanged'
          : c.kind === 'symlink'
            ? 'linked'
            : r.action === 'create'
              ? 'created'
              : 'updated',
    });
  }
  const tlsChanged = (tls?.changes ?? []).some(
    (c) => c.kind === 'file' && c.path !== PUBLISHED_CA && changed.has(c.path),
  );
  const siteChanged = tlsChanged || [sitePath, linkPath, NGINX_DROPIN].some((p) => changed.has(p));
  const registryChanged =
    tlsChanged ||
    [DOCKER_REGISTRY_CONFIG, `${SYSTEMD_UNIT_DIR}/${REGISTRY_UNIT_NAME}`].some((p) =>
      changed.has(p),
    );
  const changes = report;

  const services: Array<{ unit: string; active: boolean }> = [];
  if (!manageHost) {
    // podman and systemctl act on the running host only
    notes.push({ code: 'note.notManaged', params: { root: sys.root } });
    return result();
  }

  const plannedOnly = (args: string[]) => {
    commands.push(args);
  };
  if (dry) {
    plannedOnly(['nginx', '-t']);
    plannedOnly(['systemctl', 'daemon-reload']);
    plannedOnly(['systemctl', 'enable', '--now', UNITS.nginx]);
    plannedOnly(['podman', 'volume', 'create', 'registry']);
    if (httpd2Active) plannedOnly(['systemctl', 'disable', '--now', UNITS.httpd2]);
    plannedOnly(['systemctl', 'enable', '--now', UNITS.registry]);
    if (o.trivy ?? true) plannedOnly(['systemctl', 'enable', '--now', UNITS.trivy]);
    return result();
  }

  // the whole host configuration must accept the site, and must actually include it
  const mainConfig = await sys.fs.resolve(NGINX_MAIN_CONFIG);
  const t = await run('nginx', ['-t', '-c', mainConfig]);
  if (t.exitCode !== 0) throw nginxInvalid(t.stderr);
  const dump = await sys.proc.run('nginx', ['-T', '-c', mainConfig]);
  const shown = [
    path.join(await sys.fs.resolve(enabledDir), NGINX_SITE_NAME),
    await sys.fs.resolve(sitePath),
  ].map((p) => `# configuration file ${p}:`);
  if (dump.exitCode === 0 && !shown.some((s) => dump.stdout.includes(s))) {
    notes.push({
      code: 'note.siteNotIncluded',
      params: { dir: enabledDir, config: NGINX_MAIN_CONFIG },
    });
  }

  await runChecked('systemctl', ['daemon-reload']);
  await enable(UNITS.nginx, siteChanged);
  // the registry volume (docs/commands/podsec-create-services.md#files-read-and-written): created once; "already exists" is not an error
  if ((await run('podman', ['volume', 'exists', 'registry'])).exitCode !== 0) {
    const v = await run('podman', ['volume', 'create', 'registry']);
    if (v.exitCode !== 0 && !/already exists/i.test(v.stderr)) {
      throw new ExternalCommandError(
        'PROC_FAILED',
        `podman volume create registry: ${v.stderr.trim()}`,
        {
          details: {
            file: 'podman',
            args: ['volume', 'create', 'registry'],
            exitCode: v.exitCode,
            stderr: v.stderr,
          },
        },
      );
    }
  }
  if (!(await sys.fs.exists(REGISTRY_STORAGE)))
    await sys.fs.mkdir(REGISTRY_STORAGE, { mode: 0o755 });
  if (httpd2Active) {
    notes.push({ code: 'note.httpd2Stopped', params: {} });
    await runChecked('systemctl', ['disable', '--now', UNITS.httpd2]);
  }
  await enable(UNITS.registry, registryChanged);
  const units: string[] = [UNITS.nginx, UNITS.registry];
  if (o.trivy ?? true) {
    const exists = await sys.proc.run('systemctl', [
      'list-unit-files',
      '--no-legend',
      `${UNITS.trivy}.service`,
    ]);
    if (exists.exitCode === 0 && exists.stdout.trim() !== '') {
      await enable(UNITS.trivy, false);
      units.push(UNITS.trivy);
    } else {
      notes.push({ code: 'note.trivyMissing', params: {} });
    }
  }
  for (const u of units) {
    const a = await run('systemctl', ['is-active', '--quiet', u]);
    services.push({ unit: u, active: a.exitCode === 0 });
  }
  const failed = services.filter((s) => !s.active).map((s) => s.unit);
  if (failed.length > 0) {
    throw new PodsecError(
      'SERVICE_FAILED',
      `not active after start: ${failed.join(', ')} (see journalctl -u <unit>)`,
      {
        details: { units: failed.join(', ') },
      },
    );
  }
  return result();

  async function enable(u: string, changed: boolean): Promise<void> {
    const r = await run('systemctl', ['enable', '--now', u]);
    if (r.exitCode !== 0) {
      throw new PodsecError(
        'SERVICE_FAILED',
        `systemctl enable --now ${u} failed: ${r.stderr.trim()}`,
        { details: { units: u } },
      );
    }
    // enable --now does not reload a unit that already runs
    if (changed) await run('systemctl', ['reload-or-restart', u]);
  }

  function result(): CreateServicesResult {
    return {
      ip,
      dryRun: dry,
      files,
      commands,
      services,
      notes,
      site: { available: sitePath, enabled: linkPath },
      changes: changes.changes,
      backups: changes.backups,
      ...(o.tls ? { tls: { caCertificate: TLS_CA_CERT, published: PUBLISHED_CA } } : {}),
    };
  }
}

function nginxInvalid(stderr: string): PodsecError {
  const reason = stderr
    .trim()
    .split('\n')
    .filter((l) => !/test failed|syntax is ok/.test(l))
    .slice(-3)
    .join('\n');
  return new PodsecError('NGINX_CONFIG_INVALID', `nginx rejects the configuration: ${reason}`, {
    details: { reason },
  });
}

/**
 * `nginx -t` on the planned site alone, inside a minimal nginx.conf in a private temporary directory outside
 * the tree, before anything is installed. The TLS files are the staged (or installed) host paths.
 */
async function checkSite(
  sys: System,
  site: string,
  tls: { readonly certificate: string; readonly key: string } | undefined,
): Promise<void> {
  const host = await sys.fs.makeTempDir('podsec-services');
  try {
    const mapped = tls
      ? site
          .replace(`ssl_certificate ${TLS_SERVER_CERT};`, `ssl_certificate ${tls.certificate};`)
          .replace(`ssl_certificate_key ${TLS_SERVER_KEY};`, `ssl_certificate_key ${tls.key};`)
      : site;
    await sys.hostFs.writeFileAtomic(`${host}/site.conf`, mapped, { backup: false });
    await sys.hostFs.writeFileAtomic(
      `${host}/nginx.conf`,
      renderNginxMain({ runDir: host, includes: [`${host}/site.conf`] }),
      { backup: false },
    );
    const r = await sys.proc.run('nginx', [
      '-t',
      '-q',
      '-p',
      host,
      '-e',
      `${host}/error.log`,
      '-c',
      `${host}/nginx.conf`,
    ]);
    if (r.exitCode !== 0) throw nginxInvalid(r.stderr);
  } finally {
    await sys.hostFs.remove(host, { recursive: true });
  }
}
