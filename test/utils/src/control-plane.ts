/**
 * A real Kubernetes control plane for tests (what controller-runtime's envtest gives Go projects): etcd,
 * kube-apiserver and kube-controller-manager (with the CSR signer), optionally kube-scheduler, all on free
 * 127.0.0.1 ports, certificates and kubeconfigs made by the real `kubeadm init phase certs` / `kubeconfig` into a
 * temp directory, as on a real control-plane node. Binaries come from `tools/k8s-bin/build` ({@link k8sBinary}).
 */
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { generateKeyPairSync, sign } from 'node:crypto';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { freePort } from './registry.ts';
import { k8sBinary, k8sBinDir, k8sVersion } from './requires.ts';

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** Start kube-scheduler too. @default false */
  readonly scheduler?: boolean;
  /** `--cluster-signing-duration` of the controller-manager (`1h`, `30s`, ...). @default '1h' */
  readonly clusterSigningDuration?: string;
  /** Appended to kube-apiserver's arguments (a later flag overrides an earlier one). */
  readonly extraApiServerArgs?: readonly string[];
  /** Milliseconds to wait for `/readyz` and the controller-manager. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** Directory for certificates, data and logs (kept by stop()). @default a new temp directory, removed by stop() */
  readonly dir?: string;
}

