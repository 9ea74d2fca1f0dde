// The central proof of podsec-k8s: the real, unmodified kubeadm builds a control plane INSIDE u7s-admin's user
// namespace, the control plane runs there as u7s-admin, and the host reaches it only through RootlessKit's port
// forward. Everything is real: u7s-admin is created on this host (and removed after), rootlesskit/slirp4netns/nsenter
// run the namespace, kubeadm/etcd/kube-apiserver/kube-controller-manager/kube-scheduler are the binaries of
// tools/k8s-bin. The one stand-in: the kubelet cannot run in a user namespace on this machine's cgroup v1 (it needs
// a delegated cgroup v2 tree), so `podsec-u7s static-pods run` starts the commands of the static-pod manifests
// kubeadm wrote as processes in the same namespace, as the kubelet would have. The bring-up is test-utils'
// startU7sControlPlane (shared with the join test). Needs `npm run build` (npm test builds first), root,
// rootlesskit, slirp4netns, nsenter, setpriv and curl.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import {
  chmod,
  copyFile,
  cp,
  link,
  mkdir,
  readdir,
  readFile,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { execa, type Result } from 'execa';
import {
  requireCommands,
  startU7sControlPlane,
  U7S_CONTROL_PLANE_BINARIES,
  type U7sControlPlane,
} from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const isRoot = process.geteuid?.() === 0;
const launcher = createDaemonLauncher({ uid: 0 });
const EXTIP = '192.0.2.10';
const HOME = '/var/lib/u7s-admin';
// the pod network of this cluster (not flannel's default): its ClusterConfiguration and flannel's net-conf.json
const POD_CIDR = '10.50.0.0/16';
// the wrapper writes the policy where the rendered ClusterConfiguration mounts it into the apiserver pod
const AUDIT_POLICY = '/etc/kubernetes/audit/policy.yaml';
const AUDIT_LOG = '/var/log/kubernetes/audit/audit.log';
const FLANNEL_MANIFEST = '/etc/podsec/u7s/manifests/kube-flannel.yml';

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
    let c: U7sControlPlane | undefined;
    let uid = 0;
    let apiPort = 0;
    let caPem = '';
    let readyMs = 0;
    let kubeconfig = '';
    let binDir = '';
    let work = '';
    // the results with their output as text
    const text = (r: Result) => ({
      exitCode: r.exitCode,
      stdout: String(r.stdout),
      stderr: String(r.stderr),
    });
    // the wrapper, which runs the real kubeadm inside the namespace as its pseudo-root
    const kubeadm = async (args: readonly string[]) => text(await c!.kubeadm(args));
    const u7s = async (args: readonly string[], o: { env?: Record<string, string> } = {}) =>
      text(await c!.u7s(args, o));
    // what the wrapper renders the configuration from (the helper's node flags and the pod network)
    let NODE_FLAGS: readonly string[] = [];

    after(async () => {
      await c?.stop();
    });

    it('kubeadm init phases write /etc/kubernetes inside, the static pods run there, the host reaches the apiserver through the forward', async (t) => {
      if (
        !requireCommands(t, [
          ...U7S_CONTROL_PLANE_BINARIES,
          'rootlesskit',
          'slirp4netns',
          'nsenter',
          'setpriv',
          'curl',
        ])
      )
        return;
      // provision, namespace start with a forward of a free loopback port to 6443, the init phases certs all,
      // kubeconfig all (the host admin kubeconfig), etcd local, control-plane all, then the static pods' commands
      // as processes in the namespace (the stand-in for the kubelet, cgroup v1 here) and /readyz through the forward
      c = await startU7sControlPlane(t, {
        extIP: EXTIP,
        initFlags: ['--pod-network-cidr', POD_CIDR],
      });
      ({ uid, apiPort, caPem, readyMs, kubeconfig, binDir, work } = c);
      NODE_FLAGS = c.initFlags;
      // provision created /etc/kubernetes (u7s-admin's) before the namespace started: RootlessKit's copy-up of /etc
      // showed it inside, so the first phase needed no restart of the namespace
      assert.equal(c.restarted, false);
      assert.equal((await stat('/etc/kubernetes')).uid, uid);
      t.diagnostic(`static pods ready ${c.staticPodsMs} ms after the namespace start`);
      assert.match(caPem, /^-----BEGIN CERTIFICATE-----/);
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

    it('the flannel manifest of init, applied by podsec-u7s apply-flannel inside the namespace: our images, net-conf.json with the pod CIDR', async (t) => {
      if (!readyMs) return t.skip('no control plane');
      if (!requireCommands(t, ['kubectl'])) return;
      const env = { U7S_KUBECTL: `${binDir}/kubectl` };
      // nothing rendered yet: refused, exit 12, naming the file
      const none = await u7s(['apply-flannel'], { env });
      assert.equal(none.exitCode, 12, String(none.stderr));
      assert.match(String(none.stderr), /kube-flannel\.yml does not exist/);
      // a whole `kubeadm init` cannot run here (its kubelet-start and wait-control-plane need a kubelet): its plan,
      // printed by the wrapper's dry run, holds the manifest it would write, and root writes it where init does
      const dry = await kubeadm(['init', ...NODE_FLAGS, '--dry-run', '--json']);
      assert.equal(dry.exitCode, 0, String(dry.stderr));
      const plan = (
        JSON.parse(String(dry.stdout)) as {
          plan: {
            files: { path: string; content: string; mode: string }[];
            flannelApply: { manifest: string; kubectlArgs: string[]; timeoutMs: number } | null;
          };
        }
      ).plan;
      // the plan applies it after init, bounded
      assert.deepEqual(plan.flannelApply, {
        manifest: FLANNEL_MANIFEST,
        kubectlArgs: [
          '--kubeconfig=/etc/kubernetes/admin.conf',
          '--request-timeout=10s',
          'apply',
          '-f',
          FLANNEL_MANIFEST,
        ],
        timeoutMs: 120_000,
      });
      const file = plan.files.find((f) => f.path === FLANNEL_MANIFEST);
      assert.ok(file, 'init renders the flannel manifest');
      await mkdir(path.dirname(FLANNEL_MANIFEST), { recursive: true, mode: 0o755 });
      await writeFile(FLANNEL_MANIFEST, file.content, { mode: 0o644 });

      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfig);
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const apps = kc.makeApiClient(k8s.AppsV1Api);
      const exists = () =>
        core.readNamespace({ name: 'kube-flannel' }).then(
          () => true,
          () => false,
        );
      // the dry run names the kubectl it would run inside and applies nothing
      const would = await u7s(['apply-flannel', '--dry-run'], { env });
      assert.equal(would.exitCode, 0, String(would.stderr));
      assert.match(String(would.stdout), /kubectl --kubeconfig=\/etc\/kubernetes\/admin\.conf/);
      assert.equal(await exists(), false);

      const applied = await u7s(['apply-flannel', '--json'], { env });
      assert.equal(applied.exitCode, 0, String(applied.stderr));
      assert.match(String(applied.stdout), /daemonset\.apps\/kube-flannel-ds created/);
      const ds = await apps.readNamespacedDaemonSet({
        name: 'kube-flannel-ds',
        namespace: 'kube-flannel',
      });
      const images = [
        ...(ds.spec?.template.spec?.initContainers ?? []),
        ...(ds.spec?.template.spec?.containers ?? []),
      ].map((x) => x.image);
      assert.deepEqual(images, [
        'registry.local/c10f/flannel-cni-plugin:v1.6.2-flannel1',
        'registry.local/c10f/flannel:v0.26.7',
        'registry.local/c10f/flannel:v0.26.7',
      ]);
      const cm = await core.readNamespacedConfigMap({
        name: 'kube-flannel-cfg',
        namespace: 'kube-flannel',
      });
      const netConf = JSON.parse(cm.data?.['net-conf.json'] ?? '{}') as {
        Network?: string;
        Backend?: { Type?: string };
      };
      assert.equal(netConf.Network, POD_CIDR);
      assert.equal(netConf.Backend?.Type, 'vxlan');
      // the pod network of the cluster is the same (the controller-manager's cluster CIDR)
      const kcm = await readFile('/etc/kubernetes/manifests/kube-controller-manager.yaml', 'utf8');
      assert.match(kcm, new RegExp(`--cluster-cidr=${POD_CIDR.replace(/\./g, '\\.')}`));
      // kubectl ran inside as the namespace's root: the apiserver saw kubernetes-admin from admin.conf, and the
      // run is idempotent
      const again = await u7s(['apply-flannel'], { env });
      assert.equal(again.exitCode, 0, String(again.stderr));
      assert.match(String(again.stdout), /daemonset\.apps\/kube-flannel-ds unchanged/);
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
      if (!c) return t.skip('no namespace');
      const sps = await c.stopStaticPods();
      assert.equal(sps.exitCode, 0, String(sps.stderr));
      const stop = await u7s(['stop']);
      assert.equal(stop.exitCode, 0, String(stop.stderr));
      assert.deepEqual(await launcher.userProcesses(uid), []);
    });
  },
);
