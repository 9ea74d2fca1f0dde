/**
 * Trusted public keys as the verifier takes them: read natively (native-verify.ts) where the key ring is in the
 * usual form, with the openpgp.js object made only when openpgp.js is needed (a signature or key the native verifier
 * leaves to it); or openpgp.js keys as `readPublicKeys` returns them.
 */
import type * as openpgp from 'openpgp';
import { readNativeKeys, type NativeKey } from './native-verify.ts';

/** A trusted key read by {@link readTrustedKeys}. */
export interface TrustedKey {
  /** Upper-case fingerprint of the primary key. */
  readonly fingerprint: string;
  /** The native form; `undefined` when only openpgp.js reads this key. */
  readonly native: NativeKey | undefined;
  /** The key as openpgp.js reads it (loads openpgp.js on first use). */
  openpgp(): Promise<openpgp.PublicKey>;
}

/** What a verifier takes as a trusted key. */
export type VerifierKey = openpgp.PublicKey | TrustedKey;

/** Whether `k` is a {@link TrustedKey} (not an openpgp.js key). */
export function isTrustedKey(k: VerifierKey): k is TrustedKey {
  return typeof (k as Partial<TrustedKey>).openpgp === 'function';
}

/** Upper-case fingerprint of a trusted key's primary key. */
export function verifierFingerprint(k: VerifierKey): string {
  return isTrustedKey(k) ? k.fingerprint : k.getFingerprint().toUpperCase();
}

/**
 * The public keys of a key ring (a policy.json `keyPath` file, `keyData`), as `readPublicKeys` reads them: natively
 * when the ring is in the usual form (openpgp.js parses it only if a verification needs it), else with openpgp.js.
 * @throws UsageError `KEY_INVALID` when openpgp.js reads the ring and finds no key
 */
export async function readTrustedKeys(data: Uint8Array | string): Promise<TrustedKey[]> {
  const native = readNativeKeys(data);
  let parsed: Promise<Map<string, openpgp.PublicKey>> | undefined;
  const openpgpRing = (): Promise<Map<string, openpgp.PublicKey>> =>
    (parsed ??= import('./keys.ts').then(async ({ readPublicKeys }) => {
      const keys = await readPublicKeys(data);
      return new Map(keys.map((k) => [k.getFingerprint().toUpperCase(), k]));
    }));
  if (native === undefined) {
    const ring = await openpgpRing();
    return [...ring].map(([fingerprint, key]) => ({
      fingerprint,
      native: undefined,
      openpgp: () => Promise.resolve(key),
    }));
  }
  return native.map((n) => ({
    fingerprint: n.fingerprint,
    native: n,
    async openpgp() {
      const key = (await openpgpRing()).get(n.fingerprint);
      if (key === undefined)
        throw new Error(`openpgp.js does not read key ${n.fingerprint} of this key ring`);
      return key;
    },
  }));
}
