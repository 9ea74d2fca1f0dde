// `podsec-trust show` on its own, apart from trust.ts: it reads only policy.json, so that showing the policy does not
// load the signature code (openpgp), the registries.d reader (YAML) or the registry client.
// the policy model alone (@podsec/core/config would bring the YAML and TOML readers with it)
import { parsePolicy, type Policy, type PolicyRequirement } from '@podsec/core/config/policy';
import type { System } from '@podsec/core/system';
import type { RequirementsDecision } from '@podsec/core/trust';
import { POLICY_JSON } from '../paths.ts';
import type { TrustConfigOptions } from './trust-config.ts';

/** One row of `podsec-trust show`. */
export interface ScopeRow {
  readonly transport: string;
  readonly scope: string;
  readonly requirements: readonly string[];
}

function describeRequirement(r: PolicyRequirement): string {
  if (r.type === 'signedBy') {
    const keys =
      r.keyPath ?? r.keyPaths?.join(',') ?? (r.keyData !== undefined ? '<keyData>' : '?');
    const identity = r.signedIdentity ? ` identity=${r.signedIdentity.type}` : '';
    return `signedBy ${keys}${identity}`;
  }
  return r.type;
}

/** Every scope of a policy, default first (pure). */
export function planScopeTable(policy: Policy): ScopeRow[] {
  const rows: ScopeRow[] = [
    { transport: '*', scope: 'default', requirements: policy.default.map(describeRequirement) },
  ];
  for (const [transport, scopes] of Object.entries(policy.transports ?? {})) {
    for (const [scope, reqs] of Object.entries(scopes))
      rows.push({
        transport,
        scope: scope === '' ? '""' : scope,
        requirements: reqs.map(describeRequirement),
      });
  }
  return rows;
}

/** Result of {@link showTrust}. */
export interface ShowTrustResult {
  readonly policyPath: string;
  readonly scopes?: readonly ScopeRow[];
  readonly image?: string;
  readonly decision?: RequirementsDecision & { readonly described: readonly string[] };
}

/** The requirements of the policy, or those that apply to `image` and why. */
export async function showTrust(
  sys: System,
  image: string | undefined,
  o: TrustConfigOptions = {},
): Promise<ShowTrustResult> {
  const policyPath = o.policy ?? POLICY_JSON;
  const policy = parsePolicy(await sys.fs.readText(policyPath));
  if (image === undefined) return { policyPath, scopes: planScopeTable(policy) };
  // the scope resolution alone, without the signature code: loaded only to show the requirements of one image
  const { requirementsFor } = await import('@podsec/core/trust/requirements');
  const decision = requirementsFor(policy, 'docker', image.replace(/^docker:\/\//, ''));
  return {
    policyPath,
    image,
    decision: { ...decision, described: decision.requirements.map(describeRequirement) },
  };
}
