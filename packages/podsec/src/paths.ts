/** System paths and fixed names of the podsec base package (spec §1, W19: one place for the defaults). */
export const OS_RELEASE = '/etc/os-release';
