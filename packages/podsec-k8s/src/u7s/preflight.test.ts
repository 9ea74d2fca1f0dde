// Preflight, one deliberately broken prerequisite at a time. /proc, /sys and /dev are read through a scratch
// host tree (readPreflightFacts' hostFs), the account and its subordinate ids from a temp root; the version
// skew uses the real kubeadm, kubelet and kube-apiserver of tools/k8s-bin, and fake version printers only for
// the releases that are not built here (a second Kubernetes minor). The last tests read this very machine.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createRootFs } from '@podsec/core/system';
import { parseCgroupMode } from '@podsec/core/userns';
import {
  createTestSystem,
  requireCommands,
  runProgram,
  writeTree,
  type Tree,
} from '@podsec/test-utils';
import { cli } from '../cli/podsec-u7s.ts';
import {
  KUBELET_CGROUP_V1_NO_DELEGATION,
  KUBELET_CGROUP_V1_REFUSAL,
  planPreflight,
  readPreflightFacts,
  U7S_MODULES,
  type PreflightCheck,
} from './preflight.ts';

const UID = 990;
const V2_MOUNTINFO = '30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n';
const HYBRID_MOUNTINFO =
  '31 1 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n' +
  '32 31 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n' +
  '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n';

/** A host that offers everything. */
const GOOD_HOST: Record<string, string | { content: string; mode: number }> = {
  'proc/sys/kernel/osrelease': '6.1.0-28-amd64\n',
  'proc/self/mountinfo': V2_MOUNTINFO,
  'proc/1/comm': 'systemd\n',
  'proc/sys/fs/inotify/max_user_instances': '8192\n',
  'proc/sys/fs/inotify/max_user_watches': '524288\n',
  'proc/sys/user/max_user_namespaces': '63000\n',
  'proc/sys/net/ipv4/ip_forward': '1\n',
  'proc/sys/net/ipv4/ip_unprivileged_port_start': '1024\n',
  'proc/modules': U7S_MODULES.map((m) => `${m} 16384 0 - Live 0x0`).join('\n') + '\n',
  'dev/net/tun': { content: '', mode: 0o666 },
  'sys/fs/cgroup/cgroup.subtree_control': 'cpuset cpu io memory pids\n',
  [`sys/fs/cgroup/user.slice/user-${UID}.slice/user@${UID}.service/cgroup.controllers`]:
    'cpuset cpu io memory pids\n',
};

const ACCOUNT: Tree = {
  'etc/passwd': `root:x:0:0:root:/root:/bin/bash\nu7s-admin:x:${UID}:${UID}::/var/lib/u7s-admin:/bin/sh\n`,
  'etc/group': `root:x:0:\nu7s-admin:x:${UID}:\n`,
  'etc/subuid': 'u7s-admin:100000:65536\n',
  'etc/subgid': 'u7s-admin:100000:65536\n',
};

async function scratch(t: TestContext, tree: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'preflight-host-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const entries = Object.entries(tree).filter(([, v]) => v !== undefined) as [
    string,
    string | { content: string; mode: number },
  ][];
  await writeTree(dir, Object.fromEntries(entries));
  // writeTree applies the mode through the umask: set it exactly
  for (const [rel, v] of entries)
    if (typeof v !== 'string') await chmod(path.join(dir, rel), v.mode);
  return dir;
}

async function check(
  t: TestContext,
  o: { host?: Record<string, unknown>; account?: Tree; binaries?: Record<string, string> } = {},
): Promise<Map<string, PreflightCheck>> {
  const sys = await createTestSystem(t, { tree: { ...ACCOUNT, ...o.account } });
  const hostFs = createRootFs(await scratch(t, { ...GOOD_HOST, ...o.host }));
  const facts = await readPreflightFacts(sys, { hostFs, binaries: o.binaries ?? {} });
  return new Map(planPreflight(facts).map((c) => [c.id, c]));
}

/** Asserts the one check failed (or warned) with its fix. */
function broken(
  c: PreflightCheck | undefined,
  status: 'fail' | 'warn',
  message: RegExp,
  fix: RegExp,
) {
  assert.ok(c, 'check missing');
  assert.equal(c.status, status, JSON.stringify(c));
  assert.match(c.message, message);
  assert.match(c.fix ?? '', fix);
}

const HOST_CHECKS = [
  'kernel',
  'cgroup',
  'cgroup-delegation',
  'systemd',
  'user',
  'subuid',
  'subgid',
  'tun',
  'inotify-instances',
  'inotify-watches',
  'userns',
  'ip-forward',
  'modules',
];

