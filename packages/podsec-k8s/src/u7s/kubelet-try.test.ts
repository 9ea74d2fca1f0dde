// The kubelet for real inside the u7s namespace: a real system user, the real RootlessKit namespace of
// startU7sNamespace, containerd (Debian's) started inside it as the namespace's payload and serving CRI, and
// the real kubelet of tools/k8s-bin run inside with the KubeletConfiguration that renderKubeadmConfig
// renders. On this host (cgroup v1 hybrid, no systemd as PID 1) the kubelet refuses to start; the test
// asserts that precise refusal and that preflight names the same reason.
//
// The account is a dedicated test user (not u7s-admin) so that this file cannot disturb the other tests
// that create, use and remove u7s-admin at the same time on this shared machine; the namespace, its flags
// and the child phase are exactly those of u7s-admin's.
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { createMemoryReporter, createNodeSystem } from '@podsec/core/system';
import { ensureNamespaceUser, type UserNamespace } from '@podsec/core/userns';
import { allowTun, k8sBinary, removeTestUser, requireCommands } from '@podsec/test-utils';
import { renderKubeadmConfig } from '../kubeadm/render.ts';
import { CHILD_SCRIPT, userPaths } from '../paths.ts';
import { CHILD_SCRIPT_TEXT } from './child-script.ts';
import { startU7sNamespace } from './namespace.ts';
import { planNode } from './node-config.ts';
import {
  KUBELET_CGROUP_V1_NO_DELEGATION,
  KUBELET_CGROUP_V1_REFUSAL,
  planPreflight,
  readPreflightFacts,
} from './preflight.ts';

const isRoot = process.geteuid?.() === 0;
const USER = 'u7s-kubelet-try';
const HOME = `/var/lib/${USER}`;

function containerdConfig(uid: number, home: string): string {
  const p = userPaths(uid, home);
  return `version = 2
root = "${p.usernetesData}/containerd"
state = "${p.runtime}/usernetes/containerd"
[grpc]
  address = "${p.crioSocket}"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "${home}/cni"
`;
}

