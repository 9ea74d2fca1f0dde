/** Carries out a kubeadm plan: files, the real kubeadm inside the namespace, the host's admin kubeconfig. */
import { InternalError, PodsecError } from '@podsec/core';
import { waitUntil, type System } from '@podsec/core/system';
import { createPortApi, planEnter, type NamespaceUser } from '@podsec/core/userns';
import { U7S_LIBEXEC, userPaths } from '../paths.ts';
import { applyKubeletConfigPatch } from '../u7s/kubelet-config.ts';
import { readU7sState } from '../u7s/namespace.ts';
import { FLANNEL_APPLY_TIMEOUT_MS, FLANNEL_MANIFEST, planFlannelApply } from './flannel.ts';
import { planHostKubeconfig, planHostServer } from './kubeconfig.ts';
import { KUBE_DIR, type ConfiguredPlan, type KubeadmPlan } from './plan.ts';

/** What a run did. */
export interface KubeadmRunResult {
  readonly exitCode: number;
  readonly stdout: string;
  /** The full argv that ran (nsenter ... kubeadm ...). */
  readonly argv: readonly string[];
  readonly written: readonly string[];
  readonly adminKubeconfig?: string;
  /** After a whole init: the flannel manifest applied, and in how many kubectl attempts. */
  readonly flannel?: { readonly manifest: string; readonly attempts: number };
}

/** The environment of the real kubeadm inside the namespace. */
function innerEnv(sys: System, user: NamespaceUser): Record<string, string | undefined> {
  const p = userPaths(user.uid, user.home);
  return {
    PATH: `${U7S_LIBEXEC}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    XDG_RUNTIME_DIR: p.runtime,
    ROOTLESSKIT_STATE_DIR: p.stateDir,
    LANG: sys.env['LANG'] ?? 'C',
    _CONTAINERS_USERNS_CONFIGURED: '1',
    _CONTAINERS_ROOTLESS_UID: String(user.uid),
  };
}

/** PID 1 of the running namespace; `U7S_NOT_RUNNING` when it is down. */
async function namespacePid(sys: System, user: NamespaceUser): Promise<number> {
  const s = await readU7sState(sys, user);
  if (!s.ready || s.childPid === undefined)
    throw new PodsecError(
      'U7S_NOT_RUNNING',
      `the u7s namespace is not running: ${s.reason ?? 'no child'} (start it: podsec-u7s start)`,
      { details: { reason: s.reason ?? 'no child' } },
    );
  return s.childPid;
}

/** What `timeout` exits with when it had to stop the command. */
const TIMEOUT_STATUS = 124;
/** How long `timeout` waits after SIGTERM before SIGKILL, and the outer backstop beyond the bound. */
const KILL_AFTER_S = 10;

/**
 * Pure: the argv that runs `kubeadm argv` inside the namespace of `pid` as its pseudo-root, bounded by `timeout`
 * in there: nsenter forks the command into the namespace's pid namespace, so stopping nsenter from the host would
 * leave a hung kubeadm behind.
 */
export function planInside(
  sys: Pick<System, 'identity'>,
  user: NamespaceUser,
  pid: number,
  kubeadm: string,
  argv: readonly string[],
  timeoutMs: number,
): { file: string; args: string[] } {
  return planEnter({ pid, user, self: sys.identity, cwd: '/' }, [
    'timeout',
    `--kill-after=${KILL_AFTER_S}`,
    String(Math.ceil(timeoutMs / 1000)),
    kubeadm,
    ...argv,
  ]);
}

async function runBounded(
  sys: System,
  file: string,
  args: readonly string[],
  o: {
    env: Record<string, string | undefined>;
    timeoutMs: number;
    what: string;
    /** Bounded by `timeout` inside the namespace: the host's own bound is only a backstop. */
    inside?: boolean;
  },
) {
  const r = await sys.proc.run(file, args, {
    env: o.env,
    timeoutMs: o.inside ? o.timeoutMs + 2 * KILL_AFTER_S * 1000 : o.timeoutMs,
    inheritStderr: true,
  });
  if (r.timedOut || (o.inside && r.exitCode === TIMEOUT_STATUS))
    // what kubeadm printed up to then says where it hung: the caller prints it before the error
    throw new PodsecError(
      'KUBEADM_TIMEOUT',
      `${o.what} did not finish within ${o.timeoutMs / 1000} s and was stopped`,
      { details: { what: o.what, seconds: String(o.timeoutMs / 1000), stdout: r.stdout } },
    );
  return r;
}

/**
 * The namespace's /etc/kubernetes must be the host's (RootlessKit copies /etc up at start: a directory created
 * on the host later is hidden behind the copy). Compares device and inode seen from both sides.
 */
async function checkKubeDirShared(sys: System, user: NamespaceUser, pid: number): Promise<void> {
  const host = await sys.proc.run('stat', ['-L', '-c', '%d:%i', KUBE_DIR], { timeoutMs: 10_000 });
  const argv = planEnter({ pid, user, self: sys.identity, cwd: '/' }, [
    'stat',
    '-L',
    '-c',
    '%d:%i',
    KUBE_DIR,
  ]);
  const inside = await sys.proc.run(argv.file, argv.args, {
    env: innerEnv(sys, user),
    timeoutMs: 10_000,
  });
  if (host.exitCode !== 0 || inside.exitCode !== 0 || host.stdout.trim() !== inside.stdout.trim())
    throw new PodsecError(
      'U7S_KUBE_DIR_HIDDEN',
      `${KUBE_DIR} inside the namespace is not the host's (it did not exist when the namespace started): restart the namespace (podsec-u7s stop; podsec-u7s start)`,
      { details: { path: KUBE_DIR } },
    );
}

