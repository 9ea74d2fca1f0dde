/**
 * The control-plane static pods kubeadm wrote (`/etc/kubernetes/manifests/*.yaml` as the namespace sees it), run
 * as supervised processes inside u7s-admin's namespace.
 *
 * NOTE: this stands in ONLY for the kubelet. A kubelet in a user namespace needs a delegated cgroup v2 tree,
 * and this kind of host (cgroup v1 hybrid, no systemd as PID 1) has none, so nothing here would start the
 * static pods. What the kubelet would do for these four pods is done here: read the manifest, create the
 * `DirectoryOrCreate`/`FileOrCreate` host paths, run the container's command with the node's binary (the
 * image would hold the same binary) in the host network of the node (= the namespace), probe it the way the
 * kubelet does and restart it when it crashes. It is not a kubelet: no images, no pod API, no cgroups.
 *
 * Everything in the namespace runs as u7s-admin (setpriv, then nsenter): the manifests are read as that user,
 * so root never opens a file in a tree the user controls.
 */
import { ExternalCommandError, isRecord, UsageError } from '@podsec/core';
import type { Daemon, ProcessResult, System } from '@podsec/core/system';
import { planEnter, type NamespaceUser } from '@podsec/core/userns';

/** The binaries a control-plane manifest may name, in start order. */
export const STATIC_POD_BINARIES = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
] as const;
/** One of {@link STATIC_POD_BINARIES}. */
export type StaticPodBinary = (typeof STATIC_POD_BINARIES)[number];

/** Where kubeadm writes the manifests (inside the namespace). */
export const STATIC_POD_DIR = '/etc/kubernetes/manifests';

