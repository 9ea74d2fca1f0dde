/**
 * The node-by-node Kubernetes upgrade (the original's podsec-k8s-upgrade-kuber.sh), planned as data: one
 * minor at a time from the control plane's version up to the target, and for this node in every step:
 * wait (bounded) for the version skew to allow it, drain, `kubeadm upgrade plan` + `apply` on the first
 * control plane or `kubeadm upgrade node` elsewhere, restart the kubelet, uncordon, wait for the new kubelet.
 */
import { UsageError } from '@podsec/core';

/** A node as the API shows it. */
export interface UpgradeNode {
  readonly name: string;
  readonly kubeletVersion: string;
  readonly controlPlane: boolean;
  readonly unschedulable: boolean;
}

/** One step of the plan. */
export type UpgradeStep =
  | {
      readonly kind: 'run';
      readonly what: string;
      readonly file: string;
      readonly args: readonly string[];
      readonly timeoutSec: number;
    }
  | {
      readonly kind: 'wait';
      readonly what: string;
      /** Which nodes' kubelets must have reached `minor` (at least). */
      readonly nodes: readonly string[];
      readonly minor: number;
      /** Or must be at most one minor behind it. */
      readonly skew: 0 | 1;
      readonly timeoutSec: number;
    };

/** One minor step. */
export interface UpgradePhase {
  readonly version: string;
  readonly steps: readonly UpgradeStep[];
}

/** The whole plan for this node. */
export interface UpgradePlan {
  readonly node: string;
  readonly master: string;
  readonly role: 'first-control-plane' | 'control-plane' | 'worker';
  readonly from: string;
  readonly to: string;
  readonly phases: readonly UpgradePhase[];
}

/** Inputs of {@link planUpgrade}. */
export interface UpgradeInput {
  readonly master: string;
  readonly self: string;
  /** Target minor (`1.39` or `39`); @default the highest available. */
  readonly toMinor?: string;
  /** The cluster's current version (the API server's). */
  readonly serverVersion: string;
  readonly nodes: readonly UpgradeNode[];
  /** Versions available to upgrade to (the registry's kube-apiserver tags). */
  readonly available: readonly string[];
  /** The kubelet runs rootless (u7s-admin's user unit) on this node. @default false */
  readonly rootless?: boolean;
  readonly kubeconfig: string;
}

const V = /^v?1\.(\d{1,3})\.(\d{1,3})$/;

