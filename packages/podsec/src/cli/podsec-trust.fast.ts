// `podsec-trust show` and its fast path (no commander), with the binary's exit codes and messages.
import {
  optionName,
  optionValue,
  takeCommonFlags,
  type CliContext,
  type FastCliDefinition,
} from '@podsec/core/cli/fast';
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
const DEFAULT_REGISTRIES_D = '/etc/containers/registries.d';

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

/** `show [image]` with `--policy`, `--registries-d`: the command, or undefined for anything else. */
function parseShow(rest: readonly string[]): ((ctx: CliContext) => Promise<void>) | undefined {
  let policy = DEFAULT_POLICY;
  let image: string | undefined;
  for (let i = 1; i < rest.length; i++) {
    const a = rest[i] as string;
    const name = optionName(a);
    if (name === '--policy' || name === '--registries-d') {
      const v = optionValue(rest, i, name);
      if (v === undefined) return undefined;
      i = v.i;
      if (name === '--policy') policy = v.value;
    } else if (a.startsWith('-') || image !== undefined) return undefined;
    else image = a;
  }
  return (ctx) => printTrustShow(ctx, image, policy);
}

/**
 * `verify <image>` with `--policy`, `--registries-d`, `--lookaside`, `--insecure`, `--tls-verify[=true|false]`: the
 * command, or undefined for anything else (`--key`, whose list commander parses, `--root`, `--help` ...).
 */
function parseVerify(rest: readonly string[]): ((ctx: CliContext) => Promise<void>) | undefined {
  const values = new Map<string, string>();
  let insecure = false;
  let tlsVerify: boolean | undefined;
  let image: string | undefined;
  for (let i = 1; i < rest.length; i++) {
    const a = rest[i] as string;
    const name = optionName(a);
    if (name === '--policy' || name === '--registries-d' || name === '--lookaside') {
      const v = optionValue(rest, i, name);
      if (v === undefined) return undefined;
      i = v.i;
      values.set(name, v.value);
    } else if (a === '--insecure') insecure = true;
    // a bare --tls-verify is true, as podman and skopeo spell it (runCli rewrites it to =true for commander)
    else if (a === '--tls-verify' || a === '--tls-verify=true') tlsVerify = true;
    else if (a === '--tls-verify=false') tlsVerify = false;
    else if (a.startsWith('-') || image !== undefined) return undefined;
    else image = a;
  }
  if (image === undefined) return undefined;
  const lookaside = values.get('--lookaside');
  const o = {
    policy: values.get('--policy') ?? DEFAULT_POLICY,
    registriesD: values.get('--registries-d') ?? DEFAULT_REGISTRIES_D,
    keys: [],
    insecure: insecure || tlsVerify === false,
    ...(lookaside === undefined ? {} : { lookaside }),
  };
  const ref = image;
  return async (ctx) => (await import('./podsec-trust.verify.ts')).printTrustVerify(ctx, ref, o);
}

/**
 * `podsec-trust show [image]` and `podsec-trust verify <image>` (see {@link parseShow} and {@link parseVerify}) with
 * `--json`, `-v`/`--verbose`, `--debug`; any other argument (and any value that looks like an option) is left to
 * commander.
 */
export const fast: FastCliDefinition = {
  name: 'podsec-trust',
  exitCodes,
  messages,
  parse(argv) {
    const { options, rest } = takeCommonFlags(argv);
    const run =
      rest[0] === 'show' ? parseShow(rest) : rest[0] === 'verify' ? parseVerify(rest) : undefined;
    return run === undefined ? undefined : { options, run };
  },
};