async function writePlanFiles(sys: System, plan: ConfiguredPlan): Promise<string[]> {
  const written: string[] = [];
  for (const d of plan.dirs) {
    const st = await sys.fs.stat(d.path);
    if (!st) {
      await sys.fs.mkdir(d.path, { mode: d.mode, uid: d.uid, gid: d.gid });
      written.push(d.path);
    } else if (st.kind !== 'dir')
      throw new PodsecError('KUBEADM_BAD_TREE', `${d.path} is not a directory`, {
        details: { path: d.path },
      });
    else if (d.uid === 0 && (st.uid !== 0 || st.mode & 0o022))
      // a root-owned record the namespace user could change: take it back
      await sys.fs.chown(d.path, 0, d.gid).then(() => sys.fs.chmod(d.path, d.mode));
  }
  for (const f of plan.files) {
    const r = await sys.fs.writeFileAtomic(f.path, f.content, {
      mode: f.mode,
      uid: f.uid,
      gid: f.gid,
      backup: !f.secret,
    });
    if (r.changed) written.push(f.path);
  }
  return written;
}

/**
 * Writes the admin kubeconfigs from the namespace's admin.conf: root's (0600 in a 0700 directory), its server the
 * host side of the forward of the API port, and u7s-admin's `~/.kube/config`, a verbatim copy owned by u7s-admin
 * (the control-plane endpoint, which serves inside the namespace too: kubeadm there prefers ~/.kube/config to
 * admin.conf). Its home is walked by descriptor without following links, so a link planted there cannot
 * redirect root.
 */
async function writeAdminKubeconfigs(
  sys: System,
  user: NamespaceUser,
  plan: ConfiguredPlan,
  targets: readonly {
    path: string;
    uid: number;
    gid: number;
    ownDir: boolean;
    verbatim: boolean;
  }[],
): Promise<string[]> {
  const adminConf = await sys.fs.readTextIfExists(`${KUBE_DIR}/admin.conf`, { maxBytes: 1 << 20 });
  if (!adminConf?.trim())
    throw new PodsecError(
      'KUBEADM_NO_ADMIN_CONF',
      `${KUBE_DIR}/admin.conf was not written: the administrator configuration is missing`,
      { details: { path: `${KUBE_DIR}/admin.conf` } },
    );
  const ports = await createPortApi(sys.http, `${userPaths(user.uid, user.home).stateDir}/api.sock`)
    .list()
    .catch(() => []);
  const fwd = ports.find(
    (x) => x.spec.proto === 'tcp' && x.spec.childPort === plan.node.apiserverBindPort,
  );
  if (!fwd)
    sys.report.warn(
      `no forward of port ${plan.node.apiserverBindPort} into the namespace: the admin kubeconfig points at ${plan.advertiseAddress}`,
    );
  const server = planHostServer({
    parentIP: fwd?.spec.parentIP,
    parentPort: fwd?.spec.parentPort ?? plan.node.apiserverBindPort,
    advertiseAddress: plan.advertiseAddress,
  });
  const text = planHostKubeconfig(adminConf, server);
  const written: string[] = [];
  for (const t of targets) {
    const dir = t.path.slice(0, t.path.lastIndexOf('/')) || '/';
    const st = await sys.fs.stat(dir);
    if (!st) await sys.fs.mkdir(dir, { mode: 0o700, uid: t.uid, gid: t.gid });
    else if (st.kind !== 'dir')
      throw new PodsecError('KUBEADM_BAD_TREE', `${dir} is not a directory`, {
        details: { path: dir },
      });
    // a ~/.kube is the kubeconfig's own directory: 0700 (a directory named by --admin-kubeconfig is left alone)
    else if (t.ownDir && st.uid === t.uid && (st.mode & 0o077) !== 0)
      await sys.fs.chmod(dir, 0o700);
    // the user's copy without backups: no stale credentials pile up in its home
    await sys.fs.writeFileAtomic(t.path, t.verbatim ? adminConf : text, {
      mode: 0o600,
      uid: t.uid,
      gid: t.gid,
      backup: t.uid === 0,
    });
    written.push(t.path);
  }
  return written;
}

