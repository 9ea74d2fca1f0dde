/**
 * podsec-k8s-create-master: a rootful first control plane (kubeadm init on the host, not in a user
 * namespace) for clusters that mix rootful and rootless nodes. read → plan → validate → apply on the core
 * changes engine. What the original did to sshd is not done at all.
 *
 * Two phases, both as change lists: before `kubeadm init` (kubeadm configuration with the API audit, the
 * audit policy, the services, the init itself); after it (the admin kubeconfig for root and, written as the
 * administrator, for the administrator). A re-run on an initialised node skips the init.
 */
import { NotFoundError, parseOsRelease, planPlatform, UsageError } from '@podsec/core';
import { applyChanges, type Change, type ChangeReport } from '@podsec/core/changes';
import type { System } from '@podsec/core/system';
import { renderRootfulInitConfig, type AuditWiring } from '../kubeadm/render.ts';
import { parseCidr, parseIPv4 } from '../u7s/net.ts';
import { renderAuditPolicy } from '../kubeadm/audit.ts';

/** Files of a rootful master. */
export const MASTER_PATHS = {
  config: '/etc/kubernetes/podsec/kubeadm-master.yaml',
  auditPolicy: '/etc/kubernetes/audit/policy.yaml',
  auditLogDir: '/var/log/kubernetes/audit',
  adminConf: '/etc/kubernetes/admin.conf',
  rootKube: '/root/.kube',
} as const;

/** Options of {@link createMaster}. */
export interface CreateMasterOptions {
  /** The administrator who gets `~/.kube/config`. */
  readonly user: string;
  /** `v1.37.2`. @default the installed kubeadm's version */
  readonly kubernetesVersion?: string;
  /** @default `registry.local/<platform>` */
  readonly imageRepository?: string;
  /** @default '10.244.0.0/16' (flannel's) */
  readonly podNetworkCidr?: string;
  /** @default '10.96.0.0/12' */
  readonly serviceCidr?: string;
  readonly advertiseAddress?: string;
  /** @default 'unix:///var/run/crio/crio.sock' */
  readonly criSocket?: string;
  /** A CNI manifest applied after the init (kubectl apply -f). */
  readonly cniManifest?: string;
  /** Units enabled and started before the init. @default ['crio', 'kubelet'] */
  readonly services?: readonly string[];
  /** @default 'kubeadm' */
  readonly kubeadm?: string;
  /** @default 'kubectl' */
  readonly kubectl?: string;
  /** @default 'systemctl' */
  readonly systemctl?: string;
}

/** What the plan depends on. */
export interface MasterState {
  readonly user: {
    readonly name: string;
    readonly uid: number;
    readonly gid: number;
    readonly home: string;
  };
  readonly kubernetesVersion: string;
  readonly imageRepository: string;
  readonly initialised: boolean;
  /** Under `--root`: commands that act on the running host are not run. */
  readonly hostCommands: boolean;
}

/** Result of {@link createMaster}. */
export interface CreateMasterResult {
  readonly report: ChangeReport;
  /** Host commands left out under --root. */
  readonly skipped: readonly string[];
}

const UNIT_RE = /^[A-Za-z0-9@._-]+$/;

function bad(code: string, message: string, value: string): never {
  throw new UsageError(code, message, { details: { value } });
}

/** The audit of a rootful master: the policy file mounted into the API server pod, logs under /var/log. */
const MASTER_AUDIT: AuditWiring = {
  policyFile: MASTER_PATHS.auditPolicy,
  policyVolume: { hostPath: MASTER_PATHS.auditPolicy, pathType: 'File' },
  logDir: MASTER_PATHS.auditLogDir,
  log: `${MASTER_PATHS.auditLogDir}/audit.log`,
};

