/**
 * Paths and secrets the user names on the command line: one resolver for host paths, and one bounded,
 * checked reader for secret files (passwords, passphrases).
 */
import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.ts';
import type { FileStat, System } from './types.ts';

/** A path given on the command line as an absolute host path (relative to `cwd`). */
export function resolveHostPath(arg: string, cwd: string = process.cwd()): string {
  if (typeof arg !== 'string' || arg === '' || arg.includes('\0'))
    throw new UsageError('HOST_PATH_INVALID', `invalid path ${JSON.stringify(arg)}`, {
      details: { path: JSON.stringify(arg) },
    });
  return path.resolve(cwd, arg);
}

/** Options of {@link readSecretFile}. */
export interface ReadSecretOptions {
  /** @default 64 KiB */
  readonly maxBytes?: number;
}

const same = (a: FileStat, b: FileStat) =>
  a.kind === b.kind &&
  a.mode === b.mode &&
  a.uid === b.uid &&
  a.size === b.size &&
  a.mtimeMs === b.mtimeMs;

/**
 * Reads a secret file of the host: a regular file (a symlink is not followed), readable and writable by
 * its owner only (0600 or 0400), owned by the caller or root, at most `maxBytes`.
 * @throws NotFoundError `SECRET_NOT_FOUND`; UsageError `SECRET_UNSAFE` (naming why), `SECRET_TOO_LARGE`
 */
export async function readSecretFile(
  sys: Pick<System, 'hostFs' | 'identity'>,
  file: string,
  o: ReadSecretOptions = {},
): Promise<Uint8Array> {
  const max = o.maxBytes ?? 64 * 1024;
  const unsafe = (reason: string) =>
    new UsageError('SECRET_UNSAFE', `refusing the secret file ${file}: ${reason}`, {
      details: { path: file, reason },
    });
  const st = await sys.hostFs.stat(file);
  if (st === undefined)
    throw new NotFoundError('SECRET_NOT_FOUND', `secret file ${file} not found`, {
      details: { path: file },
    });
  if (st.kind === 'symlink') throw unsafe('it is a symbolic link');
  if (st.kind !== 'file') throw unsafe('it is not a regular file');
  if ((st.mode & 0o077) !== 0)
    throw unsafe(
      `mode ${st.mode.toString(8).padStart(4, '0')} lets others read or write it (chmod 600)`,
    );
  if (st.uid !== sys.identity.uid && st.uid !== 0) throw unsafe(`it is owned by uid ${st.uid}`);
  if (st.size > max)
    throw new UsageError('SECRET_TOO_LARGE', `secret file ${file} is larger than ${max} bytes`, {
      details: { path: file, max },
    });
  const bytes = await sys.hostFs.readFile(file, { maxBytes: max });
  const after = await sys.hostFs.stat(file);
  if (after === undefined || !same(st, after)) throw unsafe('it changed while it was read');
  return bytes;
}
