/**
 * The real kubeadm control plane inside u7s-admin's namespace, for e2e tests: u7s-admin is created for real (and
 * removed by stop()), the namespace runs through the bundled `podsec-u7s`, the real kubeadm of tools/k8s-bin runs
 * through the bundled wrapper (`init phase certs all`, `kubeconfig all`, `etcd local`, `control-plane all`), and
 * `podsec-u7s static-pods run` runs the generated manifests' commands as u7s-admin's processes in the namespace. That
 * is the one stand-in: the kubelet cannot run in a user namespace on this machine's cgroup v1. The host reaches the
 * apiserver through a RootlessKit forward of a free 127.0.0.1 port to 6443. Needs `npm run build`, root,
 * rootlesskit, slirp4netns, nsenter, setpriv and the k8s-bin binaries (callers check them with requireCommands).
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:https';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, type Result, type ResultPromise } from 'execa';
import { freePort } from './registry.ts';
import { k8sBinary, k8sVersion } from './requires.ts';
import { allowTun, lockTestUser, removeTestUser } from './userns.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The bundles the e2e tests run (what the package installs). */
export const U7S_BUNDLE = path.join(repo, 'packages/podsec-k8s/bundle/podsec-u7s.mjs');
export const U7S_KUBEADM_BUNDLE = path.join(
  repo,
  'packages/podsec-k8s/bundle/podsec-u7s-kubeadm.mjs',
);
/** Binaries of the control plane inside the namespace. */
export const U7S_CONTROL_PLANE_BINARIES = [
  'kubeadm',
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
] as const;
/** Linked into the binary directory too when built: u7s-admin's kubectl (the build cache is out of its reach). */
const CLIENT_BINARIES = ['kubectl'] as const;
/** What the wrapper and kubeadm create on the host; stop() removes those that were not there before. */
const HOST_DIRS = [
  '/etc/kubernetes',
  '/etc/podsec/u7s/kubeadm',
  '/etc/podsec/u7s/config',
  '/etc/podsec/u7s/audit',
  '/etc/podsec/u7s/manifests',
];
const STATIC_PODS_STATUS = '/run/podsec/u7s/static-pods.json';

/** Options of {@link startU7sControlPlane}. */
export interface U7sControlPlaneOptions {
  /** The node IP put on tap0 inside. @default '192.0.2.10' */
  readonly extIP?: string;
  /** @default 'u7s-node1' */
  readonly nodeName?: string;
  /** Extra flags of every `kubeadm init phase` (after the node's). */
  readonly initFlags?: readonly string[];
}

/** A running control plane in u7s-admin's namespace. */
export interface U7sControlPlane {
  readonly uid: number;
  readonly extIP: string;
  /** Host port forwarded to 6443 in the namespace (127.0.0.1). */
  readonly apiPort: number;
  /** The cluster CA (PEM), read inside the namespace. */
  readonly caPem: string;
  /** The host admin kubeconfig the wrapper wrote (server: the forward). */
  readonly kubeconfig: string;
  /** Root-owned directory of the k8s binaries (hard links), kubectl included when it is built. */
  readonly binDir: string;
  /** Root-owned 0755 work directory (holds binDir; removed by stop()). */
  readonly work: string;
  /** Whether the namespace had to be restarted to see the host's /etc/kubernetes (RootlessKit's copy-up). */
  readonly restarted: boolean;
  /** Namespace start to the static pods' status file, ms. */
  readonly staticPodsMs: number;
  /** Flags the init phases were given (node IP, name, version, image repository). */
  readonly initFlags: readonly string[];
  /** Namespace start to apiserver ready through the forward, ms (after the wrapper's restart request). */
  readonly readyMs: number;
  /** `podsec-u7s …` (bundle), never rejects; `env` adds to its environment. */
  u7s(
    args: readonly string[],
    o?: { readonly timeout?: number; readonly env?: Readonly<Record<string, string>> },
  ): Promise<Result>;
  /** The kubeadm wrapper (bundle) with the real kubeadm, never rejects; `env` adds to its environment. */
  kubeadm(
    args: readonly string[],
    o?: { readonly timeout?: number; readonly env?: Readonly<Record<string, string>> },
  ): Promise<Result>;
  /** `podsec-u7s static-pods stop`, then waits for `static-pods run` to exit. Idempotent. */
  stopStaticPods(): Promise<Result>;
  /** Stops the static pods and the namespace, removes the user and what the run created. Idempotent. */
  stop(): Promise<void>;
}

