import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRoleType } from '../validate.ts';
import {
  newBinding,
  planBind,
  planUnbind,
  RBAC_GROUP,
  type BindingRequest,
} from './plan-binding.ts';

const req = (o: Partial<BindingRequest> = {}): BindingRequest => ({
  user: 'u1',
  type: parseRoleType('clusterrole'),
  role: 'view',
  binding: 'sysview',
  namespace: undefined,
  ...o,
});
const user = (name: string) => ({ kind: 'User', apiGroup: RBAC_GROUP, name });

describe('planBind', () => {
  it('creates a labelled binding with exactly one User subject', () => {
    const p = planBind(undefined, req());
    assert.equal(p.action, 'create');
    assert.deepEqual(p.body, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'sysview', labels: { 'app.kubernetes.io/managed-by': 'podsec-k8s-rbac' } },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'view' },
      subjects: [user('u1')],
    });
  });

  it('appends a second user, keeping the first one first and unchanged', () => {
    const existing = { ...newBinding(req()), subjects: [user('u1')] };
    const p = planBind(existing, req({ user: 'u2' }));
    assert.equal(p.action, 'update');
    assert.deepEqual(p.body.subjects, [user('u1'), user('u2')]);
  });

  it('does nothing for a user already bound (also with an empty apiGroup)', () => {
    const existing = { ...newBinding(req()), subjects: [{ kind: 'User', name: 'u1' }] };
    assert.equal(planBind(existing, req()).action, 'none');
  });

  it('treats a binding without subjects as empty', () => {
    const bare = newBinding(req());
    delete bare.subjects;
    assert.deepEqual(planBind(bare, req()).body.subjects, [user('u1')]);
  });

  it('refuses a binding that refers to another role (the original granted it silently)', () => {
    const existing = newBinding(req({ role: 'cluster-admin' }));
    assert.throws(() => planBind(existing, req({ user: 'u2' })), {
      code: 'RBAC_ROLEREF_MISMATCH',
      message: /already refers to ClusterRole\/cluster-admin/,
    });
    const rb = newBinding(req({ type: parseRoleType('role'), role: 'view', namespace: 'x' }));
    assert.throws(
      () => planBind(rb, req({ type: parseRoleType('role=clusterrole'), namespace: 'x' })),
      { code: 'RBAC_ROLEREF_MISMATCH' },
    );
  });
});

describe('planUnbind', () => {
  const three = {
    ...newBinding(req()),
    metadata: { name: 'sysview', uid: 'abc', resourceVersion: '7' },
    subjects: [
      { kind: 'Group', apiGroup: RBAC_GROUP, name: 'u1' },
      user('u2'),
      { kind: 'ServiceAccount', name: 'u1', namespace: 'ns' },
      user('u1'),
    ],
  };

  it('removes only the User entry and keeps the order of the others', () => {
    const p = planUnbind(three, req());
    assert.equal(p.action, 'update');
    assert.deepEqual(
      p.body.subjects?.map((s) => `${s.kind}:${s.name}`),
      ['Group:u1', 'User:u2', 'ServiceAccount:u1'],
    );
  });

  it('deletes the binding with uid and resourceVersion preconditions when the last subject goes', () => {
    const p = planUnbind({ ...three, subjects: [user('u1')] }, req());
    assert.equal(p.action, 'delete');
    assert.ok(p.action === 'delete');
    assert.deepEqual(p.preconditions, { uid: 'abc', resourceVersion: '7' });
  });

  it('refuses a user who is not bound, also for an empty subject list', () => {
    assert.throws(() => planUnbind({ ...three, subjects: [] }, req()), { code: 'RBAC_NOT_BOUND' });
    assert.throws(() => planUnbind(three, req({ user: 'ghost' })), { code: 'RBAC_NOT_BOUND' });
  });

  it('refuses a role or type that does not match roleRef, but accepts role for a ClusterRole ref', () => {
    assert.throws(() => planUnbind(three, req({ role: 'edit' })), {
      code: 'RBAC_UNBIND_MISMATCH',
    });
    const rb = {
      ...newBinding(req({ type: parseRoleType('role=clusterrole'), namespace: 'smf' })),
      subjects: [user('u1'), user('u2')],
    };
    assert.equal(
      planUnbind(rb, req({ type: parseRoleType('role'), namespace: 'smf' })).action,
      'update',
    );
    const roleRb = {
      ...newBinding(req({ type: parseRoleType('role'), role: 'pod-reader', namespace: 'd' })),
      subjects: [user('u1')],
    };
    assert.throws(
      () =>
        planUnbind(
          roleRb,
          req({ type: parseRoleType('role=clusterrole'), role: 'pod-reader', namespace: 'd' }),
        ),
      { code: 'RBAC_UNBIND_MISMATCH' },
    );
  });
});
