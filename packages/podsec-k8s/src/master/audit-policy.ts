/**
 * The API audit policy of a podsec control plane, first match wins. The original's rules, with one fix:
 * `system:masters` (the admin.conf identity) and service accounts are audited at Metadata, not exempted.
 */
import { stringify } from 'yaml';

const RR = ['RequestReceived'];

/** Pure: the policy document. */
export function planAuditPolicy(): Record<string, unknown> {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitManagedFields: true,
    rules: [
      {
        level: 'None',
        nonResourceURLs: [
          '/healthz*',
          '/logs',
          '/metrics',
          '/swagger*',
          '/version',
          '/readyz',
          '/livez',
        ],
      },
      {
        level: 'None',
        users: [
          'system:kube-scheduler',
          'system:kube-proxy',
          'system:apiserver',
          'system:kube-controller-manager',
          'system:serviceaccount:gatekeeper-system:gatekeeper-admin',
        ],
      },
      { level: 'None', userGroups: ['system:nodes'] },
      {
        level: 'Metadata',
        omitStages: RR,
        resources: [{ group: 'authentication.k8s.io', resources: ['tokenreviews'] }],
      },
      {
        level: 'RequestResponse',
        omitStages: RR,
        resources: [{ group: 'authorization.k8s.io', resources: ['subjectaccessreviews'] }],
      },
      {
        level: 'RequestResponse',
        omitStages: RR,
        verbs: ['create', 'patch', 'update', 'delete'],
        resources: [{ group: '', resources: ['pods'] }],
      },
      { level: 'Metadata', omitStages: RR },
    ],
  };
}

/** The policy as YAML. */
export function formatAuditPolicy(): string {
  return stringify(planAuditPolicy(), { lineWidth: 0 });
}
