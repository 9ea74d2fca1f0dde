import type { KubeApi } from '../kube/kube-api.ts';
import { whoCan, type AccessQuery, type Grant, type RbacObjects } from './evaluate.ts';

/** Reads the cluster's roles and bindings (four list calls). */
export async function readRbacObjects(api: KubeApi): Promise<RbacObjects> {
  const [roles, clusterRoles, roleBindings, clusterRoleBindings] = await Promise.all([
    api.listRoles(),
    api.listClusterRoles(),
    api.listRoleBindings(),
    api.listClusterRoleBindings(),
  ]);
  return { roles, clusterRoles, roleBindings, clusterRoleBindings };
}

/** Who may do what the query asks, from the cluster's RBAC objects. */
export async function whoCanInCluster(api: KubeApi, q: AccessQuery): Promise<Grant[]> {
  return whoCan(await readRbacObjects(api), q);
}
