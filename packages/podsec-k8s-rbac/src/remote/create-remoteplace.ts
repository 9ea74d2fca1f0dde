import path from 'node:path';
import { PodsecError, UsageError, VerificationError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { MAX_KUBECONFIG_BYTES, parseKubeconfig } from '../kube/kubeconfig.ts';

/** Options of {@link createRemotePlace}. */
export interface CreateRemotePlaceOptions {
  readonly host: string;
  /** Account on the host. @default the local login name */
  readonly remoteUser?: string;
  /** @default 22 */
  readonly port?: number;
  /** Replace an existing ~/.kube/config (a backup is kept). @default false */
  readonly force?: boolean;
  readonly identityFile?: string;
  /** Known-hosts file (host keys are always checked strictly). */
  readonly knownHostsFile?: string;
  /** Never prompt (key authentication only). @default false */
  readonly batch?: boolean;
  /** @default 60000 */
  readonly timeoutMs?: number;
}

/** Result of {@link createRemotePlace}. */
export interface CreateRemotePlaceResult {
  readonly source: string;
  readonly path: string;
  readonly backup?: string;
  readonly contexts: readonly string[];
  readonly dryRun: boolean;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[?[0-9A-Fa-f:.]+\]?)$/;
const ACCOUNT_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** The scp argument array (never a shell string); host keys checked strictly. */
export function scpArguments(
  o: CreateRemotePlaceOptions,
  remoteUser: string,
  target: string,
): string[] {
  const host = o.host.replace(/^\[(.*)\]$/, '$1');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return [
    '-o',
    'StrictHostKeyChecking=yes',
    ...(o.batch ? ['-o', 'BatchMode=yes'] : []),
    ...(o.knownHostsFile ? ['-o', `UserKnownHostsFile=${o.knownHostsFile}`] : []),
    ...(o.identityFile ? ['-i', o.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
    '-P',
    String(o.port ?? 22),
    '--',
    `${remoteUser}@${hostPart}:.kube/config`,
    target,
  ];
}

/**
 * Fetches the user's kubeconfig from the machine where it was prepared into $HOME/.kube/config (0600,
 * directory 0700), checking the host key strictly and the file's content before installing it.
 * Throws `RBAC_BAD_HOST`, `RBAC_CONFIG_EXISTS`, `RBAC_HOST_KEY`, `RBAC_REMOTE_COPY_FAILED`,
 * `RBAC_REMOTE_NOT_KUBECONFIG`.
 */
export async function createRemotePlace(
  sys: System,
  o: CreateRemotePlaceOptions,
): Promise<CreateRemotePlaceResult> {
  if (!HOST_RE.test(o.host) || o.host.startsWith('-'))
    throw new UsageError('RBAC_BAD_HOST', `invalid host ${JSON.stringify(o.host)}`, {
      details: { host: o.host },
    });
  const remoteUser = o.remoteUser ?? sys.env['USER'] ?? sys.env['LOGNAME'] ?? sys.identity.user;
  if (remoteUser === undefined || !ACCOUNT_RE.test(remoteUser))
    throw new UsageError('RBAC_BAD_USER', `invalid user name ${JSON.stringify(remoteUser ?? '')}`, {
      details: { name: remoteUser ?? '' },
    });
  const home = sys.env['HOME'];
  if (!home || !path.isAbsolute(home))
    throw new PodsecError('RBAC_NO_HOME', 'HOME is not set to an absolute directory', {
      details: {},
    });
  const kubeDir = path.join(home, '.kube');
  const target = path.join(kubeDir, 'config');
  const exists = (await sys.hostFs.stat(target)) !== undefined;
  if (exists && !o.force)
    throw new UsageError('RBAC_CONFIG_EXISTS', `${target} exists; use --force to replace it`, {
      details: { path: target },
    });
  const source = `${remoteUser}@${o.host}:.kube/config`;
  const tmp = await sys.hostFs.makeTempDir('podsec-k8s-rbac-');
  try {
    const file = path.join(tmp, 'config');
    const r = await sys.proc.run('scp', scpArguments(o, remoteUser, file), {
      timeoutMs: o.timeoutMs ?? 60_000,
    });
    if (r.exitCode !== 0) {
      const reason = r.stderr.trim().split('\n').slice(-3).join('; ') || `scp exit ${r.exitCode}`;
      if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr))
        throw new VerificationError(
          'RBAC_HOST_KEY',
          `host key of ${o.host} not verified: ${reason}`,
          {
            details: { host: o.host, reason },
          },
        );
      throw new PodsecError('RBAC_REMOTE_COPY_FAILED', `cannot copy ${source}: ${reason}`, {
        details: { source, reason },
      });
    }
    const st = await sys.hostFs.stat(file);
    if (st === undefined || st.kind !== 'file' || st.size > MAX_KUBECONFIG_BYTES)
      throw new PodsecError('RBAC_REMOTE_NOT_KUBECONFIG', `${source} is not a kubeconfig`, {
        details: { source },
      });
    const text = await sys.hostFs.readText(file);
    let contexts: string[];
    try {
      contexts = (parseKubeconfig(text, source).contexts ?? []).map((c) => c.name);
    } catch {
      contexts = [];
    }
    if (contexts.length === 0)
      throw new PodsecError('RBAC_REMOTE_NOT_KUBECONFIG', `${source} is not a kubeconfig`, {
        details: { source },
      });
    if (sys.dryRun) return { source, path: target, contexts, dryRun: true };
    if ((await sys.hostFs.stat(kubeDir)) === undefined)
      await sys.hostFs.mkdir(kubeDir, { mode: 0o700 });
    await sys.hostFs.chmod(kubeDir, 0o700);
    const w = await sys.hostFs.writeFileAtomic(target, text, { mode: 0o600, backup: true });
    return {
      source,
      path: target,
      contexts,
      dryRun: false,
      ...(w.backup === undefined ? {} : { backup: w.backup }),
    };
  } finally {
    await sys.hostFs.remove(tmp, { recursive: true }).catch(() => undefined);
  }
}
