import { bindingCli } from './binding-cli.ts';

/** The podsec-k8s-rbac-unbindrole binary. */
export const cli = bindingCli('podsec-k8s-rbac-unbindrole', 'unbind');
