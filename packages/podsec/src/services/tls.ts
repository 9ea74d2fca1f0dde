/**
 * `podsec-create-services --tls`: a local CA and a server certificate for registry.local and sigstore.local,
 * made with openssl (argument arrays) in a private 0700 temporary directory outside the tree. Nothing is
 * written to the tree here: the new files come back as changes (keys 0600) for the one apply step, and
 * their staged copies let `nginx -t` check the HTTPS site before anything is installed. The CA certificate
 * is published in /var/sigstore/keys/ so that clients can pin it.
 */
import { randomBytes } from 'node:crypto';
import type { Change } from '@podsec/core/changes';
import { runOrThrow, type System } from '@podsec/core/system';
import { SIGSTORE_KEYS } from '../paths.ts';
import {
  expectedSans,
  PUBLISHED_CA,
  renderServerCertExtensions,
  TLS_CA_CERT,
  TLS_CA_KEY,
  TLS_DIR,
  TLS_SERVER_CERT,
  TLS_SERVER_KEY,
} from './plan-services.ts';

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;
/** Renew the server certificate when it expires within 30 days. */
const RENEW_SECONDS = String(30 * 24 * 3600);

/** Result of {@link planTls}. */
export interface TlsPlan {
  /** Directories, the new key and certificate files, the published CA. */
  readonly changes: Change[];
  /** Host paths of the certificate and key the site will use (staged copies when new), for `nginx -t`. */
  readonly check: { readonly certificate: string; readonly key: string };
  /** Removes the staging directory. */
  readonly cleanup: () => Promise<void>;
}

/**
 * Decides what TLS material is missing (CA, a server certificate with the expected SANs that chains to the
 * CA and does not expire within 30 days) and makes it in a private temporary directory.
 */
export async function planTls(
  sys: System,
  o: { readonly ip: string | undefined; readonly commands: string[][] },
): Promise<TlsPlan> {
  const openssl = async (args: readonly string[]) => {
    o.commands.push(['openssl', ...args]);
    return runOrThrow(sys.proc, 'openssl', args);
  };
  const changes: Change[] = [
    { kind: 'dir', path: '/etc/podsec' },
    { kind: 'dir', path: TLS_DIR, mode: 0o755 },
    { kind: 'dir', path: SIGSTORE_KEYS },
  ];
  const caOk = (await sys.fs.exists(TLS_CA_CERT)) && (await sys.fs.exists(TLS_CA_KEY));
  const serverOk = caOk && (await serverCertificateValid(sys, o.ip));
  const stage = serverOk ? undefined : await sys.fs.makeTempDir('podsec-tls');
  const cleanup = async () => {
    if (stage !== undefined) await sys.hostFs.remove(stage, { recursive: true });
  };
  try {
    let caCert: Uint8Array;
    if (stage === undefined) {
      caCert = await sys.fs.readFile(TLS_CA_CERT);
      changes.push({ kind: 'file', path: PUBLISHED_CA, content: caCert, mode: 0o644 });
      return {
        changes,
        check: {
          certificate: await sys.fs.resolve(TLS_SERVER_CERT),
          key: await sys.fs.resolve(TLS_SERVER_KEY),
        },
        cleanup,
      };
    }
    const caCertPath = caOk ? await sys.fs.resolve(TLS_CA_CERT) : `${stage}/ca.crt`;
    const caKeyPath = caOk ? await sys.fs.resolve(TLS_CA_KEY) : `${stage}/ca.key`;
    if (!caOk) {
      await openssl([
        'req',
        '-x509',
        '-new',
        ...EC_KEY,
        '-keyout',
        caKeyPath,
        '-out',
        caCertPath,
        '-days',
        '3650',
        '-sha256',
        '-subj',
        '/CN=podsec local CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]);
    }
    await openssl([
      'req',
      '-new',
      ...EC_KEY,
      '-keyout',
      `${stage}/server.key`,
      '-out',
      `${stage}/server.csr`,
      '-subj',
      '/CN=sigstore.local',
    ]);
    await sys.hostFs.writeFileAtomic(`${stage}/server.ext`, renderServerCertExtensions(o.ip), {
      backup: false,
    });
    await openssl([
      'x509',
      '-req',
      '-in',
      `${stage}/server.csr`,
      '-CA',
      caCertPath,
      '-CAkey',
      caKeyPath,
      '-set_serial',
      `0x${randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1')}`,
      '-days',
      '825',
      '-sha256',
      '-extfile',
      `${stage}/server.ext`,
      '-out',
      `${stage}/server.crt`,
    ]);
    caCert = caOk ? await sys.fs.readFile(TLS_CA_CERT) : await sys.hostFs.readFile(caCertPath);
    if (!caOk) {
      changes.push(
        {
          kind: 'file',
          path: TLS_CA_KEY,
          content: await sys.hostFs.readFile(caKeyPath),
          mode: 0o600,
          uid: 0,
          gid: 0,
          backup: false,
        },
        { kind: 'file', path: TLS_CA_CERT, content: caCert, mode: 0o644, uid: 0, gid: 0 },
      );
    }
    changes.push(
      {
        kind: 'file',
        path: TLS_SERVER_KEY,
        content: await sys.hostFs.readFile(`${stage}/server.key`),
        mode: 0o600,
        uid: 0,
        gid: 0,
        backup: false,
      },
      {
        kind: 'file',
        path: TLS_SERVER_CERT,
        content: await sys.hostFs.readFile(`${stage}/server.crt`),
        mode: 0o644,
        uid: 0,
        gid: 0,
      },
      { kind: 'file', path: PUBLISHED_CA, content: caCert, mode: 0o644 },
    );
    return {
      changes,
      check: { certificate: `${stage}/server.crt`, key: `${stage}/server.key` },
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** The server certificate exists, chains to our CA, carries exactly the expected SANs and is not about to expire. */
async function serverCertificateValid(sys: System, ip: string | undefined): Promise<boolean> {
  if (!(await sys.fs.exists(TLS_SERVER_CERT)) || !(await sys.fs.exists(TLS_SERVER_KEY)))
    return false;
  const cert = await sys.fs.resolve(TLS_SERVER_CERT);
  const v = await sys.proc.run('openssl', [
    'verify',
    '-CAfile',
    await sys.fs.resolve(TLS_CA_CERT),
    cert,
  ]);
  if (v.exitCode !== 0) return false;
  const e = await sys.proc.run('openssl', [
    'x509',
    '-in',
    cert,
    '-noout',
    '-checkend',
    RENEW_SECONDS,
  ]);
  if (e.exitCode !== 0) return false;
  const san = await sys.proc.run('openssl', [
    'x509',
    '-in',
    cert,
    '-noout',
    '-ext',
    'subjectAltName',
  ]);
  if (san.exitCode !== 0) return false;
  const have = san.stdout
    .split('\n')
    .slice(1)
    .join(',')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .sort();
  return JSON.stringify(have) === JSON.stringify([...expectedSans(ip)].sort());
}