describe('preflight: one broken prerequisite at a time', () => {
  it('passes every host check on a host that offers everything', async (t) => {
    const c = await check(t);
    for (const id of HOST_CHECKS)
      assert.equal(c.get(id)?.status, 'ok', `${id}: ${JSON.stringify(c.get(id))}`);
  });

  it('fails an old kernel', async (t) => {
    const c = await check(t, { host: { 'proc/sys/kernel/osrelease': '5.10.0-32-amd64\n' } });
    broken(c.get('kernel'), 'fail', /kernel 5\.10\.0-32-amd64/, /kernel >= 5\.15/);
  });

  it('fails a cgroup v1 hybrid host and names the kubelet refusal', async (t) => {
    const c = await check(t, { host: { 'proc/self/mountinfo': HYBRID_MOUNTINFO } });
    const cg = c.get('cgroup');
    broken(cg, 'fail', /v1 \(hybrid/, /systemd\.unified_cgroup_hierarchy=1/);
    assert.ok(cg!.message.includes(KUBELET_CGROUP_V1_REFUSAL));
    assert.ok(cg!.message.includes(KUBELET_CGROUP_V1_NO_DELEGATION));
    assert.equal(c.get('cgroup-delegation'), undefined);
  });

  it('fails cgroup v2 without delegation to the user manager', async (t) => {
    const c = await check(t, {
      host: {
        [`sys/fs/cgroup/user.slice/user-${UID}.slice/user@${UID}.service/cgroup.controllers`]:
          'pids\n',
      },
    });
    broken(c.get('cgroup-delegation'), 'fail', /not delegated .*: cpu memory$/, /delegate\.conf/);
  });

  it('fails cgroup v2 when no user manager runs', async (t) => {
    const c = await check(t, {
      host: {
        [`sys/fs/cgroup/user.slice/user-${UID}.slice/user@${UID}.service/cgroup.controllers`]:
          undefined,
      },
    });
    broken(c.get('cgroup-delegation'), 'fail', /no user manager/, /lingering/);
  });

  it('warns when PID 1 is not systemd', async (t) => {
    const c = await check(t, { host: { 'proc/1/comm': 'tini\n' } });
    broken(c.get('systemd'), 'warn', /PID 1 is tini/, /podsec-u7s start/);
  });

  it('warns about a missing account and skips its id checks', async (t) => {
    const c = await check(t, { account: { 'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n' } });
    broken(c.get('user'), 'warn', /does not exist/, /podsec-u7s provision/);
    assert.equal(c.get('subuid'), undefined);
  });

  it('fails a subordinate uid range that is too small', async (t) => {
    const c = await check(t, { account: { 'etc/subuid': 'u7s-admin:100000:1000\n' } });
    broken(c.get('subuid'), 'fail', /gives u7s-admin 1000 ids/, /65536 subordinate uids/);
    assert.equal(c.get('subgid')?.status, 'ok');
  });

  it('fails a missing subordinate gid range', async (t) => {
    const c = await check(t, { account: { 'etc/subgid': 'someone:100000:65536\n' } });
    broken(c.get('subgid'), 'fail', /gives u7s-admin 0 ids/, /subordinate gids/);
  });

  it('fails /dev/net/tun that the user cannot open', async (t) => {
    const c = await check(t, { host: { 'dev/net/tun': { content: '', mode: 0o600 } } });
    broken(c.get('tun'), 'fail', /mode 0600/, /chmod 0666 \/dev\/net\/tun/);
  });

  it('fails a missing /dev/net/tun', async (t) => {
    const c = await check(t, { host: { 'dev/net/tun': undefined } });
    broken(c.get('tun'), 'fail', /missing/, /modprobe tun/);
  });

  it('fails low inotify limits', async (t) => {
    const c = await check(t, {
      host: {
        'proc/sys/fs/inotify/max_user_instances': '128\n',
        'proc/sys/fs/inotify/max_user_watches': '8192\n',
      },
    });
    broken(c.get('inotify-instances'), 'fail', /= 128$/, /max_user_instances=8192/);
    broken(c.get('inotify-watches'), 'fail', /= 8192$/, /max_user_watches=524288/);
  });

  it('fails disabled user namespaces', async (t) => {
    const c = await check(t, { host: { 'proc/sys/user/max_user_namespaces': '0\n' } });
    broken(c.get('userns'), 'fail', /= 0$/, /max_user_namespaces/);
  });

  it('warns about ip_forward off and missing modules', async (t) => {
    const c = await check(t, {
      host: {
        'proc/sys/net/ipv4/ip_forward': '0\n',
        'proc/modules': 'fuse 16384 0 - Live 0x0\n',
      },
    });
    broken(c.get('ip-forward'), 'warn', /= 0$/, /ip_forward=1/);
    broken(
      c.get('modules'),
      'warn',
      /not loaded: tun bridge br_netfilter/,
      /modprobe -a tun bridge/,
    );
  });

  it('fails a missing binary', async (t) => {
    const c = await check(t, { binaries: { crio: '/nonexistent/crio' } });
    broken(c.get('bin-crio'), 'fail', /crio not found/, /install crio/);
  });
});

async function fakeVersion(t: TestContext, name: string, text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'preflight-bin-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\necho '${text}'\n`, { mode: 0o755 });
  return file;
}

describe('preflight: kubelet/kubeadm/apiserver version skew', () => {
  it('accepts the real binaries of one release', async (t) => {
    const b = requireCommands(t, ['kubeadm', 'kubelet', 'kube-apiserver']);
    if (!b) return;
    const c = await check(t, { binaries: b });
    assert.match(c.get('bin-kubelet')!.message, /^kubelet v1\.\d+\.\d+/);
    assert.equal(c.get('skew-kubelet')?.status, 'ok', JSON.stringify(c.get('skew-kubelet')));
    assert.equal(c.get('skew-apiserver')?.status, 'ok');
  });

  // fakes: only one Kubernetes release is built on this machine, so the other minors print a version only
  it('fails a kubelet two minors older than the real kubeadm', async (t) => {
    const b = requireCommands(t, ['kubeadm', 'kube-apiserver']);
    if (!b) return;
    const minor = Number(
      /v1\.(\d+)/.exec((await check(t, { binaries: b })).get('bin-kubeadm')!.message)![1],
    );
    const kubelet = await fakeVersion(t, 'kubelet', `Kubernetes v1.${minor - 2}.0`);
    const c = await check(t, { binaries: { ...b, kubelet } });
    broken(
      c.get('skew-kubelet'),
      'fail',
      new RegExp(`kubelet 1\\.${minor - 2}$`),
      /at most one minor older/,
    );
  });

  it('fails a kubelet newer than kubeadm and an apiserver of another minor', async (t) => {
    const kubeadm = await fakeVersion(t, 'kubeadm', 'v1.30.4');
    const kubelet = await fakeVersion(t, 'kubelet', 'Kubernetes v1.31.0');
    const apiserver = await fakeVersion(t, 'kube-apiserver', 'Kubernetes v1.29.9');
    const c = await check(t, { binaries: { kubeadm, kubelet, 'kube-apiserver': apiserver } });
    broken(c.get('skew-kubelet'), 'fail', /kubeadm 1\.30, kubelet 1\.31/, /never newer/);
    broken(c.get('skew-apiserver'), 'fail', /kube-apiserver 1\.29/, /same minor/);
  });
});

describe('preflight on this machine', () => {
  it('tells the truth about the cgroup mode and PID 1', async (t) => {
    const sys = await createTestSystem(t, { tree: ACCOUNT });
    const c = new Map(planPreflight(await readPreflightFacts(sys)).map((x) => [x.id, x]));
    const mode = parseCgroupMode(await readFile('/proc/self/mountinfo', 'utf8'));
    const pid1 = (await readFile('/proc/1/comm', 'utf8')).trim();
    assert.equal(c.get('cgroup')?.status, mode === 'v2' ? 'ok' : 'fail');
    if (mode === 'hybrid') assert.match(c.get('cgroup')!.message, /^cgroup v1 \(hybrid/);
    if (mode !== 'v2') assert.ok(c.get('cgroup')!.message.includes(KUBELET_CGROUP_V1_REFUSAL));
    assert.equal(c.get('systemd')?.status, pid1 === 'systemd' ? 'ok' : 'warn');
    assert.equal(c.get('systemd')?.message, `PID 1 is ${pid1}`);
  });

  it('podsec-u7s preflight --json prints every check with its fix and exits 6 when one fails', async (t) => {
    const sys = await createTestSystem(t, { tree: ACCOUNT });
    const r = await runProgram(cli, ['preflight', '--json'], { system: sys });
    const doc = JSON.parse(r.stdout) as { checks: PreflightCheck[]; ok: boolean };
    const failed = doc.checks.filter((x) => x.status === 'fail');
    assert.equal(r.code, failed.length ? 6 : 0, r.stderr);
    assert.equal(doc.ok, failed.length === 0);
    for (const f of failed) assert.ok(f.fix, `${f.id} has no fix`);
    assert.ok(doc.checks.some((x) => x.id === 'cgroup'));
  });
});
