// CLI behaviour that needs no cluster: validation before any API call, unreachable API server.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createTestSystem, freePort, runProgram } from '@podsec/test-utils';
import { cli as bindrole } from './podsec-k8s-rbac-bindrole.ts';
import { cli as createKubeconfig } from './podsec-k8s-rbac-create-kubeconfig.ts';
import { cli as getUserroles } from './podsec-k8s-rbac-get-userroles.ts';
import { cli as offboard } from './podsec-k8s-rbac-offboard.ts';
import { cli as unbindrole } from './podsec-k8s-rbac-unbindrole.ts';
import { cli as whoCan } from './podsec-k8s-rbac-who-can.ts';

/** A kubeconfig whose server is a closed loopback port. */
async function deadKubeconfig(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rbac-dead-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const file = path.join(dir, 'config');
  await writeFile(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: not-a-token}
contexts:
- name: dead
  context: {cluster: dead, user: admin}
current-context: dead
`,
  );
  return file;
}

describe('bindrole / unbindrole arguments', () => {
  // a missing kubeconfig would exit 2: exit 1 proves validation happens before any connection
  const NO_CONFIG = ['--kubeconfig', '/nonexistent/kubeconfig'];
  const cases: Array<[string, string[], RegExp]> = [
    ['3 arguments', ['u1', 'clusterrole', 'view'], /missing required argument 'binding'/],
    ['6 arguments', ['u1', 'role', 'r', 'b', 'ns', 'extra'], /too many arguments/],
    ['type Role', ['u1', 'Role', 'view', 'b', 'default'], /invalid role type "Role"/],
    ['type cluster', ['u1', 'cluster', 'view', 'b'], /invalid role type/],
    ['type rolebinding', ['u1', 'rolebinding', 'view', 'b', 'x'], /invalid role type/],
    [
      'namespace with clusterrole',
      ['u1', 'clusterrole', 'view', 'sysview', 'default'],
      /not applicable/,
    ],
    ['role without namespace', ['u1', 'role', 'pod-reader', 'rb1'], /namespace must be given/],
    [
      'role=clusterrole without namespace',
      ['u1', 'role=clusterrole', 'edit', 'rb1'],
      /namespace must be given/,
    ],
    ['bad user', ['Bad/Name', 'clusterrole', 'view', 'b'], /invalid user name/],
    ['bad binding name', ['u1', 'clusterrole', 'view', 'a/b'], /invalid binding name/],
  ];
  for (const def of [bindrole, unbindrole])
    for (const [what, args, message] of cases)
      it(`${def.name}: ${what} exits 1 before any API call`, async (t) => {
        const system = await createTestSystem(t);
        const r = await runProgram(def, [...args, ...NO_CONFIG], { system });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      });

  it('says it in Russian under LANG=ru_RU.UTF-8, exit code unchanged', async (t) => {
    const system = await createTestSystem(t);
    const r = await runProgram(bindrole, ['u1', 'Role', 'view', 'b', 'x', ...NO_CONFIG], {
      system,
      env: { LANG: 'ru_RU.UTF-8' },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /недопустимый тип роли/);
  });

  it('exits 2 for a user without a home, before any API call', async (t) => {
    const system = await createTestSystem(t);
    const kc = await deadKubeconfig(t);
    const r = await runProgram(
      bindrole,
      ['ghost', 'clusterrole', 'view', 'b', '--kubeconfig', kc],
      {
        system,
      },
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /user ghost does not exist/);
  });
});

describe('get-userroles arguments and failures', () => {
  it('exits 1 for no argument, 3 arguments and a second argument other than showRules', async (t) => {
    const system = await createTestSystem(t);
    for (const args of [[], ['u1', 'showRules', 'x'], ['u1', 'rules']]) {
      const r = await runProgram(getUserroles, [...args, '--kubeconfig', '/nonexistent'], {
        system,
      });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it('exits 3 with nothing on stdout when the API server is unreachable (never an empty report)', async (t) => {
    const system = await createTestSystem(t);
    const kc = await deadKubeconfig(t);
    const r = await runProgram(getUserroles, ['u1', '--kubeconfig', kc], { system });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /API server https:\/\/127\.0\.0\.1:\d+ unreachable/);
  });

  it('exits 2 for a kubeconfig that does not exist', async (t) => {
    const system = await createTestSystem(t);
    const r = await runProgram(getUserroles, ['u1', '--kubeconfig', '/nonexistent/config'], {
      system,
    });
    assert.equal(r.code, 2, r.stderr);
  });
});

describe('who-can and create-kubeconfig arguments', () => {
  it('who-can exits 1 for a bad verb or a namespace with a URL, 3 when unreachable', async (t) => {
    const system = await createTestSystem(t);
    const kc = await deadKubeconfig(t);
    assert.equal(
      (await runProgram(whoCan, ['GET', 'pods', '--kubeconfig', kc], { system })).code,
      1,
    );
    assert.equal(
      (await runProgram(whoCan, ['get', '/healthz', '-n', 'x', '--kubeconfig', kc], { system }))
        .code,
      1,
    );
    const r = await runProgram(whoCan, ['get', 'pods', '--kubeconfig', kc, '-o', 'json'], {
      system,
    });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
  });

  it('create-kubeconfig exits 1 for @r, u1@, u1@a@b, privileged or injected groups and bad SSH hosts, accounts or ports', async (t) => {
    const system = await createTestSystem(t);
    for (const args of [
      [],
      ['@r'],
      ['u1@'],
      ['u1@a@b'],
      ['u1', 'system:masters'],
      ['u1', 'kubeadm:cluster-admins'],
      ['u1', 'a/CN=root'],
      ['u1', 'a/CN=root', '--allow-privileged-group'],
      ['u1', '--ca-from-ssh', '--ssh-host=-oProxyCommand=x'],
      ['u1@Bad/x', '--ca-from-ssh'],
      ['u1', '--ca-from-ssh', '--ssh-port', '0'],
    ]) {
      const r = await runProgram(createKubeconfig, [...args, '--kubeconfig', '/nonexistent'], {
        system,
      });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('create-kubeconfig exits 2 for a missing user before reading the kubeconfig', async (t) => {
    const system = await createTestSystem(t);
    const r = await runProgram(createKubeconfig, ['nobody', '--kubeconfig', '/nonexistent'], {
      system,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /user nobody does not exist/);
  });
});

describe('offboard arguments and failures', () => {
  it('exits 1 for no user, two users and a bad name, before reading the kubeconfig', async (t) => {
    const system = await createTestSystem(t);
    for (const args of [[], ['u1', 'u2'], ['Bad/Name'], ['a@b']]) {
      const r = await runProgram(offboard, [...args, '--kubeconfig', '/nonexistent'], { system });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });

  it('exits 3 with nothing on stdout when the API server is unreachable', async (t) => {
    const system = await createTestSystem(t);
    const kc = await deadKubeconfig(t);
    const r = await runProgram(offboard, ['u1', '--dry-run', '--kubeconfig', kc], { system });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /unreachable/);
  });
});
