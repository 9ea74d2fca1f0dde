/** @podsec/core/userns: RootlessKit user namespaces started, entered, port-forwarded and stopped from the host. */
export { detectCgroupMode, parseCgroupMode } from './cgroup.ts';
export type { CgroupMode } from './cgroup.ts';
export { DEFAULT_COPY_UP, planRootlesskitArgs } from './rootlesskit.ts';
export type { RootlesskitHostFacts, RootlesskitOptions, RootlesskitPlan } from './rootlesskit.ts';
export { readNamespaceState, STATE_FILES } from './state.ts';
export type { NamespaceState } from './state.ts';
export { enterCwd, NSENTER_NAMESPACES, planEnter } from './enter.ts';
export type { EnterPlanOptions } from './enter.ts';
export { createPortApi, formatPortSpec, parsePortSpec } from './ports.ts';
export type { PortApi, PortSpec, PortStatus } from './ports.ts';
export { checkSubIds, readRootlesskitHostFacts, startUserNamespace } from './namespace.ts';
export type { NamespaceUser, UserNamespace, UserNamespaceSpec } from './namespace.ts';
export { ensureNamespaceUser } from './provision.ts';
export type { EnsureNamespaceUserOptions, EnsureNamespaceUserResult } from './provision.ts';
