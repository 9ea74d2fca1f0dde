import path from 'node:path';
import { PodsecError, UsageError, VerificationError } from '@podsec/core';
import type { System } from '@podsec/core/system';

/** Where and how to fetch one file over SSH. */
export interface ScpSource {
  readonly host: string;
  readonly account: string;
  /** Path on the host (relative: from the account's home). */
  readonly remotePath: string;
  /** @default 22 */
  readonly port?: number;
  readonly identityFile?: string;
  /** Known-hosts file (host keys are always checked strictly). */
  readonly knownHostsFile?: string;
  /** Never prompt (key authentication only). @default false */
  readonly batch?: boolean;
  /** @default 60000 */
  readonly timeoutMs?: number;
}

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[?[0-9A-Fa-f:.]+\]?)$/;
const ACCOUNT_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** Validates a host name or address given for SSH (never an option). Throws `RBAC_BAD_HOST`. */
export function parseSshHost(host: string): string {
  if (!HOST_RE.test(host) || host.startsWith('-'))
    throw new UsageError('RBAC_BAD_HOST', `invalid host ${JSON.stringify(host)}`, {
      details: { host },
    });
  return host;
}

/** Validates an SSH account name. Throws `RBAC_BAD_USER`. */
export function parseSshAccount(account: string | undefined): string {
  if (account === undefined || !ACCOUNT_RE.test(account))
    throw new UsageError('RBAC_BAD_USER', `invalid user name ${JSON.stringify(account ?? '')}`, {
      details: { name: account ?? '' },
    });
  return account;
}

/** The scp argument array (never a shell string); host keys checked strictly. */
export function scpArguments(o: ScpSource, target: string): string[] {
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
    `${o.account}@${hostPart}:${o.remotePath}`,
    target,
  ];
}

/** `account@host:path`, for messages. */
export const scpSourceName = (o: ScpSource): string => `${o.account}@${o.host}:${o.remotePath}`;

/**
 * Copies one remote file with scp into a private temp directory and returns its text; the temp copy
 * is removed. A host key that is unknown or differs from known_hosts is `RBAC_HOST_KEY` (nothing is
 * copied: ssh stops before authentication); any other scp failure (a missing file included) is
 * `RBAC_REMOTE_COPY_FAILED`; a copy larger than `limit.maxBytes` or not a regular file is the error
 * `limit.invalid` makes.
 */
export async function fetchOverSsh(
  sys: System,
  o: ScpSource,
  limit: { readonly maxBytes: number; readonly invalid: (reason: string) => Error },
): Promise<string> {
  parseSshHost(o.host);
  parseSshAccount(o.account);
  const source = scpSourceName(o);
  const tmp = await sys.hostFs.makeTempDir('podsec-k8s-rbac-');
  try {
    const file = path.join(tmp, 'copy');
    const r = await sys.proc.run('scp', scpArguments(o, file), {
      timeoutMs: o.timeoutMs ?? 60_000,
    });
    if (r.exitCode !== 0) {
      const reason = r.stderr.trim().split('\n').slice(-3).join('; ') || `scp exit ${r.exitCode}`;
      if (/host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(r.stderr))
        throw new VerificationError(
          'RBAC_HOST_KEY',
          `host key of ${o.host} not verified: ${reason}`,
          { details: { host: o.host, reason } },
        );
      throw new PodsecError('RBAC_REMOTE_COPY_FAILED', `cannot copy ${source}: ${reason}`, {
        details: { source, reason },
      });
    }
    const st = await sys.hostFs.stat(file);
    if (st === undefined || st.kind !== 'file') throw limit.invalid('not a file');
    if (st.size > limit.maxBytes) throw limit.invalid(`larger than ${limit.maxBytes} bytes`);
    return await sys.hostFs.readText(file);
  } finally {
    await sys.hostFs.remove(tmp, { recursive: true }).catch(() => undefined);
  }
}
