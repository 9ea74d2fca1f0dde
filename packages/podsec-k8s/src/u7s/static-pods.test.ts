// The static-pod runner's pure half against the manifests the real kubeadm writes: kubeadm renders them with our
// init configuration into a scratch root (`--rootfs` makes kubeadm chroot there, so nothing touches the host's
// /etc/kubernetes). Running them inside the namespace is proven by test/e2e/u7s-kubeadm-control-plane.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { k8sBinary, requireCommand } from '@podsec/test-utils';
import { AUDIT, renderKubeadmConfig } from '../kubeadm/render.ts';
import { planNode } from './node-config.ts';
import {
  parseStaticPodManifest,
  planProbeCommand,
  planStaticPodCommand,
  planStaticPods,
  type StaticPod,
} from './static-pods.ts';

const kubeadm = k8sBinary('kubeadm');
const isRoot = process.geteuid?.() === 0;

describe('parseStaticPodManifest', () => {
  let root = '';
  const docs = new Map<string, unknown>();
  before(async () => {
    // kubeadm --rootfs chroots: root only
    if (!kubeadm || !isRoot) return;
    root = await mkdtemp(path.join(tmpdir(), 'static-pods-'));
    const node = planNode({ role: 'initMaster', extIP: '192.0.2.10' });
    await writeFile(
      path.join(root, 'init.yaml'),
      renderKubeadmConfig({
        kind: 'init',
        node,
        kubernetesVersion: 'v1.37.2',
        imageRepository: 'registry.local/c10f',
        advertiseAddress: '192.0.2.10',
        nodeName: 'node1',
      }),
    );
    for (const phase of [
      ['etcd', 'local'],
      ['control-plane', 'all'],
    ])
      await execa(kubeadm, ['init', 'phase', ...phase, '--config', '/init.yaml', '--rootfs', root]);
    const dir = path.join(root, 'etc/kubernetes/manifests');
    for (const f of await readdir(dir))
      docs.set(f, parse(await readFile(path.join(dir, f), 'utf8')));
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  const ready = (t: TestContext) => {
    if (requireCommand(t, 'kubeadm') === undefined) return false;
    if (!isRoot) t.skip('kubeadm --rootfs needs root (chroot)');
    return isRoot;
  };
  const pods = () =>
    planStaticPods(
      [...docs].map(([f, d]) => parseStaticPodManifest(d, `/etc/kubernetes/manifests/${f}`)),
    );

  it('reads the four control-plane pods kubeadm wrote, in start order, with their probes', (t) => {
    if (!ready(t)) return;
    const p = pods();
    assert.deepEqual(
      p.map((x) => [x.name, x.binary, x.probe]),
      [
        ['etcd', 'etcd', { scheme: 'HTTP', host: '127.0.0.1', port: 2381, path: '/readyz' }],
        [
          'kube-apiserver',
          'kube-apiserver',
          { scheme: 'HTTPS', host: '192.0.2.10', port: 6443, path: '/readyz' },
        ],
        [
          'kube-controller-manager',
          'kube-controller-manager',
          { scheme: 'HTTPS', host: '127.0.0.1', port: 10257, path: '/healthz' },
        ],
        [
          'kube-scheduler',
          'kube-scheduler',
          { scheme: 'HTTPS', host: '127.0.0.1', port: 10259, path: '/readyz' },
        ],
      ],
    );
    const api = p[1]!;
    // the rendered audit flags reach the process's command line
    for (const f of [
      `--audit-policy-file=${AUDIT.policy}`,
      `--audit-log-path=${AUDIT.log}`,
      '--audit-log-maxsize=500',
      '--audit-log-maxbackup=3',
    ])
      assert.ok(api.args.includes(f), f);
    assert.ok(api.hostPaths.some((h) => h.path === AUDIT.logDir && h.type === 'DirectoryOrCreate'));
    assert.ok(p[0]!.args.includes('--data-dir=/var/lib/podsec/u7s/etcd'));
  });

  it('runs the binary from the given directory inside the namespace as its user (setpriv, nsenter)', (t) => {
    if (!ready(t)) return;
    const etcd = pods()[0]!;
    const argv = planStaticPodCommand(etcd, {
      binDir: '/opt/k8s/bin/',
      namespace: { pid: 4242, user: { name: 'u7s-admin', uid: 990, gid: 990, home: '/h' } },
      self: { uid: 0 },
    });
    assert.equal(argv.file, 'setpriv');
    assert.deepEqual(argv.args.slice(0, 4), ['--reuid=990', '--regid=990', '--init-groups', '--']);
    // the command is the last part, after the inner setpriv that ties it to nsenter
    const cmd = argv.args.slice(argv.args.lastIndexOf('--pdeathsig=KILL') + 2);
    assert.deepEqual(cmd, ['/opt/k8s/bin/etcd', ...etcd.args]);
    assert.ok(argv.args.includes('-t') && argv.args.includes('4242'));
  });

  it('refuses what it cannot run as the kubelet would, naming the manifest', (t) => {
    if (!ready(t)) return;
    const api = structuredClone(docs.get('kube-apiserver.yaml')) as {
      spec: {
        containers: {
          command: string[];
          args?: unknown[];
          volumeMounts: { mountPath: string }[];
          readinessProbe?: unknown;
          startupProbe?: unknown;
          livenessProbe?: unknown;
        }[];
        volumes: unknown[];
        hostNetwork?: boolean;
      };
    };
    const bad = (mutate: (d: typeof api) => void, why: RegExp) => {
      const d = structuredClone(api);
      mutate(d);
      assert.throws(
        () => parseStaticPodManifest(d, '/etc/kubernetes/manifests/x.yaml'),
        (e: Error & { code?: string }) =>
          e.code === 'U7S_BAD_MANIFEST' &&
          e.message.startsWith('/etc/kubernetes/manifests/x.yaml: ') &&
          why.test(e.message),
      );
    };
    const c = (d: typeof api) => d.spec.containers[0]!;
    bad((d) => (c(d).command[0] = '/bin/sh'), /not a control-plane binary/);
    bad((d) => (c(d).command[0] = 'kubelet'), /not a control-plane binary/);
    bad((d) => c(d).command.push('; rm -rf /'), /not a --flag/);
    bad((d) => (c(d).args = ['positional']), /not a --flag/);
    bad((d) => c(d).command.push('--x=a\nb'), /not a --flag/);
    bad((d) => (c(d).volumeMounts[0]!.mountPath = '/elsewhere'), /differs from the host path/);
    bad((d) => d.spec.volumes.push({ name: 'e', emptyDir: {} }), /only hostPath/);
    bad((d) => delete d.spec.hostNetwork, /hostNetwork/);
    bad((d) => d.spec.containers.push(c(d)), /exactly one container/);
    bad((d) => {
      delete c(d).readinessProbe;
      delete c(d).startupProbe;
      c(d).livenessProbe = { exec: { command: ['true'] } };
    }, /only httpGet/);
    assert.throws(() => parseStaticPodManifest('kind: Pod', '/m/y.yaml'), {
      code: 'U7S_BAD_MANIFEST',
    });
    const one = parseStaticPodManifest(docs.get('etcd.yaml'), '/m/etcd.yaml');
    assert.throws(() => planStaticPods([one, { ...one, manifest: '/m/etcd2.yaml' }]), {
      code: 'U7S_BAD_MANIFEST',
      message: /a second etcd pod/,
    });
  });
});

describe('planProbeCommand', () => {
  it('probes as the kubelet does: HTTPS without certificate checks, bounded, 2xx only, no proxy', () => {
    assert.deepEqual(
      planProbeCommand({ scheme: 'HTTPS', host: '192.0.2.10', port: 6443, path: '/readyz' }),
      [
        'curl',
        '--silent',
        '--fail',
        '--insecure',
        '--noproxy',
        '*',
        '--max-time',
        '3',
        '--output',
        '/dev/null',
        'https://192.0.2.10:6443/readyz',
      ],
    );
    const p: StaticPod['probe'] = { scheme: 'HTTP', host: '::1', port: 2381, path: '/livez' };
    assert.equal(planProbeCommand(p).at(-1), 'http://[::1]:2381/livez');
  });
});