/** An HTTP(S) probe of a container (kubeadm's readiness/startup/liveness `httpGet`). */
export interface StaticPodProbe {
  readonly scheme: 'HTTP' | 'HTTPS';
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

/** A host path the kubelet would create before starting the pod. */
export interface StaticPodHostPath {
  readonly path: string;
  readonly type: 'DirectoryOrCreate' | 'FileOrCreate' | 'Directory' | 'File' | '';
}

/** One validated static pod: the process to run and how to tell it is ready. */
export interface StaticPod {
  /** `metadata.name` (kubeadm: the component's name). */
  readonly name: string;
  /** Manifest it came from (path inside the namespace). */
  readonly manifest: string;
  readonly binary: StaticPodBinary;
  /** The container's command after the binary, then its `args`. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly probe?: StaticPodProbe;
  readonly hostPaths: readonly StaticPodHostPath[];
}

const MAX_MANIFEST = 1 << 20;
const MAX_MANIFESTS = 32;
const MAX_ARGS = 256;
const MAX_ARG = 8192;
const FLAG_RE = /^--[a-z0-9][a-z0-9-]*(=[^\0\n\r]*)?$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const HOST_RE = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]{2,39}|localhost)$/;
const PATH_RE = /^\/[\x21-\x7e]{0,1023}$/;
const HOST_PATH_TYPES = new Set(['DirectoryOrCreate', 'FileOrCreate', 'Directory', 'File', '']);

function refuse(manifest: string, why: string): never {
  throw new UsageError('U7S_BAD_MANIFEST', `${manifest}: ${why}`, { details: { manifest, why } });
}

/** A value for a message: JSON, short. */
function show(v: unknown): string {
  return (JSON.stringify(v) ?? typeof v).slice(0, 80);
}

function absPath(manifest: string, p: unknown, what: string): string {
  if (
    typeof p !== 'string' ||
    !p.startsWith('/') ||
    p.split('/').includes('..') ||
    /[\0\n]/.test(p)
  )
    refuse(manifest, `${what} is not an absolute path`);
  return p;
}

function parseProbe(
  manifest: string,
  c: Record<string, unknown>,
  ports: ReadonlyMap<string, number>,
): StaticPodProbe | undefined {
  // the kubelet marks a pod ready by its readiness probe; startup and liveness probe the same endpoints
  const probe = [c['readinessProbe'], c['startupProbe'], c['livenessProbe']].find(isRecord);
  if (probe === undefined) return undefined;
  const get = probe['httpGet'];
  if (!isRecord(get)) refuse(manifest, 'only httpGet probes are supported');
  const scheme = get['scheme'] ?? 'HTTP';
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') refuse(manifest, `probe scheme ${show(scheme)}`);
  const host = get['host'] ?? '127.0.0.1';
  if (typeof host !== 'string' || !HOST_RE.test(host)) refuse(manifest, `probe host ${show(host)}`);
  const rawPort = get['port'];
  const port = typeof rawPort === 'string' ? ports.get(rawPort) : rawPort;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    refuse(manifest, `probe port ${show(rawPort)}`);
  const path = get['path'] ?? '/';
  if (typeof path !== 'string' || !PATH_RE.test(path)) refuse(manifest, `probe path ${show(path)}`);
  return { scheme, host, port, path };
}

/**
 * Pure: validates one parsed manifest (a kubeadm control-plane static pod) and returns the process to run.
 * Refuses (`U7S_BAD_MANIFEST`, naming the manifest) anything but a Pod with one container whose command is
 * one of {@link STATIC_POD_BINARIES} followed by `--flag[=value]` arguments, and volumes this runner cannot
 * give the same meaning as the kubelet (a mount path that differs from its host path: no mount namespace per
 * pod here).
 */
export function parseStaticPodManifest(doc: unknown, manifest: string): StaticPod {
  if (!isRecord(doc) || doc['apiVersion'] !== 'v1' || doc['kind'] !== 'Pod')
    refuse(manifest, 'not a v1 Pod');
  const meta = doc['metadata'];
  const name = isRecord(meta) ? meta['name'] : undefined;
  if (typeof name !== 'string' || !NAME_RE.test(name)) refuse(manifest, 'bad metadata.name');
  const spec = doc['spec'];
  if (!isRecord(spec)) refuse(manifest, 'no spec');
  if (spec['hostNetwork'] !== true) refuse(manifest, 'not a hostNetwork pod');
  if (spec['initContainers'] !== undefined) refuse(manifest, 'init containers are not supported');
  const containers = spec['containers'];
  if (!Array.isArray(containers) || containers.length !== 1 || !isRecord(containers[0]))
    refuse(manifest, 'expected exactly one container');
  const c = containers[0];
  const command: unknown = c['command'];
  const extra: unknown = c['args'] ?? [];
  if (!Array.isArray(command) || command.length === 0 || !Array.isArray(extra))
    refuse(manifest, 'the container has no command');
  const binary: unknown = command[0];
  if (!STATIC_POD_BINARIES.includes(binary as StaticPodBinary))
    refuse(manifest, `command ${show(binary)} is not a control-plane binary`);
  const args: unknown[] = [...(command as unknown[]).slice(1), ...(extra as unknown[])];
  if (args.length > MAX_ARGS) refuse(manifest, `more than ${MAX_ARGS} arguments`);
  for (const a of args)
    if (typeof a !== 'string' || a.length > MAX_ARG || !FLAG_RE.test(a))
      refuse(manifest, `argument ${show(a)} is not a --flag[=value]`);
  const env: Record<string, string> = {};
  for (const e of Array.isArray(c['env']) ? (c['env'] as unknown[]) : []) {
    if (!isRecord(e) || typeof e['name'] !== 'string' || !ENV_RE.test(e['name']))
      refuse(manifest, 'bad env entry');
    if (typeof e['value'] !== 'string') refuse(manifest, `env ${e['name']}: only plain values`);
    env[e['name']] = e['value'];
  }
  const ports = new Map<string, number>();
  for (const p of Array.isArray(c['ports']) ? (c['ports'] as unknown[]) : [])
    if (isRecord(p) && typeof p['name'] === 'string' && typeof p['containerPort'] === 'number')
      ports.set(p['name'], p['containerPort']);
  const probe = parseProbe(manifest, c, ports);
  const volumes = new Map<string, StaticPodHostPath>();
  for (const v of Array.isArray(spec['volumes']) ? (spec['volumes'] as unknown[]) : []) {
    if (!isRecord(v) || typeof v['name'] !== 'string') refuse(manifest, 'bad volume');
    const hp = v['hostPath'];
    if (!isRecord(hp)) refuse(manifest, `volume ${v['name']}: only hostPath volumes are supported`);
    const type = hp['type'] ?? '';
    if (typeof type !== 'string' || !HOST_PATH_TYPES.has(type))
      refuse(manifest, `volume ${v['name']}: hostPath type ${show(type)}`);
    volumes.set(v['name'], {
      path: absPath(manifest, hp['path'], `volume ${v['name']}`),
      type: type as StaticPodHostPath['type'],
    });
  }
  for (const m of Array.isArray(c['volumeMounts']) ? (c['volumeMounts'] as unknown[]) : []) {
    if (!isRecord(m) || typeof m['name'] !== 'string') refuse(manifest, 'bad volumeMount');
    const v = volumes.get(m['name']);
    if (!v) refuse(manifest, `volumeMount ${m['name']} has no volume`);
    if (absPath(manifest, m['mountPath'], `volumeMount ${m['name']}`) !== v.path)
      refuse(manifest, `volumeMount ${m['name']}: mount path differs from the host path`);
  }
  return {
    name,
    manifest,
    binary: binary as StaticPodBinary,
    args: args as string[],
    env,
    ...(probe ? { probe } : {}),
    hostPaths: [...volumes.values()],
  };
}

/** Pure: the pods in start order (etcd, apiserver, controller-manager, scheduler); refuses duplicates. */
export function planStaticPods(pods: readonly StaticPod[]): StaticPod[] {
  const seen = new Set<string>();
  for (const p of pods) {
    if (seen.has(p.binary))
      throw new UsageError('U7S_BAD_MANIFEST', `${p.manifest}: a second ${p.binary} pod`, {
        details: { manifest: p.manifest, why: `a second ${p.binary} pod` },
      });
    seen.add(p.binary);
  }
  const rank = (p: StaticPod) => STATIC_POD_BINARIES.indexOf(p.binary);
  return [...pods].sort((a, b) => rank(a) - rank(b));
}

/**
 * Pure: the probe as a curl command run inside the namespace. `-k` as the kubelet: an HTTPS probe does not
 * verify the certificate. Ready on a 2xx answer (curl `--fail`).
 */
export function planProbeCommand(p: StaticPodProbe, timeoutSeconds = 3): string[] {
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return [
    'curl',
    '--silent',
    '--fail',
    '--insecure',
    '--noproxy',
    '*',
    '--max-time',
    String(timeoutSeconds),
    '--output',
    '/dev/null',
    `${p.scheme.toLowerCase()}://${host}:${p.port}${p.path}`,
  ];
}

/** The namespace to run in: its PID 1 and owner. */
export interface StaticPodNamespace {
  readonly pid: number;
  readonly user: NamespaceUser;
}

const NS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Runs one command inside the namespace as the user (its pseudo-root), output captured and bounded in time. */
async function inside(
  sys: System,
  ns: StaticPodNamespace,
  command: readonly string[],
  timeoutMs = 10_000,
): Promise<ProcessResult> {
  const argv = planEnter({ pid: ns.pid, user: ns.user, self: sys.identity, cwd: '/' }, command);
  return sys.proc.run(argv.file, argv.args, { env: { PATH: NS_PATH }, timeoutMs });
}

/**
 * Reads and validates the manifests in `dir` as the namespace sees it, reading as the namespace's user
 * (regular files only, at most 1 MiB each). Throws `U7S_BAD_MANIFEST` / `U7S_NO_MANIFESTS` before anything runs.
 */
export async function readStaticPods(
  sys: System,
  ns: StaticPodNamespace,
  dir = STATIC_POD_DIR,
): Promise<StaticPod[]> {
  absPath(dir, dir, 'the manifest directory');
  // -P and -type f: symlinks are not followed and not listed
  const list = await inside(sys, ns, [
    'find',
    '-P',
    dir,
    '-mindepth',
    '1',
    '-maxdepth',
    '1',
    '-type',
    'f',
    '-name',
    '*.yaml',
  ]);
  if (list.exitCode !== 0)
    throw new ExternalCommandError(
      'U7S_NO_MANIFESTS',
      `cannot list ${dir} in the namespace: ${list.stderr.trim().slice(0, 300)}`,
      { details: { dir } },
    );
  const files = list.stdout
    .split('\n')
    .filter((l) => l !== '')
    .sort();
  if (files.length === 0)
    throw new ExternalCommandError('U7S_NO_MANIFESTS', `no static pod manifest in ${dir}`, {
      details: { dir },
    });
  if (files.length > MAX_MANIFESTS) refuse(dir, `more than ${MAX_MANIFESTS} manifests`);
  // NOTE: bundled, yaml is CommonJS behind a dynamic import: its exports may sit on `default` only
  const yaml = await import('yaml');
  const parse = typeof yaml.parse === 'function' ? yaml.parse : yaml.default.parse;
  const pods: StaticPod[] = [];
  for (const file of files) {
    const r = await inside(sys, ns, ['head', '-c', String(MAX_MANIFEST + 1), '--', file]);
    if (r.exitCode !== 0) refuse(file, `cannot read: ${r.stderr.trim().slice(0, 200)}`);
    if (Buffer.byteLength(r.stdout) > MAX_MANIFEST) refuse(file, 'larger than 1 MiB');
    let doc: unknown;
    try {
      doc = parse(r.stdout, { maxAliasCount: 50 });
    } catch (e) {
      refuse(file, `not YAML (${(e as Error).message.split('\n')[0]})`);
    }
    pods.push(parseStaticPodManifest(doc, file));
  }
  return planStaticPods(pods);
}

/** Options of {@link startStaticPods}. */
export interface StartStaticPodsOptions {
  readonly namespace: StaticPodNamespace;
  /** Directory (as the namespace sees it) holding etcd, kube-apiserver, … for u7s-admin to run. */
  readonly binDir: string;
  /** @default '/etc/kubernetes/manifests' */
  readonly manifestDir?: string;
  /** Per pod: how long its probe may take to succeed. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** Pods already read (e.g. for a plan printed first); read from `manifestDir` otherwise. */
  readonly pods?: readonly StaticPod[];
  readonly onEvent?: (pod: string, event: string) => void;
}

/** A running static pod. */
export interface RunningStaticPod {
  readonly pod: StaticPod;
  readonly daemon: Daemon;
}

/** The running control plane. */
export interface StaticPods {
  readonly pods: readonly RunningStaticPod[];
  /** Stops every pod (reverse start order) and waits until none of their processes is left. */
  stop(graceMs?: number): Promise<void>;
}

/** Pure: the argv (on the host) that runs a pod's binary inside the namespace as its pseudo-root. */
export function planStaticPodCommand(
  pod: StaticPod,
  o: {
    readonly binDir: string;
    readonly namespace: StaticPodNamespace;
    readonly self: { uid: number };
  },
): { file: string; args: string[] } {
  absPath(pod.manifest, o.binDir, 'the binary directory');
  return planEnter({ pid: o.namespace.pid, user: o.namespace.user, self: o.self, cwd: '/' }, [
    `${o.binDir.replace(/\/+$/, '')}/${pod.binary}`,
    ...pod.args,
  ]);
}

/**
 * Starts the static pods inside the namespace in order, each one ready (its probe answers 2xx, bounded)
 * before the next starts; restarts a pod that crashes after it was ready. On any failure everything started
 * is stopped again and the error names the pod with its output tail (`U7S_STATIC_POD_FAILED`).
 */
export async function startStaticPods(sys: System, o: StartStaticPodsOptions): Promise<StaticPods> {
  const ns = o.namespace;
  const pods = planStaticPods(o.pods ?? (await readStaticPods(sys, ns, o.manifestDir)));
  // check everything before the first start: each binary is a file u7s-admin can execute in there
  for (const pod of pods) {
    const bin = `${o.binDir.replace(/\/+$/, '')}/${pod.binary}`;
    const t = await inside(sys, ns, ['test', '-f', bin, '-a', '-x', bin]);
    if (t.exitCode !== 0)
      throw new UsageError(
        'U7S_STATIC_POD_BINARY',
        `${bin} is not an executable file for ${ns.user.name ?? ns.user.uid} in the namespace`,
        { details: { path: bin, user: ns.user.name ?? String(ns.user.uid) } },
      );
  }
  const running: RunningStaticPod[] = [];
  const stop = async (graceMs = 10_000) => {
    for (const r of [...running].reverse()) await r.daemon.stop(graceMs);
    running.length = 0;
  };
  try {
    for (const pod of pods) {
      // what the kubelet does for hostPath volumes of type ...OrCreate
      for (const hp of pod.hostPaths) {
        let r: ProcessResult | undefined;
        if (hp.type === 'DirectoryOrCreate')
          r = await inside(sys, ns, ['mkdir', '-p', '--', hp.path]);
        else if (
          hp.type === 'FileOrCreate' &&
          (await inside(sys, ns, ['test', '-e', hp.path])).exitCode
        )
          r = await inside(sys, ns, ['touch', '--', hp.path]);
        if (r && r.exitCode !== 0)
          throw new ExternalCommandError(
            'U7S_STATIC_POD_FAILED',
            `${pod.name}: cannot create ${hp.path}: ${r.stderr.trim().slice(0, 200)}`,
            { details: { pod: pod.name, why: `cannot create ${hp.path}` } },
          );
      }
      const argv = planStaticPodCommand(pod, {
        binDir: o.binDir,
        namespace: ns,
        self: sys.identity,
      });
      const probe = pod.probe;
      const probeCmd = probe ? planProbeCommand(probe) : undefined;
      let daemon: Daemon;
      try {
        daemon = await sys.daemons.start({
          name: pod.name,
          file: argv.file,
          args: argv.args,
          env: { PATH: NS_PATH, ...pod.env },
          cwd: '/',
          ready: {
            probe: async () =>
              probeCmd === undefined || (await inside(sys, ns, probeCmd, 5000)).exitCode === 0,
            timeoutMs: o.readyTimeoutMs ?? 120_000,
            intervalMs: 500,
          },
          restart: { policy: 'on-failure', maxRestarts: 3, delayMs: 1000 },
          ...(o.onEvent ? { onEvent: (e) => o.onEvent?.(pod.name, e.type) } : {}),
        });
      } catch (e) {
        const why = (e instanceof Error ? e.message : String(e)).slice(-1500);
        throw new ExternalCommandError('U7S_STATIC_POD_FAILED', `static pod ${pod.name}: ${why}`, {
          cause: e,
          details: { pod: pod.name, why },
        });
      }
      running.push({ pod, daemon });
    }
  } catch (e) {
    await stop(5000);
    throw e;
  }
  return { pods: [...running], stop };
}
