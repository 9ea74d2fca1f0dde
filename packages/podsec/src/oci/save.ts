/**
 * podsec-save-oci (docs/commands/podsec-save-oci.md, docs/weaknesses.md#w16-saving-oci-archives): copy images per architecture straight into a private OCI layout with
 * skopeo (no containers-storage, no `podman image rm`), stop at the first failed copy, and write
 * `<dir>/<arch>.tar.xz` atomically.
 */
import { ExternalCommandError, UsageError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { packArchive, type ArchiveHost } from '@podsec/core/system';
import type { SavePlan } from './plan-save.ts';

/** Options of {@link saveOci}. */
export interface SaveOciOptions {
  /** Parent of the private work directories. @default $TMPDIR or /var/tmp */
  readonly tmpDir?: string | undefined;
  /** xz preset. @default 9 */
  readonly level?: number;
  readonly onProgress?: (p: SaveProgress) => void;
}

/** Progress of {@link saveOci}. */
export type SaveProgress =
  | {
      readonly kind: 'copied';
      readonly arch: string;
      readonly n: number;
      readonly total: number;
      readonly source: string;
    }
  | { readonly kind: 'archive'; readonly arch: string; readonly file: string };

/** Result of {@link saveOci}. */
export interface SaveOciResult {
  readonly dir: string;
  readonly archives: readonly {
    readonly arch: string;
    readonly file: string;
    readonly images: readonly string[];
  }[];
  readonly dryRun: boolean;
}

/**
 * Run a {@link SavePlan}.
 * @throws UsageError `SAVE_DIR_EXISTS`, `SAVE_BAD_TMPDIR`; ExternalCommandError `SAVE_COPY_FAILED`; UsageError `OCI_PACK_FAILED`
 */
export async function saveOci(
  sys: System,
  host: ArchiveHost,
  plan: SavePlan,
  o: SaveOciOptions = {},
): Promise<SaveOciResult> {
  const dir = host.resolve(plan.dir);
  if ((await host.kind(dir)) !== undefined)
    throw new UsageError('SAVE_DIR_EXISTS', `OCI catalog ${plan.dir} already exists`, {
      details: { dir: plan.dir },
    });
  const tmpParent = host.resolve(o.tmpDir ?? sys.env['TMPDIR'] ?? '/var/tmp');
  // an oci: reference is <path>:<image>; a ':' in the path would split it wrongly (docs/weaknesses.md#w16-saving-oci-archives)
  if (tmpParent.includes(':'))
    throw new UsageError(
      'SAVE_BAD_TMPDIR',
      `temporary directory ${tmpParent} must not contain ":"`,
      { details: { dir: tmpParent } },
    );
  const progress =
    o.onProgress ??
    ((p: SaveProgress) =>
      sys.report.progress(
        p.kind === 'copied'
          ? `[${p.arch}] ${p.n}/${p.total} copied ${p.source}`
          : `written ${p.file}`,
      ));
  if (sys.dryRun) {
    for (const arch of plan.archs) {
      plan.copies.forEach((c, i) =>
        progress({ kind: 'copied', arch, n: i + 1, total: plan.copies.length, source: c.source }),
      );
    }
    return {
      dir,
      archives: plan.archs.map((arch) => ({
        arch,
        file: `${dir}/${arch}.tar.xz`,
        images: plan.images,
      })),
      dryRun: true,
    };
  }
  // the archives are written into a private staging directory next to <dir> that becomes <dir> only when all
  // are complete: a failed or interrupted run leaves no <dir> behind that would block the re-run
  const slash = dir.lastIndexOf('/');
  const parentDir = slash <= 0 ? '/' : dir.slice(0, slash);
  const staging = await host.makeTempDir(parentDir, `.${dir.slice(slash + 1)}.podsec-save`);
  const archives: { arch: string; file: string; images: readonly string[] }[] = [];
  try {
    for (const arch of plan.archs) {
      const work = await host.makeTempDir(tmpParent, 'podsec-save');
      try {
        const layout = `${work}/${arch}`;
        for (const [i, c] of plan.copies.entries()) {
          const args = [
            '--override-arch',
            arch,
            'copy',
            '--quiet',
            '--remove-signatures',
            '--dest-oci-accept-uncompressed-layers',
            ...plan.sourceFlags,
            c.source,
            `oci:${layout}:${c.image}`,
          ];
          const r = await sys.proc.run('skopeo', args, { timeoutMs: 3_600_000 });
          if (r.exitCode !== 0) {
            const reason =
              r.stderr.trim().split('\n').slice(-3).join('\n') || `skopeo exit code ${r.exitCode}`;
            throw new ExternalCommandError(
              'SAVE_COPY_FAILED',
              `copying ${c.source} (${arch}) failed: ${reason}`,
              {
                details: {
                  source: c.source,
                  arch,
                  reason,
                  done: archives.map((a) => a.file).join(', '),
                },
              },
            );
          }
          progress({ kind: 'copied', arch, n: i + 1, total: plan.copies.length, source: c.source });
        }
        await packArchive(host, work, arch, `${staging}/${arch}.tar.xz`, {
          mtime: Math.floor(sys.clock.now().getTime() / 1000),
          ...(o.level !== undefined ? { level: o.level } : {}),
        });
        const file = `${dir}/${arch}.tar.xz`;
        archives.push({ arch, file, images: plan.images });
        progress({ kind: 'archive', arch, file });
      } finally {
        await host.removeTree(work);
      }
    }
    if ((await host.kind(dir)) !== undefined)
      throw new UsageError('SAVE_DIR_EXISTS', `OCI catalog ${plan.dir} already exists`, {
        details: { dir: plan.dir },
      });
    await host.chmod(staging, 0o755);
    await host.rename(staging, dir);
    await host.syncDir(parentDir);
  } catch (e) {
    await host.removeTree(staging);
    throw e;
  }
  host.forget(staging);
  return { dir, archives, dryRun: false };
}
