import { X509Certificate } from 'node:crypto';
import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import { NotFoundError, PodsecError, VerificationError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { isNotFound, type AccessAttributes, type KubeApi } from '../kube/kube-api.ts';
import type { KubeApiSource } from '../kube/kube-api-adapter.ts';
import {
  buildUserKubeconfig,
  formatYaml,
  planAdminContext,
  readKubeconfig,
  resolveCluster,
  type ClusterInfo,
} from '../kube/kubeconfig.ts';
import { CA_SSH_PATH, CLIENT_SIGNER, homeOf, K8S_GROUP, MAX_CA_BYTES } from '../paths.ts';
import {
  certificateSubject,
  createCsr,
  generatePrivateKey,
  parseCsr,
  type KeyType,
  type Subject,
} from '../pki/csr.ts';
import { parseCertificates, verifyCertificate } from '../pki/verify.ts';
import { fetchOverSsh, scpSourceName, type ScpSource } from '../remote/scp.ts';
import { approveCsr, csrObject, removeOldCsr, waitForCertificate } from './csr-flow.ts';
import { checkUserDir, writeUserFile } from './user-files.ts';

/** Opens a KubeApi for a kubeconfig (the adapter, or a test's). */
export type KubeConnector = (source: KubeApiSource) => Promise<KubeApi>;

/** Options of {@link createKubeconfig}. */
export interface CreateKubeconfigOptions {
  readonly user: string;
  /** Certificate groups, in order. @default ['k8s'] */
  readonly groups: readonly string[];
  /** The administrator's kubeconfig file. */
  readonly kubeconfig: string;
  readonly context?: string;
  /** Requested certificate lifetime. */
  readonly expirationSeconds: number;
  /** Waiting for approval and issue. @default 60000 */
  readonly timeoutMs?: number;
  /** Submit only; someone else approves. @default false */
  readonly noApprove?: boolean;
  /** Leave the administrator's kubeconfig alone. @default false */
  readonly noAdminContext?: boolean;
  /** Replace admin kubeconfig entries this tool did not create. @default false */
  readonly force?: boolean;
  /** Default namespace of the new contexts. */
  readonly namespace?: string;
  /** @default 'rsa' */
  readonly keyType?: KeyType;
  readonly rsaBits?: number;
  /** A request the user made with their own key (PEM text): only the certificate is returned. */
  readonly csrPem?: string;
  /** Renewal of an existing user's certificate: requires an existing one. @default false */
  readonly renew?: boolean;
  /** Name of the command, for the approval message. */
  readonly by?: string;
  /**
   * Take the cluster CA over SSH from the control-plane host (the original's scp, with strict host-key
   * checking) instead of the kubeconfig or the kube-root-ca.crt ConfigMap. `host` defaults to the API
   * server's host, `remotePath` to /etc/kubernetes/pki/ca.crt.
   */
  readonly caFromSsh?: Omit<ScpSource, 'host' | 'remotePath'> & {
    readonly host?: string;
    readonly remotePath?: string;
  };
}

/** What create-kubeconfig did (or, with dry run, would do). */
export interface CreateKubeconfigResult {
  readonly user: string;
  readonly groups: readonly string[];
  readonly cluster: string;
  readonly server: string;
  readonly csr: V1CertificateSigningRequest;
  readonly dryRun: boolean;
  readonly notAfter?: string;
  readonly requestedNotAfter?: string;
  readonly files: readonly string[];
  readonly adminContext: boolean;
  /** notAfter of the previous certificate (still valid: Kubernetes cannot revoke it). */
  readonly previousNotAfter?: string;
}

/** Files in ~/.kube and their modes. */
const MODES = { key: 0o600, csr: 0o644, crt: 0o644, ca: 0o644, config: 0o600 } as const;

async function preflight(api: KubeApi, user: string, noApprove: boolean): Promise<void> {
  await api.version();
  const checks: Array<[string, AccessAttributes]> = [
    [
      'create certificatesigningrequests',
      { verb: 'create', group: 'certificates.k8s.io', resource: 'certificatesigningrequests' },
    ],
    [
      'delete certificatesigningrequests',
      {
        verb: 'delete',
        group: 'certificates.k8s.io',
        resource: 'certificatesigningrequests',
        name: user,
      },
    ],
  ];
  if (!noApprove)
    checks.push(
      [
        'update certificatesigningrequests/approval',
        {
          verb: 'update',
          group: 'certificates.k8s.io',
          resource: 'certificatesigningrequests',
          subresource: 'approval',
        },
      ],
      [
        `approve signers ${CLIENT_SIGNER}`,
        { verb: 'approve', group: 'certificates.k8s.io', resource: 'signers', name: CLIENT_SIGNER },
      ],
    );
  for (const [what, attrs] of checks)
    if (!(await api.selfSubjectAccessReview(attrs)))
      throw new PodsecError('RBAC_API_FORBIDDEN', `the caller may not ${what}`, {
        details: { status: 403, what, message: `the caller may not ${what}` },
      });
}

/** The CA copied from the control-plane host over SSH. Throws `RBAC_HOST_KEY`, `RBAC_REMOTE_COPY_FAILED`, `RBAC_CA_INVALID`. */
async function sshCa(
  sys: System,
  cluster: ClusterInfo,
  o: NonNullable<CreateKubeconfigOptions['caFromSsh']>,
): Promise<string> {
  const scp: ScpSource = {
    ...o,
    host: o.host ?? cluster.host,
    remotePath: o.remotePath ?? CA_SSH_PATH,
  };
  const source = scpSourceName(scp);
  const invalid = (reason: string) =>
    new VerificationError(
      'RBAC_CA_INVALID',
      `the CA copied from ${source} is unusable: ${reason}`,
      {
        details: { source, reason },
      },
    );
  const pem = await fetchOverSsh(sys, scp, { maxBytes: MAX_CA_BYTES, invalid });
  let certs;
  try {
    certs = parseCertificates(pem);
  } catch (e) {
    throw invalid(e instanceof Error ? e.message : String(e));
  }
  if (certs.length === 0) throw invalid('no PEM certificate');
  return pem;
}

async function clusterCa(api: KubeApi, cluster: ClusterInfo): Promise<string> {
  if (cluster.caPem !== undefined && parseCertificates(cluster.caPem).length > 0)
    return cluster.caPem;
  try {
    const cm = await api.readConfigMap('kube-public', 'kube-root-ca.crt');
    const pem = cm.data?.['ca.crt'];
    if (pem && parseCertificates(pem).length > 0) return pem;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  throw new VerificationError(
    'RBAC_CA_UNKNOWN',
    `the CA of cluster ${cluster.name} is neither in the kubeconfig nor in kube-public/kube-root-ca.crt`,
    { details: { cluster: cluster.name } },
  );
}

async function previousCertificate(
  sys: System,
  kubeDir: string,
  user: string,
): Promise<X509Certificate | undefined> {
  const pem = await sys.fs.readTextIfExists(`${kubeDir}/${user}.crt`);
  if (pem === undefined) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

async function probe(
  connect: KubeConnector,
  kubeconfigText: string,
  subject: Subject,
  sys: System,
): Promise<void> {
  const api = await connect({ text: kubeconfigText });
  const fail = (reason: string) =>
    new VerificationError('RBAC_PROBE_FAILED', `the new credentials do not work: ${reason}`, {
      details: { reason },
    });
  let kind: string;
  try {
    kind = await api.discoveryKind();
  } catch (e) {
    throw fail(e instanceof Error ? e.message : String(e));
  }
  if (kind !== 'APIVersions') throw fail(`GET /api answered ${kind}`);
  let who: { username: string; groups: string[] };
  try {
    who = await api.selfSubjectReview();
  } catch (e) {
    if (isNotFound(e)) {
      sys.report.warn('SelfSubjectReview is not served (Kubernetes < 1.27): identity not checked');
      return;
    }
    throw fail(e instanceof Error ? e.message : String(e));
  }
  if (who.username !== subject.commonName) throw fail(`the API server sees user ${who.username}`);
  const missing = subject.organizations.filter((g) => !who.groups.includes(g));
  if (missing.length > 0) throw fail(`groups ${missing.join(', ')} missing`);
}

/** True when an admin kubeconfig user entry holds a certificate for `user` issued by the cluster CA. */
function ownsEntry(user: string, caPem: string): (entry: Record<string, unknown>) => boolean {
  return (entry) => {
    const data = entry['client-certificate-data'];
    if (typeof data !== 'string') return false;
    try {
      const cert = new X509Certificate(Buffer.from(data, 'base64'));
      return (
        certificateSubject(cert.raw).commonName === user &&
        parseCertificates(caPem).some((ca) => cert.verify(ca.publicKey))
      );
    } catch {
      return false;
    }
  };
}

/**
 * Issues a client certificate for a local user through the CSR API and writes the user's kubeconfig.
 * Order: local checks, cluster preflight (reachable, authenticated, allowed), CA, then the CSR; files
 * are written only after the certificate verified and worked. Throws the `RBAC_*` codes of the
 * binary's exit-code table.
 */
export async function createKubeconfig(
  sys: System,
  connect: KubeConnector,
  o: CreateKubeconfigOptions,
): Promise<CreateKubeconfigResult> {
  const entry = await sys.users.getUser(o.user);
  const home = entry?.home || homeOf(o.user);
  if (entry === undefined || (await sys.fs.stat(home))?.kind !== 'dir')
    throw new NotFoundError('RBAC_USER_MISSING', `user ${o.user} does not exist (no ${home})`, {
      details: { user: o.user, home },
    });
  const kubeDir = `${home}/.kube`;
  await checkUserDir(sys, kubeDir, entry.uid);
  const gid = (await sys.users.getGroup(K8S_GROUP))?.gid ?? entry.gid;
  const previous = await previousCertificate(sys, kubeDir, o.user);
  if (o.renew && previous === undefined)
    throw new NotFoundError('RBAC_NOTHING_TO_RENEW', `user ${o.user} has no certificate to renew`, {
      details: { user: o.user, path: `${kubeDir}/${o.user}.crt` },
    });
  const groups =
    o.renew && o.groups.length === 0 && previous
      ? certificateSubject(previous.raw).organizations
      : o.groups.length > 0
        ? o.groups
        : [K8S_GROUP];

  const doc = await readKubeconfig(sys, o.kubeconfig);
  const cluster = await resolveCluster(sys, doc, o.kubeconfig, o.context);
  const api = await connect({ file: o.kubeconfig, ...(o.context ? { context: o.context } : {}) });
  await preflight(api, o.user, o.noApprove ?? false);
  const caPem =
    o.caFromSsh === undefined
      ? await clusterCa(api, cluster)
      : await sshCa(sys, cluster, o.caFromSsh);
  // refuse a foreign admin kubeconfig entry before anything is submitted
  if (!o.noAdminContext && o.csrPem === undefined)
    planAdminContext(doc, {
      cluster,
      user: o.user,
      certPem: '',
      keyPem: '',
      ownsEntry: ownsEntry(o.user, caPem),
      ...(o.force ? { force: true } : {}),
    });

  const subject: Subject = { commonName: o.user, organizations: groups };
  let key: ReturnType<typeof generatePrivateKey> | undefined;
  let csrPem: string;
  if (o.csrPem !== undefined) {
    const req = parseCsr(o.csrPem);
    const got = `CN=${req.commonName} O=${req.organizations.join(',')}`;
    if (req.other.length > 0 || got !== `CN=${o.user} O=${groups.join(',')}`)
      throw new VerificationError(
        'RBAC_CSR_SUBJECT',
        `the request names ${got}, expected CN=${o.user} O=${groups.join(',')}`,
        { details: { got } },
      );
    csrPem = o.csrPem;
  } else {
    key = generatePrivateKey(o.keyType ?? 'rsa', o.rsaBits ?? 2048);
    csrPem = createCsr(key.key, subject);
  }
  const csr = csrObject(o.user, csrPem, o.expirationSeconds);
  const base = { user: o.user, groups, cluster: cluster.name, server: cluster.server, csr };
  if (sys.dryRun) return { ...base, dryRun: true, files: [], adminContext: !o.noAdminContext };

  const timeoutMs = o.timeoutMs ?? 60_000;
  await removeOldCsr(api, o.user, timeoutMs);
  const requestedAt = sys.clock.now();
  await api.createCsr(csr);
  if (!o.noApprove) {
    try {
      await approveCsr(sys, api, o.user, o.by ?? 'podsec-k8s-rbac');
    } catch (e) {
      await api.deleteCsr(o.user).catch(() => undefined);
      throw e;
    }
  }
  const certPem = await waitForCertificate(api, o.user, timeoutMs);
  const publicKey = key?.key ?? parseCsr(csrPem).publicKey;
  let verified;
  try {
    verified = verifyCertificate({ certPem, key: publicKey, caPem, subject, now: sys.clock.now() });
  } catch (e) {
    await api.deleteCsr(o.user).catch(() => undefined);
    throw e;
  }
  const requestedNotAfter = new Date(requestedAt.getTime() + o.expirationSeconds * 1000);
  // clocks and signers round: only a clearly shorter lifetime is a cap
  const slackMs = Math.min(10 * 60_000, o.expirationSeconds * 100);
  if (verified.notAfter.getTime() < requestedNotAfter.getTime() - slackMs)
    sys.report.warn(
      `the signer capped the lifetime: the certificate is valid until ${verified.notAfter.toISOString()}, not ${requestedNotAfter.toISOString()}`,
    );
  const owner = { uid: entry.uid, gid };
  const files: string[] = [];
  const write = async (name: string, data: string, mode: number) => {
    await writeUserFile(sys, kubeDir, name, data, { ...owner, mode });
    files.push(`${kubeDir}/${name}`);
  };
  let adminContext = false;
  if (key === undefined) {
    // user-held key (--csr): only the certificate and the CA; nobody else gets the key
    await write(`${o.user}.crt`, certPem, MODES.crt);
    await write('ca.crt', caPem, MODES.ca);
  } else {
    const config = buildUserKubeconfig({
      cluster,
      caPem,
      user: o.user,
      certPem,
      keyPem: key.pem,
      ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
    });
    await probe(connect, config, subject, sys);
    await write(`${o.user}.key`, key.pem, MODES.key);
    await write(`${o.user}.csr`, csrPem, MODES.csr);
    await write(`${o.user}.crt`, certPem, MODES.crt);
    await write('ca.crt', caPem, MODES.ca);
    await write('config', config, MODES.config);
    const written = await sys.fs.readText(`${kubeDir}/config`);
    if (written !== config)
      throw new VerificationError('RBAC_CONFIG_UNVERIFIED', `${kubeDir}/config was not written`, {
        details: { path: `${kubeDir}/config` },
      });
    if (!o.noAdminContext) {
      await sys.hostFs.withLock(o.kubeconfig, async () => {
        const current = await readKubeconfig(sys, o.kubeconfig);
        const next = planAdminContext(current, {
          cluster,
          user: o.user,
          certPem,
          keyPem: key.pem,
          ...(o.namespace === undefined ? {} : { namespace: o.namespace }),
          ownsEntry: ownsEntry(o.user, caPem),
          ...(o.force ? { force: true } : {}),
        });
        await sys.hostFs.writeFileAtomic(o.kubeconfig, formatYaml(next), { mode: 0o600 });
      });
      adminContext = true;
    }
  }
  return {
    ...base,
    dryRun: false,
    notAfter: verified.notAfter.toISOString(),
    requestedNotAfter: requestedNotAfter.toISOString(),
    files,
    adminContext,
    ...(previous && new Date(previous.validTo) > sys.clock.now()
      ? { previousNotAfter: new Date(previous.validTo).toISOString() }
      : {}),
  };
}
