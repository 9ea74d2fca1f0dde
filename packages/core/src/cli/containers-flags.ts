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

function parseXzLevel(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new InvalidArgumentError('expected 0 to 9');
  return n;
}

/**
 * The options podsec-save-oci and podsec-k8s-save-oci share (where the images come from, how the archive is
 * written), new objects per call; {@link sourceTlsVerify} folds the three TLS spellings into one value.
 */
export function saveOciOptions() {
  return {
    transport: new Option(
      '--transport <prefix>',
      'transport prefix of the sources (default docker://)',
    ),
    registry: new Option(
      '--registry <host>',
      'source registry (default $U7S_ALTREGISTRY or registry.altlinux.org)',
    ),
    tlsVerify: tlsVerifyOption(
      'bare or =true: HTTPS with a verified certificate for the source registry; =false: plain HTTP or unverified TLS (default: false for loopback, else true)',
    ),
    srcTlsVerify: tlsVerifyOption(
      'the same as --tls-verify (skopeo copy spelling)',
      '--src-tls-verify',
    ),
    insecure: new Option('--insecure', 'the same as --tls-verify=false'),
    tmpdir: new Option(
      '--tmpdir <dir>',
      'parent of the private work directories (default $TMPDIR or /var/tmp)',
    ),
    xzLevel: new Option('--xz-level <n>', 'xz preset (default 9; xz uses every core)').argParser(
      parseXzLevel,
    ),
  };
}

/** The source registry's TLS choice of {@link saveOciOptions}: `--insecure` wins, then `--tls-verify`. */
export function sourceTlsVerify(o: {
  readonly insecure?: boolean | undefined;
  readonly tlsVerify?: boolean | undefined;
  readonly srcTlsVerify?: boolean | undefined;
}): boolean | undefined {
  return o.insecure === true ? false : (o.tlsVerify ?? o.srcTlsVerify);
}
