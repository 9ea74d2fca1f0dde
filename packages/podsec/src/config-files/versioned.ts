import { formatBackupStamp, type System } from '@podsec/core/system';

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
 * The versioned-symlink scheme of /etc/containers (spec §10.1), made safe (W17): the content goes to a new
 * `<dir>/<prefix><YYYYmmdd-HHMMSS>[.<n>]` file (atomic, unique even twice in one second), then `live` is
 * switched to it by an atomic symlink replacement. A regular file at `live` is first kept as
 * `<live>.<stamp>.bak`. Version and backup names do not end in `.yaml`, so
 * containers/image sees registries.d configuration exactly once. Same content again: nothing changes.
 * In dry-run mode only reports.
 */
export async function writeVersioned(
  sys: System,
  live: string,
  content: string,
  options: WriteVersionedOptions,
): Promise<WriteVersionedResult> {
  const current = await sys.fs.readTextIfExists(live);
  const st = await sys.fs.stat(live);
  if (current === content && st?.kind === 'symlink') return { changed: false };
  const dir = live.slice(0, live.lastIndexOf('/')) || '/';
  const stamp = formatBackupStamp(sys.clock.now());
  let version = `${dir}/${options.prefix}${stamp}`;
  for (let i = 1; await sys.fs.stat(version); i++)
    version = `${dir}/${options.prefix}${stamp}.${i}`;
  if (sys.dryRun) {
    sys.report.info(`would write ${version} and point ${live} to it`);
    return { changed: true, version };
  }
  await sys.fs.mkdir(dir);
  let backup: string | undefined;
  if (st && st.kind !== 'symlink') {
    backup = `${live}.${stamp}.bak`;
    for (let i = 1; await sys.fs.stat(backup); i++) backup = `${live}.${stamp}.${i}.bak`;
    await sys.fs.rename(live, backup);
  }
  await sys.fs.writeFileAtomic(version, content, {
    mode: options.mode ?? 0o644,
    backup: false,
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  await sys.fs.symlink(version.slice(dir.length + 1), live);
  return { changed: true, version, ...(backup ? { backup } : {}) };
}
