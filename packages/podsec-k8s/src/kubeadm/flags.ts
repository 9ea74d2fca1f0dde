/**
 * The flags of `podsec-u7s-kubeadm` (invoked as `kubeadm`): one table that says, for every flag the original
 * wrapper knew and every flag of `kubeadm init`/`join`, whether the wrapper maps it into the configuration it
 * renders, passes it to the real kubeadm, handles it itself or refuses it. Nothing is dropped silently.
 */
import { UsageError } from '@podsec/core';

/** What happens to a flag. */
export type FlagTreatment =
  /** mapped into the rendered kubeadm configuration (kubeadm refuses most flags next to `--config`) */
  | 'config'
  /** passed to the real kubeadm next to `--config` */
  | 'pass'
  /** handled by the wrapper itself */
  | 'wrapper'
  /** refused with a one-line error naming the flag */
  | 'refuse';

/** Commands whose configuration the wrapper renders. */
export type ConfiguredCommand = 'init' | 'join';

/** One row of the flag table. */
export interface FlagSpec {
  /** Long name without dashes. */
  readonly name: string;
  readonly short?: string;
  /** Takes a value (`--flag v` / `--flag=v`); else boolean (`--flag`, `--flag=true|false`). */
  readonly value: boolean;
  /** Commands (init/join and their phases) that know the flag; pass-through commands get every flag verbatim. */
  readonly commands: readonly ConfiguredCommand[];
  readonly treatment: FlagTreatment;
  /** Where it goes (config field) or why it is refused. */
  readonly note: string;
}

const both = ['init', 'join'] as const;
const init = ['init'] as const;
const join = ['join'] as const;
const cfg = (
  name: string,
  value: boolean,
  commands: readonly ConfiguredCommand[],
  note: string,
): FlagSpec => ({ name, value, commands, treatment: 'config', note });
const pass = (name: string, value: boolean, commands: readonly ConfiguredCommand[], note: string) =>
  ({ name, value, commands, treatment: 'pass', note }) as FlagSpec;
const refuse = (name: string, value: boolean, note: string): FlagSpec => ({
  name,
  value,
  commands: both,
  treatment: 'refuse',
  note,
});
const REMOVED_KLOG = 'a klog flag that kubeadm no longer has (removed in Kubernetes 1.26)';

