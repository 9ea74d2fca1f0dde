/**
 * Pure planning of podsec-create-imagemakeruser (docs/commands/podsec-create-imagemakeruser.md, docs/weaknesses.md#w10-invalid-image-maker-arguments, docs/weaknesses.md#w11-transactional-image-maker-creation): argument normalisation and
 * validation, the new system policy, the maker's personal policy and registries.d file, and where
 * the maker's signatures go. No System here.
 */
import { isDeepStrictEqual } from 'node:util';
import { UsageError } from '@podsec/core';
import {
  isValidDockerScope,
  setDockerScope,
  type Policy,
  type PolicyRequirement,
  type SignedByRequirement,
} from '@podsec/core/config';
import { formatRegistriesD } from '@podsec/core/config/registries-d';
import { validateName } from '@podsec/core/system';
import {
  DEFAULT_IMAGE_MAKER,
  DEFAULT_SCOPE,
  LOOKASIDE_READ_URL,
  LOOKASIDE_WRITE_URL,
  SIGSTORE_KEYS,
  SIGSTORE_SIGNATURES,
} from '../paths.ts';

/** One `user@scope` argument. */
export interface MakerSpec {
  readonly user: string;
  readonly scope: string;
}

/**
 * Argument normalisation of the original (docs/commands/podsec-create-imagemakeruser.md#synopsis) with the validation the original lost in a subshell (docs/weaknesses.md#w10-invalid-image-maker-arguments):
 * none -> `imagemaker@registry.local`; one without `@` -> `<arg>@registry.local`; otherwise every argument
 * must be `user@scope` with a valid user name and docker scope; a scope may appear only once.
 * @throws UsageError `IMAGEMAKER_BAD_FORMAT`, `USAGE_BAD_NAME`, `IMAGEMAKER_BAD_SCOPE` (exit 1),
 *   `IMAGEMAKER_DUPLICATE_SCOPE` (exit 2)
 */
export function normalizeMakerArgs(args: readonly string[]): MakerSpec[] {
  if (args.length === 0) return [{ user: DEFAULT_IMAGE_MAKER, scope: DEFAULT_SCOPE }];
  const list =
    args.length === 1 && !args[0]!.includes('@') ? [`${args[0]!}@${DEFAULT_SCOPE}`] : args;
  const out: MakerSpec[] = [];
  for (const arg of list) {
    const at = arg.indexOf('@');
    const user = at === -1 ? '' : arg.slice(0, at);
    const scope = at === -1 ? '' : arg.slice(at + 1);
    if (user === '' || scope === '') {
      throw new UsageError(
        'IMAGEMAKER_BAD_FORMAT',
        `invalid repository path description format "${arg}": expected user@scope`,
        {
          details: { arg },
        },
      );
    }
    validateName(user);
    if (!isValidDockerScope(scope)) {
      throw new UsageError(
        'IMAGEMAKER_BAD_SCOPE',
        `invalid repository path "${scope}" in "${arg}"`,
        { details: { arg, scope } },
      );
    }
    out.push({ user, scope });
  }
  for (const m of out) {
    const same = out.filter((o) => o.scope === m.scope);
    if (same.length > 1) {
      const users = same.map((o) => o.user).join(', ');
      throw new UsageError(
        'IMAGEMAKER_DUPLICATE_SCOPE',
        `repository path ${m.scope} is given more than once (${users})`,
        {
          details: { scope: m.scope, users },
        },
      );
    }
  }
  return out;
}

/** The makers of a run, one entry per user (a user may own several scopes and then has one key). */
export function groupMakers(
  makers: readonly MakerSpec[],
): { readonly user: string; readonly scopes: readonly string[] }[] {
  const m = new Map<string, string[]>();
  for (const { user, scope } of makers) m.set(user, [...(m.get(user) ?? []), scope]);
  return [...m].map(([user, scopes]) => ({ user, scopes }));
}

/** `/var/sigstore/keys/<user>.pgp`: the maker's published public key (policy `keyPath`). */
export function publicKeyPathOf(user: string): string {
  return `${SIGSTORE_KEYS}/${user}.pgp`;
}

/** The requirement list a maker's scope gets (docs/files.md#image-maker-scopes). */
export function makerRequirements(user: string): PolicyRequirement[] {
  const r: SignedByRequirement = {
    type: 'signedBy',
    keyType: 'GPGKeys',
    keyPath: publicKeyPathOf(user),
  };
  return [r];
}

/** What happens to one scope binding. */
export interface ScopeBinding {
  readonly scope: string;
  readonly user: string;
  readonly keyPath: string;
  /** `keep`: already bound to this key; `add`: new scope; `replace`: bound to something else (only with force). */
  readonly action: 'add' | 'keep' | 'replace';
  /** The previous requirement list, for `replace`. */
  readonly previous?: readonly PolicyRequirement[];
}

/** Result of {@link planMakerPolicy}. */
export interface MakerPolicyPlan {
  readonly policy: Policy;
  readonly bindings: readonly ScopeBinding[];
  /** False when every scope is already bound to its maker's key. */
  readonly changed: boolean;
}

