/** Where the real kubeadm is, and the check that nobody but root can change it. */
import { NotFoundError, UsageError } from '@podsec/core';
import type { FileSystem } from '@podsec/core/system';

/** Default location of the real kubeadm. */
export const REAL_KUBEADM = '/usr/bin/kubeadm';

/**
 * Pure: the real kubeadm: `U7S_KUBEADM` (a file), else `$PODSEC_K8S_BIN/kubeadm`, else /usr/bin/kubeadm. Never a
 * PATH lookup: `kubeadm` on PATH may be this wrapper.
 */
export function planKubeadmPath(env: Readonly<Record<string, string | undefined>>): string {
  const file = env['U7S_KUBEADM'];
  if (file) return file;
  const dir = env['PODSEC_K8S_BIN'];
  if (dir) return `${dir.replace(/\/+$/, '')}/kubeadm`;
  return REAL_KUBEADM;
}

/** Default location of kubectl (for the add-ons the wrapper applies inside the namespace). */
export const REAL_KUBECTL = '/usr/bin/kubectl';

/** Pure: kubectl: `U7S_KUBECTL` (a file), else `$PODSEC_K8S_BIN/kubectl`, else /usr/bin/kubectl (no PATH lookup). */
export function planKubectlPath(env: Readonly<Record<string, string | undefined>>): string {
  const file = env['U7S_KUBECTL'];
  if (file) return file;
  const dir = env['PODSEC_K8S_BIN'];
  if (dir) return `${dir.replace(/\/+$/, '')}/kubectl`;
  return REAL_KUBECTL;
}

function untrusted(path: string, why: string): never {
  throw new UsageError('KUBEADM_BINARY_UNTRUSTED', `refusing to run ${path}: ${why}`, {
    details: { path, reason: why },
  });
}

/** Options of {@link checkTrustedBinary}. */
export interface TrustedBinaryOptions {
  /** What the binary is, for messages. @default 'kubeadm' */
  readonly name?: string;
  /**
   * The uid that stands for the host's root where we look from: 0 on the host; inside a user namespace that does
   * not map host root, the overflow uid (host root's files show with it there). @default 0
   */
  readonly rootUid?: number;
}

/**
 * Checks, without following any link unchecked, that `path` and every directory above it (and above every link
 * target) belong to root and are writable by nobody else, and that `user` may reach and execute it (it runs
 * inside the user's namespace). Returns the resolved path. Throws `KUBEADM_BINARY_UNTRUSTED`,
 * `KUBEADM_BINARY_UNREACHABLE` or `KUBEADM_BINARY_MISSING`.
 */
export async function checkTrustedBinary(
  fs: FileSystem,
  path: string,
  user?: { readonly uid: number; readonly gid: number },
  o: TrustedBinaryOptions = {},
): Promise<string> {
  const tool = o.name ?? 'kubeadm';
  const rootUid = o.rootUid ?? 0;
  if (!path.startsWith('/'))
    throw new UsageError('KUBEADM_BINARY_UNTRUSTED', `the ${tool} path ${path} is not absolute`, {
      details: { path, reason: 'not an absolute path' },
    });
  let todo = path.split('/').filter((s) => s && s !== '.');
  let done: string[] = [];
  for (let links = 0; todo.length;) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const cur = `/${[...done, name].join('/')}`;
    const st = await fs.stat(cur);
    if (!st)
      throw new NotFoundError('KUBEADM_BINARY_MISSING', `the real ${tool} ${path} does not exist`, {
        details: { path, name: tool },
      });
    if (st.kind === 'symlink') {
      if (++links > 40) untrusted(path, 'too many symbolic links');
      if (st.uid !== rootUid) untrusted(path, `the link ${cur} does not belong to root`);
      const target = (await fs.readlink(cur)) ?? '';
      const parts = target.split('/').filter((s) => s && s !== '.');
      if (target.startsWith('/')) done = [];
      todo = [...parts, ...todo];
      continue;
    }
    if (st.uid !== rootUid) untrusted(path, `${cur} belongs to uid ${st.uid}, not root`);
    // a sticky directory (/tmp) is fine: nobody but root renames the root-owned entry below it
    const sticky = st.kind === 'dir' && (st.mode & 0o1000) !== 0 && todo.length > 0;
    if (st.mode & 0o022 && !sticky) untrusted(path, `${cur} is writable by group or others`);
    const last = todo.length === 0;
    if (!last && st.kind !== 'dir') untrusted(path, `${cur} is not a directory`);
    if (user) {
      const bit = st.gid === user.gid ? 0o010 : 0o001;
      if (!(st.mode & bit))
        throw new UsageError(
          'KUBEADM_BINARY_UNREACHABLE',
          `the namespace user cannot ${last ? 'execute' : 'reach'} ${last ? cur : `${cur}/`} (mode ${st.mode.toString(8)}): install ${tool} where u7s-admin can run it`,
          { details: { path: cur, name: tool } },
        );
    }
    if (last) {
      if (st.kind !== 'file') untrusted(path, `${cur} is not a regular file`);
      if (!(st.mode & 0o111)) untrusted(path, `${cur} is not executable`);
    }
    done.push(name);
  }
  return `/${done.join('/')}`;
}
