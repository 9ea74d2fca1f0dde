import { PodsecError } from '@podsec/core';
import type { System } from '@podsec/core/system';

/** Owner and mode of a file written into a user's directory. */
export interface UserFileOptions {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/**
 * Checks (lstat, never following a link) that `dir` is a real directory owned by `uid` and not
 * writable by group or others. Throws `RBAC_UNSAFE_DIR`.
 */
export async function checkUserDir(sys: System, dir: string, uid: number): Promise<void> {
  const st = await sys.fs.stat(dir);
  const reason =
    st === undefined
      ? 'missing'
      : st.kind !== 'dir'
        ? `a ${st.kind}, not a directory`
        : st.uid !== uid
          ? `owned by uid ${st.uid}`
          : (st.mode & 0o022) !== 0
            ? `writable by group or others (mode ${st.mode.toString(8)})`
            : undefined;
  if (reason !== undefined)
    throw new PodsecError(
      'RBAC_UNSAFE_DIR',
      `${dir} is not a private directory of its user: ${reason}`,
      {
        details: { path: dir, reason },
      },
    );
}

/**
 * The single place where root writes into a user's directory: re-checks the directory, then writes
 * atomically (exclusive temp file, fsync, rename) with the owner and mode given.
 * NOTE: switch to the core's descriptor-based no-follow writes once @podsec/core/system has them.
 */
export async function writeUserFile(
  sys: System,
  dir: string,
  name: string,
  data: string,
  o: UserFileOptions,
): Promise<void> {
  await checkUserDir(sys, dir, o.uid);
  await sys.fs.writeFileAtomic(`${dir}/${name}`, data, {
    mode: o.mode,
    uid: o.uid,
    gid: o.gid,
    backup: false,
  });
}