/** One kubectl apply attempt. */
const APPLY_ATTEMPT_MS = 30_000;

/** Result of {@link applyFlannelManifest}. */
export interface FlannelApplyResult {
  readonly manifest: string;
  /** The argv run (or, with `sys.dryRun`, that would run) inside the namespace. */
  readonly argv: readonly string[];
  readonly applied: boolean;
  readonly attempts: number;
  readonly stdout: string;
}

/**
 * Applies the flannel manifest the wrapper rendered at init (the original applied it after init in an unbounded
 * `until kubectl apply` loop): the checked `kubectl` inside the namespace as its pseudo-root (u7s-admin on the host)
 * with the namespace's admin.conf, tried every 2 s until the API server takes it, at most `timeoutMs`. Throws
 * `U7S_NO_FLANNEL_MANIFEST` (nothing rendered), `U7S_NOT_RUNNING`, `KUBEADM_FLANNEL_FAILED` (not applied in time).
 */
export async function applyFlannelManifest(
  sys: System,
  o: { readonly user: NamespaceUser; readonly kubectl: string; readonly timeoutMs?: number },
): Promise<FlannelApplyResult> {
  const st = await sys.fs.stat(FLANNEL_MANIFEST);
  if (st?.kind !== 'file')
    throw new PodsecError(
      'U7S_NO_FLANNEL_MANIFEST',
      `${FLANNEL_MANIFEST} does not exist: kubeadm init (the whole command, through the wrapper) renders it`,
      { details: { path: FLANNEL_MANIFEST } },
    );
  const pid = await namespacePid(sys, o.user);
  const timeoutMs = o.timeoutMs ?? FLANNEL_APPLY_TIMEOUT_MS;
  const argv = planInside(
    sys,
    o.user,
    pid,
    o.kubectl,
    planFlannelApply(),
    Math.min(APPLY_ATTEMPT_MS, timeoutMs),
  );
  const base = { manifest: FLANNEL_MANIFEST, argv: [argv.file, ...argv.args] };
  if (sys.dryRun) return { ...base, applied: false, attempts: 0, stdout: '' };
  let attempts = 0;
  let last = { exitCode: -1, stdout: '', stderr: '' };
  const env = innerEnv(sys, o.user);
  const ok = await waitUntil(
    async () => {
      attempts++;
      last = await sys.proc.run(argv.file, argv.args, {
        env,
        timeoutMs: APPLY_ATTEMPT_MS + 2 * KILL_AFTER_S * 1000,
      });
      return last.exitCode === 0;
    },
    { timeoutMs, intervalMs: 2000 },
  );
  if (!ok) {
    const why = last.stderr.trim().split('\n').at(-1)?.slice(0, 300) ?? '';
    throw new PodsecError(
      'KUBEADM_FLANNEL_FAILED',
      `kubectl apply -f ${FLANNEL_MANIFEST} did not succeed within ${Math.round(timeoutMs / 1000)} s (${attempts} attempts): ${why}`,
      { details: { path: FLANNEL_MANIFEST, attempts: String(attempts), reason: why } },
    );
  }
  return { ...base, applied: true, attempts, stdout: last.stdout };
}

/** Options of {@link runKubeadmPlan}. */
export interface RunKubeadmOptions {
  readonly user: NamespaceUser;
  /** The checked real kubeadm. */
  readonly kubeadm: string;
  /** The etcd member directory of an earlier cluster, removed (once the namespace is known to run) first. */
  readonly removeEtcdMember?: string;
  /** The checked kubectl, for a plan that applies the flannel manifest after init. */
  readonly kubectl?: string;
}

