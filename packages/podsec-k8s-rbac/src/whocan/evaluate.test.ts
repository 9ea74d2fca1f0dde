import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAllowed, parseAccessQuery, ruleAllows, whoCan, type RbacObjects } from './evaluate.ts';

const G = 'rbac.authorization.k8s.io';

describe('parseAccessQuery', () => {
  it('parses TYPE, TYPE.GROUP, TYPE/NAME and non-resource URLs', () => {
    assert.deepEqual(parseAccessQuery('get', 'pods', { namespace: 'a' }), {
      kind: 'resource',
      verb: 'get',
      group: '',
      resource: 'pods',
      namespace: 'a',
    });
    assert.equal((parseAccessQuery('list', 'deployments') as { group: string }).group, 'apps');
    assert.deepEqual(parseAccessQuery('get', 'widgets.example.com/w1', { subresource: 'status' }), {
      kind: 'resource',
      verb: 'get',
      group: 'example.com',
      resource: 'widgets',
      subresource: 'status',
      name: 'w1',
    });
    assert.deepEqual(parseAccessQuery('get', '/healthz'), {
      kind: 'url',
      verb: 'get',
      path: '/healthz',
    });
    assert.throws(() => parseAccessQuery('get', '/healthz', { namespace: 'x' }), {
      code: 'RBAC_BAD_QUERY',
    });
    assert.throws(() => parseAccessQuery('GET', 'pods'), { code: 'RBAC_BAD_QUERY' });
  });
});

describe('ruleAllows', () => {
  const q = (o: Record<string, string>) =>
    ({ kind: 'resource', verb: 'get', group: '', resource: 'pods', ...o }) as never;
  it('matches verbs, groups, resources, subresources and names as the RBAC authorizer does', () => {
    const rule = { verbs: ['get'], apiGroups: [''], resources: ['pods'] };
    assert.ok(ruleAllows(rule, q({})));
    assert.ok(!ruleAllows(rule, q({ verb: 'list' })));
    assert.ok(!ruleAllows(rule, q({ subresource: 'log' })), 'pods does not cover pods/log');
    assert.ok(ruleAllows({ ...rule, resources: ['pods/log'] }, q({ subresource: 'log' })));
    assert.ok(ruleAllows({ ...rule, resources: ['*/log'] }, q({ subresource: 'log' })));
    assert.ok(!ruleAllows({ ...rule, resources: ['*/log'] }, q({})));
    assert.ok(
      ruleAllows({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, q({ group: 'apps' })),
    );
    assert.ok(!ruleAllows({ ...rule, resourceNames: ['p1'] }, q({})), 'named rule, no name asked');
    assert.ok(ruleAllows({ ...rule, resourceNames: ['p1'] }, q({ name: 'p1' })));
    assert.ok(!ruleAllows(rule, q({ group: 'apps' })));
  });
  it('matches non-resource URLs exactly or by a trailing *', () => {
    const rule = { verbs: ['get'], nonResourceURLs: ['/healthz', '/logs/*'] };
    const url = (path: string) => ({ kind: 'url', verb: 'get', path }) as const;
    assert.ok(ruleAllows(rule, url('/healthz')));
    assert.ok(!ruleAllows(rule, url('/healthz/ready')));
    assert.ok(ruleAllows(rule, url('/logs/a/b')));
    assert.ok(!ruleAllows({ verbs: ['get'], apiGroups: ['*'], resources: ['*'] }, url('/healthz')));
  });
});

describe('whoCan', () => {
  const objects: RbacObjects = {
    clusterRoles: [
      {
        metadata: { name: 'reader' },
        rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }],
      },
      { metadata: { name: 'health' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }] },
    ],
    roles: [
      {
        metadata: { name: 'logs', namespace: 'a' },
        rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }],
      },
    ],
    clusterRoleBindings: [
      {
        metadata: { name: 'crb-health' },
        roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'health' },
        subjects: [{ kind: 'Group', apiGroup: G, name: 'ops' }],
      },
      {
        metadata: { name: 'crb-dangling' },
        roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'gone' },
        subjects: [{ kind: 'User', apiGroup: G, name: 'nobody' }],
      },
    ],
    roleBindings: [
      {
        metadata: { name: 'rb-reader', namespace: 'a' },
        roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'reader' },
        subjects: [
          { kind: 'User', apiGroup: G, name: 'alice' },
          { kind: 'ServiceAccount', name: 'bot', namespace: 'a' },
        ],
      },
      {
        metadata: { name: 'rb-logs', namespace: 'a' },
        roleRef: { apiGroup: G, kind: 'Role', name: 'logs' },
        subjects: [{ kind: 'Group', apiGroup: G, name: 'devs' }],
      },
      {
        // a Role of another namespace with the same name grants nothing here
        metadata: { name: 'rb-logs', namespace: 'b' },
        roleRef: { apiGroup: G, kind: 'Role', name: 'logs' },
        subjects: [{ kind: 'Group', apiGroup: G, name: 'devs-b' }],
      },
    ],
  };
  it('names subjects with the binding and role, only in the namespace asked', () => {
    const g = whoCan(objects, parseAccessQuery('list', 'pods', { namespace: 'a' }));
    assert.deepEqual(
      g.map((x) => `${x.subject.kind}:${x.subject.name}@${x.binding.name}`),
      ['User:alice@rb-reader', 'ServiceAccount:bot@rb-reader'],
    );
    assert.deepEqual(whoCan(objects, parseAccessQuery('list', 'pods', { namespace: 'b' })), []);
    assert.deepEqual(
      whoCan(objects, parseAccessQuery('list', 'pods')),
      [],
      'cluster-wide: only CRBs',
    );
    const logs = whoCan(
      objects,
      parseAccessQuery('get', 'pods', { namespace: 'a', subresource: 'log' }),
    );
    assert.deepEqual(
      logs.map((x) => x.subject.name),
      ['devs'],
    );
    assert.deepEqual(
      whoCan(objects, parseAccessQuery('get', 'pods', { namespace: 'b', subresource: 'log' })),
      [],
    );
    assert.deepEqual(
      whoCan(objects, parseAccessQuery('get', '/healthz')).map((x) => x.subject.name),
      ['ops'],
    );
  });
  it('answers as SubjectAccessReview would for a user, its groups and service accounts', () => {
    const g = whoCan(objects, parseAccessQuery('get', 'pods', { namespace: 'a' }));
    assert.ok(isAllowed(g, 'alice', []));
    assert.ok(isAllowed(g, 'system:serviceaccount:a:bot', ['system:serviceaccounts']));
    assert.ok(!isAllowed(g, 'bob', ['devs']));
  });
});
