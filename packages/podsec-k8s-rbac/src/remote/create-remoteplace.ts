import path from 'node:path';
import { PodsecError, UsageError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { MAX_KUBECONFIG_BYTES, parseKubeconfig } from '../kube/kubeconfig.ts';
import {
  fetchOverSsh,
  parseSshAccount,
  parseSshHost,
  scpSourceName,
  type ScpSource,
} from './scp.ts';

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
  parseSshHost(o.host);
  const remoteUser = parseSshAccount(
    o.remoteUser ?? sys.env['USER'] ?? sys.env['LOGNAME'] ?? sys.identity.user,
  );
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
  const scp: ScpSource = {
    host: o.host,
    account: remoteUser,
    remotePath: '.kube/config',
    ...(o.port === undefined ? {} : { port: o.port }),
    ...(o.identityFile === undefined ? {} : { identityFile: o.identityFile }),
    ...(o.knownHostsFile === undefined ? {} : { knownHostsFile: o.knownHostsFile }),
    ...(o.batch ? { batch: true } : {}),
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
  };
  const source = scpSourceName(scp);
  const notKubeconfig = () =>
    new PodsecError('RBAC_REMOTE_NOT_KUBECONFIG', `${source} is not a kubeconfig`, {
      details: { source },
    });
  const text = await fetchOverSsh(sys, scp, {
    maxBytes: MAX_KUBECONFIG_BYTES,
    invalid: notKubeconfig,
  });
  let contexts: string[];
  try {
    contexts = (parseKubeconfig(text, source).contexts ?? []).map((c) => c.name);
  } catch {
    contexts = [];
  }
  if (contexts.length === 0) throw notKubeconfig();
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
}
