import { X509Certificate, type KeyObject } from 'node:crypto';
import { VerificationError } from '@podsec/core';
import { certificateSubject, type Subject } from './csr.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** What the issued certificate must be. */
export interface ExpectedCertificate {
  readonly certPem: string;
  /** The private key, or the public key of a request the user made. */
  readonly key: KeyObject;
  /** PEM bundle of the cluster CA(s). */
  readonly caPem: string;
  readonly subject: Subject;
  readonly now: Date;
}

/** Validity of a verified certificate. */
export interface VerifiedCertificate {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

function fail(code: string, message: string): VerificationError {
  return new VerificationError(code, message, { details: { reason: message } });
}

/** Splits a PEM bundle into certificates. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/**
 * Checks an issued client certificate: it carries the key's public key, is signed by the CA, has
 * exactly the requested CN and O list, allows client auth and is valid now. Throws
 * `RBAC_CERT_INVALID` (all cases are exit 5).
 */
export function verifyCertificate(e: ExpectedCertificate): VerifiedCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(e.certPem);
  } catch (err) {
    throw fail('RBAC_CERT_INVALID', `the issued certificate cannot be read: ${String(err)}`);
  }
  // a private key (ours) or the public key of the user's own request (--csr)
  const matches =
    e.key.type === 'private'
      ? cert.checkPrivateKey(e.key)
      : Buffer.from(cert.publicKey.export({ type: 'spki', format: 'der' })).equals(
          e.key.export({ type: 'spki', format: 'der' }),
        );
  if (!matches)
    throw fail('RBAC_CERT_INVALID', 'the issued certificate does not match the private key');
  const cas = parseCertificates(e.caPem);
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)))
    throw fail('RBAC_CERT_INVALID', 'the issued certificate is not signed by the cluster CA');
  const subject = certificateSubject(cert.raw);
  const want = `CN=${e.subject.commonName}, O=${e.subject.organizations.join(', O=')}`;
  const got = `CN=${subject.commonName}, O=${subject.organizations.join(', O=')}`;
  if (subject.other.length > 0 || got !== want)
    throw fail('RBAC_CERT_INVALID', `the issued certificate names ${got}, expected ${want}`);
  const eku = cert.keyUsage;
  if (eku !== undefined && !eku.includes(CLIENT_AUTH))
    throw fail('RBAC_CERT_INVALID', 'the issued certificate does not allow client authentication');
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (e.now < notBefore || e.now > notAfter)
    throw fail(
      'RBAC_CERT_INVALID',
      `the issued certificate is not valid now (valid ${notBefore.toISOString()} to ${notAfter.toISOString()})`,
    );
  return { notBefore, notAfter, serial: cert.serialNumber };
}