/** Runs the plan. kubeadm's stdout is returned, its stderr streams through. */
export async function runKubeadmPlan(
  sys: System,
  plan: KubeadmPlan,
  o: RunKubeadmOptions,
): Promise<KubeadmRunResult> {
  if (plan.kind === 'host') {
    const r = await runBounded(sys, o.kubeadm, plan.argv, {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: sys.env['LANG'] ?? 'C' },
      timeoutMs: plan.timeoutMs,
      what: 'kubeadm',
    });
    return { exitCode: r.exitCode, stdout: r.stdout, argv: [o.kubeadm, ...plan.argv], written: [] };
  }
  const pid = await namespacePid(sys, o.user);
  const env = innerEnv(sys, o.user);
  if (plan.kind === 'passthrough') {
    const argv = planInside(sys, o.user, pid, o.kubeadm, plan.argv, plan.timeoutMs);
    const r = await runBounded(sys, argv.file, argv.args, {
      env,
      timeoutMs: plan.timeoutMs,
      what: `kubeadm ${plan.argv[0] ?? ''}`,
      inside: true,
    });
    const written: string[] = [];
    // kubeadm upgrade rewrote config.yaml from the cluster's ConfigMap: the node's rootless settings again
    if (r.exitCode === 0 && plan.kubeletConfig) {
      const patched = await applyKubeletConfigPatch(sys, o.user);
      if (patched?.changed) written.push(patched.path);
    }
    return { exitCode: r.exitCode, stdout: r.stdout, argv: [argv.file, ...argv.args], written };
  }
  if (o.removeEtcdMember) {
    // in u7s-admin's tree: core's remove follows no link and stays on the device
    await sys.fs.remove(o.removeEtcdMember, { recursive: true });
    sys.report.info(`removed ${o.removeEtcdMember}`);
  }
  const written = await writePlanFiles(sys, plan);
  await checkKubeDirShared(sys, o.user, pid);
  const argv = planInside(sys, o.user, pid, o.kubeadm, plan.argv, plan.timeoutMs);
  const r = await runBounded(sys, argv.file, argv.args, {
    env,
    timeoutMs: plan.timeoutMs,
    inside: true,
    what: `kubeadm ${plan.command}${plan.phase ? ` phase ${plan.phase.join(' ')}` : ''}`,
  });
  const result = {
    exitCode: r.exitCode,
    stdout: r.stdout,
    argv: [argv.file, ...argv.args],
    written,
  };
  if (r.exitCode !== 0) return result;
  // kubeadm's kubelet-start wrote /var/lib/kubelet/config.yaml (on a join: the cluster's, rootful-oriented): the
  // node's own rootless settings go over it (kubelet.service sets them again before every kubelet start)
  if (plan.kubeletConfig) {
    const patched = await applyKubeletConfigPatch(sys, o.user);
    if (patched?.changed) written.push(patched.path);
  }
  // W-S5: the join credentials do not outlive a successful join
  if (plan.command === 'join' && !plan.phase) {
    for (const f of plan.files) if (f.secret) await sys.fs.remove(f.path);
  }
  let out: KubeadmRunResult = result;
  if (plan.adminKubeconfig && plan.role !== '') {
    const targets = [
      {
        path: plan.adminKubeconfig,
        uid: 0,
        gid: 0,
        ownDir: plan.adminKubeconfig.endsWith('/.kube/config'),
        verbatim: false,
      },
      ...(plan.userKubeconfig
        ? [
            {
              path: plan.userKubeconfig,
              uid: o.user.uid,
              gid: o.user.gid,
              ownDir: true,
              verbatim: true,
            },
          ]
        : []),
    ];
    const kubeconfigs = await writeAdminKubeconfigs(sys, o.user, plan, targets);
    out = {
      ...result,
      adminKubeconfig: plan.adminKubeconfig,
      written: [...written, ...kubeconfigs],
    };
  }
  // the network add-on of the new cluster (without it no node becomes Ready), once the kubeconfigs are there
  if (plan.flannelApply) {
    if (!o.kubectl) throw new InternalError('KUBEADM_NO_KUBECTL', 'no checked kubectl for flannel');
    // the bound of the whole apply (as the plan and its dry run state it)
    const f = await applyFlannelManifest(sys, {
      user: o.user,
      kubectl: o.kubectl,
      timeoutMs: plan.flannelApply.timeoutMs,
    });
    sys.report.info(`applied ${f.manifest}`);
    out = { ...out, flannel: { manifest: f.manifest, attempts: f.attempts } };
  }
  return out;
}
