/** A self-signed certificate for sigstore.local and 127.0.0.1 (openssl, EC P-256), for HTTPS test servers. */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** What {@link makeTestCert} made in `dir`. */
export interface TestCert {
  readonly key: string;
  readonly cert: string;
  /** `<dir>/<name>.pem`. */
  readonly file: string;
  /** SHA-256 fingerprint as node prints it (`AA:BB:...`). */
  readonly fingerprint: string;
}

/** Makes `<dir>/<name>.key` and `<dir>/<name>.pem`, valid two days. */
export async function makeTestCert(dir: string, name: string): Promise<TestCert> {
  const file = path.join(dir, `${name}.pem`);
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=sigstore.local',
    '-addext',
    'subjectAltName=DNS:sigstore.local,IP:127.0.0.1',
    '-keyout',
    path.join(dir, `${name}.key`),
    '-out',
    file,
  ]);
  const cert = await readFile(file, 'utf8');
  return {
    key: await readFile(path.join(dir, `${name}.key`), 'utf8'),
    cert,
    file,
    fingerprint: new X509Certificate(cert).fingerprint256,
  };
}