/** Pure: the kubeadm configuration of a rootful first control plane, with the API audit wired in. */
export function renderMasterConfig(s: MasterState, o: CreateMasterOptions): string {
  const pod = parseCidr(o.podNetworkCidr ?? '10.244.0.0/16', 'pod network CIDR').text;
  const svc = parseCidr(o.serviceCidr ?? '10.96.0.0/12', 'service CIDR').text;
  if (o.advertiseAddress !== undefined && parseIPv4(o.advertiseAddress) === undefined)
    bad('U7S_BAD_ADDRESS', `invalid address "${o.advertiseAddress}"`, o.advertiseAddress);
  // the one renderer of kubeadm configurations (kubeadm/render.ts), in its rootful form
  return renderRootfulInitConfig({
    kubernetesVersion: s.kubernetesVersion,
    imageRepository: s.imageRepository,
    podNetworkCidr: pod,
    serviceCidr: svc,
    ...(o.advertiseAddress ? { advertiseAddress: o.advertiseAddress } : {}),
    criSocket: o.criSocket ?? 'unix:///var/run/crio/crio.sock',
    audit: MASTER_AUDIT,
  });
}

/**
 * Pure: phase one. Files (root-owned 0600 in root-owned directories), then the host commands: enable the
 * services, `kubeadm init --config`, the CNI manifest. Validates every input before returning.
 */
export function planCreateMaster(
  s: MasterState,
  o: CreateMasterOptions,
): { changes: Change[]; skipped: string[] } {
  const config = renderMasterConfig(s, o);
  const services = o.services ?? ['crio', 'kubelet'];
  for (const u of services)
    if (!UNIT_RE.test(u)) bad('MASTER_BAD_SERVICE', `invalid unit name "${u}"`, u);
  if (o.cniManifest !== undefined && !o.cniManifest.startsWith('/'))
    bad('MASTER_BAD_PATH', `not an absolute path: ${o.cniManifest}`, o.cniManifest);
  const root = { uid: 0, gid: 0 };
  const files: Change[] = [
    { kind: 'dir', path: '/etc/kubernetes', mode: 0o755, ...root },
    { kind: 'dir', path: '/etc/kubernetes/podsec', mode: 0o700, ...root },
    { kind: 'file', path: MASTER_PATHS.config, content: config, mode: 0o600, ...root },
    { kind: 'dir', path: '/etc/kubernetes/audit', mode: 0o700, ...root },
    {
      kind: 'file',
      path: MASTER_PATHS.auditPolicy,
      content: renderAuditPolicy(),
      mode: 0o600,
      ...root,
    },
    { kind: 'dir', path: MASTER_PATHS.auditLogDir, mode: 0o700, ...root },
  ];
  const host: Change[] = [
    { kind: 'run', file: o.systemctl ?? 'systemctl', args: ['enable', '--now', ...services] },
    ...(s.initialised
      ? []
      : [
          {
            kind: 'run' as const,
            file: o.kubeadm ?? 'kubeadm',
            args: ['init', `--config=${MASTER_PATHS.config}`],
          },
        ]),
    ...(o.cniManifest === undefined
      ? []
      : [
          {
            kind: 'run' as const,
            file: o.kubectl ?? 'kubectl',
            args: [`--kubeconfig=${MASTER_PATHS.adminConf}`, 'apply', '-f', o.cniManifest],
          },
        ]),
  ];
  if (s.hostCommands) return { changes: [...files, ...host], skipped: [] };
  return {
    changes: files,
    skipped: host.map((c) => (c.kind === 'run' ? [c.file, ...c.args].join(' ') : '')),
  };
}

/**
 * Pure: phase two, the admin kubeconfig: root's `/root/.kube/config`, and the administrator's written by
 * the administrator (a root write into a directory the user owns could be redirected by a link).
 */
export function planAdminKubeconfigs(
  s: MasterState,
  adminConf: string,
  o: { readonly userHasIt?: boolean } = {},
): Change[] {
  const u = s.user;
  const kube = `${u.home}/.kube`;
  const rootCopy: Change[] = [
    { kind: 'dir', path: MASTER_PATHS.rootKube, mode: 0o700, uid: 0, gid: 0 },
    {
      kind: 'file',
      path: `${MASTER_PATHS.rootKube}/config`,
      content: adminConf,
      mode: 0o600,
      uid: 0,
      gid: 0,
    },
  ];
  // an image tree being built under --root: nobody acts in it, the engine writes the files itself
  if (!s.hostCommands)
    return [
      ...rootCopy,
      { kind: 'dir', path: kube, mode: 0o700, uid: u.uid, gid: u.gid },
      {
        kind: 'file',
        path: `${kube}/config`,
        content: adminConf,
        mode: 0o600,
        uid: u.uid,
        gid: u.gid,
      },
    ];
  if (o.userHasIt) return rootCopy;
  const asUser = {
    runAs: { uid: u.uid, gid: u.gid },
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  };
  return [
    ...rootCopy,
    { kind: 'run', file: 'install', args: ['-d', '-m', '0700', '--', kube], ...asUser },
    {
      kind: 'run',
      file: 'install',
      args: ['-m', '0600', '--', '/dev/stdin', `${kube}/config`],
      input: adminConf,
      ...asUser,
    },
  ];
}

