// `kubeadm join` through the wrapper against the REAL control plane that the real kubeadm built inside u7s-admin's
// namespace (test-utils startU7sControlPlane: the one stand-in there is for the kubelet, which cannot run in a
// user namespace on this machine's cgroup v1). There is one machine, so the joining node is the same namespace:
// its node-local preflight checks see the files of the first control-plane node, and the test names them. Each
// join phase runs with our rendered JoinConfiguration, as far as kubeadm gets without a kubelet:
//   preflight          discovery with the bootstrap token and the CA hash, and the cluster's kubeadm-config;
//                      the same by file discovery (--discovery-file: a kubeconfig with the cluster CA), and a
//                      file with another CA refused by kubeadm within the wrapper's --timeout;
//   control-plane-prepare download-certs  the certificates of the kubeadm-certs Secret (--certificate-key);
//   kubelet-start      the bootstrap kubeconfig and the kubelet's configuration from the cluster (made rootful
//                      here, as a rootful first node would have uploaded it), with the wrapper's rootless kubelet
//                      settings set over it; then `upgrade node phase kubelet-config`, the kubelet step of the
//                      upgrade of a node, rewrites it from the cluster and the wrapper sets them again;
//   kubelet-wait-bootstrap  STOPS here: kubeadm polls the kubelet's healthz at 127.0.0.1:10248 and nothing serves
//                      it. A recorder on that port inside the namespace shows the polls; the wrapper's --timeout
//                      ends the wait (kubeadm's own is 4 min).
// Needs `npm run build`, root, rootlesskit, slirp4netns, nsenter, setpriv, socat and the k8s-bin binaries.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  makeTestCert,
  requireCommands,
  startU7sControlPlane,
  U7S_BUNDLE,
  U7S_CONTROL_PLANE_BINARIES,
  type U7sControlPlane,
} from '@podsec/test-utils';
import { createDaemonLauncher } from '@podsec/core/system';

const isRoot = process.geteuid?.() === 0;
const launcher = createDaemonLauncher({ uid: 0 });
const DATA = '/var/lib/u7s-admin/.local/share/usernetes';
const CERT_KEY = randomBytes(32).toString('hex');
// The node-local preflight errors and why: the joining node is the first control-plane node itself (its
// kubelet.conf and CA exist), and this machine has no kubelet binary and no CRI socket in the namespace.
const PREFLIGHT: Record<string, RegExp> = {
  'FileAvailable--etc-kubernetes-kubelet.conf': /\/etc\/kubernetes\/kubelet\.conf already exists/,
  'FileAvailable--etc-kubernetes-pki-ca.crt': /\/etc\/kubernetes\/pki\/ca\.crt already exists/,
  CRI: /dial unix \/run\/crio\/crio\.sock: connect: no such file or directory/,
  ContainerRuntimeVersion: /dial unix \/run\/crio\/crio\.sock: connect: no such file or directory/,
  KubeletVersion: /cannot execute 'kubelet --version': executable file not found/,
  SystemVerification: /cannot execute 'kubelet --version': executable file not found/,
};

// a join has no --image-repository: the wrapper takes the platform of the images from the environment
const JOIN_ENV = { U7S_PLATFORM: 'c10f' };
const join = (cp: U7sControlPlane, args: readonly string[]) =>
  cp.kubeadm(['join', 'phase', ...args], { env: JOIN_ENV });

