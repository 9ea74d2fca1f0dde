/** `podsec-u7s units`: render the units for this host and install them through the changes engine. */
import { applyChanges, type ChangeReport } from '@podsec/core/changes';
import type { System } from '@podsec/core/system';
import {
  DEFAULT_COPY_UP,
  planRootlesskitArgs,
  readRootlesskitHostFacts,
} from '@podsec/core/userns';
import { U7S_LIBEXEC, userPaths } from '../paths.ts';
import { childWaitSeconds, planU7sEnv, readU7sUser } from './namespace.ts';
import { planPorts, type U7sNode } from './node-config.ts';
import {
  planU7sUnitChanges,
  UNIT_READY_TIMEOUT_SEC,
  type UnitBinaries,
  type U7sUnitsOptions,
} from './units.ts';

/** Options of {@link installU7sUnits}. */
export interface InstallU7sUnitsOptions {
  readonly node: U7sNode;
  /** @default 'u7s-admin' */
  readonly user?: string;
  /** @default '/usr/libexec/podsec/u7s/bin' */
  readonly libexec?: string;
  /** @default '/usr/lib/cni' */
  readonly cniDir?: string;
  readonly payload?: readonly string[];
  readonly bin?: UnitBinaries;
  readonly readyTimeoutSec?: number;
}

/** Reads what the units depend on (the account, the host's directories and cgroup mode). */
export async function readU7sUnitsOptions(
  sys: System,
  o: InstallU7sUnitsOptions,
): Promise<U7sUnitsOptions> {
  const user = await readU7sUser(sys, o.user);
  const libexec = o.libexec ?? U7S_LIBEXEC;
  const facts = await readRootlesskitHostFacts(sys, user.uid, DEFAULT_COPY_UP);
  // under its user manager the unit's cgroup v2 subtree is delegated (delegate.conf): evacuate there
  const plan = planRootlesskitArgs(
    {
      stateDir: userPaths(user.uid, user.home).stateDir,
      cidr: o.node.serviceCidr,
      copyUp: DEFAULT_COPY_UP,
      payload: ['-'],
    },
    { ...facts, cgroup2Delegated: facts.cgroup === 'v2' },
  );
  // the payload is appended by the renderer after the child script
  const rootlesskitArgs = plan.args.slice(0, plan.args.lastIndexOf('--') + 1);
  return {
    user: user.name,
    uid: user.uid,
    gid: user.gid,
    home: user.home,
    rootlesskitArgs,
    env: planU7sEnv(user, o.node, {
      libexec,
      cniDir: o.cniDir ?? '/usr/lib/cni',
      // the child phase gives up a second before the unit's bounded wait for its marker
      waitSeconds: childWaitSeconds((o.readyTimeoutSec ?? UNIT_READY_TIMEOUT_SEC) * 1000),
    }),
    ports: planPorts(o.node),
    ...(o.node.extIP ? { nodeIP: o.node.extIP } : {}),
    ...(o.payload?.length ? { payload: o.payload } : {}),
    libexec,
    ...(o.bin ? { bin: o.bin } : {}),
    ...(o.readyTimeoutSec ? { readyTimeoutSec: o.readyTimeoutSec } : {}),
  };
}

/** Installs (or, with `sys.dryRun`, plans) the units; a re-run with the same inputs changes nothing. */
export async function installU7sUnits(
  sys: System,
  o: InstallU7sUnitsOptions,
): Promise<ChangeReport> {
  return applyChanges(sys, planU7sUnitChanges(await readU7sUnitsOptions(sys, o)));
}
