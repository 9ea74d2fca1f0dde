import {
  Command,
  requireRoot,
  saveOciOptions,
  sourceTlsVerify,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { createArchiveHost } from '@podsec/core/system';
import { ociMessages } from '../oci/messages.ts';
import { planSaveOci } from '../oci/plan-save.ts';
import { saveOci } from '../oci/save.ts';

/** Exit codes of podsec-save-oci (docs/commands/podsec-save-oci.md#exit-codes; 3 and 4 are new, docs/weaknesses.md#w16-saving-oci-archives). Everything else exits 1. */
export const exitCodes = { SAVE_UNKNOWN_ARCH: 2, SAVE_COPY_FAILED: 3, OCI_PACK_FAILED: 4 } as const;

function createProgram(ctx: CliContext) {
  const o = saveOciOptions();
  return new Command('podsec-save-oci')
    .description(
      'Save images per architecture into <dir>/<arch>.tar.xz OCI archives for podsec-load-sign-oci.\n' +
        'Exit codes: 0 ok, 1 usage or <dir> exists, 2 unknown architecture, 3 a copy failed, 4 an archive could not be written.\n\n' +
        '<dir> and --tmpdir are paths of this host (relative to the working directory), also with --root.',
    )
    .argument('[dir]', 'output directory (must not exist)')
    .argument('[archs]', 'comma-separated architectures (amd64, arm64, arm, ppc64le, 386) or all')
    .argument(
      '[images...]',
      '[<transport>] <image> ...: images without registry host, e.g. c10f/pause:3.9',
    )
    .addOption(o.transport)
    .addOption(o.registry)
    .addOption(o.tlsVerify)
    .addOption(o.srcTlsVerify)
    .addOption(o.insecure)
    .addOption(o.tmpdir)
    .addOption(o.xzLevel)
    .action(async (dir, archs, images, opts) => {
      const sys = ctx.system;
      const plan = planSaveOci({
        args: [dir, archs, ...images].filter((a): a is string => a !== undefined),
        transport: opts.transport,
        registry: opts.registry,
        env: sys.env,
        srcTlsVerify: sourceTlsVerify(opts),
      });
      requireRoot(ctx);
      const result = await saveOci(sys, createArchiveHost(sys.env), plan, {
        tmpDir: opts.tmpdir,
        ...(opts.xzLevel !== undefined ? { level: opts.xzLevel } : {}),
        onProgress: (p) =>
          sys.report.progress(
            p.kind === 'copied' ? ctx.t('oci.saveCopy', p) : ctx.t('oci.saveArchive', p),
          ),
      });
      sys.report.result(
        ctx.t('oci.saved', { count: result.archives.length, dir: result.dir }),
        result,
      );
    });
}

/** The podsec-save-oci binary. */
export const cli: CliDefinition = {
  name: 'podsec-save-oci',
  create: createProgram,
  exitCodes,
  messages: ociMessages,
  mutates: true,
};
