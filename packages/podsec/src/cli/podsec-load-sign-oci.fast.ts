// The action of podsec-load-sign-oci and its fast path (no commander) for the everyday invocation
// `podsec-load-sign-oci <archive> <arch> <signer-email> [target]` with the options a maker or a script gives.
import {
  FAST_DEFAULTS,
  optionName,
  optionValue,
  type CliContext,
  type FastCliDefinition,
} from '@podsec/core/cli/fast';
import { createArchiveHost, type ExtractLimits } from '@podsec/core/system';
import { ociMessages } from '../oci/messages.ts';

/** Exit codes of podsec-load-sign-oci (docs/commands/podsec-load-sign-oci.md#exit-codes; 9 is new, docs/weaknesses.md#w15-loading-oci-archives). Everything else exits 1. */
export const exitCodes = {
  OCI_UNKNOWN_ARCH: 3,
  OCI_REGISTRY_MISSING: 4,
  OCI_REGISTRY_NO_DOT: 5,
  OCI_ARCHIVE_INVALID: 6,
  OCI_ARCHIVE_TOO_LARGE: 6,
  OCI_ARCH_DIR_MISSING: 7,
  OCI_INDEX_MISSING: 8,
  OCI_INDEX_INVALID: 8,
  OCI_INDEX_TOO_LARGE: 8,
  OCI_PUSH_FAILED: 9,
} as const;

/** The options of one load, as commander or the fast path parsed them. */
export interface LoadSignCliOptions {
  readonly yes?: boolean | undefined;
  readonly platform?: string | undefined;
  readonly registryHost?: string | undefined;
  readonly key?: string | undefined;
  readonly passphraseFile?: string | undefined;
  readonly lookaside?: string | undefined;
  readonly tmpdir?: string | undefined;
  readonly maxSize?: number | undefined;
  readonly maxRatio?: number | undefined;
  readonly maxEntries?: number | undefined;
  readonly tlsVerify?: boolean | undefined;
  readonly insecure?: boolean | undefined;
}

/** One line from a stream (the answer to the platform question); '' at end of input. */
async function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream as AsyncIterable<string | Buffer>) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const nl = text.indexOf('\n');
    if (nl >= 0) return text.slice(0, nl);
    if (text.length > 4096) break;
  }
  return text;
}

/** Loads, pushes and signs the images of `archive` and prints the result (the command's action). */
export async function runLoadSign(
  ctx: CliContext,
  archive: string,
  arch: string,
  signerEmail: string,
  target: string | undefined,
  opts: LoadSignCliOptions,
): Promise<void> {
  const sys = ctx.system;
  // signing (openpgp) is loaded once the arguments are valid, not for --help or a usage error
  const { loadSignOci } = await import('../oci/load-sign.ts');
  const limits: ExtractLimits = {
    ...(opts.maxSize !== undefined ? { maxTotalSize: opts.maxSize } : {}),
    ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
    ...(opts.maxRatio !== undefined ? { maxRatio: opts.maxRatio } : {}),
  };
  const result = await loadSignOci(sys, createArchiveHost(sys.env), {
    archive,
    arch,
    signerEmail,
    target,
    registryHost: opts.registryHost,
    platform: opts.platform,
    yes: opts.yes === true,
    // asked only on a terminal; standard input is looked at only then (creating process.stdin loads the
    // stream machinery: ~10 ms of every run)
    confirm: async (archivePlatform: string, platform: string) => {
      if (!ctx.isTTY) return false;
      ctx.stderr(ctx.t('oci.confirm', { archivePlatform, platform }));
      return (await readLine(ctx.stdin)) === 'y';
    },
    keyFile: opts.key,
    passphraseFile: opts.passphraseFile,
    lookaside: opts.lookaside,
    tmpDir: opts.tmpdir,
    limits,
    tlsVerify: opts.insecure === true ? false : opts.tlsVerify,
    onProgress: (p) =>
      sys.report.progress(
        ctx.t(
          p.state === 'planned'
            ? 'oci.would'
            : p.state === 'signed'
              ? 'oci.pushed'
              : 'oci.pushedAlready',
          p as unknown as Record<string, unknown>,
        ),
      ),
  });
  sys.report.result(ctx.t('oci.loaded', { count: result.loaded.length, archive }), result);
}

/** The options of the fast path that take a value, and their names in {@link LoadSignCliOptions}. */
const VALUE_OPTIONS: Readonly<Record<string, keyof LoadSignCliOptions | 'root'>> = {
  '--platform': 'platform',
  '--registry-host': 'registryHost',
  '--key': 'key',
  '--passphrase-file': 'passphraseFile',
  '--lookaside': 'lookaside',
  '--tmpdir': 'tmpdir',
  '--root': 'root',
};

/**
 * `<archive> <arch> <signer-email> [target]` with `--yes`, `--platform`, `--registry-host`, `--key`,
 * `--passphrase-file`, `--lookaside`, `--tmpdir`, `--tls-verify[=true|false]`, `--insecure`, `--root`, `--dry-run`,
 * `--json`, `-v`/`--verbose`, `--debug`, in any order (the last of a repeated option counts, as in commander). Anything
 * else (the size limits, whose values commander checks, `--help`, `--`, a value that looks like an option, too few or
 * too many arguments) is left to commander.
 */
export const fast: FastCliDefinition = {
  name: 'podsec-load-sign-oci',
  exitCodes,
  messages: ociMessages,
  parse(argv) {
    const values: Record<string, string> = {};
    const args: string[] = [];
    let yes = false;
    let insecure = false;
    let dryRun = false;
    let json = false;
    let verbose = false;
    let debug = false;
    let tlsVerify: boolean | undefined;
    // one pass, so that an option's value is never taken for a flag (--key --json is commander's to judge)
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      const key = VALUE_OPTIONS[optionName(a)];
      if (key !== undefined) {
        const v = optionValue(argv, i, optionName(a));
        if (v === undefined) return undefined;
        i = v.i;
        values[key] = v.value;
      } else if (a === '--json') json = true;
      else if (a === '-v' || a === '--verbose') verbose = true;
      else if (a === '--debug') debug = true;
      else if (a === '--yes') yes = true;
      else if (a === '--insecure') insecure = true;
      else if (a === '--dry-run') dryRun = true;
      // a bare --tls-verify is true, as podman and skopeo spell it (runCli rewrites it to =true for commander)
      else if (a === '--tls-verify' || a === '--tls-verify=true') tlsVerify = true;
      else if (a === '--tls-verify=false') tlsVerify = false;
      else if (a.startsWith('-')) return undefined;
      else args.push(a);
    }
    if (args.length < 3 || args.length > 4) return undefined;
    // (an empty --root is refused by optionValue, as commander refuses it)
    const root = values['root'] ?? '/';
    const [archive, arch, signerEmail, target] = args as [string, string, string, string?];
    const opts: LoadSignCliOptions = {
      ...(yes ? { yes } : {}),
      ...(insecure ? { insecure } : {}),
      ...(tlsVerify === undefined ? {} : { tlsVerify }),
      platform: values['platform'],
      registryHost: values['registryHost'],
      key: values['key'],
      passphraseFile: values['passphraseFile'],
      lookaside: values['lookaside'],
      tmpdir: values['tmpdir'],
    };
    return {
      options: { ...FAST_DEFAULTS, root, json, dryRun, verbose, debug },
      run: (ctx) => runLoadSign(ctx, archive, arch, signerEmail, target, opts),
    };
  },
};
