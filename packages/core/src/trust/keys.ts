/**
 * OpenPGP keys for simple signing: generation, reading keyrings (armoured or binary, as written by
 * `gpg --export` / `gpg --armor --export`), private key decryption and passphrase files.
 */
import type * as openpgp from 'openpgp';

/** openpgp.js, loaded when a key is generated, read or inspected (not for the native verifier's keys). */
const loadOpenpgp = (): Promise<typeof openpgp> => import('openpgp');
import { errorMessage, UsageError } from '../errors.ts';

/** Key algorithms {@link generateKey} offers. Both give v4 keys that GnuPG 2.2 and gpgme accept. */
export type KeyType = 'rsa' | 'ed25519';

/** Options of {@link generateKey}. */
export interface GenerateKeyOptions {
  /** @default 'rsa' */
  readonly type?: KeyType;
  /** RSA modulus size. @default 4096 */
  readonly rsaBits?: number;
  readonly name: string;
  readonly email: string;
  readonly comment?: string;
  /** Key lifetime in days. @default never expires */
  readonly expiresInDays?: number;
  /** Protects the private key. @default unprotected */
  readonly passphrase?: string;
  /** Creation time. @default now */
  readonly date?: Date;
}

/** Result of {@link generateKey}. */
export interface GeneratedKey {
  readonly privateKeyArmored: string;
  readonly publicKeyArmored: string;
  /** Transferable public key as `gpg --export` writes it (usable as a policy.json `keyPath`). */
  readonly publicKeyBinary: Uint8Array;
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  readonly userIds: string[];
  /**
   * Armoured revocation signature of the primary key, made with the key at generation (reason "no reason
   * specified"), as gpg keeps one for every key it generates. See {@link formatRevocationFile}.
   */
  readonly revocationCertificate?: string;
}

/** What {@link keyInfo} tells about a key. */
export interface KeyInfo {
  /** Upper-case hex fingerprint of the primary key. */
  readonly fingerprint: string;
  /** Upper-case 16-hex-digit key id. */
  readonly keyId: string;
  readonly userIds: string[];
  readonly created: Date;
  /** `undefined` when the key never expires. */
  readonly expires: Date | undefined;
  /** A valid (unexpired, unrevoked) signing key or subkey exists now. */
  readonly canSign: boolean;
  readonly revoked: boolean;
  readonly isPrivate: boolean;
}

/** Reads a file's bytes; library code gets it injected (e.g. `sys.fs.readFile`). */
export type ReadFile = (path: string) => Promise<Uint8Array>;

const ARMOR_BEGIN = '-----BEGIN PGP ';
const PUBLIC_BLOCK =
  /-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g;
const PRIVATE_BLOCK =
  /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?-----END PGP PRIVATE KEY BLOCK-----/g;

/** Text of `data` when it is an ASCII-armoured block, else `undefined` (binary). */
function armoredText(data: Uint8Array | string): string | undefined {
  if (typeof data === 'string') return data;
  // Armour may follow a BOM or free text (gpg ignores text before the header); binary packets never decode as this.
  const head = new TextDecoder('latin1').decode(data.subarray(0, 64 * 1024));
  if (!head.includes(ARMOR_BEGIN)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return undefined;
  }
}

/**
 * Generate a signing key pair (RSA 4096 by default, or Ed25519 in the v4 "EdDSA legacy" form GnuPG 2.2 reads).
 * @throws UsageError `KEY_GENERATE_FAILED` for bad options
 */
