import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ClusterRoleBinding, V1RoleBinding } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { buildReport, formatReport, matchBindings } from './report.ts';

const G = 'rbac.authorization.k8s.io';
const u = (name: string) => ({ kind: 'User', apiGroup: G, name });
const crb = (name: string, role: string, subjects = [u('u1')]): V1ClusterRoleBinding => ({
  metadata: { name },
  roleRef: { apiGroup: G, kind: 'ClusterRole', name: role },
  subjects,
});
const rb = (
  ns: string,
  name: string,
  kind: string,
  role: string,
  subjects = [u('u1')],
): V1RoleBinding => ({
  metadata: { name, namespace: ns },
  roleRef: { apiGroup: G, kind, name: role },
  subjects,
});

// the F3 fixture: sysview -> view; default/rb1 -> Role pod-reader; smf/basic-user -> system:basic-user
const cluster = [crb('sysview', 'view'), crb('other', 'edit', [u('u2')])];
const namespaced = [
  rb('smf', 'basic-user', 'ClusterRole', 'system:basic-user'),
  rb('default', 'rb1', 'Role', 'pod-reader'),
  rb('empty-ns', 'x', 'Role', 'y', [u('u2')]),
];

/** What the original script prints for the F3 fixture (jq's 2-space pretty print). */
const GOLDEN = `{
  "u1": {
    "clusterRoles": [
      {
        "bindName": "sysview",
        "roleType": "ClusterRole",
        "roleName": "view",
        "unbindCmd": "podsec-k8s-rbac-unbindrole u1 clusterrole view sysview"
      }
    ],
    "roles": {
      "namespaces": [
        {
          "default": [
            {
              "bindName": "rb1",
              "roleType": "Role",
              "roleName": "pod-reader",
              "unbindCmd": "podsec-k8s-rbac-unbindrole u1 role pod-reader rb1 default"
            }
          ]
        },
        {
          "smf": [
            {
              "bindName": "basic-user",
              "roleType": "ClusterRole",
              "roleName": "system:basic-user",
              "unbindCmd": "podsec-k8s-rbac-unbindrole u1 role system:basic-user basic-user smf"
            }
          ]
        }
      ]
    }
  }
}
`;

describe('buildReport', () => {
  it('produces the original JSON byte for byte for the fixture (sorted by namespace, then name)', () => {
    const m = matchBindings('u1', cluster, namespaced);
    assert.equal(formatReport(buildReport('u1', m), m, 'json'), GOLDEN);
  });

  it('prints the empty document for an unknown user', () => {
    const m = matchBindings('ghost', cluster, namespaced);
    assert.equal(
      formatReport(buildReport('ghost', m), m, 'json'),
      '{\n  "ghost": {\n    "clusterRoles": [],\n    "roles": {\n      "namespaces": []\n    }\n  }\n}\n',
    );
  });

  it('matches only User subjects, once per binding, unless groups are asked for', () => {
    const b = crb('dup', 'view', [
      u('u1'),
      { kind: 'Group', apiGroup: G, name: 'u1' },
      { kind: 'ServiceAccount', name: 'u1', namespace: 'x' } as never,
      u('u1'),
    ]);
    const g = crb('viagroup', 'view', [{ kind: 'Group', apiGroup: G, name: 'k8s' }]);
    assert.deepEqual(
      matchBindings('u1', [b, g], []).map((m) => m.binding.metadata?.name),
      ['dup'],
    );
    assert.deepEqual(
      matchBindings('u1', [b, g], [], ['k8s']).map((m) => `${m.binding.metadata?.name}:${m.via}`),
      ['dup:User', 'viagroup:Group k8s'],
    );
  });

  it('escapes quotes, backslashes and spaces in names (output parses, unbindCmd is quoted)', () => {
    const odd = crb('a "b"\\c d', 'my role');
    const m = matchBindings('u1', [odd], []);
    const doc = JSON.parse(formatReport(buildReport('u1', m), m, 'json')) as {
      u1: { clusterRoles: Array<{ bindName: string; unbindCmd: string }> };
    };
    assert.equal(doc.u1.clusterRoles[0]?.bindName, 'a "b"\\c d');
    assert.equal(
      doc.u1.clusterRoles[0]?.unbindCmd,
      `podsec-k8s-rbac-unbindrole u1 clusterrole 'my role' 'a "b"\\c d'`,
    );
  });

  it('adds rules as the fifth key (null when missing)', () => {
    const m = matchBindings('u1', cluster, namespaced);
    const r = buildReport('u1', m, (x) =>
      x.binding.roleRef.name === 'view'
        ? [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]
        : null,
    );
    const entry = r['u1']!.clusterRoles[0]!;
    assert.deepEqual(Object.keys(entry), [
      'bindName',
      'roleType',
      'roleName',
      'unbindCmd',
      'rules',
    ]);
    assert.deepEqual(entry.rules, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]);
    assert.equal(r['u1']!.roles.namespaces[0]!['default']![0]!.rules, null);
  });

  it('formats table and wide (wide names the subject and the unbind command) and yaml', () => {
    const m = matchBindings('u1', cluster, namespaced);
    const report = buildReport('u1', m);
    assert.equal(
      formatReport(report, m, 'table'),
      [
        'SCOPE       NAMESPACE   BINDING      ROLE',
        'cluster     -           sysview      ClusterRole/view',
        'namespace   default     rb1          Role/pod-reader',
        'namespace   smf         basic-user   ClusterRole/system:basic-user',
        '',
      ].join('\n'),
    );
    assert.match(
      formatReport(report, m, 'wide'),
      /rb1 +Role\/pod-reader +User +podsec-k8s-rbac-unbindrole u1 role pod-reader rb1 default/,
    );
    assert.match(
      formatReport(report, m, 'yaml', stringify),
      /^u1:\n {2}clusterRoles:\n {4}- bindName: sysview/,
    );
  });
});
