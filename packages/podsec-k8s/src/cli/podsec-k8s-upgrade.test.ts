import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import {
  buildTinyImage,
  CONTROL_PLANE_BINARIES,
  createTestSystem,
  freePort,
  k8sBinary,
  requireCommands,
  runProgram,
  startControlPlane,
  startRegistry,
  type ControlPlane,
} from '@podsec/test-utils';
import { planUpgrade, type UpgradeInput, type UpgradePlan } from '../upgrade/plan-upgrade.ts';
import { kubectlEnv } from '../upgrade/upgrade.ts';
import { cli } from './podsec-k8s-upgrade.ts';

const node = (name: string, v: string, cp = false) => ({
  name,
  kubeletVersion: v,
  controlPlane: cp,
  unschedulable: false,
});
const BASE: UpgradeInput = {
  master: 'm1',
  self: 'm1',
  serverVersion: 'v1.36.4',
  nodes: [node('m1', 'v1.36.4', true), node('m2', 'v1.36.4', true), node('w1', 'v1.35.9')],
  available: ['v1.37.9', 'v1.37.11', 'v1.38.0', 'v1.36.5'],
  kubeconfig: '/etc/kubernetes/admin.conf',
};
const summary = (i: UpgradeInput) =>
  planUpgrade(i).phases.map((p) => [
    p.version,
    p.steps.map((s) =>
      s.kind === 'run'
        ? `${s.file} ${s.args.filter((a) => !a.startsWith('--kubeconfig')).join(' ')}`
        : `wait ${s.nodes.join(',')}>=1.${s.minor}`,
    ),
  ]);

describe('planUpgrade', () => {
  it('steps the first control plane one minor at a time, latest patch by semantic order, apply then restart', () => {
    assert.deepEqual(summary(BASE), [
      [
        'v1.37.11',
        [
          'wait m2,w1>=1.36',
          'kubectl drain m1 --ignore-daemonsets --delete-emptydir-data --timeout=300s',
          'kubeadm upgrade plan v1.37.11',
          'kubeadm upgrade apply -y v1.37.11',
          'systemctl restart kubelet.service',
          'kubectl uncordon m1',
          'wait m1>=1.37',
        ],
      ],
      [
        'v1.38.0',
        [
          'wait m2,w1>=1.37',
          'kubectl drain m1 --ignore-daemonsets --delete-emptydir-data --timeout=300s',
          'kubeadm upgrade plan v1.38.0',
          'kubeadm upgrade apply -y v1.38.0',
          'systemctl restart kubelet.service',
          'kubectl uncordon m1',
          'wait m1>=1.38',
        ],
      ],
    ]);
  });

  it('gives other nodes kubeadm upgrade node after the first control plane, and the rootless kubelet unit', () => {
    const s = summary({ ...BASE, self: 'w1', toMinor: '1.37', rootless: true });
    assert.deepEqual(s, [
      [
        'v1.37.11',
        [
          'wait m1>=1.37',
          'kubectl drain w1 --ignore-daemonsets --delete-emptydir-data --timeout=300s',
          'podsec-u7s-kubeadm upgrade node',
          'systemctl --user -M u7s-admin@ restart kubelet.service',
          'kubectl uncordon w1',
          'wait w1>=1.37',
        ],
      ],
    ]);
  });

  it('refuses: unknown master, a worker as master, this host not a node, skew, a missing minor, no newer version', () => {
    assert.throws(() => planUpgrade({ ...BASE, master: 'x' }), { code: 'UPGRADE_NO_MASTER' });
    assert.throws(() => planUpgrade({ ...BASE, master: 'w1' }), {
      code: 'UPGRADE_NOT_CONTROL_PLANE',
    });
    assert.throws(() => planUpgrade({ ...BASE, self: 'other' }), { code: 'UPGRADE_NO_SELF' });
    assert.throws(() => planUpgrade({ ...BASE, nodes: [...BASE.nodes, node('w2', 'v1.34.1')] }), {
      code: 'UPGRADE_SKEW',
      message: /w2 runs kubelet 1\.34 beside API server 1\.36/,
    });
    assert.throws(() => planUpgrade({ ...BASE, nodes: [...BASE.nodes, node('w3', 'v1.37.0')] }), {
      code: 'UPGRADE_SKEW',
    });
    assert.throws(() => planUpgrade({ ...BASE, available: ['v1.38.0'], toMinor: '1.38' }), {
      code: 'UPGRADE_MINOR_MISSING',
      message: /no 1\.37 release/,
    });
    assert.throws(() => planUpgrade({ ...BASE, toMinor: '1.36' }), { code: 'UPGRADE_NOTHING' });
  });
});