/** Reads what the plan depends on. */
export async function readMasterState(sys: System, o: CreateMasterOptions): Promise<MasterState> {
  const pw = await sys.users.getUser(o.user);
  if (!pw)
    throw new NotFoundError('MASTER_NO_USER', `user ${o.user} does not exist`, {
      details: { user: o.user },
    });
  if (!pw.home.startsWith('/') || pw.home === '/')
    throw new UsageError('MASTER_BAD_HOME', `user ${o.user} has no home directory`, {
      details: { user: o.user },
    });
  const hostCommands = sys.root === '/';
  let version = o.kubernetesVersion;
  if (version === undefined) {
    if (!hostCommands)
      throw new UsageError('MASTER_NO_VERSION', 'under --root give --kubernetes-version', {
        details: {},
      });
    const r = await sys.proc.run(o.kubeadm ?? 'kubeadm', ['version', '-o', 'short'], {
      timeoutMs: 20_000,
    });
    version = r.exitCode === 0 ? r.stdout.trim() : '';
    if (!version)
      throw new NotFoundError(
        'MASTER_NO_KUBEADM',
        'kubeadm is not installed (or gave no version)',
        {
          details: {},
        },
      );
  }
  let repo = o.imageRepository;
  if (repo === undefined) {
    const osr = await sys.fs.readTextIfExists('/etc/os-release');
    try {
      repo = `registry.local/${planPlatform(osr === undefined ? undefined : parseOsRelease(osr), sys.env['U7S_PLATFORM']).platform}`;
    } catch {
      throw new UsageError(
        'MASTER_NO_PLATFORM',
        'the platform of this system is unknown: give --image-repository',
        { details: {} },
      );
    }
  }
  return {
    user: { name: o.user, uid: pw.uid, gid: pw.gid, home: pw.home },
    kubernetesVersion: version,
    imageRepository: repo,
    initialised: (await sys.fs.stat(MASTER_PATHS.adminConf)) !== undefined,
    hostCommands,
  };
}

/** The whole command: read, plan and validate both phases' inputs, apply phase one, then phase two. */
export async function createMaster(
  sys: System,
  o: CreateMasterOptions,
): Promise<CreateMasterResult> {
  const state = await readMasterState(sys, o);
  const one = planCreateMaster(state, o);
  const first = await applyChanges(sys, one.changes);
  // phase two needs the admin.conf that kubeadm init wrote (in a dry run: the current one, if any)
  const admin = await sys.fs.readTextIfExists(MASTER_PATHS.adminConf);
  if (admin === undefined || admin.length > 1_000_000)
    return { report: first, skipped: one.skipped };
  // compared only (never shown): the administrator's copy is already the current admin.conf
  const kubeconfig = `${state.user.home}/.kube/config`;
  const st = await sys.fs.stat(kubeconfig).catch(() => undefined);
  const userHasIt =
    st?.kind === 'file' &&
    st.uid === state.user.uid &&
    (await sys.fs.readTextIfExists(kubeconfig)) === admin;
  const second = await applyChanges(sys, planAdminKubeconfigs(state, admin, { userHasIt }));
  return {
    report: {
      ...first,
      changed: first.changed || second.changed,
      changes: [...first.changes, ...second.changes],
      unchanged: first.unchanged + second.unchanged,
      backups: [...first.backups, ...second.backups],
      warnings: [...first.warnings, ...second.warnings],
    },
    skipped: one.skipped,
  };
}
