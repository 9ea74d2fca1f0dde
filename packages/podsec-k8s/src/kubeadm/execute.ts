/** One `podsec-u7s-kubeadm` invocation: facts, plan, dry-run or run, output. Loaded lazily by the CLI. */
import { PodsecError, resolveHostPath } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { checkTrustedBinary, planKubeadmPath, planKubectlPath } from './binary.ts';
import {
  isConfiguredArgv,
  needsKubeadmVersion,
  planHostArgv,
  precheckKubeadmArgv,
} from './classify.ts';
import { flagSet, flagValue, parseKubeadmArgv } from './flags.ts';
import type { KubeadmPlan } from './plan.ts';

/** The kubelet configuration kubeadm writes inside the namespace (patched afterwards, see writesKubeletConfig). */
const KUBELET_CONFIG = '/var/lib/kubelet/config.yaml';
import type { KubeadmRunResult } from './run.ts';
import { U7S_RUN } from '../paths.ts';

/** Options of {@link executeKubeadm}. */
export interface ExecuteKubeadmOptions {
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly libexec: string;
  readonly requireRoot: () => void;
  readonly out: (text: string) => void;
  /**
   * Asks on the terminal whether the etcd member directory `path` may be cleared; absent when stdin is not a
   * terminal (then nothing is asked).
   */
  readonly confirmClear?: (path: string) => Promise<boolean>;
}

/**
 * The etcd member directory of an earlier cluster: removed with `--yes` or when the terminal says so; refused
 * otherwise (the original's prompt blocked automation, and a "y" typed ahead wiped etcd). Returns the path to
 * remove, or undefined when there is none. Throws `KUBEADM_ETCD_MEMBER_EXISTS` / `KUBEADM_ETCD_MEMBER_KEPT`.
 */
async function decideEtcdMember(
  sys: System,
  plan: KubeadmPlan,
  o: ExecuteKubeadmOptions,
): Promise<string | undefined> {
  if (plan.kind !== 'configured' || plan.etcdMember === undefined) return undefined;
  const path = plan.etcdMember;
  if (!(await sys.fs.stat(path))) return undefined;
  if (plan.yes) return path;
  const details = { path };
  if (!o.confirmClear)
    throw new PodsecError(
      'KUBEADM_ETCD_MEMBER_EXISTS',
      `${path} exists (the etcd data of an earlier cluster): give --yes to remove it`,
      { details },
    );
  if (await o.confirmClear(path)) return path;
  throw new PodsecError('KUBEADM_ETCD_MEMBER_KEPT', `${path} kept: nothing was changed`, {
    details,
  });
}

/**
 * Reads the discovery kubeconfig of `--discovery-file`, bounded: a file through the host file system's no-follow
 * walk (a link in a directory another user can write is refused), an https URL verified against the host's CA
 * bundle, as kubeadm would fetch it. Throws `KUBEADM_BAD_DISCOVERY_FILE`.
 */
async function readDiscoveryFile(
  sys: System,
  value: string,
): Promise<{ source: string; content: string }> {
  const d = await import('./discovery.ts');
  const reason = (e: unknown) => {
    if (!(e instanceof PodsecError)) throw e;
    // the HTTP client's reason alone: its message names the whole URL, query included
    const why = e.details?.['reason'];
    return typeof why === 'string' ? why : e.message;
  };
  if (d.isDiscoveryUrl(value)) {
    const url = d.checkDiscoveryUrl(value);
    // a query may carry a secret: messages name the origin and path only
    const source = `${url.origin}${url.pathname}`;
    let caFile: string | undefined;
    for (const f of d.HOST_CA_BUNDLES)
      if ((await sys.hostFs.stat(f).catch(() => undefined))?.kind === 'file') {
        caFile = f;
        break;
      }
    const r = await sys.http
      .request(url, {
        maxBytes: d.DISCOVERY_MAX_BYTES,
        timeoutMs: 30_000,
        ...(caFile ? { caFile } : {}),
      })
      .catch((e: unknown) => d.discoveryRefused(source, reason(e)));
    if (r.status !== 200) d.discoveryRefused(source, `the server answered ${r.status}`);
    return { source, content: r.text() };
  }
  const file = resolveHostPath(value);
  const content = await sys.hostFs
    .readText(file, { maxBytes: d.DISCOVERY_MAX_BYTES })
    .catch((e: unknown) => d.discoveryRefused(file, reason(e)));
  return { source: file, content };
}

