// The API audit as the real kubeadm wires it: `kubeadm init phase control-plane apiserver` with our rendered init
// configuration under --rootfs (kubeadm chroots into a scratch root, nothing touches the host's /etc/kubernetes)
// writes kube-apiserver.yaml with the audit flags, mount and volume exactly once, and a second run writes the same
// bytes. The policy itself is compared with the original's rules one by one.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { parse } from 'yaml';
import { k8sBinary, requireCommand } from '@podsec/test-utils';
import { planNode } from '../u7s/node-config.ts';
import { renderAuditPolicy } from './audit.ts';
import { AUDIT, renderKubeadmConfig } from './render.ts';

const kubeadm = k8sBinary('kubeadm');
const isRoot = process.geteuid?.() === 0;

interface Manifest {
  spec: {
    containers: {
      name: string;
      command: string[];
      volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    }[];
    volumes: { name: string; hostPath?: { path: string; type?: string } }[];
  };
}

describe('the API server manifest kubeadm writes from our configuration', () => {
  let root = '';
  const manifests: string[] = [];
  before(async () => {
    // kubeadm --rootfs chroots: root only
    if (!kubeadm || !isRoot) return;
    root = await mkdtemp(path.join(tmpdir(), 'audit-manifest-'));
    await writeFile(
      path.join(root, 'init.yaml'),
      renderKubeadmConfig({
        kind: 'init',
        node: planNode({ role: 'initMaster', extIP: '192.0.2.10' }),
        kubernetesVersion: 'v1.37.2',
        imageRepository: 'registry.local/c10f',
        advertiseAddress: '192.0.2.10',
        nodeName: 'node1',
      }),
    );
    const file = path.join(root, 'etc/kubernetes/manifests/kube-apiserver.yaml');
    for (let i = 0; i < 2; i++) {
      await execa(
        kubeadm,
        ['init', 'phase', 'control-plane', 'apiserver', '--config', '/init.yaml', '--rootfs', root],
        { timeout: 60_000 },
      );
      manifests.push(await readFile(file, 'utf8'));
    }
  });
  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });
  const ready = (t: TestContext) => {
    if (requireCommand(t, 'kubeadm') === undefined) return false;
    if (!isRoot) t.skip('kubeadm --rootfs needs root (chroot)');
    return isRoot;
  };

  it('has each audit flag once, one audit mount, one DirectoryOrCreate volume; a re-run writes the same bytes', (t) => {
    if (!ready(t)) return;
    const m = parse(manifests[0]!) as Manifest;
    assert.deepEqual(
      m.spec.containers.map((c) => c.name),
      ['kube-apiserver'],
    );
    const c = m.spec.containers[0]!;
    const flags = c.command.filter((a) => a.startsWith('--audit-'));
    assert.deepEqual(flags.sort(), [
      '--audit-log-maxbackup=3',
      '--audit-log-maxsize=500',
      `--audit-log-path=${AUDIT.log}`,
      `--audit-policy-file=${AUDIT.policy}`,
    ]);
    const mounts = c.volumeMounts.filter((v) => v.name === 'audit');
    assert.deepEqual(mounts, [{ name: 'audit', mountPath: AUDIT.dir, readOnly: true }]);
    const volumes = m.spec.volumes.filter((v) => v.name === 'audit');
    assert.deepEqual(volumes, [
      { name: 'audit', hostPath: { path: AUDIT.dir, type: 'DirectoryOrCreate' } },
    ]);
    // the policy file lies inside the mounted directory; the log goes to its own writable volume under /var/log
    assert.ok(AUDIT.policy.startsWith(`${AUDIT.dir}/`));
    assert.deepEqual(
      m.spec.volumes.filter((v) => v.hostPath?.path === AUDIT.logDir),
      [{ name: 'audit-log', hostPath: { path: AUDIT.logDir, type: 'DirectoryOrCreate' } }],
    );
    assert.deepEqual(
      c.volumeMounts.filter((v) => v.mountPath === AUDIT.logDir),
      [{ name: 'audit-log', mountPath: AUDIT.logDir }],
    );
    assert.equal(manifests[1], manifests[0], 'the second run is byte-identical');
  });
});

describe('renderAuditPolicy rule by rule', () => {
  const RR = ['RequestReceived'];
  it("is the original's seven rules in order, first match wins; privileged groups are audited (fix)", () => {
    const p = parse(renderAuditPolicy()) as Record<string, unknown>;
    assert.deepEqual(
      { apiVersion: p['apiVersion'], kind: p['kind'], omitManagedFields: p['omitManagedFields'] },
      { apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitManagedFields: true },
    );
    assert.deepEqual(p['rules'], [
      // 1. the health, metrics and version endpoints
      {
        level: 'None',
        nonResourceURLs: [
          '/healthz*',
          '/logs',
          '/metrics',
          '/swagger*',
          '/version',
          '/readyz',
          '/livez',
        ],
      },
      // 2. the control plane's own components
      {
        level: 'None',
        users: [
          'system:kube-scheduler',
          'system:kube-proxy',
          'system:apiserver',
          'system:kube-controller-manager',
          'system:serviceaccount:gatekeeper-system:gatekeeper-admin',
        ],
      },
      // 3. the original also exempted system:serviceaccounts and system:masters here; they fall through to the
      //    Metadata rule instead: the cluster administrators and every pod's identity are what an audit is for
      { level: 'None', userGroups: ['system:nodes'] },
      // 4.
      {
        level: 'Metadata',
        omitStages: RR,
        resources: [{ group: 'authentication.k8s.io', resources: ['tokenreviews'] }],
      },
      // 5.
      {
        level: 'RequestResponse',
        omitStages: RR,
        resources: [{ group: 'authorization.k8s.io', resources: ['subjectaccessreviews'] }],
      },
      // 6. pod changes in full
      {
        level: 'RequestResponse',
        omitStages: RR,
        verbs: ['create', 'patch', 'update', 'delete'],
        resources: [{ group: '', resources: ['pods'] }],
      },
      // 7. everything else
      { level: 'Metadata', omitStages: RR },
    ]);
    assert.deepEqual(Object.keys(p).sort(), ['apiVersion', 'kind', 'omitManagedFields', 'rules']);
  });
});