/** A running control plane. */
export interface ControlPlane {
  readonly dir: string;
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** Cluster-admin kubeconfig (kubeadm's super-admin.conf: group system:masters). */
  readonly kubeconfigPath: string;
  readonly caCertPath: string;
  readonly caKeyPath: string;
  /** The cluster CA (PEM); also the controller-manager's CSR signing CA. */
  readonly caCert: string;
  /** JSON lines written by kube-apiserver's audit log backend. */
  readonly auditLogPath: string;
  /** Kill every process (their process groups), wait until none is left, remove a temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Binaries {@link startControlPlane} runs (kube-scheduler only with `scheduler: true`). */
export const CONTROL_PLANE_BINARIES = [
  'kubeadm',
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
] as const;

/** Controllers the controller-manager runs: CSR signing/approval/cleanup and what a namespace/RBAC test needs. */
const CONTROLLERS = [
  'certificatesigningrequest-signing-controller',
  'certificatesigningrequest-approving-controller',
  'certificatesigningrequest-cleaner-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'clusterrole-aggregation-controller',
  'root-ca-certificate-publisher-controller',
  'garbage-collector-controller',
  'bootstrap-signer-controller',
  'token-cleaner-controller',
];

// Everything at Metadata level except health probes and the apiserver's own loopback traffic.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*"]
  - level: None
    users: ["system:apiserver"]
  - level: Metadata
`;

interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly subprocess: ResultPromise;
  exited: boolean;
}

// Process groups still running, killed when the test process exits without stop() (a failed test).
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pgid of liveGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killGroup(proc: Proc, graceMs = 10000): Promise<void> {
  if (groupAlive(proc.pid)) {
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
  }
  const deadline = Date.now() + graceMs;
  while (groupAlive(proc.pid) && Date.now() < deadline) await sleep(50);
  if (groupAlive(proc.pid)) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  await proc.subprocess.catch(() => undefined);
  // The leader is reaped; wait until no member of its group is left either.
  while (groupAlive(proc.pid)) await sleep(20);
  liveGroups.delete(proc.pid);
}

function need(name: string): string {
  const file = k8sBinary(name);
  if (file === undefined) {
    throw new Error(
      `startControlPlane: ${name} not found in ${k8sBinDir()} (run tools/k8s-bin/build)`,
    );
  }
  return file;
}

function spawnLogged(dir: string, name: string, file: string, args: readonly string[]): Proc {
  const logPath = path.join(dir, 'logs', `${name}.log`);
  closeSync(openSync(logPath, 'a', 0o600));
  // detached: own process group, so stop() can kill the group and nothing outlives the test.
  const subprocess = execa(file, args, {
    cwd: dir,
    detached: true,
    stdin: 'ignore',
    stdout: { file: logPath, append: true },
    stderr: { file: logPath, append: true },
    reject: false,
    buffer: false,
  });
  const pid = subprocess.pid;
  if (pid === undefined) throw new Error(`startControlPlane: could not start ${name}`);
  liveGroups.add(pid);
  const proc: Proc = { name, pid, subprocess, exited: false };
  void subprocess.finally(() => {
    proc.exited = true;
  });
  return proc;
}

async function logTail(dir: string, name: string, lines = 15): Promise<string> {
  try {
    const text = await readFile(path.join(dir, 'logs', `${name}.log`), 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Credentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Client certificate and key of a kubeadm-written kubeconfig (embedded `*-data` fields). */
async function kubeconfigCredentials(file: string, ca: string): Promise<Credentials> {
  const text = await readFile(file, 'utf8');
  const field = (name: string): string => {
    const m = new RegExp(`^\\s*${name}: (\\S+)\\s*$`, 'm').exec(text);
    if (m?.[1] === undefined) throw new Error(`startControlPlane: ${file} has no ${name}`);
    return Buffer.from(m[1], 'base64').toString('utf8');
  };
  return { ca, cert: field('client-certificate-data'), key: field('client-key-data') };
}

/** GET https://127.0.0.1:port<path>; resolves with the status code (0 when the connection fails). */
function httpsStatus(
  port: number,
  urlPath: string,
  creds: Partial<Credentials> & { ca: string },
): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: 'GET',
        ...creds,

        timeout: 5000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

function kubeadmConfig(pkiDir: string, etcdDir: string, apiPort: number): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
# No advertiseAddress: kubeadm refuses loopback there (it wants a global address) and picks the host's; the
# certificates name 127.0.0.1 through certSANs and the kubeconfigs use controlPlaneEndpoint.
localAPIEndpoint:
  bindPort: ${apiPort}
nodeRegistration:
  name: podsec-control-plane
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: ${k8sVersion()}
clusterName: podsec-test
controlPlaneEndpoint: 127.0.0.1:${apiPort}
certificatesDir: ${pkiDir}
apiServer:
  certSANs: ["127.0.0.1", "localhost"]
etcd:
  local:
    dataDir: ${etcdDir}
networking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
`;
}

/**
 * Start etcd, kube-apiserver, kube-controller-manager (and kube-scheduler when asked) and wait until the
 * apiserver's `/readyz` answers 200 and the controller-manager has published `kube-root-ca.crt`. Throws (after
 * stopping what it started) with the log tail of a process that exited or did not become ready in time.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bins = {
    kubeadm: need('kubeadm'),
    etcd: need('etcd'),
    apiserver: need('kube-apiserver'),
    kcm: need('kube-controller-manager'),
    scheduler: options.scheduler === true ? need('kube-scheduler') : undefined,
  };
  const timeoutMs = options.readyTimeoutMs ?? 120000;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'podsec-control-plane-')));
  const pki = path.join(dir, 'pki');
  const etcdData = path.join(dir, 'etcd');
  const logs = path.join(dir, 'logs');
  await mkdir(logs, { recursive: true, mode: 0o700 });
  await mkdir(etcdData, { recursive: true, mode: 0o700 });
  installExitHook();

  const procs: Proc[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Reverse start order: scheduler/controller-manager, apiserver, then etcd.
    for (const proc of [...procs].reverse()) await killGroup(proc);
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const [apiPort, etcdPort, peerPort, kcmPort, schedPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const config = path.join(dir, 'kubeadm.yaml');
    await writeFile(config, kubeadmConfig(pki, etcdData, apiPort), { mode: 0o600 });
    await execa(bins.kubeadm, ['init', 'phase', 'certs', 'all', '--config', config], { cwd: dir });
    const server = `https://127.0.0.1:${apiPort}`;
    for (const phase of ['super-admin', 'admin', 'controller-manager', 'scheduler']) {
      const args = [
        'init',
        'phase',
        'kubeconfig',
        phase,
        '--config',
        config,
        '--kubeconfig-dir',
        dir,
      ];
      await execa(bins.kubeadm, args, { cwd: dir });
      // kubeadm points the component kubeconfigs at the host's advertise address; everything here is loopback.
      const file = path.join(dir, `${phase}.conf`);
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace(/^(\s*server: ).*$/gm, `$1${server}`), { mode: 0o600 });
    }
    const auditPolicy = path.join(dir, 'audit-policy.yaml');
    const auditLogPath = path.join(logs, 'audit.log');
    await writeFile(auditPolicy, AUDIT_POLICY, { mode: 0o600 });
    const p = (f: string): string => path.join(pki, f);

    procs.push(
      spawnLogged(dir, 'etcd', bins.etcd, [
        '--name=podsec-control-plane',
        `--data-dir=${etcdData}`,
        `--listen-client-urls=https://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=https://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=https://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=https://127.0.0.1:${peerPort}`,
        `--initial-cluster=podsec-control-plane=https://127.0.0.1:${peerPort}`,
        '--listen-metrics-urls=',
        '--client-cert-auth=true',
        `--cert-file=${p('etcd/server.crt')}`,
        `--key-file=${p('etcd/server.key')}`,
        `--trusted-ca-file=${p('etcd/ca.crt')}`,
        '--peer-client-cert-auth=true',
        `--peer-cert-file=${p('etcd/peer.crt')}`,
        `--peer-key-file=${p('etcd/peer.key')}`,
        `--peer-trusted-ca-file=${p('etcd/ca.crt')}`,
        '--snapshot-count=10000',
        '--log-level=warn',
      ]),
    );
    procs.push(
      spawnLogged(dir, 'kube-apiserver', bins.apiserver, [
        '--advertise-address=127.0.0.1',
        // Loopback cannot be the kubernetes Service endpoint; nothing in the tests routes to it anyway.
        '--endpoint-reconciler-type=none',
        '--bind-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${path.join(dir, 'apiserver-certs')}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        `--client-ca-file=${p('ca.crt')}`,
        `--tls-cert-file=${p('apiserver.crt')}`,
        `--tls-private-key-file=${p('apiserver.key')}`,
        `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
        '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
        `--etcd-servers=https://127.0.0.1:${etcdPort}`,
        `--etcd-cafile=${p('etcd/ca.crt')}`,
        `--etcd-certfile=${p('apiserver-etcd-client.crt')}`,
        `--etcd-keyfile=${p('apiserver-etcd-client.key')}`,
        `--proxy-client-cert-file=${p('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${p('front-proxy-client.key')}`,
        `--requestheader-client-ca-file=${p('front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-username-headers=X-Remote-User',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${p('sa.pub')}`,
        `--service-account-signing-key-file=${p('sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/12',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-format=json',
        '--audit-log-mode=blocking',
        '--profiling=false',
        ...(options.extraApiServerArgs ?? []),
      ]),
    );
    procs.push(
      spawnLogged(dir, 'kube-controller-manager', bins.kcm, [
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${path.join(dir, 'controller-manager-certs')}`,
        `--kubeconfig=${path.join(dir, 'controller-manager.conf')}`,
        `--authentication-kubeconfig=${path.join(dir, 'controller-manager.conf')}`,
        `--authorization-kubeconfig=${path.join(dir, 'controller-manager.conf')}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        `--cluster-signing-cert-file=${p('ca.crt')}`,
        `--cluster-signing-key-file=${p('ca.key')}`,
        `--cluster-signing-duration=${options.clusterSigningDuration ?? '1h'}`,
        `--root-ca-file=${p('ca.crt')}`,
        `--service-account-private-key-file=${p('sa.key')}`,
        `--requestheader-client-ca-file=${p('front-proxy-ca.crt')}`,
        '--use-service-account-credentials=true',
        '--leader-elect=false',
        '--profiling=false',
      ]),
    );
    if (bins.scheduler !== undefined) {
      procs.push(
        spawnLogged(dir, 'kube-scheduler', bins.scheduler, [
          '--bind-address=127.0.0.1',
          `--secure-port=${schedPort}`,
          `--kubeconfig=${path.join(dir, 'scheduler.conf')}`,
          `--authentication-kubeconfig=${path.join(dir, 'scheduler.conf')}`,
          `--authorization-kubeconfig=${path.join(dir, 'scheduler.conf')}`,
          '--leader-elect=false',
          '--profiling=false',
        ]),
      );
    }

    const caCert = await readFile(p('ca.crt'), 'utf8');
    const kubeconfigPath = path.join(dir, 'super-admin.conf');
    const admin = await kubeconfigCredentials(kubeconfigPath, caCert);
    const deadline = Date.now() + timeoutMs;
    const waitFor = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      for (;;) {
        const dead = procs.find((proc) => proc.exited);
        if (dead !== undefined) {
          throw new Error(
            `startControlPlane: ${dead.name} exited while waiting for ${what}:\n${await logTail(dir, dead.name)}`,
          );
        }
        if (await check()) return;
        if (Date.now() > deadline) {
          const tails = await Promise.all(
            procs.map(async (x) => `--- ${x.name}\n${await logTail(dir, x.name, 5)}`),
          );
          throw new Error(
            `startControlPlane: no ${what} within ${timeoutMs} ms\n${tails.join('\n')}`,
          );
        }
        await sleep(100);
      }
    };
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await httpsStatus(apiPort, '/readyz', { ca: caCert })) === 200,
    );
    // root-ca-certificate-publisher writes this ConfigMap once the controller-manager runs its controllers.
    await waitFor(
      'kube-controller-manager (kube-root-ca.crt in namespace default)',
      async () =>
        (await httpsStatus(
          apiPort,
          '/api/v1/namespaces/default/configmaps/kube-root-ca.crt',
          admin,
        )) === 200,
    );

    return {
      dir,
      server,
      kubeconfigPath,
      caCertPath: p('ca.crt'),
      caKeyPath: p('ca.key'),
      caCert,
      auditLogPath,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A client key and a PKCS#10 certificate request for it (PEM), made with node:crypto. */
export interface ClientCsr {
  /** PKCS#8 PEM of a new P-256 key. */
  readonly keyPem: string;
  /** `-----BEGIN CERTIFICATE REQUEST-----` PEM, subject CN=<user>, O=<group> for each group. */
  readonly csrPem: string;
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function derOid(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  const bytes: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = part >> 7; v > 0; v >>= 7) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/**
 * A new EC P-256 key and a CSR for a Kubernetes user (`CN` = user name, one `O` per group), DER-encoded by hand
 * (node:crypto signs but has no CSR builder), to submit as a certificates.k8s.io/v1 CertificateSigningRequest.
 */
export function makeClientCsr(user: string, groups: readonly string[] = []): ClientCsr {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rdn = (oid: string, value: string): Buffer =>
    der(0x31, der(0x30, derOid(oid), der(0x0c, Buffer.from(value, 'utf8'))));
  const subject = der(0x30, ...groups.map((g) => rdn('2.5.4.10', g)), rdn('2.5.4.3', user));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = der(0x30, der(0x02, Buffer.from([0])), subject, spki, der(0xa0));
  const signature = sign('sha256', info, privateKey); // DER ECDSA-Sig-Value
  const csr = der(
    0x30,
    info,
    der(0x30, derOid('1.2.840.10045.4.3.2')), // ecdsa-with-SHA256
    der(0x03, Buffer.from([0]), signature),
  );
  const b64 = csr.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`,
  };
}
