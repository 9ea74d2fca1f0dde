// The central proof of podsec-k8s: the real, unmodified kubeadm builds a control plane INSIDE u7s-admin's user
// namespace, the control plane runs there as u7s-admin, and the host reaches it only through RootlessKit's port
// forward. Everything is real: u7s-admin is created on this host (and removed after), rootlesskit/slirp4netns/nsenter
// run the namespace, kubeadm/etcd/kube-apiserver/kube-controller-manager/kube-scheduler are the binaries of
// tools/k8s-bin. The one stand-in: the kubelet cannot run in a user namespace on this machine's cgroup v1 (it needs
// a delegated cgroup v2 tree), so `podsec-u7s static-pods run` starts the commands of the static-pod manifests
// kubeadm wrote as processes in the same namespace, as the kubelet would have. Needs `npm run build` (npm test
// builds first), root, rootlesskit, slirp4netns, nsenter, setpriv and curl.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  link,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { execa, type ResultPromise } from 'execa';
import {
  allowTun,
  freePort,
  k8sBinary,
  k8sVersion,
  lockTestUser,
  removeTestUser,
  requireCommands,
} from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';
import { renderKubeadmConfig } from '../../packages/podsec-k8s/src/kubeadm/render.ts';
import { planNode } from '../../packages/podsec-k8s/src/u7s/node-config.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const U7S = path.join(repo, 'packages/podsec-k8s/bundle/podsec-u7s.mjs');
const isRoot = process.geteuid?.() === 0;
const launcher = createDaemonLauncher({ uid: 0 });
const CONTROL_PLANE = [
  'kubeadm',
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
] as const;
const EXTIP = '192.0.2.10';
const HOME = '/var/lib/u7s-admin';
const STATIC_PODS_STATUS = '/run/podsec/u7s/static-pods.json';
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version"]
  - level: Metadata
