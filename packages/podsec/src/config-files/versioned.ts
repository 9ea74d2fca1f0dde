import { applyChanges } from '@podsec/core/changes';
import type { System } from '@podsec/core/system';

/** Options of {@link writeVersioned}. */
export interface WriteVersionedOptions {
  /** Prefix of the versioned file names in the same directory, e.g. `policy_` or `default_`. */
  readonly prefix: string;
  /** @default 0o644 */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** Result of {@link writeVersioned}. */
export interface WriteVersionedResult {
  /** False when the live file already had exactly this content (nothing written). */
  readonly changed: boolean;
  /** System path of the new version (the symlink target), when changed. */
  readonly version?: string;
  /** System path where a pre-existing regular file was kept. */
  readonly backup?: string;
}

/**
 * The versioned-symlink scheme of /etc/containers as one `versioned` change of `@podsec/core/changes`:
 * the content goes to a new `<dir>/<prefix><YYYYmmdd-HHMMSS>[.<n>]` file, a regular file at `live` is
 * copied to `<live>.<stamp>.bak`, then `live` is switched by an atomic symlink rename, so the live name is
 * never missing. Same content again: nothing changes. In dry-run mode only reports.
 */
export async function writeVersioned(
  sys: System,
  live: string,
  content: string,
  options: WriteVersionedOptions,
): Promise<WriteVersionedResult> {
  const r = await applyChanges(sys, [
    {
      kind: 'versioned',
      path: live,
      prefix: options.prefix,
      content,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    },
  ]);
  const rec = r.changes[0];
  if (rec === undefined) return { changed: false };
  const dir = live.slice(0, live.lastIndexOf('/')) || '/';
  const name = (rec.detail ?? '').replace(/^-> /, '');
  return {
    changed: true,
    version: `${dir}/${name}`,
    ...(r.backups[0] === undefined ? {} : { backup: r.backups[0] }),
  };
}
