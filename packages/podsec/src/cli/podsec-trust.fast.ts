// `podsec-trust show` and its fast path (no commander), with the binary's exit codes and messages.
import { takeCommonFlags, type CliContext, type FastCliDefinition } from '@podsec/core/cli/fast';
import { showTrust, type ShowTrustResult } from '../trust/show.ts';

/** Exit codes of podsec-trust. */
export const exitCodes = {
  TRUST_REJECTED: 3,
  TRUST_MANIFEST_UNAVAILABLE: 4,
  TRUST_NO_LOOKASIDE: 5,
} as const;

/** Messages of podsec-trust (English and Russian). */
export const messages = {
  en: {
    TRUST_REJECTED: 'the policy rejects {image}: {reason}',
    TRUST_MANIFEST_UNAVAILABLE: 'cannot fetch the manifest of {image}',
    TRUST_NO_LOOKASIDE: 'no lookaside configured for {image}: give --lookaside',
    TRUST_LOOKASIDE_NOT_FILE: 'signatures can only be written to a file:// lookaside, not {url}',
    TRUST_WEAK_SIGNATURE:
      'warning: {image} is accepted by signature-{signature}, which is weak: {reason} (podman, skopeo and CRI-O accept it too; re-sign the image with a sound key)',
    SIGNATURE_WEAK_DIGEST: 'the signature uses the weak {digest} digest',
    SIGNATURE_WEAK_KEY: 'the signature was made by a weak {key} key',
    SIGNATURE_FUTURE: 'the signature claims to be made in the future, at {time}',
  },
  ru: {
    TRUST_REJECTED: 'политика отвергает {image}: {reason}',
    TRUST_MANIFEST_UNAVAILABLE: 'не удалось получить манифест {image}',
    TRUST_NO_LOOKASIDE: 'для {image} не настроено хранилище подписей: укажите --lookaside',
    TRUST_LOOKASIDE_NOT_FILE: 'подписи можно записывать только в хранилище file://, а не {url}',
    TRUST_WEAK_SIGNATURE:
      'предупреждение: {image} принят по подписи signature-{signature}, но она слабая: {reason} (podman, skopeo и CRI-O её тоже принимают; переподпишите образ надёжным ключом)',
    SIGNATURE_WEAK_DIGEST: 'подпись использует слабый алгоритм хэширования {digest}',
    SIGNATURE_WEAK_KEY: 'подпись сделана слабым ключом {key}',
    SIGNATURE_FUTURE: 'время создания подписи лежит в будущем: {time}',
  },
};

function formatShow(r: ShowTrustResult): string {
  if (r.scopes) {
    const w1 = Math.max(9, ...r.scopes.map((s) => s.transport.length));
    const w2 = Math.max(5, ...r.scopes.map((s) => s.scope.length));
    const head = `${'TRANSPORT'.padEnd(w1)}  ${'SCOPE'.padEnd(w2)}  REQUIREMENTS`;
    return [
      head,
      ...r.scopes.map(
        (s) => `${s.transport.padEnd(w1)}  ${s.scope.padEnd(w2)}  ${s.requirements.join('; ')}`,
      ),
    ].join('\n');
  }
  const d = r.decision!;
  return [
    `image:        ${r.image}`,
    `scope:        ${d.isDefault ? 'default' : d.scope}`,
    `why:          ${d.reason}`,
    ...d.described.map((x) => `requirement:  ${x}`),
  ].join('\n');
}

const DEFAULT_POLICY = '/etc/containers/policy.json';

/** Prints the scopes of the policy, or the requirements that apply to `image` and why. */
export async function printTrustShow(
  ctx: CliContext,
  image: string | undefined,
  policy: string,
): Promise<void> {
  // registries.d plays no part in showing the policy (the option is accepted for symmetry with verify)
  const r = await showTrust(ctx.system, image, { policy });
  ctx.system.report.result(formatShow(r), r);
}

/**
 * `podsec-trust show [image]` with `--policy`, `--registries-d`, `--json`, `-v`/`--verbose`, `--debug`; any other
 * argument (and any value that looks like an option) is left to commander.
 */
export const fast: FastCliDefinition = {
  name: 'podsec-trust',
  exitCodes,
  messages,
  parse(argv) {
    const { options, rest } = takeCommonFlags(argv);
    if (rest[0] !== 'show') return undefined;
    let policy = DEFAULT_POLICY;
    let image: string | undefined;
    for (let i = 1; i < rest.length; i++) {
      const a = rest[i] as string;
      const eq = a.indexOf('=');
      const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
      if (name === '--policy' || name === '--registries-d') {
        const value = name === a ? rest[++i] : a.slice(eq + 1);
        if (value === undefined || value === '' || value.startsWith('-')) return undefined;
        if (name === '--policy') policy = value;
      } else if (a.startsWith('-') || image !== undefined) return undefined;
      else image = a;
    }
    return { options, run: (ctx) => printTrustShow(ctx, image, policy) };
  },
};
