/** `podsec-k8s-upgrade`: reads the cluster through kubectl (bounded), plans, and runs the plan step by step. */
import { ExternalCommandError, UsageError } from '@podsec/core';
import { waitUntil, type System } from '@podsec/core/system';
import { parseVersion, planUpgrade, type UpgradeNode, type UpgradePlan } from './plan-upgrade.ts';

/** Options of {@link readUpgradePlan}. */
export interface UpgradeOptions {
  readonly master: string;
  readonly toMinor?: string;
  /** This node's name. */
  readonly self: string;
  readonly kubeconfig: string;
  readonly available: readonly string[];
  readonly rootless?: boolean;
  /** @default 'kubectl' */
  readonly kubectl?: string;
  /** @default 'kubeadm' */
  readonly kubeadm?: string;
}

const LIMIT = 8 * 1024 * 1024;

/**
 * kubectl keeps a discovery cache under `$HOME/.kube/cache`, and without HOME in the current directory: root would
 * then write into whatever directory it was started from (possibly one a user can write). The command is root-only,
 * so an absent or relative HOME becomes root's home.
 */
export function kubectlEnv(
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const home = env['HOME'];
  return { HOME: home !== undefined && home.startsWith('/') ? home : '/root' };
}

async function kubectlJson(sys: System, o: UpgradeOptions, args: string[]): Promise<unknown> {
  const r = await sys.proc.run(
    o.kubectl ?? 'kubectl',
    [`--kubeconfig=${o.kubeconfig}`, '--request-timeout=10s', ...args, '-o', 'json'],
    { timeoutMs: 20_000, env: kubectlEnv(sys.env) },
  );
  if (r.exitCode !== 0 || r.stdout.length > LIMIT)
    throw new ExternalCommandError(
      'UPGRADE_UNREACHABLE',
      `the cluster is not reachable through ${o.kubeconfig}: ${(r.stderr.trim().split('\n').at(-1) ?? '').slice(0, 300)}`,
      { details: { kubeconfig: o.kubeconfig } },
    );
  try {
    return JSON.parse(r.stdout) as unknown;
  } catch {
    throw new ExternalCommandError('UPGRADE_UNREACHABLE', 'kubectl printed no JSON', {
      details: { kubeconfig: o.kubeconfig },
    });
  }
}

interface NodeList {
  items?: {
    metadata?: { name?: string; labels?: Record<string, string> };
    spec?: { unschedulable?: boolean };
    status?: { nodeInfo?: { kubeletVersion?: string } };
  }[];
}

async function readNodes(sys: System, o: UpgradeOptions): Promise<UpgradeNode[]> {
  const list = (await kubectlJson(sys, o, ['get', 'nodes'])) as NodeList;
  return (list.items ?? []).map((n) => ({
    name: n.metadata?.name ?? '',
    kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
    controlPlane: 'node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {}),
    unschedulable: n.spec?.unschedulable === true,
  }));
}

/** Reads the cluster and plans (a refusal before anything is done). */
export async function readUpgradePlan(sys: System, o: UpgradeOptions): Promise<UpgradePlan> {
  if (!o.kubeconfig.startsWith('/'))
    throw new UsageError('UPGRADE_BAD_PATH', `not an absolute path: ${o.kubeconfig}`, {
      details: { value: o.kubeconfig },
    });
  const version = (await kubectlJson(sys, o, ['version'])) as {
    serverVersion?: { gitVersion?: string };
  };
  const plan = planUpgrade({
    master: o.master,
    self: o.self,
    ...(o.toMinor === undefined ? {} : { toMinor: o.toMinor }),
    serverVersion: version.serverVersion?.gitVersion ?? '',
    nodes: await readNodes(sys, o),
    available: o.available,
    ...(o.rootless ? { rootless: true } : {}),
    kubeconfig: o.kubeconfig,
  });
  return plan;
}

/** Runs the plan; every command and wait is bounded. Stops at the first failure. */
export async function runUpgrade(sys: System, o: UpgradeOptions, plan: UpgradePlan): Promise<void> {
  const tools: Record<string, string> = {
    kubectl: o.kubectl ?? 'kubectl',
    kubeadm: o.kubeadm ?? 'kubeadm',
  };
  for (const phase of plan.phases)
    for (const s of phase.steps) {
      sys.report.progress(`${phase.version}: ${s.what}`);
      if (s.kind === 'run') {
        const r = await sys.proc.run(tools[s.file] ?? s.file, [...s.args], {
          timeoutMs: s.timeoutSec * 1000,
          ...(s.file === 'kubectl' ? { env: kubectlEnv(sys.env) } : {}),
        });
        if (r.exitCode !== 0)
          throw new ExternalCommandError(
            'UPGRADE_STEP_FAILED',
            `${s.what} failed (exit ${r.exitCode})`,
            {
              details: { step: s.what },
            },
          );
        continue;
      }
      const ok = await waitUntil(
        async () => {
          const nodes = await readNodes(sys, o).catch(() => undefined);
          return (
            nodes !== undefined &&
            s.nodes.every((name) => {
              const v = parseVersion(nodes.find((n) => n.name === name)?.kubeletVersion ?? '');
              return v !== undefined && v[0] >= s.minor - s.skew;
            })
          );
        },
        { timeoutMs: s.timeoutSec * 1000, intervalMs: 10_000 },
      );
      if (!ok)
        throw new ExternalCommandError(
          'UPGRADE_WAIT_TIMEOUT',
          `gave up after ${s.timeoutSec} s: ${s.what}`,
          {
            details: { step: s.what },
          },
        );
    }
}