/** A test system whose kubectl is `kubectl`, with a HOME of its own (its cache, not ./.kube of the cwd). */
async function kubectlSystem(t: TestContext, kubectl: string) {
  const home = await mkdtemp(path.join(tmpdir(), 'upgrade-home-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  return createTestSystem(t, {
    env: { PATH: `${path.dirname(kubectl)}:${process.env['PATH']}`, HOME: home },
  });
}

describe('podsec-k8s-upgrade against a real control plane', () => {
  let cp: ControlPlane | undefined;
  let kubectl = '';
  before(async () => {
    const k = k8sBinary('kubectl');
    if (!k || CONTROL_PLANE_BINARIES.some((b) => !k8sBinary(b))) return;
    kubectl = k;
    cp = await startControlPlane();
    // nodes as kubelets would register them (no kubelet can run here: cgroup v1), status through its subresource
    for (const [name, cpNode] of [
      ['m1', true],
      ['w1', false],
    ] as const) {
      const manifest = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: cpNode ? { 'node-role.kubernetes.io/control-plane': '' } : {},
        },
      };
      await execa(kubectl, [`--kubeconfig=${cp.kubeconfigPath}`, 'apply', '-f', '-'], {
        input: JSON.stringify(manifest),
      });
    }
  });
  after(async () => {
    await cp?.stop();
  });
  // what a kubelet of that version would report, through the status subresource
  const setKubelet = (name: string, version: string) =>
    execa(kubectl, [
      `--kubeconfig=${cp!.kubeconfigPath}`,
      'patch',
      'node',
      name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { nodeInfo: { kubeletVersion: version } } }),
    ]);
  const serverVersion = async () =>
    (
      JSON.parse(
        (await execa(kubectl, [`--kubeconfig=${cp!.kubeconfigPath}`, 'version', '-o', 'json']))
          .stdout,
      ) as { serverVersion: { gitVersion: string } }
    ).serverVersion.gitVersion;

  it('--dry-run reads the node versions from the API and prints the plan', async (t) => {
    const tools = requireCommands(t, [...CONTROL_PLANE_BINARIES, 'kubectl']);
    if (!tools || !cp) return;
    const gitVersion = await serverVersion();
    const cur = Number(/^v1\.(\d+)\./.exec(gitVersion)![1]);
    await setKubelet('m1', gitVersion);
    await setKubelet('w1', `v1.${cur - 1}.3`);
    const sys = await kubectlSystem(t, kubectl);
    const next = `v1.${cur + 1}.2`;
    // the CLI's environment has no HOME: kubectl must not put its discovery cache into the current directory
    const cwdKube = path.join(process.cwd(), '.kube');
    const hadCwdKube = existsSync(cwdKube);
    const r = await runProgram(
      cli,
      [
        'm1',
        '--node',
        'w1',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--available',
        `${next},v1.${cur + 1}.10`,
        '--dry-run',
        '--json',
      ],
      { system: sys },
    );
    assert.equal(r.code, 0, r.stderr);
    if (!hadCwdKube) assert.equal(existsSync(cwdKube), false, `kubectl wrote ${cwdKube}`);
    const doc = JSON.parse(r.stdout) as {
      dryRun: boolean;
      plan: { role: string; from: string; to: string };
    };
    assert.equal(doc.dryRun, true);
    assert.equal(doc.plan.role, 'worker');
    assert.equal(doc.plan.from, gitVersion);
    assert.equal(doc.plan.to, `v1.${cur + 1}.10`);

    // a node two minors behind: refused with exit 2, naming it
    await setKubelet('w1', `v1.${cur - 2}.0`);
    const skew = await runProgram(
      cli,
      ['m1', '--node', 'w1', '--kubeconfig', cp.kubeconfigPath, '--available', next, '--dry-run'],
      { system: sys },
    );
    assert.equal(skew.code, 2, skew.stderr);
    assert.match(skew.stderr, /w1/);
  });

  it('the real run executes exactly the steps of the dry run, in order: kubectl for real, kubeadm and systemctl recorded', async (t) => {
    const tools = requireCommands(t, [...CONTROL_PLANE_BINARIES, 'kubectl']);
    if (!tools || !cp) return;
    const gitVersion = await serverVersion();
    const cur = Number(/^v1\.(\d+)\./.exec(gitVersion)![1]);
    const next = `v1.${cur + 1}.0`;
    for (const name of ['m1', 'w1']) await setKubelet(name, gitVersion);
    // Recorders first in PATH, each appending its argv to one log. kubectl is the real one behind its recorder
    // (drain, uncordon and the waits' node reads go to the real API server). kubeadm is recorded only: the one
    // kubeadm here is the cluster's own version, which cannot upgrade to a newer minor, and this cluster is not
    // kubeadm-made (the real `upgrade node phase kubelet-config` runs in the u7s join e2e). systemctl is recorded
    // only: no systemd as PID 1 and no kubelet here (cgroup v1), so its recorder stands in for the restarted
    // kubelet, reporting the new version through the node's status as that kubelet would. The kubeadm recorder
    // also notes whether the node was cordoned (drained) when kubeadm ran.
    const dir = await mkdtemp(path.join(tmpdir(), 'upgrade-rec-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const log = path.join(dir, 'calls.log');
    const kc = `--kubeconfig=${cp.kubeconfigPath}`;
    const script = (body: string) =>
      `#!/bin/sh\nprintf '%s\\n' "$(basename "$0") $*" >> ${log}\n${body}\n`;
    await writeFile(path.join(dir, 'kubectl'), script(`exec ${tools.kubectl} "$@"`), {
      mode: 0o755,
    });
    // kubeadm, and the wrapper a rootless node runs it through
    for (const name of ['kubeadm', 'podsec-u7s-kubeadm'])
      await writeFile(
        path.join(dir, name),
        script(
          `printf 'cordoned=%s\\n' "$(${tools.kubectl} ${kc} get node m1 -o jsonpath='{.spec.unschedulable}')" >> ${log}`,
        ),
        { mode: 0o755 },
      );
    const status = JSON.stringify({ status: { nodeInfo: { kubeletVersion: next } } });
    await writeFile(
      path.join(dir, 'systemctl'),
      script(
        `${tools.kubectl} ${kc} patch node m1 --subresource=status --type=merge -p '${status}' >/dev/null`,
      ),
      { mode: 0o755 },
    );
    const home = await mkdtemp(path.join(tmpdir(), 'upgrade-home-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const sys = await createTestSystem(t, {
      env: { PATH: `${dir}:${process.env['PATH']}`, HOME: home },
    });
    const calls = async () => {
      const text = await readFile(log, 'utf8').catch(() => '');
      await rm(log, { force: true });
      return text.split('\n').filter(Boolean);
    };

    // a rootful node, then a rootless one (kubeadm through the wrapper, the kubelet the user unit)
    for (const rootless of [false, true]) {
      for (const name of ['m1', 'w1']) await setKubelet(name, gitVersion);
      const args = [
        'm1',
        '--node',
        'm1',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--available',
        next,
        ...(rootless ? ['--rootless'] : []),
      ];
      const dry = await runProgram(cli, [...args, '--dry-run', '--json'], { system: sys });
      assert.equal(dry.code, 0, dry.stderr);
      const plan = (JSON.parse(dry.stdout) as { plan: UpgradePlan }).plan;
      // the dry run only read the cluster
      assert.deepEqual(await calls(), [
        `kubectl ${kc} --request-timeout=10s version -o json`,
        `kubectl ${kc} --request-timeout=10s get nodes -o json`,
      ]);

      const run = await runProgram(cli, [...args, '--json'], { system: sys });
      assert.equal(run.code, 0, run.stderr);
      const ran = (JSON.parse(run.stdout) as { plan: UpgradePlan }).plan;
      // the run executed the plan its dry run printed ...
      assert.deepEqual(ran, plan);
      // ... step by step, in order: a run step is one call with its argv; a wait step is the node reads until it holds
      const read = `kubectl ${kc} --request-timeout=10s get nodes -o json`;
      const expected = [`kubectl ${kc} --request-timeout=10s version -o json`, read];
      for (const s of plan.phases.flatMap((p) => p.steps))
        if (s.kind === 'wait') expected.push('wait');
        else {
          expected.push([s.file, ...s.args].join(' '));
          if (s.file.endsWith('kubeadm')) expected.push('cordoned=true');
        }
      const seen: string[] = [];
      for (const c of (await calls()).slice(2))
        if (c === read) {
          if (seen.at(-1) !== 'wait') seen.push('wait');
        } else seen.push(c);
      assert.deepEqual([expected[0], expected[1], ...seen], expected);
      assert.deepEqual(
        plan.phases.flatMap((p) => p.steps.map((s) => s.kind)),
        ['wait', 'run', 'run', 'run', 'run', 'run', 'wait'],
      );
      assert.equal(
        plan.phases[0]!.steps.filter((s) => s.kind === 'run' && s.file === 'podsec-u7s-kubeadm')
          .length,
        rootless ? 2 : 0,
      );
      // after the run: the node is schedulable again and reports the new kubelet
      const node = JSON.parse(
        (await execa(tools.kubectl, [kc, 'get', 'node', 'm1', '-o', 'json'])).stdout,
      ) as { spec?: { unschedulable?: boolean }; status: { nodeInfo: { kubeletVersion: string } } };
      assert.equal(node.spec?.unschedulable ?? false, false);
      assert.equal(node.status.nodeInfo.kubeletVersion, next);
    }
  });

  it('--tags-from reads the versions from the tags of a real registry; one source of versions is required', async (t) => {
    const tools = requireCommands(t, [
      ...CONTROL_PLANE_BINARIES,
      'kubectl',
      'docker-registry',
      'buildah',
      'skopeo',
    ]);
    if (!tools || !cp) return;
    const gitVersion = await serverVersion();
    const cur = Number(/^v1\.(\d+)\./.exec(gitVersion)![1]);
    for (const name of ['m1', 'w1']) await setKubelet(name, gitVersion);
    const reg = await startRegistry();
    t.after(() => reg.stop());
    // one tiny image, tagged as the registry would offer kube-apiserver releases (and a tag that is none)
    const repo = 'c10f/kube-apiserver';
    const first = `v1.${cur + 1}.2`;
    await buildTinyImage(reg.host, repo, first);
    for (const tag of [`v1.${cur + 1}.10`, `v1.${cur + 2}.0`, 'latest'])
      await execa('skopeo', [
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${reg.host}/${repo}:${first}`,
        `docker://${reg.host}/${repo}:${tag}`,
      ]);
    const sys = await kubectlSystem(t, kubectl);
    const args = ['m1', '--node', 'm1', '--kubeconfig', cp.kubeconfigPath, '--dry-run', '--json'];
    const r = await runProgram(cli, [...args, '--tags-from', `${reg.url}/${repo}`], {
      system: sys,
    });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      plan: { to: string; phases: { version: string }[] };
    };
    // one minor at a time, the latest patch of each by semantic order (v1.N.10 after v1.N.2)
    assert.deepEqual(
      doc.plan.phases.map((p) => p.version),
      [`v1.${cur + 1}.10`, `v1.${cur + 2}.0`],
    );
    // no source, both sources, a bad URL, a repository the registry does not have: refused before anything
    for (const [extra, code, re] of [
      [[], 1, /--available or --tags-from/],
      [['--available', first, '--tags-from', `${reg.url}/${repo}`], 1, /one of them/],
      [['--tags-from', 'ftp://x/y'], 1, /invalid --tags-from/],
      [['--tags-from', `${reg.url}/c10f/nothing`], 3, /cannot read the versions of .*HTTP 404/],
    ] as [string[], number, RegExp][]) {
      const bad = await runProgram(cli, [...args, ...extra], { system: sys });
      assert.equal(bad.code, code, `${extra.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, re);
    }
  });

  it('refuses clearly, within the bound, when the cluster is unreachable', async (t) => {
    const tools = requireCommands(t, ['kubectl']);
    if (!tools) return;
    const dir = await mkdtemp(path.join(tmpdir(), 'upgrade-kc-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const kc = path.join(dir, 'admin.conf');
    await writeFile(
      kc,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: x}\n`,
    );
    const sys = await kubectlSystem(t, tools.kubectl);
    const started = Date.now();
    const r = await runProgram(
      cli,
      ['m1', '--node', 'm1', '--kubeconfig', kc, '--available', 'v1.38.0'],
      {
        system: sys,
      },
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /not reachable through/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.ok(Date.now() - started < 30_000);
  });
});

describe('kubectlEnv', () => {
  it("gives kubectl root's home when HOME is absent or relative, and keeps an absolute one", () => {
    assert.deepEqual(kubectlEnv({}), { HOME: '/root' });
    assert.deepEqual(kubectlEnv({ HOME: 'tmp' }), { HOME: '/root' });
    assert.deepEqual(kubectlEnv({ HOME: '/var/lib/x' }), { HOME: '/var/lib/x' });
  });
});
