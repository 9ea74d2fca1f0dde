import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import { PodsecError } from '@podsec/core';
import type { System } from '@podsec/core/system';
import { isConflict, isNotFound, type KubeApi } from '../kube/kube-api.ts';
import { CLIENT_SIGNER } from '../paths.ts';
import { parseCsr } from '../pki/csr.ts';

/** Polling interval while waiting for the signer. */
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The CertificateSigningRequest object create-kubeconfig submits. */
export function csrObject(
  name: string,
  csrPem: string,
  expirationSeconds: number,
): V1CertificateSigningRequest {
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'podsec-k8s-rbac' } },
    spec: {
      request: Buffer.from(csrPem, 'utf8').toString('base64'),
      signerName: CLIENT_SIGNER,
      expirationSeconds,
      usages: ['client auth'],
    },
  };
}

/** True when an existing CSR is a client-certificate request for this user (safe to replace). */
export function isOwnCsr(csr: V1CertificateSigningRequest, user: string): boolean {
  if (csr.spec.signerName !== CLIENT_SIGNER) return false;
  try {
    const subject = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    return subject.commonName === user;
  } catch {
    return false;
  }
}

/**
 * Deletes an earlier CSR of this name if it is this user's client request and waits until it is gone.
 * Throws `RBAC_CSR_FOREIGN` for someone else's object (left untouched).
 */
export async function removeOldCsr(
  api: KubeApi,
  name: string,
  timeoutMs: number,
): Promise<boolean> {
  let old: V1CertificateSigningRequest;
  try {
    old = await api.readCsr(name);
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
  if (!isOwnCsr(old, name))
    throw new PodsecError(
      'RBAC_CSR_FOREIGN',
      `a CertificateSigningRequest ${name} exists for another signer or subject; not touching it`,
      { details: { name, signer: old.spec.signerName } },
    );
  try {
    await api.deleteCsr(name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      await api.readCsr(name);
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    }
    await sleep(POLL_MS);
  }
  throw new PodsecError(
    'RBAC_CSR_TIMEOUT',
    `the old CertificateSigningRequest ${name} was not removed`,
    {
      details: { name, seconds: Math.round(timeoutMs / 1000) },
    },
  );
}

/** Appends an Approved condition through the approval subresource; re-reads and retries on 409. */
export async function approveCsr(
  sys: System,
  api: KubeApi,
  name: string,
  by: string,
): Promise<void> {
  for (let attempt = 0; attempt < 6; attempt++) {
    const csr = await api.readCsr(name);
    const conditions = csr.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Approved')) return;
    const denied = conditions.find((c) => c.type === 'Denied' || c.type === 'Failed');
    if (denied) throw deniedError(name, denied.type, denied.reason, denied.message);
    const body: V1CertificateSigningRequest = {
      ...csr,
      status: {
        ...csr.status,
        conditions: [
          ...conditions,
          {
            type: 'Approved',
            status: 'True',
            reason: 'PodsecApprove',
            message: `approved by ${by}`,
            lastUpdateTime: sys.clock.now(),
          },
        ],
      },
    };
    try {
      await api.replaceCsrApproval(body);
      return;
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }
  throw new PodsecError('RBAC_API_CONFLICT', `CertificateSigningRequest ${name} kept changing`, {
    details: { status: 409, name, message: `CertificateSigningRequest ${name} kept changing` },
  });
}

function deniedError(
  name: string,
  type: string,
  reason: string | undefined,
  message: string | undefined,
): PodsecError {
  const why = [reason, message].filter(Boolean).join(': ') || type;
  return new PodsecError(
    'RBAC_CSR_DENIED',
    `CertificateSigningRequest ${name} ${type.toLowerCase()}: ${why}`,
    {
      details: { name, type, reason: why },
    },
  );
}

/**
 * Waits (bounded) until the signer has issued the certificate. Throws `RBAC_CSR_DENIED` for a Denied
 * or Failed condition and `RBAC_CSR_TIMEOUT` (after deleting the CSR) when nothing was issued in time.
 */
export async function waitForCertificate(
  api: KubeApi,
  name: string,
  timeoutMs: number,
): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const csr = await api.readCsr(name);
    const bad = csr.status?.conditions?.find((c) => c.type === 'Denied' || c.type === 'Failed');
    if (bad) {
      await api.deleteCsr(name).catch(() => undefined);
      throw deniedError(name, bad.type, bad.reason, bad.message);
    }
    const cert = csr.status?.certificate;
    if (cert) return Buffer.from(cert, 'base64').toString('utf8');
    if (Date.now() >= end) break;
    await sleep(POLL_MS);
  }
  await api.deleteCsr(name).catch(() => undefined);
  throw new PodsecError(
    'RBAC_CSR_TIMEOUT',
    `no certificate was issued for ${name} within ${Math.round(timeoutMs / 1000)} s (not approved or the signer is not running); the request was deleted`,
    { details: { name, seconds: Math.round(timeoutMs / 1000) } },
  );
}
