import { parsePolicy, type MergedRegistriesD, type Policy } from '@podsec/core/config';
import type { System } from '@podsec/core/system';
import { readRegistriesD } from '../config-files/registries-d.ts';
import { POLICY_JSON, REGISTRIES_D } from '../paths.ts';

/** Where the trust configuration is read from. */
export interface TrustConfigOptions {
  /** @default /etc/containers/policy.json */
  readonly policy?: string;
  /** @default /etc/containers/registries.d */
  readonly registriesD?: string;
}

/** The policy and the merged registries.d configuration. */
export interface TrustConfig {
  readonly policyPath: string;
  readonly policy: Policy;
  readonly registriesD: MergedRegistriesD;
}

/** Reads policy.json and every `*.yaml` of registries.d (as containers/image merges them). */
export async function readTrustConfig(
  sys: System,
  o: TrustConfigOptions = {},
): Promise<TrustConfig> {
  const policyPath = o.policy ?? POLICY_JSON;
  const policy = parsePolicy(await sys.fs.readText(policyPath));
  const dir = o.registriesD ?? REGISTRIES_D;
  return { policyPath, policy, registriesD: await readRegistriesD(sys, dir) };
}
