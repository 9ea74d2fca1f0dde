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
  copyFile,
  cp,
  link,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { execa, type ResultPromise } from 'execa';
import {
  allowTun,
  freePort,
  httpsStatus,
  k8sBinary,
  k8sVersion,
  lockTestUser,
  removeTestUser,
  requireCommands,
} from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const U7S = path.join(repo, 'packages/podsec-k8s/bundle/podsec-u7s.mjs');
const WRAPPER = path.join(repo, 'packages/podsec-k8s/bundle/podsec-u7s-kubeadm.mjs');
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
// what the wrapper (and kubeadm in the namespace) creates on the host; removed after the test when it was not there
const HOST_DIRS = [
  '/etc/kubernetes',
  '/etc/podsec/u7s/kubeadm',
  '/etc/podsec/u7s/config',
  '/etc/podsec/u7s/audit',
];
// the wrapper writes the policy where the rendered ClusterConfiguration mounts it into the apiserver pod
const AUDIT_POLICY = '/etc/kubernetes/audit/policy.yaml';
const AUDIT_LOG = '/var/log/kubernetes/audit/audit.log';

function u7s(args: readonly string[], o: { timeout?: number; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [U7S, ...args], {
    reject: false,
    env: { PATH: process.env['PATH'], LANG: 'C', ...o.env },
    extendEnv: false,
    timeout: o.timeout ?? 120_000,
    stdin: 'ignore',
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
    const existed = new Set<string>();
    let uid = 0;
    let apiPort = 0;
    let caPem = '';
    let readyMs = 0;
    let kubeconfig = '';
    let staticPods: ResultPromise | undefined;
    // the wrapper, which runs the real kubeadm inside the namespace as its pseudo-root
    const kubeadm = (args: readonly string[]) =>
      execa(process.execPath, [WRAPPER, ...args], {
        reject: false,
        env: { PATH: process.env['PATH'], LANG: 'C', U7S_KUBEADM: `${binDir}/kubeadm` },
        extendEnv: false,
        timeout: 240_000,
        stdin: 'ignore',
      });
    // what the wrapper renders the configuration from
    const NODE_FLAGS = [
      '--apiserver-advertise-address',
      EXTIP,
      '--node-name',
      'u7s-node1',
      '--kubernetes-version',
      k8sVersion(),
      '--image-repository',
      'registry.local/c10f',
    ];
    const startNamespace = async () => {
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
    };

    before(async () => {
      release = await lockTestUser('u7s-admin');
      await removeTestUser('u7s-admin');
      // an earlier run's etcd/log tree belongs to a u7s-admin that is gone: provision refuses a tree not its own
      await rm('/var/lib/podsec/u7s', { recursive: true, force: true });
      for (const d of HOST_DIRS) if (existsSync(d)) existed.add(d);
      // root-owned, 0755, in a directory nobody else can write (the wrapper checks: not /tmp): u7s-admin may run
      // the binaries, not change them (/root is 0700, so the build cache itself is out of its reach)
      work = await mkdtemp('/var/lib/u7s-kcp-test-');
      await chmod(work, 0o755);
      binDir = path.join(work, 'bin');
      kubeconfig = path.join(work, 'admin-host.conf');
      libexec = path.join(work, 'libexec');
      await mkdir(binDir, { mode: 0o755 });
      await mkdir(libexec, { mode: 0o755 });
      for (const name of [...CONTROL_PLANE, 'kubectl']) {
        const src = k8sBinary(name);
        // a hard link where the build cache shares the file system, a copy where it does not (/var apart)
        if (src)
          await link(src, path.join(binDir, name)).catch(() =>
            copyFile(src, path.join(binDir, name)),
          );
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
      for (const d of HOST_DIRS) if (!existed.has(d)) await rm(d, { recursive: true, force: true });
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
      await startNamespace();
      // only phases run, not `init phase preflight`: nothing pulls an image or needs the network
      const phases = [
        ['certs', 'all'],
        ['kubeconfig', 'all', '--admin-kubeconfig', kubeconfig],
        ['etcd', 'local'],
        ['control-plane', 'all'],
      ];
      // provision created /etc/kubernetes (u7s-admin's) before the namespace started: RootlessKit's copy-up of /etc
      // shows it inside, so the first phase needs no restart of the namespace
      if (!existed.has('/etc/kubernetes')) assert.equal((await stat('/etc/kubernetes')).uid, uid);
      const first = await kubeadm(['init', 'phase', ...phases[0]!, ...NODE_FLAGS]);
      assert.equal(first.exitCode, 0, first.stderr);
      for (const phase of phases.slice(1)) {
        const r = await kubeadm(['init', 'phase', ...phase, ...NODE_FLAGS]);
        assert.equal(r.exitCode, 0, `${phase.join(' ')}: ${r.stderr}`);
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

      // a real /etc/kubernetes written in the namespace is the host's, owned by u7s-admin
      const etc = '/etc/kubernetes';
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
      // the wrapper wrote it from admin.conf, the server being the host side of the forward
      const host = new k8s.KubeConfig();
      host.loadFromFile(kubeconfig);
      assert.equal(host.getCurrentCluster()?.server, `https://127.0.0.1:${apiPort}`);
      assert.equal(((await stat(kubeconfig)).mode & 0o777).toString(8), '600');
      host.loadFromFile(kubeconfig);
      // who the apiserver says we are (needs no RBAC): kubeadm's admin identity; its cluster-admin binding is made
      // by the first phase that talks to the cluster (upload-config, next)
      const who = await host.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      assert.equal(who.status?.userInfo?.username, 'kubernetes-admin');
      assert.ok(who.status?.userInfo?.groups?.includes('kubeadm:cluster-admins'));

      // u7s-admin's copy: ~/.kube/config, 0600 in a 0700 ~/.kube, both its own; admin.conf verbatim (the endpoint
      // serves inside the namespace, where kubeadm and kubectl prefer ~/.kube/config to admin.conf)
      const mine = `${HOME}/.kube/config`;
      const gid = (await stat(HOME)).gid;
      for (const [p, mode] of [
        [mine, 0o600],
        [`${HOME}/.kube`, 0o700],
      ] as const) {
        const st = await stat(p);
        assert.equal(st.mode & 0o777, mode, p);
        assert.deepEqual([st.uid, st.gid], [uid, gid], p);
      }
      assert.equal(
        await readFile(mine, 'utf8'),
        await readFile('/etc/kubernetes/admin.conf', 'utf8'),
      );
      if (!requireCommands(t, ['kubectl'])) return;
      // it works for u7s-admin inside the namespace (kubectl finds it in its home) ...
      const inside = await u7s(['enter', '--', `${binDir}/kubectl`, 'get', '--raw', '/readyz']);
      assert.equal(inside.exitCode, 0, inside.stderr);
      assert.equal(inside.stdout, 'ok');
      // ... and from the host through the forward of 6443 (here on loopback: the node address 192.0.2.10 is not
      // the host's, so the server is named explicitly; the apiserver's certificate is valid for 127.0.0.1)
      const ready = await execa(
        'setpriv',
        [
          `--reuid=${uid}`,
          `--regid=${gid}`,
          '--clear-groups',
          '--',
          'env',
          '-i',
          `HOME=${HOME}`,
          `${binDir}/kubectl`,
          `--server=https://127.0.0.1:${apiPort}`,
          'get',
          '--raw',
          '/readyz',
        ],
        { reject: false, cwd: '/', timeout: 60_000 },
      );
      assert.equal(ready.exitCode, 0, ready.stderr);
      assert.equal(ready.stdout, 'ok');
    });

    it('upload-config, upload-certs, bootstrap-token and the kube-proxy and coredns addons succeed against it', async (t) => {
      if (!readyMs) return t.skip('no control plane');
      for (const phase of [
        ['upload-config', 'all'],
        ['upload-certs', '--upload-certs'],
        ['bootstrap-token'],
        ['addon', 'kube-proxy'],
        ['addon', 'coredns'],
      ]) {
        const r = await kubeadm(['init', 'phase', ...phase, ...NODE_FLAGS]);
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
      if (!readyMs) return t.skip('no control plane');
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

    it('kubeadm token list runs inside the namespace with its arguments; a failing command keeps its status', async (t) => {
      if (!readyMs) return t.skip('no control plane');
      // admin.conf names https://192.0.2.10:6443, an address that exists only inside the namespace (on its tap0):
      // the real kubeadm reaches the apiserver only because it runs in there
      const adminConf = await readFile('/etc/kubernetes/admin.conf', 'utf8');
      assert.match(adminConf, new RegExp(`server: https://${EXTIP.replace(/\./g, '\\.')}:6443`));
      const list = await kubeadm(['token', 'list', '-o', 'json']);
      assert.equal(list.exitCode, 0, list.stderr);
      const ids = list.stdout
        .split(/\n(?=\{)/)
        .filter((s) => s.trim())
        .map((s) => (JSON.parse(s) as { token: string }).token.split('.')[0]);
      assert.ok(ids.length >= 2, list.stdout); // bootstrap-token's and token create's
      // the real kubeadm's failure: its status and its message, nothing of the wrapper's
      const gone = await kubeadm(['token', 'delete', 'abcdef.0123456789abcdef']);
      assert.equal(gone.exitCode, 1, gone.stderr);
      assert.match(gone.stderr, /not found/);
      assert.doesNotMatch(gone.stderr, /podsec-u7s-kubeadm|failed with exit status/);
    });

    it('the rootlessctl PATH shadow lists the forwards with the real rootlessctl, from the host and inside', async (t) => {
      if (!readyMs) return t.skip('no control plane');
      if (!requireCommands(t, ['rootlessctl'])) return;
      const rootlessctl = path.join(repo, 'packages/podsec-k8s/libexec/rootlessctl');
      // root on the host: the wrapper drops to u7s-admin and adds the socket of its namespace
      const fromHost = await execa(rootlessctl, ['list-ports', '--json'], {
        reject: false,
        env: { PATH: process.env['PATH'], LANG: 'C' },
        extendEnv: false,
        timeout: 60_000,
      });
      assert.equal(fromHost.exitCode, 0, fromHost.stderr);
      // one PortStatus per line
      const specs = fromHost.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { spec: { parentPort: number; childPort: number } }).spec);
      assert.ok(specs.some((s) => s.parentPort === apiPort && s.childPort === 6443));
      assert.ok(specs.some((s) => s.childPort === 10250));
      // inside, as the namespace's root (u7s-admin on the host): host root's binary shows with the overflow uid.
      // u7s-admin runs the shadow there, and the checkout may be out of its reach (a clone under /root, 0700, on a
      // fresh machine): the shadow, the bundle of podsec-u7s and Node go to the root-owned work dir, laid out as a
      // package installs them (the shadow finds podsec-u7s beside itself)
      const shadowDir = path.join(work, 'shadow');
      await mkdir(shadowDir, { mode: 0o755 });
      await cp(path.join(repo, 'packages/podsec-k8s/bundle'), path.join(shadowDir, 'bundle'), {
        recursive: true,
      });
      const node = path.join(shadowDir, 'node');
      await link(process.execPath, node).catch(() => copyFile(process.execPath, node));
      await writeFile(
        path.join(shadowDir, 'podsec-u7s'),
        `#!/bin/sh\nexec ${node} ${shadowDir}/bundle/podsec-u7s.cjs "$@"\n`,
        { mode: 0o755 },
      );
      await copyFile(rootlessctl, path.join(shadowDir, 'rootlessctl'));
      await chmod(path.join(shadowDir, 'rootlessctl'), 0o755);
      const inside = await u7s(['enter', '--', path.join(shadowDir, 'rootlessctl'), 'list-ports']);
      assert.equal(inside.exitCode, 0, inside.stderr);
      assert.match(
        inside.stdout,
        new RegExp(`\\d+\\s+tcp\\s+127\\.0\\.0\\.1\\s+${apiPort}\\s+6443`),
      );
    });

    it('every control-plane process runs as u7s-admin on the host; the apiserver has the audit flags and audits', async (t) => {
      if (!readyMs) return t.skip('no control plane');
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
        `--audit-policy-file=${AUDIT_POLICY}`,
        `--audit-log-path=${AUDIT_LOG}`,
        '--audit-log-maxsize=500',
        '--audit-log-maxbackup=3',
      ])
        assert.ok(args.includes(f), f);
      // /var/log inside is u7s-admin's ~/.local/share/usernetes/_var_log on the host
      const log = await readFile(
        `${HOME}/.local/share/usernetes/_var_log${AUDIT_LOG.slice('/var/log'.length)}`,
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
