/**
 * Error model of podsec: a few classes, one per category of what the caller can do,
 * and a stable SCREAMING_SNAKE string code per case. Exit numbers are decided per binary.
 */
const BRAND = Symbol.for('podsec.error');

/** Base of every error podsec raises on purpose. `code` is stable and documented. */
export class PodsecError extends Error {
  readonly code: string;
  /** Extra structured data for `--json` output. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(
    code: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}
/** The user gave bad input (argument, file content). */
export class UsageError extends PodsecError {}
/** A file, user or object is missing. */
export class NotFoundError extends PodsecError {}
/** An external program (podman, skopeo, useradd ...) failed. */
export class ExternalCommandError extends PodsecError {}
/** A Kubernetes API call failed; keeps the HTTP status in `details.status`. */
export class KubeApiError extends PodsecError {}
/** A verification (signature, policy, checksum) failed. */
export class VerificationError extends PodsecError {}
/** A bug: reported with a "please report" line. */
export class InternalError extends PodsecError {}

/** Brand check that survives two copies of @podsec/core. */
export function isPodsecError(x: unknown): x is PodsecError {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
}

/** The message of an error, or the value as text: for "cannot do X: <reason>" messages. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
