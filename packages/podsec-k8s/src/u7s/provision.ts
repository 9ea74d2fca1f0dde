/**
 * Provisioning of u7s-admin and its trees. Root creates only the top directories in root-owned parents;
 * everything inside a directory u7s-admin owns is created by a child process running as u7s-admin, so a
 * symlink planted by the user cannot redirect root. Root-side files (libexec, /etc/podsec/u7s) stay root's.
 */
import { UsageError } from '@podsec/core';
import { planRunAs, runOrThrow, type System } from '@podsec/core/system';
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

async function asUser(sys: System, u: { uid: number; gid: number }, file: string, args: string[]) {
  const argv = planRunAs(sys.identity, u, file, args);
  await runOrThrow(sys.proc, argv.file, argv.args, {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
}

/** Creates (or checks) u7s-admin, its subordinate ids and directories; idempotent. */
export async function ensureU7sAdmin(
  sys: System,
  o: EnsureU7sAdminOptions = {},
): Promise<EnsureU7sAdminResult> {
  const name = o.user ?? U7S_USER;
  const home = o.home ?? U7S_HOME;
  const libexec = o.libexec ?? U7S_LIBEXEC;
  if (!libexec.startsWith('/')) throw new UsageError('U7S_BAD_PATH', `not absolute: ${libexec}`);
  const base = await ensureNamespaceUser(sys, {
    name,
    home,
    groups: U7S_GROUPS,
    comment: 'usernet user account',
    ...(o.subIdCount === undefined ? {} : { subIdCount: o.subIdCount }),
  });
  if (sys.dryRun) return { ...base, name, libexec };
  const changes = [...base.changes];
  const user = { uid: base.uid, gid: base.gid };
  const p = userPaths(base.uid, home);
  // inside the user's home: as the user
  if (sys.root === '/') {
    await asUser(sys, user, 'mkdir', [
      '-p',
      '-m',
      '0700',
      `${home}/.local`,
      p.data,
      p.config,
      p.usernetesData,
      `${p.usernetesData}/containers`,
    ]);
    const link = await sys.fs.stat(`${p.data}/containers`);
    if (link?.kind === 'dir')
      await asUser(sys, user, 'mv', [
        '-T',
        '--',
        `${p.data}/containers`,
        `${p.data}/containers.old`,
      ]);
    if (
      link?.kind !== 'symlink' ||
      (await sys.fs.readlink(`${p.data}/containers`)) !== 'usernetes/containers'
    ) {
      await asUser(sys, user, 'ln', ['-sfn', 'usernetes/containers', `${p.data}/containers`]);
      changes.push(`linked ${p.data}/containers -> usernetes/containers`);
    }
  } else {
    // an image tree being built: nobody else acts in it
    for (const d of [
      `${home}/.local`,
      p.data,
      p.config,
      p.usernetesData,
      `${p.usernetesData}/containers`,
    ])
      await sys.fs.mkdir(d, { mode: 0o700, ...user });
    await sys.fs.symlink('usernetes/containers', `${p.data}/containers`);
  }
  // etcd and logs: root creates the top dir in root-owned /var/lib/podsec, the user the rest
  const varlib = await sys.fs.stat(U7S_VARLIB);
  if (!varlib) {
    await sys.fs.mkdir('/var/lib/podsec', { mode: 0o755 });
    await sys.fs.mkdir(U7S_VARLIB, { mode: 0o700, ...user });
    changes.push(`created ${U7S_VARLIB}`);
  } else if (varlib.kind !== 'dir' || varlib.uid !== base.uid)
    throw new UsageError('U7S_BAD_TREE', `${U7S_VARLIB} is not a directory of ${name}`, {
      details: { path: U7S_VARLIB, user: name },
    });
  const sub = [`${U7S_VARLIB}/etcd`, `${U7S_VARLIB}/log`, `${U7S_VARLIB}/log/kubeapi`];
  if (sys.root === '/') await asUser(sys, user, 'mkdir', ['-p', '-m', '0700', ...sub]);
  else for (const d of sub) await sys.fs.mkdir(d, { mode: 0o700, ...user });
  // root-owned, read-only to u7s-admin: the helpers root and the namespace run
  await sys.fs.mkdir(ETC_U7S, { mode: 0o755, uid: 0, gid: 0 });
  await sys.fs.mkdir(libexec, { mode: 0o755, uid: 0, gid: 0 });
  const w = await sys.fs.writeFileAtomic(`${libexec}/${CHILD_SCRIPT}`, CHILD_SCRIPT_TEXT, {
    mode: 0o755,
    uid: 0,
    gid: 0,
    backup: false,
  });
  if (w.changed) changes.push(`installed ${libexec}/${CHILD_SCRIPT}`);
  return { ...base, changes, name, libexec };
}