`;

function u7s(args: readonly string[], o: { timeout?: number; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [U7S, ...args], {
    reject: false,
    env: { PATH: process.env['PATH'], LANG: 'C', ...o.env },
    extendEnv: false,
    timeout: o.timeout ?? 120_000,
    stdin: 'ignore',
  });
}

/** GET https://127.0.0.1:port/path without credentials: the status (0 when the connection fails), bounded. */
function httpsStatus(port: number, urlPath: string, ca: string): Promise<number> {
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

async function allPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
}

async function hostUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

describe(
  "the real kubeadm control plane inside u7s-admin's namespace",
  { skip: !isRoot && 'needs root' },
  () => {
    let release: (() => Promise<void>) | undefined;
    let work = '';
    let binDir = '';
    let libexec = '';
    let config = '';
    let uid = 0;
    let apiPort = 0;
    let caPem = '';
    let readyMs = 0;
    let kubeconfig = '';
    let staticPods: ResultPromise | undefined;
    // the real kubeadm, run inside the namespace as its pseudo-root
    const kubeadm = (args: readonly string[]) =>
      u7s(['enter', '--', `${binDir}/kubeadm`, ...args], { timeout: 180_000 });

    before(async () => {
      release = await lockTestUser('u7s-admin');
      await removeTestUser('u7s-admin');
      // root-owned, 0755: u7s-admin may run the binaries and read the config, not change them (/root is 0700,
      // so the build cache itself is out of its reach)
      work = await mkdtemp(path.join(tmpdir(), 'u7s-kcp-'));
      await chmod(work, 0o755);
      binDir = path.join(work, 'bin');
      libexec = path.join(work, 'libexec');
      await mkdir(binDir, { mode: 0o755 });
      await mkdir(libexec, { mode: 0o755 });
      for (const name of CONTROL_PLANE) {
        const src = k8sBinary(name);
        if (src) await link(src, path.join(binDir, name));
      }
    });

    after(async () => {
      if (staticPods) {
        await u7s(['static-pods', 'stop', '--timeout', '30']);
        await staticPods.catch(() => undefined);
      }
      await u7s(['stop', '--timeout', '30']);
      await removeTestUser('u7s-admin');
      await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
      if (work) await rm(work, { recursive: true, force: true });
      await release?.();
    });

    it('kubeadm init phases write /etc/kubernetes inside, the static pods run there, the host reaches the apiserver through the forward', async (t) => {
      if (
        !requireCommands(t, [
          ...CONTROL_PLANE,
          'rootlesskit',
          'slirp4netns',
          'nsenter',
          'setpriv',
          'curl',
        ])
      )
        return;
      await allowTun(t);
      const prov = await u7s(['provision', '--libexec', libexec]);
      assert.equal(prov.exitCode, 0, prov.stderr);
      uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);

      const tStart = Date.now();
      const start = await u7s([
        'start',
        '--libexec',
        libexec,
        '--parent-ip',
        '127.0.0.1',
        '--extip',
        EXTIP,
      ]);
      assert.equal(start.exitCode, 0, start.stderr);
      // a free loopback port of the host -> 6443 in the namespace, through RootlessKit's port API
      apiPort = await freePort();
      const fwd = await u7s(['ports', 'add', `127.0.0.1:${apiPort}:6443/tcp`]);
      assert.equal(fwd.exitCode, 0, fwd.stderr);

      config = path.join(work, 'init.yaml');
      await writeFile(
        config,
        renderKubeadmConfig({
          kind: 'init',
          node: planNode({ role: 'initMaster', extIP: EXTIP }),
          kubernetesVersion: k8sVersion(),
          imageRepository: 'registry.local/c10f',
          advertiseAddress: EXTIP,
          nodeName: 'u7s-node1',
        }),
        { mode: 0o644 },
      );
      // only phases run, not `init phase preflight`: nothing pulls an image or needs the network
      for (const phase of [
        ['certs', 'all'],
        ['kubeconfig', 'all'],
        ['etcd', 'local'],
        ['control-plane', 'all'],
      ]) {
        const r = await kubeadm(['init', 'phase', ...phase, '--config', config]);
        assert.equal(r.exitCode, 0, `${phase.join(' ')}: ${r.stderr}`);
      }
      // the audit policy the apiserver manifest names (the wrapper writes it in production)
      const policy = path.join(work, 'audit-policy.yaml');
      await writeFile(policy, AUDIT_POLICY, { mode: 0o644 });
      for (const cmd of [
        ['mkdir', '-p', '/etc/kubernetes/audit'],
        ['cp', policy, '/etc/kubernetes/audit/policy.yaml'],
      ]) {
        const r = await u7s(['enter', '--', ...cmd]);
        assert.equal(r.exitCode, 0, r.stderr);
      }

      // stands in for the kubelet (cgroup v1 here): the manifests' commands as processes in the namespace
      const sp = execa(process.execPath, [U7S, 'static-pods', 'run', '--bin-dir', binDir], {
        reject: false,
        env: { PATH: process.env['PATH'], LANG: 'C' },
        extendEnv: false,
        stdin: 'ignore',
      });
      staticPods = sp;
      let spExited = false;
      void sp.finally(() => (spExited = true));
      const failed = async () =>
        assert.fail(`static-pods run exited: ${String((await sp).stderr)}`);
      const spDeadline = Date.now() + 300_000;
      while (!existsSync(STATIC_PODS_STATUS)) {
        if (spExited) await failed();
        assert.ok(Date.now() < spDeadline, 'static pods not ready in 300 s');
        await sleep(200);
      }
      t.diagnostic(`static pods ready ${Date.now() - tStart} ms after the namespace start`);
      caPem = (await u7s(['enter', '--', 'cat', '/etc/kubernetes/pki/ca.crt'])).stdout;
      assert.match(caPem, /^-----BEGIN CERTIFICATE-----/);
      const deadline = Date.now() + 240_000;
      while ((await httpsStatus(apiPort, '/readyz', caPem)) !== 200) {
        assert.ok(Date.now() < deadline, 'apiserver not ready through the forward in 240 s');
        if (spExited) await failed();
        await sleep(250);
      }
      readyMs = Date.now() - tStart;
      t.diagnostic(`namespace start to apiserver ready through the forward: ${readyMs} ms`);

      // a real /etc/kubernetes in the namespace, owned by u7s-admin on the host
      const st = JSON.parse((await u7s(['status', '--json'])).stdout) as { childPid: number };
      const etc = `/proc/${st.childPid}/root/etc/kubernetes`;
      for (const f of [
        'pki/ca.key',
        'pki/apiserver.crt',
        'pki/etcd/ca.crt',
        'admin.conf',
        'manifests/kube-apiserver.yaml',
      ])
        assert.equal((await stat(`${etc}/${f}`)).uid, uid, f);
    });

    it('the admin kubeconfig kubeadm wrote works from the host through the forward', async (t) => {
      if (!readyMs) return t.skip('no control plane');
      const kc = new k8s.KubeConfig();
      kc.loadFromString((await u7s(['enter', '--', 'cat', '/etc/kubernetes/admin.conf'])).stdout);
      assert.equal(kc.getCurrentCluster()?.server, `https://${EXTIP}:6443`);
      // the host reaches the namespace's 6443 only through the forward
      kubeconfig = path.join(work, 'admin-host.conf');
      const text = kc
        .exportConfig()
        .replace(`https://${EXTIP}:6443`, `https://127.0.0.1:${apiPort}`);
      await writeFile(kubeconfig, text, { mode: 0o600 });
      const host = new k8s.KubeConfig();
      host.loadFromFile(kubeconfig);
      // who the apiserver says we are (needs no RBAC): kubeadm's admin identity; its cluster-admin binding is made
      // by the first phase that talks to the cluster (upload-config, next)
      const who = await host.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      assert.equal(who.status?.userInfo?.username, 'kubernetes-admin');
      assert.ok(who.status?.userInfo?.groups?.includes('kubeadm:cluster-admins'));
    });

    it('upload-config, upload-certs, bootstrap-token and the kube-proxy and coredns addons succeed against it', async (t) => {
      if (!kubeconfig) return t.skip('no control plane');
      for (const phase of [
        ['upload-config', 'all'],
        ['upload-certs', '--upload-certs'],
        ['bootstrap-token'],
        ['addon', 'kube-proxy'],
        ['addon', 'coredns'],
      ]) {
        const r = await kubeadm(['init', 'phase', ...phase, '--config', config]);
        assert.equal(r.exitCode, 0, `${phase.join(' ')}: ${r.stderr}`);
      }
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const apps = kc.makeApiClient(k8s.AppsV1Api);
      await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
      await core.readNamespacedConfigMap({ name: 'kubelet-config', namespace: 'kube-system' });
      await core.readNamespacedSecret({ name: 'kubeadm-certs', namespace: 'kube-system' });
      await core.readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' });
      await apps.readNamespacedDaemonSet({ name: 'kube-proxy', namespace: 'kube-system' });
      await apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' });
      // the admin kubeconfig from the host now has its cluster-admin rights
      const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
      for (const n of ['default', 'kube-system', 'kube-public']) assert.ok(names.includes(n), n);
    });

    it('token create --print-join-command prints a join line whose CA hash is that of the cluster CA', async (t) => {
      if (!kubeconfig) return t.skip('no control plane');
      const r = await kubeadm(['token', 'create', '--print-join-command']);
      assert.equal(r.exitCode, 0, r.stderr);
      const m =
        /^kubeadm join (\S+) --token [a-z0-9]{6}\.[a-z0-9]{16} --discovery-token-ca-cert-hash sha256:([0-9a-f]{64})\s*$/m.exec(
          r.stdout,
        );
      assert.ok(m, r.stdout);
      assert.equal(m[1], `${EXTIP}:6443`);
      // kubeadm's hash: sha256 of the CA certificate's SubjectPublicKeyInfo
      const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
      assert.equal(m[2], createHash('sha256').update(spki).digest('hex'));
    });

    it('every control-plane process runs as u7s-admin on the host; the apiserver has the audit flags and audits', async (t) => {
      if (!kubeconfig) return t.skip('no control plane');
      const mine = await launcher.userProcesses(uid);
      const byBinary = new Map<string, number[]>();
      for (const pid of await allPids()) {
        const argv0 =
          (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
        if (!argv0.startsWith(`${binDir}/`)) continue;
        const name = path.basename(argv0);
        byBinary.set(name, [...(byBinary.get(name) ?? []), pid]);
        assert.equal(await hostUid(pid), uid, `${name} (${pid}) runs as u7s-admin`);
        assert.ok(mine.includes(pid));
      }
      assert.deepEqual([...byBinary.keys()].sort(), [
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
      ]);
      const api = byBinary.get('kube-apiserver')?.[0] ?? 0;
      const args = (await readFile(`/proc/${api}/cmdline`, 'utf8')).split('\0');
      for (const f of [
        '--audit-policy-file=/etc/kubernetes/audit/policy.yaml',
        '--audit-log-path=/var/log/kubernetes/audit/audit.log',
        '--audit-log-maxsize=500',
        '--audit-log-maxbackup=3',
      ])
        assert.ok(args.includes(f), f);
      // /var/log inside is u7s-admin's ~/.local/share/usernetes/_var_log on the host
      const log = await readFile(
        `${HOME}/.local/share/usernetes/_var_log/kubernetes/audit/audit.log`,
        'utf8',
      );
      const events = log
        .split('\n')
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as { verb?: string; requestURI?: string; user?: { username?: string } },
        );
      assert.ok(
        events.some(
          (e) =>
            e.verb === 'list' &&
            e.requestURI?.startsWith('/api/v1/namespaces') &&
            e.user?.username === 'kubernetes-admin',
        ),
        'the namespace list made from the host is in the audit log',
      );
    });

    it('stop leaves no process of u7s-admin', async (t) => {
      if (!uid) return t.skip('no namespace');
      const sps = await u7s(['static-pods', 'stop']);
      assert.equal(sps.exitCode, 0, sps.stderr);
      await staticPods;
      staticPods = undefined;
      const stop = await u7s(['stop']);
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.deepEqual(await launcher.userProcesses(uid), []);
    });
  },
);
