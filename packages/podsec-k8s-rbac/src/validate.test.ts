import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkNamespaceFor,
  parseGroup,
  parseObjectName,
  parseRoleType,
  parseSubjectName,
  parseUserAtRemote,
  parseUserName,
  shellWord,
} from './validate.ts';

describe('parseUserName', () => {
  it('accepts portable names and rejects the rest', () => {
    for (const ok of ['u1', '_x', 'a.b-c_d', 'a'.repeat(32)]) assert.equal(parseUserName(ok), ok);
    for (const bad of ['Bad/Name', 'a@b', 'system:x', 'a'.repeat(33), '', '1abc', 'a b'])
      assert.throws(() => parseUserName(bad), { code: 'RBAC_BAD_USER' });
  });
});

describe('parseSubjectName', () => {
  it('keeps a system: name verbatim (the original stripped the prefix)', () => {
    assert.deepEqual(parseSubjectName('system:serviceaccount:ns:sa'), {
      name: 'system:serviceaccount:ns:sa',
      system: true,
    });
    assert.throws(() => parseSubjectName('system:a b'), { code: 'RBAC_BAD_USER' });
  });
});

describe('parseRoleType', () => {
  it('knows exactly the three words', () => {
    assert.equal(parseRoleType('role').roleKind, 'Role');
    assert.equal(parseRoleType('role=clusterrole').bindingKind, 'RoleBinding');
    assert.equal(parseRoleType('role=clusterrole').roleKind, 'ClusterRole');
    assert.equal(parseRoleType('clusterrole').bindingKind, 'ClusterRoleBinding');
    for (const bad of ['Role', 'cluster', 'rolebinding', ''])
      assert.throws(() => parseRoleType(bad), { code: 'RBAC_BAD_ROLE_TYPE' });
  });

  it('requires a namespace for role types and forbids it for clusterrole', () => {
    assert.throws(() => checkNamespaceFor(parseRoleType('role'), undefined), {
      code: 'RBAC_NAMESPACE_REQUIRED',
    });
    assert.throws(() => checkNamespaceFor(parseRoleType('role=clusterrole'), undefined), {
      code: 'RBAC_NAMESPACE_REQUIRED',
    });
    assert.throws(() => checkNamespaceFor(parseRoleType('clusterrole'), 'default'), {
      code: 'RBAC_NAMESPACE_FORBIDDEN',
    });
    assert.throws(() => checkNamespaceFor(parseRoleType('role'), 'Bad_NS'), {
      code: 'RBAC_BAD_NAMESPACE',
    });
    assert.equal(checkNamespaceFor(parseRoleType('role'), 'smf'), 'smf');
  });
});

describe('parseObjectName', () => {
  it('allows colons and spaces but not slashes, percent or dot names', () => {
    assert.equal(parseObjectName('system:basic-user'), 'system:basic-user');
    assert.equal(parseObjectName('a "quoted" name'), 'a "quoted" name');
    for (const bad of ['', '.', '..', 'a/b', '50%', 'x'.repeat(254)])
      assert.throws(() => parseObjectName(bad), { code: 'RBAC_BAD_NAME' });
  });
});

describe('parseGroup', () => {
  it('refuses RDN injection always and privileged groups unless allowed', () => {
    for (const bad of ['a/CN=root', 'a=b', 'a,b', 'a+b', 'a\\b', 'a\nb', ''])
      assert.throws(() => parseGroup(bad, true), { code: 'RBAC_BAD_GROUP' });
    for (const priv of ['system:masters', 'kubeadm:cluster-admins', 'system:nodes']) {
      assert.throws(() => parseGroup(priv), { code: 'RBAC_PRIVILEGED_GROUP' });
      assert.equal(parseGroup(priv, true), priv);
    }
    assert.equal(parseGroup('sys admins'), 'sys admins');
  });
});

describe('parseUserAtRemote', () => {
  it('accepts zero or one @ with both parts non-empty', () => {
    assert.deepEqual(parseUserAtRemote('u1'), { user: 'u1' });
    assert.deepEqual(parseUserAtRemote('u1@admin'), { user: 'u1', remote: 'admin' });
    for (const bad of ['@r', 'u1@', 'u1@a@b'])
      assert.throws(() => parseUserAtRemote(bad), { code: 'RBAC_BAD_USER' });
  });
});

describe('shellWord', () => {
  it('leaves ordinary names alone and single-quotes the others', () => {
    assert.equal(shellWord('system:basic-user'), 'system:basic-user');
    assert.equal(shellWord('a b'), "'a b'");
    assert.equal(shellWord("it's"), "'it'\\''s'");
  });
});
