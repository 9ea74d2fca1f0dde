/**
 * Provisioning of u7s-admin and its trees as one change list of the core change engine (read → plan →
 * validate → apply; `--dry-run` lists what the real run applies, a second run applies nothing). The trees
 * in u7s-admin's home are made through the rooted file system, which walks by descriptor and never follows
 * a link in a directory the user can write, so a planted symlink cannot redirect root. Root-side files
 * (libexec, /etc/podsec/u7s) stay root's.
 */
import { UsageError } from '@podsec/core';
import type { Change } from '@podsec/core/changes';
import type { System } from '@podsec/core/system';
import { ensureNamespaceUser, type EnsureNamespaceUserResult } from '@podsec/core/userns';
import {
  CHILD_SCRIPT,
  ETC_U7S,
  U7S_GROUPS,
  U7S_HOME,
  U7S_LIBEXEC,
  U7S_USER,
  U7S_VARLIB,
  userPaths,
} from '../paths.ts';
import { CHILD_SCRIPT_TEXT } from './child-script.ts';

/** Options of {@link ensureU7sAdmin}. */
export interface EnsureU7sAdminOptions {
  /** @default 'u7s-admin' */
  readonly user?: string;
  /** @default '/var/lib/u7s-admin' */
  readonly home?: string;
  /** @default 65536 */
  readonly subIdCount?: number;
  /** Root-owned helper dir. @default '/usr/libexec/podsec/u7s/bin' */
  readonly libexec?: string;
}

/** What was provisioned. */
export interface EnsureU7sAdminResult extends EnsureNamespaceUserResult {
  readonly name: string;
  readonly libexec: string;
}

/**
 * Pure but for reads: the trees of u7s-admin (owners by name, resolved when applied, so the list is the same
 * before the account exists). `containersKind` is what `~/.local/share/containers` is now: a directory of an
 * earlier podman is moved aside to `containers.old` before the link replaces it.
 */
export function planU7sTrees(o: {
  readonly name: string;
  readonly home: string;
  readonly libexec: string;
  readonly containersKind: 'dir' | 'symlink' | 'file' | 'other' | undefined;
  readonly containersTarget: string | undefined;
  readonly varlibExists: boolean;
  readonly etcKubernetesExists: boolean;
}): Change[] {
  const own = { mode: 0o700, uid: o.name, gid: o.name } as const;
  // the uid only names the runtime dir, which is not among these
  const p = userPaths(0, o.home);
  const containers = `${p.data}/containers`;
  return [
    ...[`${o.home}/.local`, p.data, p.config, p.usernetesData, `${p.usernetesData}/containers`].map(
      (path): Change => ({ kind: 'dir', path, ...own }),
    ),
    ...(o.containersKind === 'dir'
      ? [{ kind: 'rename', path: containers, to: `${containers}.old` } as const]
      : []),
    ...(o.containersKind === 'symlink' && o.containersTarget === 'usernetes/containers'
      ? []
      : [{ kind: 'symlink', path: containers, target: 'usernetes/containers' } as const]),
    // etcd and logs: root creates the top dir in root-owned /var/lib/podsec, u7s-admin owns the rest
    ...(o.varlibExists
      ? []
      : ([
          { kind: 'dir', path: '/var/lib/podsec', mode: 0o755 },
          { kind: 'dir', path: U7S_VARLIB, ...own },
        ] as const)),
    ...[`${U7S_VARLIB}/etcd`, `${U7S_VARLIB}/log`, `${U7S_VARLIB}/log/kubeapi`].map(
      (path): Change => ({ kind: 'dir', path, ...own }),
    ),
    // RootlessKit copies /etc up when the namespace starts: /etc/kubernetes (u7s-admin's, kubeadm writes there as
    // the namespace's root) must exist by then, or the namespace only sees a private copy of /etc without it
    ...(o.etcKubernetesExists
      ? []
      : [{ kind: 'dir', path: '/etc/kubernetes', mode: 0o755, uid: o.name, gid: o.name } as const]),
    // root-owned, read-only to u7s-admin: the helpers root and the namespace run
    { kind: 'dir', path: ETC_U7S, mode: 0o755, uid: 0, gid: 0 },
    { kind: 'dir', path: o.libexec, mode: 0o755, uid: 0, gid: 0 },
    {
      kind: 'file',
      path: `${o.libexec}/${CHILD_SCRIPT}`,
      content: CHILD_SCRIPT_TEXT,
      mode: 0o755,
      uid: 0,
      gid: 0,
      backup: false,
    },
  ];
}

/** Creates (or checks) u7s-admin, its subordinate ids and directories; idempotent; `sys.dryRun` plans only. */
export async function ensureU7sAdmin(
  sys: System,
  o: EnsureU7sAdminOptions = {},
): Promise<EnsureU7sAdminResult> {
  const name = o.user ?? U7S_USER;
  const home = o.home ?? U7S_HOME;
  const libexec = o.libexec ?? U7S_LIBEXEC;
  if (!libexec.startsWith('/')) throw new UsageError('U7S_BAD_PATH', `not absolute: ${libexec}`);
  // read: what stands in the tree now (the planner decides from it)
  const existing = await sys.users.getUser(name);
  const varlib = await sys.fs.stat(U7S_VARLIB);
  if (varlib && (varlib.kind !== 'dir' || existing === undefined || varlib.uid !== existing.uid))
    throw new UsageError('U7S_BAD_TREE', `${U7S_VARLIB} is not a directory of ${name}`, {
      details: { path: U7S_VARLIB, user: name },
    });
  const containers = `${userPaths(0, home).data}/containers`;
  const cst = await sys.fs.stat(containers).catch(() => undefined);
  const extra = planU7sTrees({
    name,
    home,
    libexec,
    containersKind: cst?.kind,
    containersTarget: cst?.kind === 'symlink' ? await sys.fs.readlink(containers) : undefined,
    varlibExists: varlib !== undefined,
    etcKubernetesExists: (await sys.fs.stat('/etc/kubernetes')) !== undefined,
  });
  const base = await ensureNamespaceUser(sys, {
    name,
    home,
    groups: U7S_GROUPS,
    comment: 'usernet user account',
    ...(o.subIdCount === undefined ? {} : { subIdCount: o.subIdCount }),
    extra,
  });
  return { ...base, name, libexec };
}