/** Short text of a requirement list for messages: the key path(s) or the types. */
export function describeRequirements(reqs: readonly PolicyRequirement[]): string {
  return reqs
    .map((r) =>
      r.type === 'signedBy' ? (r.keyPath ?? r.keyPaths?.join(',') ?? 'keyData') : r.type,
    )
    .join(', ');
}

/**
 * The new system policy: each scope bound to `signedBy GPGKeys /var/sigstore/keys/<user>.pgp`. A scope that
 * is bound to anything else is refused unless `force` (the original silently replaced it, docs/weaknesses.md#w11-transactional-image-maker-creation).
 * @throws UsageError `IMAGEMAKER_SCOPE_BOUND` (exit 2)
 */
export function planMakerPolicy(
  current: Policy,
  makers: readonly MakerSpec[],
  options: { readonly force?: boolean; readonly policyPath?: string } = {},
): MakerPolicyPlan {
  let policy = current;
  const bindings: ScopeBinding[] = [];
  const docker = current.transports?.['docker'] ?? {};
  for (const { user, scope } of makers) {
    const wanted = makerRequirements(user);
    const keyPath = publicKeyPathOf(user);
    const existing = Object.hasOwn(docker, scope) ? docker[scope] : undefined;
    if (existing !== undefined && isDeepStrictEqual(existing, wanted)) {
      bindings.push({ scope, user, keyPath, action: 'keep' });
      continue;
    }
    if (existing !== undefined && !options.force) {
      const cur = describeRequirements(existing);
      throw new UsageError(
        'IMAGEMAKER_SCOPE_BOUND',
        `repository path ${scope} is already bound to ${cur}; use --force to replace it`,
        {
          details: { scope, current: cur, policy: options.policyPath ?? 'policy.json' },
        },
      );
    }
    policy = setDockerScope(policy, scope, wanted);
    bindings.push({
      scope,
      user,
      keyPath,
      action: existing === undefined ? 'add' : 'replace',
      ...(existing ? { previous: existing } : {}),
    });
  }
  return { policy, bindings, changed: bindings.some((b) => b.action !== 'keep') };
}

/** A maker's personal policy (docs/files.md#personal-policy-of-an-image-maker): the system policy with `default[0]` = `insecureAcceptAnything`. */
export function planPersonalPolicy(system: Policy): Policy {
  return { ...system, default: [{ type: 'insecureAcceptAnything' }, ...system.default.slice(1)] };
}

/** A maker's `~/.config/containers/registries.d/default.yaml` (docs/files.md#image-maker-lookaside-configuration): read and staging lookaside, both key names. */
export function formatMakerRegistriesD(): string {
  return formatRegistriesD({
    defaultDocker: {
      lookaside: LOOKASIDE_READ_URL,
      sigstore: LOOKASIDE_READ_URL,
      'lookaside-staging': LOOKASIDE_WRITE_URL,
      'sigstore-staging': LOOKASIDE_WRITE_URL,
    },
    docker: {},
  });
}

/**
 * The signature directory of a scope: `/var/sigstore/sigstore/<scope path without host>` (docs/files.md#the-varsigstore-tree; the tag
 * or digest of a reference scope is dropped), `undefined` for a host-only or wildcard scope, whose
 * signatures go straight into the shared top directory.
 */
export function signatureDirOf(scope: string): string | undefined {
  if (scope.startsWith('*.')) return undefined;
  const slash = scope.indexOf('/');
  if (slash === -1) return undefined;
  let path = scope.slice(slash + 1);
  const atDigest = path.indexOf('@');
  if (atDigest !== -1) path = path.slice(0, atDigest);
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  if (colon !== -1) path = path.slice(0, colon);
  return `${SIGSTORE_SIGNATURES}/${path}`;
}

/** A pre-created signature directory and who owns it. */
export interface SignatureDirPlan {
  readonly dir: string;
  readonly user: string;
  readonly scope: string;
  /** Other scopes of this run whose signatures land in the same directory (docs/weaknesses.md#w8-shared-paths-in-the-signature-store). */
  readonly sharedWith: readonly string[];
}

/**
 * Signature directories to pre-create, owned by their maker (docs/weaknesses.md#w7-permissions-of-varsigstore, docs/weaknesses.md#w8-shared-paths-in-the-signature-store), so that a maker cannot overwrite the
 * signatures of another. Two scopes with the same path under different hosts share one directory (the
 * lookaside path omits the host): the first maker gets it and the sharing is reported.
 */
export function planSignatureDirs(makers: readonly MakerSpec[]): SignatureDirPlan[] {
  const out: SignatureDirPlan[] = [];
  for (const m of makers) {
    const dir = signatureDirOf(m.scope);
    if (dir === undefined) continue;
    const sharedWith = makers
      .filter((o) => o !== m && signatureDirOf(o.scope) === dir)
      .map((o) => o.scope);
    if (out.some((p) => p.dir === dir)) continue;
    out.push({ dir, user: m.user, scope: m.scope, sharedWith });
  }
  return out;
}

/** Fill `{user}` in a `--name`/`--email` template. */
export function fillUserTemplate(template: string, user: string): string {
  return template.replaceAll('{user}', user);
}