/** Every flag the wrapper knows (the spec's table of the original plus kubeadm 1.26-1.37 init/join). */
export const KUBEADM_FLAGS: readonly FlagSpec[] = [
  // global
  { ...pass('v', true, both, 'log level of the real kubeadm'), short: 'v' },
  pass('vmodule', true, both, 'per-file log levels of the real kubeadm'),
  { ...pass('help', false, both, "the real kubeadm's help"), short: 'h' },
  refuse(
    'rootfs',
    true,
    'kubeadm runs inside the u7s namespace: a chroot into another root is not supported',
  ),
  // wrapper
  {
    name: 'dry-run',
    value: false,
    commands: both,
    treatment: 'wrapper',
    note: 'print the plan (rendered files, kubeadm argv), change nothing',
  },
  {
    name: 'json',
    value: false,
    commands: both,
    treatment: 'wrapper',
    note: 'machine-readable plan/result',
  },
  {
    name: 'admin-kubeconfig',
    value: true,
    commands: both,
    treatment: 'wrapper',
    note: 'where the host admin kubeconfig goes (default /root/.kube/config)',
  },
  {
    name: 'timeout',
    value: true,
    commands: both,
    treatment: 'wrapper',
    note: 'seconds the real kubeadm may run (default 900)',
  },
  {
    name: 'yes',
    value: false,
    commands: both,
    treatment: 'wrapper',
    note: 'remove the etcd member directory of an earlier cluster without asking',
  },
  // passed next to --config
  pass('ignore-preflight-errors', true, both, 'checks to show as warnings'),
  pass('skip-certificate-key-print', false, init, 'do not print the certificate key'),
  pass('skip-token-print', false, init, 'do not print the bootstrap token'),
  pass('upload-certs', false, init, 'upload control-plane certificates (always on for init)'),
  pass('kubeconfig', true, both, 'kubeconfig of a phase (path inside the namespace)'),
  // rendered into the configuration
  cfg(
    'apiserver-advertise-address',
    true,
    both,
    'localAPIEndpoint.advertiseAddress, SANs, node-ip',
  ),
  cfg('apiserver-bind-port', true, both, 'localAPIEndpoint.bindPort, default endpoint port'),
  cfg('apiserver-cert-extra-sans', true, init, 'ClusterConfiguration.apiServer.certSANs'),
  cfg('cert-dir', true, init, 'ClusterConfiguration.certificatesDir'),
  cfg('certificate-key', true, both, 'InitConfiguration / controlPlane.certificateKey'),
  cfg('control-plane-endpoint', true, init, 'ClusterConfiguration.controlPlaneEndpoint'),
  cfg('cri-socket', true, both, 'nodeRegistration.criSocket'),
  cfg('feature-gates', true, init, 'ClusterConfiguration.featureGates'),
  cfg('image-repository', true, init, 'imageRepository (control plane and etcd)'),
  cfg('kubernetes-version', true, init, 'ClusterConfiguration.kubernetesVersion'),
  cfg('node-name', true, both, 'nodeRegistration.name'),
  cfg('patches', true, both, 'patches.directory'),
  cfg('pod-network-cidr', true, init, 'networking.podSubnet, controller cluster-cidr'),
  cfg('service-cidr', true, init, 'networking.serviceSubnet, controller service range'),
  cfg('service-dns-domain', true, init, 'networking.dnsDomain'),
  cfg('skip-phases', true, both, 'skipPhases'),
  cfg('token', true, both, 'init: bootstrapTokens[0].token; join: discovery token'),
  cfg('token-ttl', true, init, 'bootstrapTokens[0].ttl'),
  cfg('control-plane', false, join, 'JoinConfiguration.controlPlane (role master)'),
  cfg('discovery-token', true, join, 'discovery.bootstrapToken.token'),
  cfg('discovery-token-ca-cert-hash', true, join, 'discovery.bootstrapToken.caCertHashes'),
  cfg(
    'discovery-token-unsafe-skip-ca-verification',
    false,
    join,
    'discovery.bootstrapToken.unsafeSkipCAVerification',
  ),
  cfg('tls-bootstrap-token', true, join, 'discovery.tlsBootstrapToken'),
  cfg(
    'discovery-file',
    true,
    join,
    'discovery.file: a kubeconfig with the cluster CA (file or https URL, read and checked here, given to kubeadm as a root-owned copy)',
  ),
  // refused
  refuse(
    'config',
    true,
    'the wrapper renders the configuration a rootless node needs: use the flags, or --patches for more',
  ),
  refuse('add-dir-header', false, REMOVED_KLOG),
  refuse('alsologtostderr', false, REMOVED_KLOG),
  refuse('log-backtrace-at', true, REMOVED_KLOG),
  refuse('log-dir', true, REMOVED_KLOG),
  refuse('log-file', true, REMOVED_KLOG),
  refuse('log-file-max-size', true, REMOVED_KLOG),
  refuse('logtostderr', false, REMOVED_KLOG),
  refuse('one-output', false, REMOVED_KLOG),
  refuse('skip-headers', false, REMOVED_KLOG),
  refuse('skip-log-headers', false, REMOVED_KLOG),
  refuse('stderrthreshold', true, REMOVED_KLOG),
  {
    ...refuse('c', true, 'not a flag of kubeadm init or join (the original accepted -c X)'),
    short: 'c',
  },
  {
    ...refuse(
      'output',
      true,
      'not a flag of kubeadm init or join (the original took -o as a boolean)',
    ),
    short: 'o',
  },
];

const BY_LONG = new Map(KUBEADM_FLAGS.map((f) => [f.name, f]));
const BY_SHORT = new Map(KUBEADM_FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));

/** One flag occurrence as given. */
export interface FlagUse {
  readonly spec: FlagSpec | undefined;
  /** Long name (or the unknown name as written, without dashes). */
  readonly name: string;
  /** Value; `'true'`/`'false'` for booleans, undefined for unknown flags without `=`. */
  readonly value: string | undefined;
  /** The argv tokens it came from. */
  readonly raw: readonly string[];
  /** Index of its first token in argv. */
  readonly index: number;
}

/** Result of {@link parseKubeadmArgv}. */
export interface ParsedKubeadmArgv {
  /** Positional words: command, subcommands, join endpoint. */
  readonly words: readonly string[];
  readonly flags: readonly FlagUse[];
  /** Tokens after `--`. */
  readonly rest: readonly string[];
}

function badFlag(code: string, message: string, flag: string): never {
  throw new UsageError(code, message, { details: { flag } });
}

/**
 * Pure: splits argv into words and flags with the table. A flag of the table that takes a value takes the next
 * token; unknown flags are kept as written (for pass-through commands; init/join refuse them).
 */
