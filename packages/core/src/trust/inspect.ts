import { VerificationError } from '../errors.ts';
import { nativeSigningKeyIds } from './native-verify.ts';

/**
 * Key ids (16 upper-case hex digits) that claim to have made an OpenPGP signed message, read without
 * verifying anything: for reporting "signed by an unknown key ..." only, never for trust decisions.
 */
export async function signingKeyIds(blob: Uint8Array): Promise<string[]> {
  const native = nativeSigningKeyIds(blob);
  if (native !== undefined) return native;
  try {
    const openpgp = await import('openpgp');
    const message = await openpgp.readMessage({ binaryMessage: blob });
    return message.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
  } catch (e) {
    throw new VerificationError('SIGNATURE_NOT_OPENPGP', 'not an OpenPGP message', { cause: e });
  }
}