export async function generateKey(options: GenerateKeyOptions): Promise<GeneratedKey> {
  const type = options.type ?? 'rsa';
  const userID: openpgp.UserID = { name: options.name, email: options.email };
  if (options.comment !== undefined) userID.comment = options.comment;
  const expiresInDays = options.expiresInDays;
  if (expiresInDays !== undefined && !(Number.isFinite(expiresInDays) && expiresInDays > 0)) {
    throw new UsageError(
      'KEY_GENERATE_FAILED',
      `expiresInDays must be a positive number, got ${expiresInDays}`,
    );
  }
  const base = {
    userIDs: [userID],
    format: 'object' as const,
    ...(options.passphrase !== undefined && options.passphrase !== ''
      ? { passphrase: options.passphrase }
      : {}),
    ...(expiresInDays !== undefined
      ? { keyExpirationTime: Math.round(expiresInDays * 86400) }
      : {}),
    ...(options.date !== undefined ? { date: options.date } : {}),
  };
  const openpgp = await loadOpenpgp();
  let generated;
  try {
    generated =
      type === 'rsa'
        ? await openpgp.generateKey({ ...base, type: 'rsa', rsaBits: options.rsaBits ?? 4096 })
        : type === 'ed25519'
          ? await openpgp.generateKey({ ...base, type: 'ecc', curve: 'ed25519Legacy' })
          : undefined;
  } catch (e) {
    throw new UsageError('KEY_GENERATE_FAILED', `cannot generate key: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (generated === undefined)
    throw new UsageError('KEY_GENERATE_FAILED', `unknown key type "${String(type)}"`);
  const { privateKey, publicKey, revocationCertificate } = generated;
  return {
    privateKeyArmored: privateKey.armor(),
    publicKeyArmored: publicKey.armor(),
    publicKeyBinary: publicKey.write(),
    fingerprint: publicKey.getFingerprint().toUpperCase(),
    userIds: publicKey.getUserIDs(),
    revocationCertificate,
  };
}

/**
 * The file gpg leaves in `~/.gnupg/openpgp-revocs.d/<FINGERPRINT>.rev` for a new key: an explanation, then the
 * armoured revocation signature with a colon before its first line, so that importing the file by accident revokes
 * nothing; removing that colon makes it importable (`gpg --import`), which revokes the key.
 */
export function formatRevocationFile(
  key: Pick<GeneratedKey, 'fingerprint' | 'userIds'>,
  revocationCertificate: string,
): string {
  const armored = revocationCertificate.trim();
  if (!armored.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'))
    throw new UsageError('KEY_GENERATE_FAILED', 'the revocation certificate is not armoured');
  return [
    'Revocation certificate of the OpenPGP key',
    '',
    `    ${key.fingerprint}`,
    ...key.userIds.map((u) => `    ${u}`),
    '',
    'Importing this certificate into a keyring (and publishing it) declares the key revoked; that',
    'cannot be undone. Keep it for the day the secret key is lost or compromised. While the secret',
    'key is still at hand, a new certificate with the real reason is the better choice',
    '(gpg --generate-revocation).',
    '',
    'The colon before the first line of the certificate below keeps an accidental import from',
    'revoking the key: remove it with a text editor before importing the certificate.',
    '',
    `:${armored}`,
    '',
  ].join('\n');
}

/**
 * Read every public key of a keyring: one or more armoured blocks, or binary transferable keys
 * (the content of a policy.json `keyPath`). Secret keys in the input are reduced to their public part.
 * @throws UsageError `KEY_INVALID` when the data holds no readable key
 */
export async function readPublicKeys(data: Uint8Array | string): Promise<openpgp.PublicKey[]> {
  const openpgp = await loadOpenpgp();
  const text = armoredText(data);
  const keys: openpgp.Key[] = [];
  try {
    if (text !== undefined) {
      const blocks = [...(text.match(PUBLIC_BLOCK) ?? []), ...(text.match(PRIVATE_BLOCK) ?? [])];
      for (const block of blocks) keys.push(...(await openpgp.readKeys({ armoredKeys: block })));
    } else if (data instanceof Uint8Array && data.length > 0) {
      keys.push(...(await openpgp.readKeys({ binaryKeys: data })));
    }
  } catch (e) {
    throw new UsageError('KEY_INVALID', `cannot read OpenPGP keys: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (keys.length === 0) throw new UsageError('KEY_INVALID', 'no OpenPGP public key found');
  return keys.map((k) => (k.isPrivate() ? k.toPublic() : k));
}

/**
 * Read one private key (armoured or binary) and decrypt it with `passphrase` when it is protected.
 * @throws UsageError `KEY_INVALID`, `KEY_PASSPHRASE_REQUIRED`, `KEY_PASSPHRASE_WRONG`
 */
export async function readPrivateKey(
  data: Uint8Array | string,
  passphrase?: string,
): Promise<openpgp.PrivateKey> {
  const openpgp = await loadOpenpgp();
  const text = armoredText(data);
  let key: openpgp.PrivateKey;
  try {
    key =
      text !== undefined
        ? await openpgp.readPrivateKey({ armoredKey: text })
        : await openpgp.readPrivateKey({ binaryKey: data as Uint8Array });
  } catch (e) {
    throw new UsageError('KEY_INVALID', `cannot read OpenPGP private key: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  if (key.isDecrypted()) return key;
  if (passphrase === undefined || passphrase === '') {
    throw new UsageError(
      'KEY_PASSPHRASE_REQUIRED',
      `private key ${key.getFingerprint().toUpperCase()} is protected by a passphrase`,
    );
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (e) {
    throw new UsageError(
      'KEY_PASSPHRASE_WRONG',
      `cannot unlock private key ${key.getFingerprint().toUpperCase()}: ${errorMessage(e)}`,
      { cause: e },
    );
  }
}

/** Export the public part of a key as `gpg --export` (binary) or `gpg --armor --export` (armored) would. */
export function exportPublicKey(key: openpgp.Key, format: 'binary'): Uint8Array;
export function exportPublicKey(key: openpgp.Key, format: 'armored'): string;
export function exportPublicKey(
  key: openpgp.Key,
  format: 'binary' | 'armored',
): Uint8Array | string;
export function exportPublicKey(
  key: openpgp.Key,
  format: 'binary' | 'armored',
): Uint8Array | string {
  const pub = key.isPrivate() ? key.toPublic() : key;
  return format === 'binary' ? pub.write() : pub.armor();
}

/** Fingerprint, user ids, validity dates and signing capability of a key, evaluated at `now`. */
export async function keyInfo(key: openpgp.Key, now: Date = new Date()): Promise<KeyInfo> {
  let expires: Date | undefined;
  try {
    const t = await key.getExpirationTime();
    expires = t instanceof Date ? t : undefined;
  } catch {
    expires = undefined;
  }
  let canSign = true;
  try {
    await key.getSigningKey(undefined, now);
  } catch {
    canSign = false;
  }
  return {
    fingerprint: key.getFingerprint().toUpperCase(),
    keyId: key.getKeyID().toHex().toUpperCase(),
    userIds: key.getUserIDs(),
    created: key.getCreationTime(),
    expires,
    canSign,
    revoked: await key.isRevoked(undefined, undefined, now),
    isPrivate: key.isPrivate(),
  };
}

/** Decode passphrase-file bytes: UTF-8, one trailing newline removed (as `--passphrase-file` in podman/skopeo). */
export function passphraseFromBytes(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new UsageError('PASSPHRASE_INVALID', 'passphrase is not valid UTF-8', { cause: e });
  }
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** Where a passphrase comes from: a file path or an already open file descriptor number. */
export type PassphraseSource = { readonly file: string } | { readonly fd: number };

/** Readers {@link readPassphrase} uses. */
export interface PassphraseReaders {
  readonly readFile: ReadFile;
  /** Reads a descriptor to its end. @default `readFile('/dev/fd/<fd>')` */
  readonly readFd?: (fd: number) => Promise<Uint8Array>;
}

/**
 * Read a passphrase from a file or a file descriptor through the injected readers; one trailing newline is stripped.
 * @throws UsageError `PASSPHRASE_INVALID`, `PASSPHRASE_UNREADABLE`
 */
export async function readPassphrase(
  source: PassphraseSource,
  readers: PassphraseReaders | ReadFile,
): Promise<string> {
  const r: PassphraseReaders = typeof readers === 'function' ? { readFile: readers } : readers;
  let bytes: Uint8Array;
  if ('fd' in source) {
    if (!Number.isInteger(source.fd) || source.fd < 0) {
      throw new UsageError('PASSPHRASE_INVALID', `invalid file descriptor ${String(source.fd)}`);
    }
    try {
      bytes =
        r.readFd !== undefined
          ? await r.readFd(source.fd)
          : await r.readFile(`/dev/fd/${source.fd}`);
    } catch (e) {
      throw new UsageError(
        'PASSPHRASE_UNREADABLE',
        `cannot read passphrase from fd ${source.fd}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  } else {
    try {
      bytes = await r.readFile(source.file);
    } catch (e) {
      throw new UsageError(
        'PASSPHRASE_UNREADABLE',
        `cannot read passphrase file ${source.file}: ${errorMessage(e)}`,
        { cause: e },
      );
    }
  }
  return passphraseFromBytes(bytes);
}

/** Read a passphrase file (one trailing newline stripped). Shorthand for {@link readPassphrase}. */
export async function readPassphraseFile(path: string, readFile: ReadFile): Promise<string> {
  return readPassphrase({ file: path }, readFile);
}
