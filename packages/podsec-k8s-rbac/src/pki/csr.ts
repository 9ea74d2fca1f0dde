import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { UsageError } from '@podsec/core';
import {
  bitString,
  children,
  decodeOid,
  fromPem,
  integer0,
  nullValue,
  oid,
  readDer,
  seq,
  set,
  toPem,
  utf8,
  der,
  type DerNode,
} from './der.ts';

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const SHA256_RSA = '1.2.840.113549.1.1.11';
const SHA256_ECDSA = '1.2.840.10045.4.3.2';

/** A client certificate subject: CN = user, one O per group, in order. */
export interface Subject {
  readonly commonName: string;
  readonly organizations: readonly string[];
}

/** Key algorithms for new keys. */
export const KEY_TYPES = ['rsa', 'ecdsa-p256'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** A new private key: the KeyObject and its PKCS#8 PEM (what goes into the 0600 file). */
export interface GeneratedKey {
  readonly key: KeyObject;
  readonly pem: string;
}

/** Generates a key in-process (RSA 2048 by default, as the original's `openssl genrsa`). */
export function generatePrivateKey(type: KeyType = 'rsa', rsaBits = 2048): GeneratedKey {
  const { privateKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: rsaBits })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { key: privateKey, pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** The Name structure: one RDN per attribute, CN first. */
export function encodeSubject(subject: Subject): Uint8Array {
  const rdn = (type: string, value: string) => set(seq(oid(type), utf8(value)));
  return seq(rdn(OID_CN, subject.commonName), ...subject.organizations.map((o) => rdn(OID_O, o)));
}

/** Reads a Name structure into CN and O values (other attributes are reported in `other`). */
export function decodeSubject(name: DerNode): Subject & { readonly other: readonly string[] } {
  const cns: string[] = [];
  const os: string[] = [];
  const other: string[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (!type || !value) continue;
      const o = decodeOid(type.value);
      const text = Buffer.from(value.value).toString('utf8');
      if (o === OID_CN) cns.push(text);
      else if (o === OID_O) os.push(text);
      else other.push(`${o}=${text}`);
    }
  }
  if (cns.length !== 1) other.push(`CN count ${cns.length}`);
  return { commonName: cns[0] ?? '', organizations: os, other };
}

/** A PKCS#10 certificate request signed with the key (SHA-256), no attributes. PEM text. */
export function createCsr(key: KeyObject, subject: Subject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = seq(integer0(), encodeSubject(subject), spki, der(0xa0));
  const isRsa = key.asymmetricKeyType === 'rsa';
  const algorithm = isRsa ? seq(oid(SHA256_RSA), nullValue()) : seq(oid(SHA256_ECDSA));
  const signature = sign('sha256', info, key);
  return toPem('CERTIFICATE REQUEST', seq(info, algorithm, bitString(signature)));
}

/** Subject and public key of a PEM certificate request. Throws `RBAC_CSR_INVALID`. */
export function parseCsr(pem: string): Subject & {
  readonly other: readonly string[];
  readonly publicKey: KeyObject;
} {
  try {
    const top = readDer(fromPem('CERTIFICATE REQUEST', pem));
    const [info] = children(top);
    const [, name, spki] = children(info!);
    const publicKey = createPublicKey({ key: Buffer.from(spki!.raw), format: 'der', type: 'spki' });
    return { ...decodeSubject(name!), publicKey };
  } catch (e) {
    throw new UsageError('RBAC_CSR_INVALID', `not a certificate request: ${String(e)}`, {
      details: { reason: String(e) },
    });
  }
}

/** The subject of a PEM or DER certificate, read from its TBSCertificate. */
export function certificateSubject(
  der: Uint8Array,
): Subject & { readonly other: readonly string[] } {
  const [tbs] = children(readDer(der));
  const fields = children(tbs!);
  // [0] version is optional; then serial, signature algorithm, issuer, validity, subject
  const start = fields[0]?.tag === 0xa0 ? 1 : 0;
  return decodeSubject(fields[start + 4]!);
}
