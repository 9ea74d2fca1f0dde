/**
 * podsec-create-services (spec §5, W1, W5, W14): configure and start the signature server (nginx site on
 * :81), the registry (docker-registry on :80) and trivy on the registry/signature server.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ExternalCommandError, PodsecError } from '@podsec/core';
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
  TLS_CA_KEY,
  TLS_SERVER_CERT,
  TLS_SERVER_KEY,
} from './plan-services.ts';
import { ensureTls } from './tls.ts';

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

  // W1: only on the registry/signature server, and before anything else
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

  // W14: httpd2 is stopped only when asked to; read-only query, before any change
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

  const write = async (p: string, text: string, mode = 0o644) => {
    const existed = await sys.fs.exists(p);
    const same = existed && (await sys.fs.readTextIfExists(p)) === text;
    if (dry) {
      files.push({ path: p, action: same ? 'unchanged' : existed ? 'updated' : 'created' });
      return !same;
    }
    await sys.fs.mkdir(path.posix.dirname(p));
    const r = await sys.fs.writeFileAtomic(p, text, { mode });
    files.push({
      path: p,
      action: !r.changed ? 'unchanged' : existed ? 'updated' : 'created',
      ...(r.backup ? { backup: r.backup } : {}),
    });
    return r.changed;
  };

  if (!dry) {
    // TLS material first: the site check below needs the certificate files
    if (o.tls) await ensureTls(sys, { ip, files, commands });
    await checkSite(sys, site, tlsFiles);
  } else if (o.tls) {
    for (const p of [TLS_CA_CERT, TLS_CA_KEY, TLS_SERVER_CERT, TLS_SERVER_KEY, PUBLISHED_CA]) {
      files.push({ path: p, action: (await sys.fs.exists(p)) ? 'unchanged' : 'created' });
    }
  }

  // read-modify-write of shared configuration under the podsec lock (W17); a dry run writes nothing, not even the lock
  if (!dry) await sys.fs.mkdir(path.posix.dirname(PODSEC_LOCK));
  const locked = <T>(fn: () => Promise<T>): Promise<T> =>
    dry ? fn() : sys.fs.withLock(PODSEC_LOCK, fn);
  const { siteChanged, registryChanged } = await locked(async () => {
    let siteChanged = await write(sitePath, site);
    if ((await sys.fs.readlink(linkPath)) !== linkTarget) {
      if (!dry) {
        await sys.fs.mkdir(enabledDir);
        await sys.fs.symlink(linkTarget, linkPath);
      }
      files.push({ path: linkPath, action: 'linked' });
      siteChanged = true;
    }
    if (!(await sys.fs.exists(SIGSTORE_DIR)) && !dry)
      await sys.fs.mkdir(SIGSTORE_DIR, { mode: 0o755 });
    siteChanged = (await write(NGINX_DROPIN, dropIn)) || siteChanged;
    // re-read under the lock: the registry file is edited as YAML (W14), comments and other keys kept
    const current = await sys.fs.readTextIfExists(DOCKER_REGISTRY_CONFIG);
    const plan = planRegistryConfig(current, {
      addr: registryListen,
      ...(tlsFiles ? { tls: tlsFiles } : {}),
    });
    let registryChanged = await write(DOCKER_REGISTRY_CONFIG, plan.text);
    registryChanged =
      (await write(`${SYSTEMD_UNIT_DIR}/${REGISTRY_UNIT_NAME}`, unit)) || registryChanged;
    return { siteChanged, registryChanged };
  });

  const services: Array<{ unit: string; active: boolean }> = [];
  if (!manageHost) {
    // a tree that is not "/": create the volume directory; podman and systemctl act on the running host only
    if (!(await sys.fs.exists(REGISTRY_STORAGE)) && !dry)
      await sys.fs.mkdir(REGISTRY_STORAGE, { mode: 0o755 });
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
  // the registry volume (§5.3 step 2): created once; "already exists" is not an error (§12.2-5)
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
 * `nginx -t` on the planned site alone, inside a minimal nginx.conf in a private scratch directory under
 * the root, before the site is installed. System paths in the site are mapped under the root.
 */
async function checkSite(sys: System, site: string, tls: TlsFiles | undefined): Promise<void> {
  const scratch = `/run/podsec-services.${randomBytes(6).toString('hex')}`;
  await sys.fs.mkdir('/run');
  await sys.fs.mkdir(scratch, { mode: 0o700 });
  try {
    const host = await sys.fs.resolve(scratch);
    const mapped =
      tls && sys.root !== '/'
        ? site
            .replace(
              `ssl_certificate ${tls.certificate};`,
              `ssl_certificate ${await sys.fs.resolve(tls.certificate)};`,
            )
            .replace(
              `ssl_certificate_key ${tls.key};`,
              `ssl_certificate_key ${await sys.fs.resolve(tls.key)};`,
            )
        : site;
    await sys.fs.writeFileAtomic(`${scratch}/site.conf`, mapped, { backup: false });
    await sys.fs.writeFileAtomic(
      `${scratch}/nginx.conf`,
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
    await sys.fs.remove(scratch, { recursive: true });
  }
}