/** A discovery kubeconfig (the shape of kube-public/cluster-info's): the server and the CA to trust, no user. */
const discoveryFile = (server: string, caPem: string) =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: kubernetes',
    '    cluster:',
    `      server: ${server}`,
    `      certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'contexts:',
    '  - name: join',
    '    context:',
    '      cluster: kubernetes',
    '      user: joiner',
    'users:',
    '  - name: joiner',
    '    user: {}',
    'current-context: join',
    '',
  ].join('\n');

/** kubeadm's `[ERROR Name]: message` lines. */
function preflightErrors(stderr: string): Map<string, string> {
  return new Map(
    [...stderr.matchAll(/^\s*\[ERROR ([^\]]+)\]: (.*)$/gm)].map((m) => [m[1]!, m[2]!] as const),
  );
}

describe(
  'kubeadm join phases through the wrapper against the real control plane in the namespace',
  {
    skip: !isRoot && 'needs root',
  },
  () => {
    let cp: U7sControlPlane | undefined;
    let joinFlags: string[] = [];
    after(async () => {
      await cp?.stop();
    });

    it('the control plane is up and gives a join line (token, CA hash) and uploaded certificates', async (t) => {
      if (
        !requireCommands(t, [
          ...U7S_CONTROL_PLANE_BINARIES,
          'rootlesskit',
          'slirp4netns',
          'nsenter',
          'setpriv',
          'socat',
        ])
      )
        return;
      cp = await startU7sControlPlane(t);
      t.diagnostic(`namespace start to apiserver ready: ${cp.readyMs} ms`);
      for (const phase of [
        ['upload-config', 'all'],
        ['upload-certs', '--upload-certs', '--certificate-key', CERT_KEY],
        ['bootstrap-token'],
      ]) {
        const r = await cp.kubeadm(['init', 'phase', ...phase, ...cp.initFlags]);
        assert.equal(r.exitCode, 0, `${phase.join(' ')}: ${String(r.stderr)}`);
      }
      const line = await cp.kubeadm(['token', 'create', '--print-join-command']);
      assert.equal(line.exitCode, 0, String(line.stderr));
      const m =
        /kubeadm join (\S+) --token (\S+) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})/.exec(
          String(line.stdout),
        );
      assert.ok(m, String(line.stdout));
      joinFlags = [
        m[1]!,
        '--token',
        m[2]!,
        '--discovery-token-ca-cert-hash',
        m[3]!,
        '--apiserver-advertise-address',
        cp.extIP,
        '--node-name',
        'u7s-node1',
      ];
    });

    it('join phase preflight: refuses on the missing kubelet/CRI, then discovers the cluster with token and CA hash', async (t) => {
      if (!cp || !joinFlags.length) return t.skip('no control plane');
      const bare = await join(cp, ['preflight', ...joinFlags]);
      assert.notEqual(bare.exitCode, 0);
      const errors = preflightErrors(String(bare.stderr));
      t.diagnostic(`preflight errors: ${[...errors.keys()].join(' ')}`);
      assert.deepEqual(
        [...errors.keys()].sort(),
        Object.keys(PREFLIGHT).sort(),
        String(bare.stderr),
      );
      for (const [name, why] of Object.entries(PREFLIGHT))
        assert.match(errors.get(name)!, why, name);

      // past the node checks kubeadm discovers the cluster through the namespace's EXTIP:6443 (the apiserver
      // inside), validates the CA against the hash and reads the cluster's configuration with the bootstrap token
      const ignore = ['--ignore-preflight-errors', Object.keys(PREFLIGHT).join(',')];
      const ok = await join(cp, ['preflight', ...joinFlags, ...ignore]);
      assert.equal(ok.exitCode, 0, String(ok.stderr));
      assert.match(
        String(ok.stdout),
        /\[preflight\] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"/,
      );

      // a wrong CA hash is refused by the discovery
      const wrong = joinFlags.map((f) =>
        f.startsWith('sha256:') ? `sha256:${'0'.repeat(64)}` : f,
      );
      const bad = await join(cp, ['preflight', ...wrong, ...ignore]);
      assert.notEqual(bad.exitCode, 0);
      assert.match(String(bad.stderr), /none of the public keys|public key .* not pinned/i);
    });

    it('join phase preflight --discovery-file: the cluster CA in a kubeconfig discovers the cluster, another CA is refused', async (t) => {
      if (!cp || !joinFlags.length) return t.skip('no control plane');
      const dir = await mkdtemp(path.join(tmpdir(), 'u7s-discovery-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const good = path.join(dir, 'discovery.conf');
      await writeFile(good, discoveryFile(`https://${cp.extIP}:6443`, cp.caPem));
      const other = await makeTestCert(dir, 'other-ca');
      const wrong = path.join(dir, 'wrong-ca.conf');
      await writeFile(wrong, discoveryFile(`https://${cp.extIP}:6443`, other.cert));
      // the endpoint comes from the file; --token is the TLS bootstrap token (as kubeadm takes it)
      const token = joinFlags[joinFlags.indexOf('--token') + 1]!;
      const fileFlags = [
        '--discovery-file',
        good,
        '--token',
        token,
        '--apiserver-advertise-address',
        cp.extIP,
        '--node-name',
        'u7s-node1',
        '--ignore-preflight-errors',
        Object.keys(PREFLIGHT).join(','),
      ];
      const ok = await join(cp, ['preflight', ...fileFlags]);
      assert.equal(ok.exitCode, 0, String(ok.stderr));
      assert.match(
        String(ok.stdout),
        /\[preflight\] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"/,
      );
      // kubeadm read the wrapper's root-owned copy (the namespace sees /etc/podsec), which a join phase keeps
      const copy = await stat('/etc/podsec/u7s/kubeadm/discovery.conf');
      // u7s-admin's group (that of u7s-admin's home)
      const gid = (await stat('/var/lib/u7s-admin')).gid;
      assert.deepEqual([copy.uid, copy.gid, copy.mode & 0o777], [0, gid, 0o640]);
      assert.notEqual(gid, 0);

      // another CA: kubeadm cannot verify the API server and gives up after its discovery timeout, which the
      // wrapper ends 10 s before its own --timeout (kubeadm's default would be 5 min)
      const started = Date.now();
      const bad = await join(cp, [
        'preflight',
        ...fileFlags.map((f) => (f === good ? wrong : f)),
        '--timeout',
        '20',
      ]);
      const ms = Date.now() - started;
      t.diagnostic(`wrong CA refused after ${ms} ms`);
      assert.equal(bad.exitCode, 1, String(bad.stderr));
      assert.match(String(bad.stderr), /couldn't validate the identity of the API Server/);
      assert.match(String(bad.stderr), /x509: certificate signed by unknown authority/);
      assert.match(String(bad.stderr), /kubeadm join phase preflight failed with exit status 1/);
      assert.ok(ms < 20_000, `${ms} ms`);
    });

    it('join phase control-plane-prepare download-certs: the kubeadm-certs Secret, decrypted with the certificate key', async (t) => {
      if (!cp || !joinFlags.length) return t.skip('no control plane');
      const cpFlags = [...joinFlags, '--control-plane', '--certificate-key', CERT_KEY];
      const r = await join(cp, ['control-plane-prepare', 'download-certs', ...cpFlags]);
      assert.equal(r.exitCode, 0, String(r.stderr));
      assert.match(
        String(r.stdout),
        /\[download-certs\] Downloading the certificates in Secret "kubeadm-certs"/,
      );
      const ca = await cp.u7s(['enter', '--', 'cat', '/etc/kubernetes/pki/ca.crt']);
      assert.equal(String(ca.stdout), cp.caPem);
      const wrongKey = cpFlags.map((f) => (f === CERT_KEY ? 'f'.repeat(64) : f));
      const bad = await join(cp, ['control-plane-prepare', 'download-certs', ...wrongKey]);
      assert.notEqual(bad.exitCode, 0);
      assert.match(String(bad.stderr), /decrypt|message authentication failed/i);
    });

    it("join phase kubelet-start: the cluster's kubelet configuration with the rootless settings over it, and again after upgrade node phase kubelet-config", async (t) => {
      if (!cp || !joinFlags.length) return t.skip('no control plane');
      const tools = requireCommands(t, ['kubectl']);
      if (!tools) return;
      const c = cp;
      // the cluster's kubelet-config as a rootful first node uploads it: systemd cgroup driver, swap refused, another
      // feature gate, no user-namespace gate (our init's would already carry the rootless settings)
      const kubectl = (args: readonly string[], input?: string) =>
        execa(tools.kubectl, [`--kubeconfig=${c.kubeconfig}`, ...args], {
          reject: false,
          timeout: 60_000,
          ...(input === undefined ? {} : { input }),
          env: { HOME: path.dirname(c.kubeconfig) },
        });
      const rootful = (maxPods: number) =>
        [
          'apiVersion: kubelet.config.k8s.io/v1beta1',
          'kind: KubeletConfiguration',
          'cgroupDriver: systemd',
          'failSwapOn: true',
          `maxPods: ${maxPods}`,
          'clusterDNS: [10.96.0.10]',
          'clusterDomain: cluster.local',
          'featureGates:',
          '  Foo: true',
          '',
        ].join('\n');
      const setClusterConfig = async (maxPods: number) => {
        const cm = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'kubelet-config', namespace: 'kube-system' },
          data: { kubelet: rootful(maxPods) },
        };
        const r = await kubectl(['apply', '-f', '-'], JSON.stringify(cm));
        assert.equal(r.exitCode, 0, r.stderr);
      };
      const config = `${DATA}/_var_lib_kubelet/config.yaml`;
      const rootless = async (maxPods: number) => {
        const doc = parseYaml(await readFile(config, 'utf8')) as Record<string, unknown>;
        // the node's rootless settings ...
        assert.equal(doc['cgroupDriver'], 'cgroupfs');
        assert.equal(doc['failSwapOn'], false);
        assert.equal(doc['localStorageCapacityIsolation'], false);
        assert.equal(doc['cgroupsPerQOS'], true);
        assert.deepEqual(doc['enforceNodeAllocatable'], []);
        assert.deepEqual(doc['evictionHard'], { 'nodefs.available': '3%' });
        assert.equal(
          doc['volumePluginDir'],
          '/var/lib/u7s-admin/.local/share/usernetes/kubelet-plugins-exec',
        );
        // ... the cluster's gate kept beside the user-namespace gate, the cluster's other keys kept
        assert.deepEqual(doc['featureGates'], { Foo: true, KubeletInUserNamespace: true });
        assert.equal(doc['maxPods'], maxPods);
        assert.deepEqual(doc['clusterDNS'], ['10.96.0.10']);
        assert.equal(doc['kind'], 'KubeletConfiguration');
      };
      await setClusterConfig(111);
      const r = await join(c, ['kubelet-start', ...joinFlags]);
      assert.equal(r.exitCode, 0, String(r.stderr));
      assert.match(
        String(r.stdout),
        /\[kubelet-start\] Writing kubelet configuration to file "\/var\/lib\/kubelet\/config\.yaml"/,
      );
      assert.match(String(r.stdout), /\[kubelet-start\] Starting the kubelet/);
      // the wrapper, not a kubeadm patch of ours, sets the settings (kubeadm's own strategic patch of the
      // instance configuration is there): a join keeps its --patches for the user
      assert.doesNotMatch(
        String(r.stdout),
        /Applied patch of type "application\/merge-patch\+json"/,
      );
      const boot = await c.u7s(['enter', '--', 'cat', '/etc/kubernetes/bootstrap-kubelet.conf']);
      assert.match(String(boot.stdout), /token: [a-z0-9]{6}\.[a-z0-9]{16}/);
      // /var/lib/kubelet inside is u7s-admin's directory on the host
      assert.equal((await stat(config)).uid, c.uid);
      await rootless(111);

      // an upgrade rewrites config.yaml from the cluster's ConfigMap (kubeadm upgrade node, phase kubelet-config):
      // the wrapper sets the rootless settings over the new file
      await setClusterConfig(112);
      // kubeadm upgrade node reads this node's registration from its Node object, which a kubelet would have
      // registered (none runs here: cgroup v1): made as the kubelet would, with kubeadm's CRI annotation
      const node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: 'u7s-node1',
          annotations: { 'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/crio/crio.sock' },
        },
      };
      const made = await kubectl(['apply', '-f', '-'], JSON.stringify(node));
      assert.equal(made.exitCode, 0, made.stderr);
      // on a control-plane node it reads the API endpoint from the annotation of the apiserver's mirror pod, which
      // the kubelet would have posted from the static pod kubeadm wrote: posted here the same way
      const apiserver = parseYaml(
        await readFile('/etc/kubernetes/manifests/kube-apiserver.yaml', 'utf8'),
      ) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
      const mirror = {
        ...apiserver,
        metadata: { ...apiserver.metadata, name: 'kube-apiserver-u7s-node1' },
        spec: { ...apiserver.spec, nodeName: 'u7s-node1' },
      };
      const posted = await kubectl(['apply', '-f', '-'], JSON.stringify(mirror));
      assert.equal(posted.exitCode, 0, posted.stderr);
      const up = await c.kubeadm(['upgrade', 'node', 'phase', 'kubelet-config']);
      t.diagnostic(
        `upgrade node phase kubelet-config: ${String(up.stdout).trim().split('\n').at(-1)}`,
      );
      assert.equal(up.exitCode, 0, String(up.stderr));
      assert.match(String(up.stdout), /\[upgrade\/kubelet-config\]/);
      await rootless(112);
      // kubeadm's own dry run of that phase: shown by the wrapper as its plan, with the patch after it
      const dry = await c.kubeadm(['upgrade', 'node', 'phase', 'kubelet-config', '--dry-run']);
      assert.equal(dry.exitCode, 0, String(dry.stderr));
      assert.match(
        String(dry.stdout),
        /# then: the rootless kubelet settings over \/var\/lib\/kubelet\/config\.yaml/,
      );
    });

    it('join phase kubelet-wait-bootstrap stops at the kubelet healthz, which nothing serves without a kubelet', async (t) => {
      if (!cp || !joinFlags.length) return t.skip('no control plane');
      const c = cp;
      // nothing listens on the kubelet's healthz port inside
      const ss = await c.u7s(['enter', '--', 'ss', '-Hltn', 'sport = :10248']);
      assert.equal(String(ss.stdout).trim(), '');
      // a recorder on 127.0.0.1:10248 inside: notes each request line kubeadm sends, answers 503 (not healthy)
      // in its own session through `podsec-u7s enter`, so that stopping it ends socat inside too
      const rec = await launcher.start({
        name: 'healthz recorder',
        file: process.execPath,
        args: [
          U7S_BUNDLE,
          'enter',
          '--',
          'socat',
          'TCP-LISTEN:10248,bind=127.0.0.1,reuseaddr,fork',
          'SYSTEM:read -r l; echo "$l" >> /var/log/kubelet-healthz-probe; printf "HTTP/1.0 503 Service Unavailable\\r\\n\\r\\n"',
        ],
        env: { PATH: process.env['PATH'], LANG: 'C' },
      });
      try {
        for (let i = 0; i < 100; i++) {
          const l = await c.u7s(['enter', '--', 'ss', '-Hltn', 'sport = :10248']);
          if (String(l.stdout).includes('10248')) break;
          await sleep(100);
        }
        const wait = await join(c, ['kubelet-wait-bootstrap', ...joinFlags, '--timeout', '15']);
        // 5: the wrapper's timeout ended it (kubeadm's own wait would last 4 min)
        assert.equal(wait.exitCode, 5, String(wait.stderr));
        assert.match(
          String(wait.stderr),
          /kubelet-wait-bootstrap did not finish within 15 s and was stopped/,
        );
        // what kubeadm printed until it was stopped is kept: where it waited
        assert.match(
          String(wait.stdout),
          /Waiting for a healthy kubelet at http:\/\/127\.0\.0\.1:10248\/healthz/,
        );
        const seen = await readFile(`${DATA}/_var_log/kubelet-healthz-probe`, 'utf8');
        const polls = seen.split('\n').filter((l) => l.startsWith('GET /healthz HTTP/1.1'));
        t.diagnostic(`kubeadm polled the kubelet healthz ${polls.length} times`);
        assert.ok(polls.length >= 3, seen);
      } finally {
        await rec.stop(2000);
      }
    });
  },
);