/** Whether /etc/passwd has an account with this uid. */
async function uidExists(uid: number): Promise<boolean> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  return passwd.split('\n').some((l) => l.split(':')[2] === String(uid));
}

/** GET https://127.0.0.1:port/path without credentials: the status (0 when the connection fails), bounded. */
export function httpsStatus(port: number, urlPath: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      req.destroy();
      resolve(0);
    }, 5000);
    const done = (code: number) => {
      clearTimeout(timer);
      resolve(code);
    };
    const req = request({ host: '127.0.0.1', port, path: urlPath, ca }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(0));
    });
    req.on('error', () => done(0));
    req.end();
  });
}

/**
 * Creates u7s-admin, starts its namespace and builds the control plane inside with the real kubeadm (holding the
 * machine-wide u7s-admin test lock until stop()). Allows /dev/net/tun for the test `t`.
 */
export async function startU7sControlPlane(
  t: TestContext,
  o: U7sControlPlaneOptions = {},
): Promise<U7sControlPlane> {
  const extIP = o.extIP ?? '192.0.2.10';
  const release = await lockTestUser('u7s-admin');
  await removeTestUser('u7s-admin');
  // an earlier run's etcd/log tree belongs to a u7s-admin that is gone: provision refuses a tree not its own
  await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
  // an /etc/kubernetes of a u7s-admin that is gone (a run that was killed, or one that found it and so kept it) is
  // stale: its files would fail the next node's preflight
  const kubeDir = await stat('/etc/kubernetes').catch(() => undefined);
  if (kubeDir && kubeDir.uid !== 0 && !(await uidExists(kubeDir.uid)))
    await rm('/etc/kubernetes', { recursive: true, force: true });
  const existed = new Set(HOST_DIRS.filter((d) => existsSync(d)));
  // root-owned, 0755, in a directory nobody else can write (the wrapper checks: not /tmp): u7s-admin may run the
  // binaries, not change them
  const work = await mkdtemp('/var/lib/u7s-kcp-test-');
  await chmod(work, 0o755);
  const binDir = path.join(work, 'bin');
  const libexec = path.join(work, 'libexec');
  const kubeconfig = path.join(work, 'admin-host.conf');
  await mkdir(binDir, { mode: 0o755 });
  await mkdir(libexec, { mode: 0o755 });
  for (const name of [...U7S_CONTROL_PLANE_BINARIES, ...CLIENT_BINARIES]) {
    const src = k8sBinary(name);
    // a hard link where the build cache shares the file system, a copy where it does not (/var apart)
    if (src)
      await link(src, path.join(binDir, name)).catch(() => copyFile(src, path.join(binDir, name)));
  }
  const run = (file: string, args: readonly string[], timeout: number, env = {}) =>
    execa(process.execPath, [file, ...args], {
      reject: false,
      env: { PATH: process.env['PATH'], LANG: 'C', ...env },
      extendEnv: false,
      timeout,
      stdin: 'ignore',
    });
  const u7s = (
    args: readonly string[],
    x: { timeout?: number; env?: Readonly<Record<string, string>> } = {},
  ) => run(U7S_BUNDLE, args, x.timeout ?? 120_000, { ...x.env });
  const kubeadm = (
    args: readonly string[],
    x: { timeout?: number; env?: Readonly<Record<string, string>> } = {},
  ) =>
    run(U7S_KUBEADM_BUNDLE, args, x.timeout ?? 240_000, {
      ...x.env,
      U7S_KUBEADM: `${binDir}/kubeadm`,
    });
  let staticPods: ResultPromise | undefined;
  let stopped = false;
  const stopStaticPods = async () => {
    const r = await u7s(['static-pods', 'stop', '--timeout', '30']);
    await staticPods?.catch(() => undefined);
    staticPods = undefined;
    return r;
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (staticPods) await stopStaticPods();
    await u7s(['stop', '--timeout', '30']);
    await removeTestUser('u7s-admin');
    await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
    for (const d of HOST_DIRS) if (!existed.has(d)) await rm(d, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
    await release();
  };
  try {
    await allowTun(t);
    const prov = await u7s(['provision', '--libexec', libexec]);
    if (prov.exitCode !== 0) throw new Error(`provision: ${String(prov.stderr)}`);
    const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
    let apiPort = 0;
    const startNamespace = async () => {
      const start = await u7s([
        'start',
        '--libexec',
        libexec,
        '--parent-ip',
        '127.0.0.1',
        '--extip',
        extIP,
      ]);
      if (start.exitCode !== 0) throw new Error(`podsec-u7s start: ${String(start.stderr)}`);
      apiPort = await freePort();
      const fwd = await u7s(['ports', 'add', `127.0.0.1:${apiPort}:6443/tcp`]);
      if (fwd.exitCode !== 0) throw new Error(`ports add: ${String(fwd.stderr)}`);
    };
    const initFlags = [
      '--apiserver-advertise-address',
      extIP,
      '--node-name',
      o.nodeName ?? 'u7s-node1',
      '--kubernetes-version',
      k8sVersion(),
      '--image-repository',
      'registry.local/c10f',
      ...(o.initFlags ?? []),
    ];
    const phase = async (words: readonly string[]) => {
      const r = await kubeadm(['init', 'phase', ...words, ...initFlags]);
      return r;
    };
    let tStart = Date.now();
    await startNamespace();
    let first = await phase(['certs', 'all']);
    let restarted = false;
    if (first.exitCode === 3 && /restart the namespace/.test(String(first.stderr))) {
      restarted = true;
      // RootlessKit copied /etc up before the wrapper created the host's /etc/kubernetes: restart, as asked
      const stopNs = await u7s(['stop']);
      if (stopNs.exitCode !== 0) throw new Error(`podsec-u7s stop: ${String(stopNs.stderr)}`);
      tStart = Date.now();
      await startNamespace();
      first = await phase(['certs', 'all']);
    }
    if (first.exitCode !== 0) throw new Error(`init phase certs all: ${String(first.stderr)}`);
    for (const words of [
      ['kubeconfig', 'all', '--admin-kubeconfig', kubeconfig],
      ['etcd', 'local'],
      ['control-plane', 'all'],
    ]) {
      const r = await phase(words);
      if (r.exitCode !== 0) throw new Error(`init phase ${words.join(' ')}: ${String(r.stderr)}`);
    }
    const sp = execa(process.execPath, [U7S_BUNDLE, 'static-pods', 'run', '--bin-dir', binDir], {
      reject: false,
      env: { PATH: process.env['PATH'], LANG: 'C' },
      extendEnv: false,
      stdin: 'ignore',
    });
    staticPods = sp;
    let spExited = false;
    void sp.finally(() => (spExited = true));
    const failed = async () => {
      throw new Error(`static-pods run exited: ${String((await sp).stderr)}`);
    };
    const deadline = Date.now() + 300_000;
    while (!existsSync(STATIC_PODS_STATUS)) {
      if (spExited) await failed();
      if (Date.now() > deadline) throw new Error('static pods not ready in 300 s');
      await sleep(200);
    }
    const staticPodsMs = Date.now() - tStart;
    const caPem = String((await u7s(['enter', '--', 'cat', '/etc/kubernetes/pki/ca.crt'])).stdout);
    if (!caPem.startsWith('-----BEGIN CERTIFICATE-----')) throw new Error('no cluster CA');
    while ((await httpsStatus(apiPort, '/readyz', caPem)) !== 200) {
      if (spExited) await failed();
      if (Date.now() > deadline) throw new Error('apiserver not ready through the forward');
      await sleep(250);
    }
    return {
      uid,
      extIP,
      apiPort,
      caPem,
      kubeconfig,
      binDir,
      work,
      restarted,
      staticPodsMs,
      initFlags,
      readyMs: Date.now() - tStart,
      u7s,
      kubeadm,
      stopStaticPods,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