export function parseKubeadmArgv(argv: readonly string[]): ParsedKubeadmArgv {
  const words: string[] = [];
  const flags: FlagUse[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') return { words, flags, rest: argv.slice(i + 1) };
    if (!tok.startsWith('-') || tok === '-') {
      words.push(tok);
      continue;
    }
    const long = tok.startsWith('--');
    const body = tok.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    let name = eq >= 0 ? body.slice(0, eq) : body;
    let inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    let spec = long ? BY_LONG.get(name) : BY_SHORT.get(name);
    // -v5, -v=5 (klog style)
    if (!long && !spec && inline === undefined && BY_SHORT.get(name[0]!)?.value) {
      spec = BY_SHORT.get(name[0]!);
      inline = name.slice(1);
      name = name[0]!;
    }
    if (!spec) {
      flags.push({ spec: undefined, name, value: inline, raw: [tok], index: i });
      continue;
    }
    if (spec.value) {
      if (inline !== undefined)
        flags.push({ spec, name: spec.name, value: inline, raw: [tok], index: i });
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('-') && next !== '-'))
          badFlag('KUBEADM_FLAG_NEEDS_VALUE', `flag --${spec.name} needs a value`, spec.name);
        flags.push({ spec, name: spec.name, value: next, raw: [tok, next], index: i });
        i++;
      }
    } else {
      if (inline !== undefined && inline !== 'true' && inline !== 'false')
        badFlag(
          'KUBEADM_FLAG_BAD_BOOL',
          `flag --${spec.name} is true or false, not "${inline}"`,
          spec.name,
        );
      flags.push({ spec, name: spec.name, value: inline ?? 'true', raw: [tok], index: i });
    }
  }
  return { words, flags, rest: [] };
}

/** The last value of a flag (kubeadm: the last occurrence wins), undefined when absent. */
export function flagValue(p: ParsedKubeadmArgv, name: string): string | undefined {
  let v: string | undefined;
  for (const f of p.flags) if (f.name === name) v = f.value;
  return v;
}

/** True when a boolean flag is given and not `=false`. */
export function flagSet(p: ParsedKubeadmArgv, name: string): boolean {
  return flagValue(p, name) === 'true';
}

/**
 * Pure: refuses, for a configured command (init/join and their phases), every unknown flag, every flag of the
 * other command and every refused flag, naming it. Throws `KUBEADM_UNKNOWN_FLAG` / `KUBEADM_FLAG_REFUSED`.
 */
export function checkConfiguredFlags(p: ParsedKubeadmArgv, command: ConfiguredCommand): void {
  for (const f of p.flags) {
    const shown = f.raw[0]!.split('=')[0]!;
    if (!f.spec)
      badFlag(
        'KUBEADM_UNKNOWN_FLAG',
        `unknown flag ${shown} for kubeadm ${command} (podsec-u7s-kubeadm --help lists the flags)`,
        shown,
      );
    if (f.spec.treatment === 'refuse')
      throw new UsageError('KUBEADM_FLAG_REFUSED', `flag ${shown} is refused: ${f.spec.note}`, {
        details: { flag: shown, reason: f.spec.note },
      });
    if (!f.spec.commands.includes(command))
      throw new UsageError(
        'KUBEADM_FLAG_WRONG_COMMAND',
        `flag ${shown} is not a flag of kubeadm ${command}`,
        { details: { flag: shown, command } },
      );
  }
}

/**
 * Pure: refuses, for a pass-through command, the flags the wrapper never passes (`--rootfs`); everything else
 * goes verbatim to the real kubeadm, which refuses what it does not know. Throws `KUBEADM_FLAG_REFUSED`.
 */
export function checkPassThroughFlags(p: ParsedKubeadmArgv): void {
  for (const f of p.flags)
    if (f.spec?.name === 'rootfs')
      throw new UsageError('KUBEADM_FLAG_REFUSED', `flag --rootfs is refused: ${f.spec.note}`, {
        details: { flag: '--rootfs', reason: f.spec.note },
      });
}

/** Pure: argv without the wrapper's own flags, otherwise verbatim and in order (pass-through commands). */
export function passThroughArgv(argv: readonly string[], p: ParsedKubeadmArgv): string[] {
  const drop = new Set<number>();
  for (const f of p.flags)
    // --yes is also kubeadm's own (upgrade apply): it stays
    if (f.spec?.treatment === 'wrapper' && f.spec.name !== 'yes')
      f.raw.forEach((_, k) => drop.add(f.index + k));
  return argv.filter((_, i) => !drop.has(i));
}

/** Pure: the tokens of the flags with a treatment, normalised to `--name=value` / `--name` (`-v N` kept short). */
export function formatFlags(p: ParsedKubeadmArgv, treatment: FlagTreatment): string[] {
  const out: string[] = [];
  for (const f of p.flags) {
    if (f.spec?.treatment !== treatment) continue;
    if (f.spec.name === 'v') out.push(`--v=${f.value ?? ''}`);
    else if (f.spec.value) out.push(`--${f.spec.name}=${f.value ?? ''}`);
    else if (f.value === 'true') out.push(`--${f.spec.name}`);
  }
  return out;
}
