import {
  Command,
  InvalidArgumentError,
  tlsVerifyOption,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import {
  DEFAULT_MAX_ARCHIVE_SIZE,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_RATIO,
} from '@podsec/core/system';
import { ociMessages } from '../oci/messages.ts';
import { exitCodes, runLoadSign } from './podsec-load-sign-oci.fast.ts';

export { exitCodes } from './podsec-load-sign-oci.fast.ts';

/** `8G`, `512M`, `100k` or plain bytes. */
export function parseSize(v: string): number {
  const m = /^(\d+)([kKmMgGtT]?)(i?[bB])?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a size such as 8G, 512M or 1048576');
  const mult =
    { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? '').toLowerCase()] ?? 1;
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('size out of range');
  return n;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function createProgram(ctx: CliContext) {
  return new Command('podsec-load-sign-oci')
    .description(
      'Load the images of a per-architecture OCI archive (made by podsec-save-oci) into the registry and sign them ' +
        "with the image maker's key.\n\n" +
        'Exit codes: 0 ok, 1 usage/permission/key, 3 unknown architecture, 5 registry name without a dot, ' +
        '6 archive cannot be extracted safely (or too large for its size, the limits or the free space), ' +
        '7 no <arch>/ in the archive, 8 no or a bad index.json, ' +
        '9 a push or signature failed (the references done so far are listed).\n\n' +
        'The archive, --key, --passphrase-file and --tmpdir are files of this host (relative to the working directory), ' +
        "even with --root; the default key ~/.config/podsec/signing-key.asc, the caller's registries.d and the " +
        'groups are read under --root.',
    )
    .argument('<archive>', 'the <arch>.tar.xz archive')
    .argument('<arch>', 'architecture: amd64, arm64, arm, ppc64le or 386')
    .argument('<signer-email>', 'e-mail of the signing key (without <>)')
    .argument('[target]', '<registry>/<path> for the images (default registry.local/<platform>)')
    .option('--yes', 'accept an archive of another platform without asking')
    .option('--platform <platform>', "expected platform (default: U7S_PLATFORM or this system's)")
    .option(
      '--registry-host <host>',
      'registry host[:port] instead of registry.local (sandbox; skips the server check)',
    )
    .option(
      '--key <file>',
      'armoured private key (default: ~/.config/podsec/signing-key.asc under --root)',
    )
    .option('--passphrase-file <file>', 'file holding the key passphrase')
    .option(
      '--lookaside <url>',
      'file:// lookaside base for the signatures (default from registries.d)',
    )
    .option('--tmpdir <dir>', 'parent of the private work directory (default $TMPDIR or /var/tmp)')
    .option(
      '--max-size <size>',
      `largest total size of the archive content (default ${DEFAULT_MAX_ARCHIVE_SIZE / 1024 ** 3}G)`,
      parseSize,
    )
    .option(
      '--max-ratio <n>',
      `largest content size per byte of the compressed archive (default ${DEFAULT_MAX_RATIO})`,
      parseCount,
    )
    .option(
      '--max-entries <n>',
      `most members in the archive (default ${DEFAULT_MAX_ENTRIES})`,
      parseCount,
    )
    .addOption(
      tlsVerifyOption(
        'bare or =true: HTTPS with a verified certificate; =false: plain HTTP or unverified TLS (default: false for registry.local and loopback, else true)',
      ),
    )
    .option('--insecure', 'the same as --tls-verify=false')
    .showHelpAfterError()
    .action((archive, arch, signerEmail, target, opts) =>
      runLoadSign(ctx, archive, arch, signerEmail, target, opts),
    );
}

/** The podsec-load-sign-oci binary. */
export const cli: CliDefinition = {
  name: 'podsec-load-sign-oci',
  create: createProgram,
  exitCodes,
  messages: ociMessages,
  mutates: true,
};
