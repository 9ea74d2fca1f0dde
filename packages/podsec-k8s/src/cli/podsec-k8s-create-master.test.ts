import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { createTestSystem, requireCommand, runProgram, snapshotTree } from '@podsec/test-utils';
import { renderMasterConfig, type MasterState } from '../master/create-master.ts';
import { cli } from './podsec-k8s-create-master.ts';

const TREE = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/home/admin:/bin/bash\n',
  'etc/group': 'root:x:0:\nadmin:x:1000:\n',
  'etc/os-release': 'NAME="ALT SP Server"\nALT_BRANCH_ID=c10f2\n',
  'etc/openssh/sshd_config': 'PermitRootLogin no\n',
};
const STATE: MasterState = {
  user: { name: 'admin', uid: 1000, gid: 1000, home: '/home/admin' },
  kubernetesVersion: 'v1.37.2',
  imageRepository: 'registry.local/c10f',
  initialised: false,
  hostCommands: true,
};
const ARGS = ['admin', '--kubernetes-version', 'v1.37.2'];

describe('renderMasterConfig', () => {
  it('renders a configuration the real kubeadm validates, with the audit flags on the API server', async (t) => {
    const kubeadm = requireCommand(t, 'kubeadm');
    if (!kubeadm) return;
    const text = renderMasterConfig(STATE, { user: 'admin', advertiseAddress: '192.0.2.5' });
    const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
    assert.deepEqual(
      docs.map((d) => d['kind']),
      ['InitConfiguration', 'ClusterConfiguration'],
    );
    const cluster = docs[1] as {
      imageRepository: string;
      networking: { podSubnet: string };
      apiServer: { extraArgs: { name: string }[] };
    };
    assert.equal(cluster.imageRepository, 'registry.local/c10f');
    assert.equal(cluster.networking.podSubnet, '10.244.0.0/16');
    assert.deepEqual(
      cluster.apiServer.extraArgs.map((a) => a.name),
      ['audit-policy-file', 'audit-log-path', 'audit-log-maxsize', 'audit-log-maxbackup'],
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'master-cfg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'ok.yaml'), text);
    const ok = await execa(kubeadm, ['config', 'validate', '--config', path.join(dir, 'ok.yaml')], {
      reject: false,
    });
    assert.equal(ok.exitCode, 0, ok.stderr);
    // and kubeadm refuses a broken one (the pod subnet not a CIDR)
    await writeFile(
      path.join(dir, 'bad.yaml'),
      text.replace('podSubnet: 10.244.0.0/16', 'podSubnet: 10.244.0.0'),
    );
    const bad = await execa(
      kubeadm,
      ['config', 'validate', '--config', path.join(dir, 'bad.yaml')],
      {
        reject: false,
      },
    );
    assert.notEqual(bad.exitCode, 0);
  });

  it('refuses a bad version, repository, CIDR or address before anything', () => {
    const o = { user: 'admin' };
    assert.throws(() => renderMasterConfig({ ...STATE, kubernetesVersion: '1.25.0' }, o), {
      code: 'MASTER_BAD_VERSION',
    });
    assert.throws(() => renderMasterConfig({ ...STATE, imageRepository: 'Bad Repo' }, o), {
      code: 'MASTER_BAD_REPOSITORY',
    });
    assert.throws(() => renderMasterConfig(STATE, { ...o, podNetworkCidr: '10.0.0.0/33' }), {
      code: 'U7S_BAD_CIDR',
    });
    assert.throws(() => renderMasterConfig(STATE, { ...o, advertiseAddress: '300.1.1.1' }), {
      code: 'U7S_BAD_ADDRESS',
    });
  });
});

describe('podsec-k8s-create-master under --root', () => {
  it('--dry-run --json prints the plan (files, then the host commands left out) and changes nothing', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE, dryRun: true });
    const before = await snapshotTree(sys.root);
    const r = await runProgram(cli, [...ARGS, '--dry-run', '--json'], { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      dryRun: boolean;
      changes: { target: string }[];
      skipped: string[];
    };
    assert.equal(doc.dryRun, true);
    assert.deepEqual(
      doc.changes.map((c) => c.target).filter((x) => x.startsWith('/etc/kubernetes/')),
      [
        '/etc/kubernetes/podsec',
        '/etc/kubernetes/podsec/kubeadm-master.yaml',
        '/etc/kubernetes/audit',
        '/etc/kubernetes/audit/policy.yaml',
      ],
    );
    assert.deepEqual(doc.skipped, [
      'systemctl enable --now crio kubelet',
      'kubeadm init --config=/etc/kubernetes/podsec/kubeadm-master.yaml',
    ]);
    assert.deepEqual(await snapshotTree(sys.root), before); // the real run on the same tree makes exactly the planned changes and leaves out the same host commands
    const real = await createTestSystem(t, { tree: TREE });
    const done = await runProgram(cli, [...ARGS, '--json'], { system: real });
    assert.equal(done.code, 0, done.stderr);
    const applied = JSON.parse(done.stdout) as typeof doc;
    assert.equal(applied.dryRun, false);
    assert.deepEqual(applied.changes, doc.changes);
    assert.deepEqual(applied.skipped, doc.skipped);
  });

  it('writes root-only files with the platform repository, the kubeconfigs once admin.conf exists, never sshd; a re-run changes nothing', async (t) => {
    const sys = await createTestSystem(t, {
      tree: { ...TREE, 'etc/kubernetes/admin.conf': 'apiVersion: v1\nkind: Config\n' },
    });
    const r = await runProgram(cli, ARGS, { system: sys });
    assert.equal(r.code, 0, r.stderr);
    const cfg = await sys.fs.stat('/etc/kubernetes/podsec/kubeadm-master.yaml');
    assert.equal(cfg?.mode, 0o600);
    assert.match(
      await sys.fs.readText('/etc/kubernetes/podsec/kubeadm-master.yaml'),
      /imageRepository: registry\.local\/c10f/,
    );
    assert.equal((await sys.fs.stat('/etc/kubernetes/audit/policy.yaml'))?.mode, 0o600);
    assert.equal(await sys.fs.readText('/root/.kube/config'), 'apiVersion: v1\nkind: Config\n');
    const user = await sys.fs.stat('/home/admin/.kube/config');
    assert.equal(user?.mode, 0o600);
    assert.equal(user?.uid, 1000);
    assert.equal((await sys.fs.stat('/home/admin/.kube'))?.mode, 0o700);
    assert.equal(await sys.fs.readText('/etc/openssh/sshd_config'), 'PermitRootLogin no\n');
    // initialised: no kubeadm init planned any more
    assert.doesNotMatch(r.stdout, /not run under --root.*kubeadm init/);
    const again = await runProgram(cli, ARGS, { system: sys });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Nothing to change/);
  });

  it('exits 1 with nothing changed for a missing argument, an unknown user, a bad CIDR, or no version under --root', async (t) => {
    const sys = await createTestSystem(t, { tree: TREE });
    const before = await snapshotTree(sys.root);
    for (const [args, re] of [
      [[], /Format:/],
      [['nobody', '--kubernetes-version', 'v1.37.2'], /user nobody does not exist/],
      [[...ARGS, '--pod-network-cidr', '10.0.0.0/33'], /invalid/],
      [['admin'], /--kubernetes-version/],
    ] as const) {
      const r = await runProgram(cli, [...args], { system: sys });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.deepEqual(await snapshotTree(sys.root), before);
  });
});
