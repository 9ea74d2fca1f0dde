// `podsec-trust verify`: what the commander program and the fast path both run (one implementation, same bytes).
import { PodsecError } from '@podsec/core';
import type { CliContext } from '@podsec/core/cli/fast';
import type { VerifyTrustResult } from '../trust/trust.ts';

/** The options of `podsec-trust verify` after parsing. */
export interface TrustVerifyOptions {
  readonly policy: string;
  readonly registriesD: string;
  /** Extra public key files (host paths). */
  readonly keys: readonly string[];
  readonly lookaside?: string;
  readonly insecure: boolean;
}

/**
 * What `Date#toISOString` prints for a time in seconds, from the UTC fields: toISOString itself makes V8 detect the
 * local time zone (ICU reads /etc/localtime and its zone data), a third of a millisecond of every verify, and the
 * text is built even for --json.
 */
export function isoTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

function formatVerify(r: VerifyTrustResult): string {
  const lines = [
    `image:     ${r.image}`,
    `digest:    ${r.digest}`,
    `lookaside: ${r.lookaside ?? '(none configured)'}`,
  ];
  if (r.signatures.length === 0) lines.push('signatures: none');
  const skipped = r.signatures.filter((s) => s.examined === false);
  for (const s of r.signatures) {
    if (s.examined === false) continue;
    if (s.valid) {
      const when = s.timestamp === undefined ? '' : ` at ${isoTime(s.timestamp)}`;
      const weak = s.warnings?.length
        ? ` WEAK (${s.warnings.map((w) => w.message).join('; ')}),`
        : '';
      lines.push(
        `signature-${s.index}: valid,${weak} key ${s.keyFingerprint} (${(s.userIds ?? []).join(', ')})${when}`,
        `  identity ${s.identity}, digest ${s.digestMatches ? 'matches' : 'DOES NOT MATCH'}${s.creator ? `, creator ${s.creator}` : ''}`,
      );
    } else {
      lines.push(
        `signature-${s.index}: NOT VALID (${s.reason})${s.keyIds?.length ? `, claims key id ${s.keyIds.join(', ')}` : ''}`,
      );
    }
  }
  // the tail the policy never looked at, in one line
  if (skipped.length > 0) {
    const first = skipped[0]!.index;
    const last = skipped[skipped.length - 1]!.index;
    lines.push(
      `${first === last ? `signature-${first}` : `signature-${first} to signature-${last}`}: ${skipped[0]!.reason}`,
    );
  }
  lines.push(
    `policy:    ${r.verdict.accepted ? 'ACCEPTED' : 'REJECTED'} (scope ${r.verdict.isDefault ? 'default' : r.verdict.scope}: ${r.verdict.reason})`,
  );
  for (const req of r.verdict.results)
    lines.push(`  ${req.type}: ${req.accepted ? 'accepts' : 'rejects'} - ${req.reason}`);
  return lines.join('\n');
}

/** Verifies every signature of `image`, prints the report and the warnings; a rejected image throws. */
export async function printTrustVerify(
  ctx: CliContext,
  image: string,
  o: TrustVerifyOptions,
): Promise<void> {
  // skopeo starts fetching the manifest before the signature code is loaded
  const manifest = (await import('../trust/image-source.ts')).fetchManifest(ctx.system, image, {
    insecure: o.insecure,
  });
  manifest.catch(() => {});
  // The file system calls are synchronous (docs/architecture.md#the-system-boundary), so the configuration work of
  // verifyTrust would run in one stretch of promise continuations, and the request's connect (queued on the tick
  // queue) would wait behind all of it. One turn of the event loop lets the manifest request reach the network
  // first; the registry answers while the policy and keys are read.
  await new Promise((resolve) => setImmediate(resolve));
  const r = await (
    await import('../trust/trust.ts')
  ).verifyTrust(ctx.system, image, {
    policy: o.policy,
    registriesD: o.registriesD,
    keys: o.keys,
    insecure: o.insecure,
    manifest,
    ...(o.lookaside === undefined ? {} : { lookaside: o.lookaside }),
  });
  ctx.system.report.result(formatVerify(r), r);
  for (const w of r.warnings)
    ctx.system.report.warn(
      ctx.t('TRUST_WEAK_SIGNATURE', {
        image: r.image,
        signature: w.signature,
        reason: ctx.t(w.code, w.params),
      }),
    );
  if (!r.verdict.accepted) {
    throw new PodsecError('TRUST_REJECTED', `the policy rejects ${r.image}: ${r.verdict.reason}`, {
      details: { image: r.image, reason: r.verdict.reason },
    });
  }
}