/** Pure: `[minor, patch]` of `v1.M.P`, or undefined. */
export function parseVersion(v: string): [number, number] | undefined {
  const m = V.exec(v.trim().replace(/[-+].*$/, ''));
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function bad(code: string, message: string, details: Record<string, string | number> = {}): never {
  throw new UsageError(code, message, { details });
}

/** Pure: the plan, or a refusal naming the rule that forbids it. */
export function planUpgrade(i: UpgradeInput): UpgradePlan {
  const byName = new Map(i.nodes.map((n) => [n.name, n]));
  const master = byName.get(i.master);
  if (!master)
    bad('UPGRADE_NO_MASTER', `${i.master} is not a node of the cluster`, { node: i.master });
  if (!master.controlPlane)
    bad('UPGRADE_NOT_CONTROL_PLANE', `${i.master} is not a control-plane node`, { node: i.master });
  const self = byName.get(i.self);
  if (!self)
    bad('UPGRADE_NO_SELF', `this host (${i.self}) is not a node of the cluster`, { node: i.self });
  const server = parseVersion(i.serverVersion);
  if (!server)
    bad('UPGRADE_BAD_VERSION', `invalid version "${i.serverVersion}"`, { value: i.serverVersion });
  const cur = server[0];
  // version skew now: no kubelet newer than the API server, none more than one minor older (kubeadm's rule)
  for (const n of i.nodes) {
    const k = parseVersion(n.kubeletVersion);
    if (!k)
      bad('UPGRADE_BAD_VERSION', `node ${n.name}: invalid kubelet version "${n.kubeletVersion}"`, {
        value: n.kubeletVersion,
      });
    if (k[0] > cur || cur - k[0] > 1)
      bad(
        'UPGRADE_SKEW',
        `node ${n.name} runs kubelet 1.${k[0]} beside API server 1.${cur}: upgrade it first (at most one minor older)`,
        { node: n.name },
      );
  }
  const avail = new Map<number, [number, number]>();
  for (const a of i.available) {
    const v = parseVersion(a);
    if (!v) bad('UPGRADE_BAD_VERSION', `invalid version "${a}"`, { value: a });
    const have = avail.get(v[0]);
    // semantic order: 1.26.11 after 1.26.9
    if (!have || v[1] > have[1]) avail.set(v[0], v);
  }
  const highest = Math.max(...avail.keys(), cur);
  let to = highest;
  if (i.toMinor !== undefined) {
    const m = /^(?:v?1\.)?(\d{1,3})$/.exec(i.toMinor);
    if (!m) bad('UPGRADE_BAD_VERSION', `invalid minor "${i.toMinor}"`, { value: i.toMinor });
    to = Number(m[1]);
  }
  if (to <= cur)
    bad('UPGRADE_NOTHING', `the cluster already runs 1.${cur} (target 1.${to})`, {
      value: `1.${to}`,
    });
  const role =
    i.self === i.master ? 'first-control-plane' : self.controlPlane ? 'control-plane' : 'worker';
  const kc = `--kubeconfig=${i.kubeconfig}`;
  const others = i.nodes.filter((n) => n.name !== i.master).map((n) => n.name);
  // a rootless node's kubeadm is the wrapper: kubeadm runs inside u7s-admin's namespace (its /etc/kubernetes and
  // /var/lib/kubelet), and the wrapper sets the rootless kubelet settings over the config.yaml kubeadm rewrote
  const kubeadm = i.rootless ? 'podsec-u7s-kubeadm' : 'kubeadm';
  const phases: UpgradePhase[] = [];
  for (let minor = cur + 1; minor <= to; minor++) {
    const v = avail.get(minor);
    if (!v)
      bad(
        'UPGRADE_MINOR_MISSING',
        `no 1.${minor} release is available: minors are upgraded one at a time`,
        {
          value: `1.${minor}`,
        },
      );
    const version = `v1.${v[0]}.${v[1]}`;
    const steps: UpgradeStep[] = [];
    if (role === 'first-control-plane')
      steps.push({
        kind: 'wait',
        what: `every other node's kubelet at 1.${minor - 1} at least`,
        nodes: others,
        minor: minor - 1,
        skew: 0,
        timeoutSec: 3600,
      });
    else
      steps.push({
        kind: 'wait',
        what: `the first control plane ${i.master} upgraded to 1.${minor}`,
        nodes: [i.master],
        minor,
        skew: 0,
        timeoutSec: 3600,
      });
    steps.push({
      kind: 'run',
      what: `drain ${i.self}`,
      file: 'kubectl',
      args: [
        kc,
        'drain',
        i.self,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=300s',
      ],
      timeoutSec: 330,
    });
    if (role === 'first-control-plane')
      steps.push(
        {
          kind: 'run',
          what: 'kubeadm upgrade plan',
          file: kubeadm,
          args: ['upgrade', 'plan', version],
          timeoutSec: 300,
        },
        {
          kind: 'run',
          what: `kubeadm upgrade apply ${version}`,
          file: kubeadm,
          args: ['upgrade', 'apply', '-y', version],
          timeoutSec: 1200,
        },
      );
    else
      steps.push({
        kind: 'run',
        what: 'kubeadm upgrade node',
        file: kubeadm,
        args: ['upgrade', 'node'],
        timeoutSec: 900,
      });
    steps.push(
      i.rootless
        ? {
            kind: 'run',
            what: 'restart the kubelet (u7s-admin user unit)',
            file: 'systemctl',
            args: ['--user', '-M', 'u7s-admin@', 'restart', 'kubelet.service'],
            timeoutSec: 120,
          }
        : {
            kind: 'run',
            what: 'restart the kubelet',
            file: 'systemctl',
            args: ['restart', 'kubelet.service'],
            timeoutSec: 120,
          },
      {
        kind: 'run',
        what: `uncordon ${i.self}`,
        file: 'kubectl',
        args: [kc, 'uncordon', i.self],
        timeoutSec: 60,
      },
      {
        kind: 'wait',
        what: `${i.self} reports kubelet 1.${minor}`,
        nodes: [i.self],
        minor,
        skew: 0,
        timeoutSec: 600,
      },
    );
    phases.push({ version, steps });
  }
  return {
    node: i.self,
    master: i.master,
    role,
    from: i.serverVersion,
    to: phases.at(-1)!.version,
    phases,
  };
}

/** Pure: the plan as text, one numbered line per step. */
export function formatUpgradePlan(p: UpgradePlan): string[] {
  const out = [`${p.node} (${p.role}, first control plane ${p.master}): ${p.from} -> ${p.to}`];
  let n = 0;
  for (const ph of p.phases) {
    out.push(`${ph.version}:`);
    for (const s of ph.steps)
      out.push(
        `  ${++n}. ${s.what}` +
          (s.kind === 'run'
            ? `: ${[s.file, ...s.args].join(' ')}`
            : ` (at most ${s.timeoutSec} s)`),
      );
  }
  return out;
}
