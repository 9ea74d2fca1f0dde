/**
 * Flags spelled as podman and skopeo spell them. Their boolean flags are Go pflag booleans: `--tls-verify` alone means
 * true and a value is given only with `=` (`--tls-verify=false`). commander needs a value for such an option, so
 * runCli rewrites a bare flag to `<flag>=true` before parsing ({@link normalizeContainersFlags}).
 */
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';

function parseBool(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
}

/** The pflag booleans of the containers tools that podsec commands accept. */
export const CONTAINERS_BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  '--tls-verify',
  '--src-tls-verify',
  '--dest-tls-verify',
]);

/** `--tls-verify` -> `--tls-verify=true` (and the src/dest forms); nothing after `--` is touched. */
export function normalizeContainersFlags(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) =>
    (end < 0 || i < end) && CONTAINERS_BOOLEAN_FLAGS.has(a) ? `${a}=true` : a,
  );
}

/**
 * `--tls-verify[=true|false]` (or `--src-tls-verify`...) as in podman and skopeo: require HTTPS and verify the
 * registry's certificate. Undefined when not given, so that the command keeps its own default.
 */
export function tlsVerifyOption<F extends `--${string}` = '--tls-verify'>(
  description: string,
  flag?: F,
) {
  const flags = `${flag ?? '--tls-verify'} <bool>` as `${F} <bool>`;
  return new Option(flags, description).argParser(parseBool);
}