/** Pure: the plan as data for `--dry-run --json` and as the `plan` of a run's JSON. */
export function describePlan(plan: KubeadmPlan, kubeadm: string) {
  const base = {
    kind: plan.kind,
    kubeadmArgv: [kubeadm, ...plan.argv],
    timeoutMs: plan.timeoutMs,
    kubeletConfigPatch: plan.kind !== 'host' && plan.kubeletConfig ? KUBELET_CONFIG : null,
  };
  if (plan.kind !== 'configured') return base;
  return {
    ...base,
    command: plan.command,
    phase: plan.phase ?? null,
    role: plan.role,
    advertiseAddress: plan.advertiseAddress,
    endpoint: plan.endpoint,
    kubernetesVersion: plan.kubernetesVersion,
    imageRepository: plan.imageRepository,
    adminKubeconfig: plan.adminKubeconfig ?? null,
    userKubeconfig: plan.userKubeconfig ?? null,
    flannelApply: plan.flannelApply ?? null,
    dirs: plan.dirs.map((d) => ({ ...d, mode: d.mode.toString(8) })),
    files: plan.files.map((f) => ({ ...f, mode: f.mode.toString(8) })),
  };
}

const shellQuote = (s: string) =>
  /^[A-Za-z0-9_./:=,@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;

function formatDryRun(plan: KubeadmPlan, kubeadm: string): string {
  const lines: string[] = [];
  if (plan.kind === 'configured') {
    for (const d of plan.dirs)
      lines.push(`# directory ${d.path} (mode ${d.mode.toString(8)}, owner ${d.uid}:${d.gid})`);
    for (const f of plan.files)
      lines.push(
        `# file ${f.path} (mode ${f.mode.toString(8)}, owner ${f.uid}:${f.gid})`,
        f.content.trimEnd(),
      );
    if (plan.adminKubeconfig)
      lines.push(
        `# then: ${plan.adminKubeconfig} and ${plan.userKubeconfig ?? ''} (u7s-admin's) from /etc/kubernetes/admin.conf, server = the forward of port ${plan.node.apiserverBindPort}`,
      );
  }
  const where = plan.kind === 'host' ? 'on the host' : "inside u7s-admin's namespace";
  lines.push(`# run ${where}:`, [kubeadm, ...plan.argv].map(shellQuote).join(' '));
  if (plan.kind !== 'host' && plan.kubeletConfig)
    lines.push(
      `# then: the rootless kubelet settings over ${KUBELET_CONFIG} (if kubeadm wrote it)`,
    );
  if (plan.kind === 'configured' && plan.flannelApply)
    lines.push(
      `# then, inside the namespace, until the API server takes it, at most ${plan.flannelApply.timeoutMs / 1000} s:`,
      ['kubectl', ...plan.flannelApply.kubectlArgs].join(' '),
    );
  return `${lines.join('\n')}\n`;
}

/** Result of {@link executeKubeadm}: the status to pass through (0 for our own successes). */
export interface ExecuteKubeadmResult {
  readonly passExitCode: number;
  readonly result?: KubeadmRunResult;
}

/** The lock of the wrapper's node-changing runs (`<path>.lock` holds the runner's pid; under --root in the root). */
export const KUBEADM_RUN_LOCK = `${U7S_RUN}/kubeadm`;

/** Pure: whether `plan` changes the node (rendered init/join, or a pass-through reset or upgrade). */
export function changesNode(plan: KubeadmPlan): boolean {
  if (plan.kind === 'configured') return true;
  return plan.kind === 'passthrough' && ['reset', 'upgrade'].includes(plan.argv[0] ?? '');
}

async function withRunLock<T>(sys: System, fn: () => Promise<T>): Promise<T> {
  let inside = false;
  return sys.fs
    .withLock(
      KUBEADM_RUN_LOCK,
      () => {
        inside = true;
        return fn();
      },
      { timeoutMs: 500 },
    )
    .catch((e: unknown) => {
      if (!inside && e instanceof PodsecError && e.code === 'FS_LOCK_TIMEOUT') {
        const held = e.details?.['pid'];
        const pid = typeof held === 'number' || typeof held === 'string' ? String(held) : '?';
        throw new PodsecError(
          'KUBEADM_BUSY',
          `another podsec-u7s-kubeadm run (pid ${pid}) is changing this node: wait for it to end`,
          { details: { pid, lock: `${KUBEADM_RUN_LOCK}.lock` } },
        );
      }
      throw e;
    });
}

/** Plans and runs one invocation. Throws `KUBEADM_*` / `U7S_*` (exit codes in the CLI's table). */
export async function executeKubeadm(
  sys: System,
  argv: readonly string[],
  o: ExecuteKubeadmOptions,
): Promise<ExecuteKubeadmResult> {
  precheckKubeadmArgv(argv);
  const parsed = parseKubeadmArgv(argv);
  const json = o.json || flagSet(parsed, 'json');
  const dryRun = o.dryRun || flagSet(parsed, 'dry-run');
  const kubeadmPath = planKubeadmPath(sys.env);
  const configured = isConfiguredArgv(argv);
  const cmd = parsed.words[0];
  const inside =
    configured ||
    (cmd !== undefined &&
      !['version', 'help', 'completion'].includes(cmd) &&
      !flagSet(parsed, 'help'));
  // help and version: the real kubeadm on the host, without loading the planner, YAML or the namespace code
  const hostArgv = planHostArgv(argv);
  if (hostArgv && !dryRun) {
    const kubeadm = await checkTrustedBinary(sys.hostFs, kubeadmPath);
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: sys.env['LANG'] ?? 'C' };
    // nothing to add to its output: become the checked kubeadm (no child to fork, wait for and relay; the
    // largest part of the wrapper's cost for `kubeadm version` was spawning through the process layer)
    if (!json) return sys.daemons.replace({ file: kubeadm, args: hostArgv, env });
    const r = await sys.proc.run(kubeadm, hostArgv, {
      env,
      timeoutMs: 60_000,
      inheritStderr: true,
    });
    if (r.timedOut)
      throw new PodsecError(
        'KUBEADM_TIMEOUT',
        'kubeadm did not finish within 60 s and was stopped',
        {
          details: { what: 'kubeadm', seconds: '60' },
        },
      );
    o.out(
      json
        ? `${JSON.stringify({ exitCode: r.exitCode, stdout: r.stdout, argv: [kubeadm, ...hostArgv] }, null, 2)}\n`
        : r.stdout,
    );
    return { passExitCode: r.exitCode };
  }
  const { readU7sUser } = await import('../u7s/namespace.ts');
  const { planKubeadm } = await import('./plan.ts');
  const user = inside ? await readU7sUser(sys) : undefined;
  const kubeadm = await checkTrustedBinary(sys.hostFs, kubeadmPath, user);
  let plan: KubeadmPlan;
  if (configured) {
    const { readKubeadmFacts, readKubeadmVersion } = await import('./facts.ts');
    const version = needsKubeadmVersion(argv, sys.env)
      ? await readKubeadmVersion(sys, kubeadm)
      : undefined;
    const discoveryArg = cmd === 'join' ? flagValue(parsed, 'discovery-file') : undefined;
    const discoveryFile =
      discoveryArg === undefined ? undefined : await readDiscoveryFile(sys, discoveryArg);
    const facts = await readKubeadmFacts(sys, {
      user: user!,
      libexec: o.libexec,
      ...(version ? { kubeadmVersion: version } : {}),
    });
    plan = planKubeadm(argv, { ...facts, ...(discoveryFile ? { discoveryFile } : {}) });
  } else plan = planKubeadm(argv, undefined);

  if (dryRun) {
    const member =
      plan.kind === 'configured' && plan.etcdMember && (await sys.fs.stat(plan.etcdMember))
        ? plan.etcdMember
        : undefined;
    if (member && !json)
      o.out(
        `# ${member} exists (an earlier cluster's etcd data): ${plan.kind === 'configured' && plan.yes ? 'removed first (--yes)' : 'the run asks on a terminal, else refuses without --yes'}\n`,
      );
    o.out(
      json
        ? `${JSON.stringify({ dryRun: true, plan: describePlan(plan, kubeadm) }, null, 2)}\n`
        : formatDryRun(plan, kubeadm),
    );
    return { passExitCode: 0 };
  }
  if (plan.kind !== 'host') o.requireRoot();
  // the kubectl that applies flannel after init is checked before anything is changed
  const kubectl =
    plan.kind === 'configured' && plan.flannelApply
      ? await checkTrustedBinary(sys.hostFs, planKubectlPath(sys.env), user, { name: 'kubectl' })
      : undefined;
  const run = async () => {
    const removeEtcdMember = await decideEtcdMember(sys, plan, o);
    const { runKubeadmPlan } = await import('./run.ts');
    return runKubeadmPlan(sys, plan, {
      user: user!,
      kubeadm,
      ...(removeEtcdMember ? { removeEtcdMember } : {}),
      ...(kubectl ? { kubectl } : {}),
    });
  };
  // a run that changes the node (init, join, reset, upgrade) holds the run lock: a second one at the same time is
  // refused at once, before it changes anything (two inits racing over /etc/kubernetes and the etcd data)
  const r = await (changesNode(plan) ? withRunLock(sys, run) : run()).catch((e: unknown) => {
    // a timeout keeps kubeadm's output so far (with --json it is the error's details.stdout)
    const out = e instanceof PodsecError && e.code === 'KUBEADM_TIMEOUT' && e.details?.['stdout'];
    if (typeof out === 'string' && !json) o.out(out);
    throw e;
  });
  if (json) o.out(`${JSON.stringify({ plan: describePlan(plan, kubeadm), ...r }, null, 2)}\n`);
  else {
    o.out(r.stdout);
    for (const w of r.written) sys.report.info(`wrote ${w}`);
  }
  if (plan.kind === 'configured' && r.exitCode !== 0)
    throw new PodsecError(
      'KUBEADM_FAILED',
      `kubeadm ${plan.argv.slice(0, plan.argv.indexOf('--config')).join(' ')} failed with exit status ${r.exitCode}`,
      {
        details: {
          command: plan.argv.slice(0, plan.argv.indexOf('--config')).join(' '),
          status: String(r.exitCode),
        },
      },
    );
  return { passExitCode: plan.kind === 'configured' ? 0 : r.exitCode, result: r };
}
