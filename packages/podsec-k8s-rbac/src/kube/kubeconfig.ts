import path from 'node:path';
import { isRecord, PodsecError, UsageError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { parse, stringify } from 'yaml';

/** Largest kubeconfig we read (they are a few KB; bounded against hostile files). */
export const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

type Rec = Record<string, unknown>;

/** A kubeconfig document (only the fields we read or write are typed). */
export interface KubeConfigDoc {
  apiVersion?: string;
  kind?: string;
  preferences?: Rec;
  clusters?: Array<{ name: string; cluster: Rec }>;
  users?: Array<{ name: string; user: Rec }>;
  contexts?: Array<{ name: string; context: Rec }>;
  'current-context'?: string;
  [k: string]: unknown;
}

/** The cluster of the caller's current context. */
export interface ClusterInfo {
  readonly contextName: string;
  readonly name: string;
  readonly server: string;
  readonly host: string;
  readonly port: number;
  /** PEM of the CA, when the kubeconfig has one (data or file). */
  readonly caPem?: string;
  readonly namespace?: string;
}

/** Parses kubeconfig text. Throws `RBAC_KUBECONFIG_INVALID`. */
export function parseKubeconfig(text: string, file = 'kubeconfig'): KubeConfigDoc {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new UsageError('RBAC_KUBECONFIG_INVALID', `${file} is not valid YAML: ${String(e)}`, {
      details: { file, reason: String(e) },
    });
  }
  const arrays = ['clusters', 'users', 'contexts'] as const;
  if (
    !isRecord(doc) ||
    arrays.some((k) => doc[k] !== undefined && doc[k] !== null && !Array.isArray(doc[k]))
  )
    throw new UsageError('RBAC_KUBECONFIG_INVALID', `${file} is not a kubeconfig`, {
      details: { file, reason: 'not a kubeconfig' },
    });
  return doc;
}

/** Reads a kubeconfig through the host file system (bounded). */
export async function readKubeconfig(sys: System, file: string): Promise<KubeConfigDoc> {
  const st = await sys.hostFs.stat(file);
  if (st === undefined)
    throw new PodsecError('RBAC_KUBECONFIG_MISSING', `kubeconfig ${file} not found`, {
      details: { file },
    });
  if (st.size > MAX_KUBECONFIG_BYTES)
    throw new UsageError('RBAC_KUBECONFIG_INVALID', `${file} is too large`, {
      details: { file, reason: 'too large' },
    });
  return parseKubeconfig(await sys.hostFs.readText(file), file);
}

/** Parses a server URL (IPv6 aware). */
export function parseServer(server: string): { host: string; port: number } {
  const u = new URL(server);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443 };
}

/**
 * The cluster of the current context (deviation from the original, which used the first cluster),
 * with its CA from `certificate-authority-data` or `certificate-authority`. Throws
 * `RBAC_KUBECONFIG_INVALID`.
 */
export async function resolveCluster(
  sys: System,
  doc: KubeConfigDoc,
  file: string,
  contextName?: string,
): Promise<ClusterInfo> {
  const invalid = (reason: string) =>
    new UsageError('RBAC_KUBECONFIG_INVALID', `${file}: ${reason}`, { details: { file, reason } });
  const ctxName = contextName ?? doc['current-context'];
  if (!ctxName) throw invalid('no current context');
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw invalid(`context ${ctxName} not found`);
  const clusterName = ctx['cluster'];
  const cluster = doc.clusters?.find((c) => c.name === clusterName)?.cluster;
  if (typeof clusterName !== 'string' || !cluster)
    throw invalid(`cluster of context ${ctxName} not found`);
  const server = cluster['server'];
  if (typeof server !== 'string') throw invalid(`cluster ${clusterName} has no server`);
  let hostPort: { host: string; port: number };
  try {
    hostPort = parseServer(server);
  } catch {
    throw invalid(`cluster ${clusterName} has an invalid server ${server}`);
  }
  let caPem: string | undefined;
  const data = cluster['certificate-authority-data'];
  const caFile = cluster['certificate-authority'];
  if (typeof data === 'string' && data !== '') caPem = Buffer.from(data, 'base64').toString('utf8');
  else if (typeof caFile === 'string' && caFile !== '')
    caPem = await sys.hostFs.readText(path.resolve(path.dirname(file), caFile));
  const ns = ctx['namespace'];
  return {
    contextName: ctxName,
    name: clusterName,
    server,
    ...hostPort,
    ...(caPem === undefined ? {} : { caPem }),
    ...(typeof ns === 'string' ? { namespace: ns } : {}),
  };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The user's kubeconfig: one cluster (CA embedded), one user (cert and key embedded), context `default`. */
export function buildUserKubeconfig(o: {
  readonly cluster: ClusterInfo;
  readonly caPem: string;
  readonly user: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly namespace?: string;
}): string {
  const doc: KubeConfigDoc = {
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      {
        name: o.cluster.name,
        cluster: { server: o.cluster.server, 'certificate-authority-data': b64(o.caPem) },
      },
    ],
    users: [
      {
        name: o.user,
        user: { 'client-certificate-data': b64(o.certPem), 'client-key-data': b64(o.keyPem) },
      },
    ],
    contexts: [
      {
        name: 'default',
        context: {
          cluster: o.cluster.name,
          user: o.user,
          ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
        },
      },
    ],
    'current-context': 'default',
  };
  return stringify(doc);
}

/**
 * Adds (or replaces) user `<user>` and context `<user>` in the administrator's kubeconfig, the context
 * pointing at the real (unquoted) cluster name; the current context is kept. `ownsEntry` decides
 * whether an existing user entry may be replaced. Throws `RBAC_ADMIN_ENTRY_FOREIGN`.
 */
export function planAdminContext(
  doc: KubeConfigDoc,
  o: {
    readonly cluster: ClusterInfo;
    readonly user: string;
    readonly certPem: string;
    readonly keyPem: string;
    readonly namespace?: string;
    readonly ownsEntry: (user: Rec) => boolean;
    readonly force?: boolean;
  },
): KubeConfigDoc {
  const oldUser = doc.users?.find((u) => u.name === o.user);
  const oldCtx = doc.contexts?.find((c) => c.name === o.user);
  const foreign =
    (oldUser !== undefined && !o.ownsEntry(oldUser.user)) ||
    (oldCtx !== undefined && oldCtx.context['user'] !== o.user);
  if (foreign && !o.force)
    throw new UsageError(
      'RBAC_ADMIN_ENTRY_FOREIGN',
      `the kubeconfig already has a user or context named ${o.user} that this tool did not create; use --force or --no-admin-context`,
      { details: { user: o.user } },
    );
  const user = {
    name: o.user,
    user: { 'client-certificate-data': b64(o.certPem), 'client-key-data': b64(o.keyPem) },
  };
  const context = {
    name: o.user,
    context: {
      cluster: o.cluster.name,
      user: o.user,
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    },
  };
  return {
    ...doc,
    users: [...(doc.users ?? []).filter((u) => u.name !== o.user), user],
    contexts: [...(doc.contexts ?? []).filter((c) => c.name !== o.user), context],
  };
}

export { stringify as formatYaml };
export { callerKubeconfigPath } from './kubeconfig-path.ts';
