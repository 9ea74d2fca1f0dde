/** The API audit policy of a rootless control plane (pure). */
import { stringify } from 'yaml';

const RR = ['RequestReceived'];

/**
 * Pure: the audit policy, first match wins. The original's rules, except (fix) that `system:masters` and the
 * service accounts are audited at `Metadata` instead of not at all: they are the identities worth watching.
 */
export function renderAuditPolicy(): string {
  const policy = {
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
  return stringify(policy, { lineWidth: 0, aliasDuplicateObjects: false });
}
