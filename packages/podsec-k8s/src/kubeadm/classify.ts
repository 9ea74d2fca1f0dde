/**
 * The light half of planning (no YAML, no namespace code): which kind of command an argv is, and the checks that
 * need no facts. The wrapper decides with it whether the heavy half has to be loaded at all.
 */
import { UsageError } from '@podsec/core';
import {
  checkConfiguredFlags,
  checkPassThroughFlags,
  flagSet,
  flagValue,
  parseKubeadmArgv,
  passThroughArgv,
  type ConfiguredCommand,
  type ParsedKubeadmArgv,
} from './flags.ts';

const DEFAULT_TIMEOUT_S = 900;

/** Commands of the real kubeadm (anything else is refused). */
export const KUBEADM_COMMANDS = [
  'certs',
  'completion',
  'config',
  'help',
  'init',
  'join',
  'kubeconfig',
  'reset',
  'token',
  'upgrade',
  'version',
] as const;

export function usage(code: string, message: string, details?: Record<string, string>): never {
  throw new UsageError(code, message, { details: details ?? {} });
}

/** Pure: `--timeout` in ms (default 900 s). Throws `KUBEADM_BAD_TIMEOUT`. */
export function timeoutOf(p: ParsedKubeadmArgv): number {
  const v = flagValue(p, 'timeout');
  if (v === undefined) return DEFAULT_TIMEOUT_S * 1000;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 86400)
    usage('KUBEADM_BAD_TIMEOUT', `invalid --timeout "${v}" (seconds, 1-86400)`, { value: v });
  return n * 1000;
}

/** Pure: does the plan need kubeadm's version (no --kubernetes-version, no U7S_KUBEVERSION)? */
export function needsKubeadmVersion(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  const p = parseKubeadmArgv(argv);
  const cmd = p.words[0];
  return (
    (cmd === 'init' || cmd === 'join') &&
    !flagSet(p, 'help') &&
    flagValue(p, 'kubernetes-version') === undefined &&
    !env['U7S_KUBEVERSION']
  );
}

/** Pure: is this a configured command (init/join), which needs the host facts? */
export function isConfiguredArgv(argv: readonly string[]): boolean {
  const p = parseKubeadmArgv(argv);
  const cmd = p.words[0];
  return (
    (cmd === 'init' || cmd === 'join') &&
    !flagSet(p, 'help') &&
    !(p.words[1] === 'phase' && p.words.length === 2)
  );
}

/**
 * Pure: the checks of {@link planKubeadm} that need no facts (command, flags), run before anything is read or
 * started. Throws like it.
 */
export function precheckKubeadmArgv(argv: readonly string[]): void {
  const p = parseKubeadmArgv(argv);
  const cmd = p.words[0];
  if (cmd === undefined) {
    if (!flagSet(p, 'help'))
      usage(
        'KUBEADM_NO_COMMAND',
        'no kubeadm command given (init, join, reset, token, upgrade ...)',
      );
    return;
  }
  if (!(KUBEADM_COMMANDS as readonly string[]).includes(cmd))
    usage('KUBEADM_UNKNOWN_COMMAND', `unknown kubeadm command "${cmd}"`, { command: cmd });
  timeoutOf(p);
  if (isConfiguredArgv(argv)) {
    checkConfiguredFlags(p, cmd as ConfiguredCommand);
    if (cmd === 'join') checkDiscoveryFlags(p);
  } else checkPassThroughFlags(p);
}

/** `host:port` of a join's endpoint positional. */
export const ENDPOINT_RE = /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

/**
 * Pure: `--discovery-file` excludes token discovery (kubeadm: "bootstrapToken and file cannot both be set"):
 * refused, before the file is read, with an endpoint positional or a discovery-token flag. Throws
 * `KUBEADM_FLAG_REFUSED`.
 */
export function checkDiscoveryFlags(p: ParsedKubeadmArgv): void {
  if (flagValue(p, 'discovery-file') === undefined) return;
  const clash =
    p.words.slice(1).find((w) => ENDPOINT_RE.test(w)) ??
    [
      'discovery-token',
      'discovery-token-ca-cert-hash',
      'discovery-token-unsafe-skip-ca-verification',
    ]
      .filter((n) => flagValue(p, n) !== undefined)
      .map((n) => `--${n}`)[0];
  if (clash) {
    const reason = `it and ${clash} exclude each other (file or token discovery)`;
    usage('KUBEADM_FLAG_REFUSED', `flag --discovery-file is refused: ${reason}`, {
      flag: '--discovery-file',
      reason,
    });
  }
}

/**
 * Pure: the argv of the real kubeadm when it runs on the host (help of any command, `version`, `completion`,
 * `init phase` alone), else undefined.
 */
export function planHostArgv(argv: readonly string[]): string[] | undefined {
  const p = parseKubeadmArgv(argv);
  const cmd = p.words[0];
  const host =
    flagSet(p, 'help') ||
    cmd === 'version' ||
    cmd === 'help' ||
    cmd === 'completion' ||
    ((cmd === 'init' || cmd === 'join') && p.words[1] === 'phase' && p.words.length === 2);
  return host ? passThroughArgv(argv, p) : undefined;
}