describe('the real kubelet inside the u7s namespace', { skip: !isRoot && 'needs root' }, () => {
  const sys = createNodeSystem({
    env: { PATH: process.env['PATH'] },
    report: createMemoryReporter(),
    tag: 'kubelet-try',
  });
  let libexec = '';
  let ns: UserNamespace | undefined;
  before(async () => {
    await removeTestUser(USER);
    libexec = await mkdtemp(path.join(tmpdir(), 'u7s-kubelet-libexec-'));
    await chmod(libexec, 0o755);
  });
  after(async () => {
    await ns?.stop(10_000);
    await removeTestUser(USER);
    await rm(libexec, { recursive: true, force: true });
  });

  it('refuses to run on this cgroup v1 host with the precise error, and preflight names it', async (t) => {
    const tools = requireCommands(t, [
      'rootlesskit',
      'slirp4netns',
      'nsenter',
      'setpriv',
      'containerd',
      'kubelet',
    ]);
    if (!tools) return;
    await allowTun(t);
    const u = await ensureNamespaceUser(sys, { name: USER, home: HOME, comment: 'kubelet try' });
    const p = userPaths(u.uid, u.home);
    // the root-owned child phase, as provisioning installs it
    await writeFile(path.join(libexec, CHILD_SCRIPT), CHILD_SCRIPT_TEXT, { mode: 0o755 });
    const cfgDir = await mkdtemp(path.join(tmpdir(), 'u7s-kubelet-cfg-'));
    t.after(() => rm(cfgDir, { recursive: true, force: true }));
    await chmod(cfgDir, 0o755);
    await writeFile(path.join(cfgDir, 'containerd.toml'), containerdConfig(u.uid, u.home), {
      mode: 0o644,
    });
    // the kubelet configuration exactly as the kubeadm configuration renders it (one of its documents)
    const rendered = renderKubeadmConfig({
      kind: 'init',
      node: planNode({ role: 'initMaster', extIP: '192.0.2.10' }),
      kubernetesVersion: 'v1.37.2',
      imageRepository: 'registry.local/c10f',
      advertiseAddress: '192.0.2.10',
      nodeName: 'kubelet-try',
      home: u.home,
    });
    const kubeletDoc = parseAllDocuments(rendered)
      .map((d) => d.toJS() as { kind?: string })
      .find((d) => d.kind === 'KubeletConfiguration');
    assert.ok(kubeletDoc);
    await writeFile(path.join(cfgDir, 'kubelet.yaml'), JSON.stringify(kubeletDoc), { mode: 0o644 });

    ns = await startU7sNamespace(sys, {
      node: planNode({ role: '' }),
      user: USER,
      libexec,
      payload: [tools.containerd, '--config', path.join(cfgDir, 'containerd.toml')],
      ports: [],
      restart: false,
      readyTimeoutMs: 30_000,
    });
    // the built binaries live under root's 0700 home: the namespace user runs copies
    const inside = async (file: string | undefined) => {
      if (file === undefined) return undefined;
      const to = path.join(cfgDir, path.basename(file));
      await copyFile(file, to);
      await chmod(to, 0o755);
      return to;
    };
    const kubelet = (await inside(tools.kubelet))!;
    const crictl = await inside(k8sBinary('crictl'));
    // containerd answers CRI inside the namespace (bounded)
    // containerd stands in for cri-o: it listens where the child phase waits for the CRI launcher's socket
    const sock = p.crioSocket;
    let cri = '';
    for (let i = 0; i < 40 && crictl; i++) {
      const r = await ns.run([crictl, '--runtime-endpoint', `unix://${sock}`, 'version'], {
        timeoutMs: 10_000,
      });
      cri = `${r.stdout}${r.stderr}`;
      if (r.exitCode === 0) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    if (crictl) assert.match(cri, /RuntimeName:\s+containerd/, cri);

    const r = await ns.run(
      [
        kubelet,
        `--config=${path.join(cfgDir, 'kubelet.yaml')}`,
        `--container-runtime-endpoint=unix://${sock}`,
        `--root-dir=${p.usernetesData}/kubelet`,
        `--cert-dir=${p.usernetesData}/kubelet/pki`,
        '--hostname-override=kubelet-try',
        '-v=1',
      ],
      { timeoutMs: 60_000 },
    );
    const out = `${r.stdout}\n${r.stderr}`;
    assert.notEqual(r.exitCode, 0, 'the kubelet must not run here');
    // the error line: E... run.go] "command failed" err="failed to validate kubelet configuration, error:
    // kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported ..."
    assert.match(
      out,
      /"command failed" err="failed to validate kubelet configuration, error: kubelet is configured to not run on a host using cgroup v1\./,
    );
    assert.ok(out.includes(KUBELET_CGROUP_V1_REFUSAL));

    // beyond the rendered configuration: with that guard off (and standalone authentication), the kubelet
    // gets as far as its container manager, which cannot create the kubepods cgroup: cgroup v1 has no
    // delegation, so the namespace's root may not mkdir in any v1 hierarchy
    await writeFile(
      path.join(cfgDir, 'kubelet-v1.yaml'),
      JSON.stringify({
        ...kubeletDoc,
        failCgroupV1: false,
        authentication: { webhook: { enabled: false }, anonymous: { enabled: true } },
        authorization: { mode: 'AlwaysAllow' },
      }),
      { mode: 0o644 },
    );
    const r2 = await ns.run(
      [
        kubelet,
        `--config=${path.join(cfgDir, 'kubelet-v1.yaml')}`,
        `--container-runtime-endpoint=unix://${sock}`,
        `--root-dir=${p.usernetesData}/kubelet`,
        `--cert-dir=${p.usernetesData}/kubelet/pki`,
        '--hostname-override=kubelet-try',
      ],
      { timeoutMs: 60_000 },
    );
    const out2 = `${r2.stdout}\n${r2.stderr}`;
    assert.notEqual(r2.exitCode, 0);
    assert.match(
      out2,
      new RegExp(
        `"${KUBELET_CGROUP_V1_NO_DELEGATION}" err="mkdir /sys/fs/cgroup/[a-z_,]+/kubepods: permission denied"`,
      ),
      out2.slice(-3000),
    );

    const checks = planPreflight(await readPreflightFacts(sys, { user: USER }));
    const cg = checks.find((c) => c.id === 'cgroup');
    assert.equal(cg?.status, 'fail');
    assert.ok(cg.message.includes(KUBELET_CGROUP_V1_REFUSAL), cg.message);
    assert.ok(cg.message.includes(KUBELET_CGROUP_V1_NO_DELEGATION), cg.message);
  });
});
