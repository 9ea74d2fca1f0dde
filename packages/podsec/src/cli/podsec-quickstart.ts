import { resolveHostPath } from '@podsec/core';
import { Command, PodsecError, type CliContext, type CliDefinition } from '@podsec/core/cli';

/** Exit codes of podsec-quickstart. */
export const exitCodes = { QUICKSTART_FAILED: 2 } as const;

const messages = {
  en: {
    QUICKSTART_NOT_ROOT:
      'the quickstart creates users with useradd --prefix and builds images with buildah: run it as root',
    QUICKSTART_DIR_NOT_EMPTY: 'sandbox directory {dir} is not empty',
    QUICKSTART_FAILED: 'the quickstart did not show what it should: {steps}',
  },
  ru: {
    QUICKSTART_NOT_ROOT:
      'быстрый старт создаёт пользователей (useradd --prefix) и собирает образы (buildah): запустите его от root',
    QUICKSTART_DIR_NOT_EMPTY: 'каталог песочницы {dir} не пуст',
    QUICKSTART_FAILED: 'быстрый старт не показал ожидаемого: {steps}',
  },
};

function createProgram(ctx: CliContext) {
  return new Command('podsec-quickstart')
    .description(
      'A complete signed-image trust domain in a sandbox directory, with the real docker-registry, nginx, buildah and\n' +
        'skopeo on loopback: policy, image maker and key, an image packed into an xz OCI archive, loaded and signed into\n' +
        'the registry; then the signed image is pulled under the generated policy and an unsigned one is refused.\n' +
        'Nothing outside the sandbox directory is changed.',
    )
    .option(
      '--dir <dir>',
      'sandbox directory (default: a new directory under $TMPDIR, removed afterwards unless --keep)',
    )
    .option('--keep', 'keep the sandbox directory')
    .option('--arch <arch>', 'image architecture (default: this CPU)')
    .action(async (o) => {
      const sys = ctx.system;
      const dir =
        o.dir !== undefined
          ? resolveHostPath(o.dir)
          : await sys.fs.makeTempDir('podsec-quickstart');
      const remove = o.dir === undefined && !o.keep;
      try {
        const { runQuickstart } = await import('../quickstart/quickstart.ts');
        const r = await runQuickstart(sys, {
          dir,
          ...(o.arch === undefined ? {} : { arch: o.arch }),
        });
        const summary = r.ok
          ? `The trust domain works: ${r.signedImage} is accepted, ${r.unsignedImage} is refused.${remove ? '' : `\nSandbox: ${r.dir}`}`
          : 'The trust domain did not behave as expected; see the steps above.';
        sys.report.result(summary, r);
        if (!r.ok) {
          const failed = r.steps
            .filter((s) => !s.ok)
            .map((s) => s.step)
            .join(', ');
          throw new PodsecError(
            'QUICKSTART_FAILED',
            `the quickstart did not show what it should: ${failed}`,
            { details: { steps: failed } },
          );
        }
      } finally {
        if (remove) await sys.hostFs.remove(dir, { recursive: true });
      }
    });
}

/** The podsec-quickstart binary. */
export const cli: CliDefinition = {
  name: 'podsec-quickstart',
  create: createProgram,
  exitCodes,
  messages,
  mutates: false,
};
