/**
 * `podsec-create-services --tls`: a local CA and a server certificate for registry.local and sigstore.local,
 * made with openssl (argument arrays; private keys are created in a 0700 staging directory, made 0600 and
 * renamed into place, and never appear on a command line). The CA certificate is published in
 * /var/sigstore/keys/ so that clients can pin it.
 */
import { randomBytes } from 'node:crypto';
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
import type { FileChange } from './create-services.ts';

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;
/** Renew the server certificate when it expires within 30 days. */
const RENEW_SECONDS = String(30 * 24 * 3600);

/** Ensures the CA, the server certificate (SANs and CA match, not about to expire) and the published CA copy. */
export async function ensureTls(
  sys: System,
  o: {
    readonly ip: string | undefined;
    readonly files: FileChange[];
    readonly commands: string[][];
  },
): Promise<void> {
  const openssl = async (args: readonly string[]) => {
    o.commands.push(['openssl', ...args]);
    return runOrThrow(sys.proc, 'openssl', args);
  };
  const host = (p: string) => sys.fs.resolve(p);
  await sys.fs.mkdir('/etc/podsec');
  await sys.fs.mkdir(TLS_DIR, { mode: 0o755 });

  const caOk = (await sys.fs.exists(TLS_CA_CERT)) && (await sys.fs.exists(TLS_CA_KEY));
  const serverOk = caOk && (await serverCertificateValid(sys, o.ip));
  if (caOk && serverOk) {
    o.files.push(
      { path: TLS_CA_CERT, action: 'unchanged' },
      { path: TLS_SERVER_CERT, action: 'unchanged' },
    );
  } else {
    const stage = `${TLS_DIR}/.new-${randomBytes(6).toString('hex')}`;
    await sys.fs.mkdir(stage, { mode: 0o700 });
    try {
      const s = await host(stage);
      if (!caOk) {
        await openssl([
          'req',
          '-x509',
          '-new',
          ...EC_KEY,
          '-keyout',
          `${s}/ca.key`,
          '-out',
          `${s}/ca.crt`,
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
        await sys.fs.chmod(`${stage}/ca.key`, 0o600);
        await sys.fs.chmod(`${stage}/ca.crt`, 0o644);
        await sys.fs.rename(`${stage}/ca.key`, TLS_CA_KEY);
        await sys.fs.rename(`${stage}/ca.crt`, TLS_CA_CERT);
        o.files.push(
          { path: TLS_CA_KEY, action: 'created' },
          { path: TLS_CA_CERT, action: 'created' },
        );
      }
      await openssl([
        'req',
        '-new',
        ...EC_KEY,
        '-keyout',
        `${s}/server.key`,
        '-out',
        `${s}/server.csr`,
        '-subj',
        '/CN=sigstore.local',
      ]);
      await sys.fs.chmod(`${stage}/server.key`, 0o600);
      await sys.fs.writeFileAtomic(`${stage}/server.ext`, renderServerCertExtensions(o.ip), {
        backup: false,
      });
      await openssl([
        'x509',
        '-req',
        '-in',
        `${s}/server.csr`,
        '-CA',
        await host(TLS_CA_CERT),
        '-CAkey',
        await host(TLS_CA_KEY),
        '-set_serial',
        `0x${randomBytes(16)
          .toString('hex')
          .replace(/^[89a-f]/, '1')}`,
        '-days',
        '825',
        '-sha256',
        '-extfile',
        `${s}/server.ext`,
        '-out',
        `${s}/server.crt`,
      ]);
      await sys.fs.chmod(`${stage}/server.crt`, 0o644);
      await sys.fs.rename(`${stage}/server.key`, TLS_SERVER_KEY);
      await sys.fs.rename(`${stage}/server.crt`, TLS_SERVER_CERT);
      o.files.push(
        { path: TLS_SERVER_KEY, action: 'created' },
        { path: TLS_SERVER_CERT, action: 'created' },
      );
    } finally {
      await sys.fs.remove(stage, { recursive: true });
    }
  }
  const ca = await sys.fs.readText(TLS_CA_CERT);
  await sys.fs.mkdir(SIGSTORE_KEYS, { mode: 0o755 });
  const existed = await sys.fs.exists(PUBLISHED_CA);
  const w = await sys.fs.writeFileAtomic(PUBLISHED_CA, ca, { mode: 0o644 });
  o.files.push({
    path: PUBLISHED_CA,
    action: !w.changed ? 'unchanged' : existed ? 'updated' : 'created',
  });
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
