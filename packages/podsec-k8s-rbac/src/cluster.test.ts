// Every command against a real control plane (etcd + kube-apiserver + kube-controller-manager built from
// source, see @podsec/test-utils startControlPlane), or against PODSEC_TEST_KUBECONFIG's cluster.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rename, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { requireCommands } from '@podsec/test-utils';
import type * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { cli as bindrole } from './cli/podsec-k8s-rbac-bindrole.ts';
import { cli as createKubeconfig } from './cli/podsec-k8s-rbac-create-kubeconfig.ts';
import { cli as getUserroles } from './cli/podsec-k8s-rbac-get-userroles.ts';
import { cli as offboard } from './cli/podsec-k8s-rbac-offboard.ts';
import { cli as unbindrole } from './cli/podsec-k8s-rbac-unbindrole.ts';
import { cli as whoCanCli } from './cli/podsec-k8s-rbac-who-can.ts';
import { createKubeApi } from './kube/kube-api-adapter.ts';
import { certificateSubject, parseCsr } from './pki/csr.ts';
import {
  addLocalUser,
  clusterSystem,
  createBinding,
  createRole,
  ensureNamespace,
  invalidTokenKubeconfig,
  run,
  startTestCluster,
  statusWith,
  type TestCluster,
} from './test-helpers/cluster.ts';
import { SSHD_TOOLS, startTestSshd, type TestSshd } from './test-helpers/sshd.ts';
import { isAllowed, parseAccessQuery, whoCan, type AccessQuery } from './whocan/evaluate.ts';
import { readRbacObjects } from './whocan/who-can.ts';

const G = 'rbac.authorization.k8s.io';
/** A parsed YAML or JSON document, navigated freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions walk parsed documents
type Doc = any;
/** Plain data of a client-node object (its classes are not deep-equal to literals). */
const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let c: TestCluster | undefined;
const need = (t: TestContext): TestCluster | undefined => {
  if (!c) t.skip('no cluster (see the suite hook)');
  return c;
};

before(async () => {
  const probe = {
    skip: (m: string) => console.error(`# cluster tests skipped: ${m}`),
  } as unknown as TestContext;
  c = await startTestCluster(probe);
});
after(async () => {
  await c?.stop();
});

/** Issues a kubeconfig for a new local user through the real CSR API. */
async function issue(
  t: TestContext,
  cl: TestCluster,
  user: string,
  args: string[] = [],
  o: { admin?: string; now?: () => Date } = {},
) {
  const sys = await clusterSystem(t, o.now);
  await addLocalUser(sys, user);
  const kubeconfig = o.admin ?? (await cl.adminCopy());
  const r = await run(createKubeconfig, [user, ...args, '--kubeconfig', kubeconfig], sys);
  const configPath = path.join(sys.root, 'home', user, '.kube/config');
  return { r, sys, kubeconfig, configPath };
}

describe('create-kubeconfig', () => {
  it('issues a certificate through the CSR API and writes a working kubeconfig and admin context', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u1${cl.id}`;
    const { r, sys, kubeconfig, configPath } = await issue(t, cl, user, ['k8s', 'sysadmins']);
    assert.equal(r.code, 0, r.stderr);
    // B6: the CSR object as submitted
    const csr = await cl.certs.readCertificateSigningRequest({ name: user });
    assert.equal(csr.spec.signerName, 'kubernetes.io/kube-apiserver-client');
    assert.deepEqual(csr.spec.usages, ['client auth']);
    assert.equal(csr.spec.expirationSeconds, 157680000);
    const req = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    assert.deepEqual([req.commonName, req.organizations], [user, ['k8s', 'sysadmins']]);
    assert.ok(csr.status?.conditions?.some((x) => x.type === 'Approved' && x.status === 'True'));
    // files, modes, owners
    const kube = path.join(sys.root, 'home', user, '.kube');
    const uid = (await stat(path.join(sys.root, 'home', user))).uid;
    const modes: Record<string, number> = {};
    for (const f of await readdir(kube)) {
      const st = await stat(path.join(kube, f));
      assert.equal(st.uid, uid, `${f} owned by the user`);
      assert.equal(st.gid, 1500, `${f} group k8s`);
      modes[f] = st.mode & 0o777;
    }
    assert.deepEqual(modes, {
      [`${user}.key`]: 0o600,
      [`${user}.csr`]: 0o644,
      [`${user}.crt`]: 0o644,
      'ca.crt': 0o644,
      config: 0o600,
    });
    assert.equal((await stat(kube)).mode & 0o777, 0o700);
    const keyPem = await readFile(path.join(kube, `${user}.key`), 'utf8');
    const crtPem = await readFile(path.join(kube, `${user}.crt`), 'utf8');
    assert.match(keyPem, /BEGIN PRIVATE KEY/);
    assert.ok(
      new X509Certificate(crtPem).checkPrivateKey(
        (await import('node:crypto')).createPrivateKey(keyPem),
      ),
    );
    // B8: the user's kubeconfig
    const text = await readFile(configPath, 'utf8');
    const doc = parse(text);
    assert.equal(doc['current-context'], 'default');
    assert.equal(doc.clusters.length, 1);
    assert.equal(doc.clusters[0].cluster.server, cl.server);
    assert.equal(
      Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
      cl.caPem,
    );
    assert.deepEqual(doc.contexts, [
      { name: 'default', context: { cluster: doc.clusters[0].name, user } },
    ]);
    assert.equal(
      Buffer.from(doc.users[0].user['client-certificate-data'], 'base64').toString(),
      crtPem,
    );
    assert.equal(Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString(), keyPem);
    const api = await createKubeApi({ text });
    assert.equal(await api.discoveryKind(), 'APIVersions');
    const who = await api.selfSubjectReview();
    assert.equal(who.username, user);
    for (const g of ['k8s', 'sysadmins', 'system:authenticated'])
      assert.ok(who.groups.includes(g), g);
    // B9: the admin context names the real cluster and works; the current context is unchanged
    const admin = parse(await readFile(kubeconfig, 'utf8'));
    const before = parse(await readFile(cl.adminKubeconfig, 'utf8'));
    assert.equal(admin['current-context'], before['current-context']);
    const ctx = admin.contexts.find((x: { name: string }) => x.name === user);
    assert.equal(ctx.context.cluster, doc.clusters[0].name);
    const viaAdmin = await createKubeApi({ file: kubeconfig, context: user });
    assert.equal((await viaAdmin.selfSubjectReview()).username, user);
    // B14: the signer capped the 5-year request, and said so
    assert.match(r.stderr, /the signer capped the lifetime: the certificate is valid until/);

    // B13 / --renew: a new key and certificate, config replaced, the old certificate reported as valid
    const renewed = await run(
      createKubeconfig,
      [user, '--renew', '--no-admin-context', '--kubeconfig', kubeconfig],
      sys,
    );
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.notEqual(await readFile(path.join(kube, `${user}.key`), 'utf8'), keyPem);
    assert.match(renewed.stderr, /previous certificate .* stays valid until/);
    const renewedCert = new X509Certificate(await readFile(path.join(kube, `${user}.crt`), 'utf8'));
    assert.deepEqual(certificateSubject(renewedCert.raw).organizations, ['k8s', 'sysadmins']);
  });

  it('uses the single group k8s when none is given', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u2${cl.id}`;
    const { r, sys } = await issue(t, cl, user, ['--no-admin-context', '--key-type', 'ecdsa-p256']);
    assert.equal(r.code, 0, r.stderr);
    const cert = new X509Certificate(
      await readFile(path.join(sys.root, 'home', user, '.kube', `${user}.crt`), 'utf8'),
    );
    assert.deepEqual(certificateSubject(cert.raw).organizations, ['k8s']);
  });

  it('exits 4 with the reason when the request is denied, writing nothing', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u3${cl.id}`;
    const sys = await clusterSystem(t);
    await addLocalUser(sys, user);
    const kube = path.join(sys.root, 'home', user, '.kube');
    await writeFile(path.join(kube, 'config'), 'previous: config\n', { mode: 0o600 });
    const admin = await cl.adminCopy();
    const running = run(
      createKubeconfig,
      [user, '--no-approve', '--timeout', '60', '--no-admin-context', '--kubeconfig', admin],
      sys,
    );
    // a concurrent approver denies it
    for (let i = 0; i < 100; i++) {
      try {
        const csr = await cl.certs.readCertificateSigningRequest({ name: user });
        await cl.certs.replaceCertificateSigningRequestApproval({
          name: user,
          body: {
            ...csr,
            status: {
              conditions: [
                {
                  type: 'Denied',
                  status: 'True',
                  reason: 'NotOnTheList',
                  message: 'ask the security officer',
                },
              ],
            },
          },
        });
        break;
      } catch {
        await sleep(100);
      }
    }
    const r = await running;
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /NotOnTheList: ask the security officer/);
    assert.deepEqual(await readdir(kube), ['config']);
    assert.equal(await readFile(path.join(kube, 'config'), 'utf8'), 'previous: config\n');
  });

  it('exits 4 after --timeout when nobody approves, and deletes the request', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u4${cl.id}`;
    const { r, sys } = await issue(t, cl, user, [
      '--no-approve',
      '--timeout',
      '3',
      '--no-admin-context',
    ]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /no certificate was issued .* within 3 s/);
    await assert.rejects(cl.certs.readCertificateSigningRequest({ name: user }), { code: 404 });
    assert.deepEqual(await readdir(path.join(sys.root, 'home', user, '.kube')), []);
  });

  it("leaves someone else's CSR of the same name alone (exit 3)", async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u5${cl.id}`;
    const { generatePrivateKey, createCsr } = await import('./pki/csr.ts');
    const foreign = createCsr(generatePrivateKey('ecdsa-p256').key, {
      commonName: 'someone-else',
      organizations: [],
    });
    await cl.certs.createCertificateSigningRequest({
      body: {
        metadata: { name: user },
        spec: {
          request: Buffer.from(foreign).toString('base64'),
          signerName: 'kubernetes.io/kube-apiserver-client',
          usages: ['client auth'],
        },
      },
    });
    const { r } = await issue(t, cl, user, ['--no-admin-context']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /exists for another signer or subject/);
    const still = await cl.certs.readCertificateSigningRequest({ name: user });
    assert.equal(
      parseCsr(Buffer.from(still.spec.request, 'base64').toString()).commonName,
      'someone-else',
    );
    await cl.certs.deleteCertificateSigningRequest({ name: user });
  });

  it('exits 5 for a certificate that is not valid by the local clock, writing no config', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u6${cl.id}`;
    const future = () => new Date(Date.now() + 3 * 365 * 86_400_000);
    const { r, configPath } = await issue(t, cl, user, ['--no-admin-context'], { now: future });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /not valid now/);
    assert.ok(!existsSync(configPath));
  });

  it('exits 2 when ~/.kube is a symbolic link, writing nothing through it', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u7${cl.id}`;
    const sys = await clusterSystem(t);
    await addLocalUser(sys, user);
    const home = path.join(sys.root, 'home', user);
    await rename(path.join(home, '.kube'), path.join(home, 'elsewhere'));
    await symlink('elsewhere', path.join(home, '.kube'));
    const r = await run(createKubeconfig, [user, '--kubeconfig', await cl.adminCopy()], sys);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(await readdir(path.join(home, 'elsewhere')), []);
    await assert.rejects(cl.certs.readCertificateSigningRequest({ name: user }), { code: 404 });
  });

  it('refuses an admin kubeconfig entry of that name it did not create (exit 1) unless --no-admin-context', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `u8${cl.id}`;
    const admin = await cl.adminCopy();
    const doc = parse(await readFile(admin, 'utf8'));
    doc.users.push({ name: user, user: { token: 'mine' } });
    await writeFile(admin, (await import('yaml')).stringify(doc));
    const sys = await clusterSystem(t);
    await addLocalUser(sys, user);
    const refused = await run(createKubeconfig, [user, '--kubeconfig', admin], sys);
    assert.equal(refused.code, 1, refused.stderr);
    await assert.rejects(cl.certs.readCertificateSigningRequest({ name: user }), { code: 404 });
    const ok = await run(
      createKubeconfig,
      [user, '--no-admin-context', '--kubeconfig', admin],
      sys,
    );
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('exits 3 for rejected credentials (401) and for a caller without CSR rights (403), before any CSR', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const bad = await invalidTokenKubeconfig(cl, 'bad-token.conf');
    const u401 = `u9${cl.id}`;
    const sys = await clusterSystem(t);
    await addLocalUser(sys, u401);
    const r401 = await run(createKubeconfig, [u401, '--kubeconfig', bad], sys);
    assert.equal(r401.code, 3, r401.stderr);
    assert.match(r401.stderr, /credentials rejected or expired/);
    assert.deepEqual(await readdir(path.join(sys.root, 'home', u401, '.kube')), []);
    // a user with a working certificate but no RBAC rights
    const lim = `lim${cl.id}`;
    const issued = await issue(t, cl, lim, ['--no-admin-context']);
    assert.equal(issued.r.code, 0, issued.r.stderr);
    const target = `ua${cl.id}`;
    await addLocalUser(issued.sys, target);
    const r403 = await run(
      createKubeconfig,
      [target, '--kubeconfig', issued.configPath],
      issued.sys,
    );
    assert.equal(r403.code, 3, r403.stderr);
    assert.match(r403.stderr, /may not create certificatesigningrequests/);
    await assert.rejects(cl.certs.readCertificateSigningRequest({ name: target }), { code: 404 });
  });

  it("submits a request made with the user's own key (--csr) and returns only the certificate", async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `ub${cl.id}`;
    const { generatePrivateKey, createCsr } = await import('./pki/csr.ts');
    const key = generatePrivateKey();
    const csrFile = path.join(cl.dir, `${user}.csr`);
    await writeFile(csrFile, createCsr(key.key, { commonName: user, organizations: ['k8s'] }));
    const { r, sys } = await issue(t, cl, user, ['--csr', csrFile]);
    assert.equal(r.code, 0, r.stderr);
    const kube = path.join(sys.root, 'home', user, '.kube');
    assert.deepEqual((await readdir(kube)).sort(), [`${user}.crt`, 'ca.crt'].sort());
    assert.ok(
      new X509Certificate(await readFile(path.join(kube, `${user}.crt`))).checkPrivateKey(key.key),
    );
    const wrong = path.join(cl.dir, 'wrong.csr');
    await writeFile(wrong, createCsr(key.key, { commonName: 'other', organizations: ['k8s'] }));
    const refused = await run(
      createKubeconfig,
      [user, '--csr', wrong, '--kubeconfig', await cl.adminCopy()],
      sys,
    );
    assert.equal(refused.code, 5, refused.stderr);
  });
});

describe('create-kubeconfig --ca-from-ssh (real sshd on 127.0.0.1)', () => {
  let sshd: TestSshd | undefined;
  before(async () => {
    // the control-plane host's CA, at a path of the throw-away account (not the host's /etc)
    if (c) sshd = await startTestSshd({ 'pki/ca.crt': c.caPem });
  });
  after(async () => {
    await sshd?.stop();
  });

  const sshArgs = (s: TestSshd, knownHosts: string) => [
    '--ca-from-ssh',
    '--ssh-port',
    String(s.port),
    '--ssh-ca-path',
    path.join(s.home, 'pki/ca.crt'),
    '--identity-file',
    s.identity,
    '--known-hosts-file',
    knownHosts,
    '--batch',
    '--no-admin-context',
  ];

  it('copies the CA from <remoteuser>@<API host> with the host key checked, and the config works', async (t) => {
    const cl = need(t);
    if (!cl || !requireCommands(t, SSHD_TOOLS) || !sshd) return;
    const user = `us${cl.id}`;
    // an admin kubeconfig that does not carry the CA: the only source is the SSH copy
    const admin = await cl.adminCopy();
    const doc = parse(await readFile(admin, 'utf8'));
    for (const x of doc.clusters) {
      delete x.cluster['certificate-authority-data'];
      x.cluster['insecure-skip-tls-verify'] = true;
    }
    await writeFile(admin, (await import('yaml')).stringify(doc));
    const sys = await clusterSystem(t);
    await addLocalUser(sys, user);
    const r = await run(
      createKubeconfig,
      [`${user}@${sshd.account}`, ...sshArgs(sshd, sshd.knownHosts), '--kubeconfig', admin],
      sys,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /ignored/);
    const kube = path.join(sys.root, 'home', user, '.kube');
    assert.equal(await readFile(path.join(kube, 'ca.crt'), 'utf8'), cl.caPem);
    const config = await readFile(path.join(kube, 'config'), 'utf8');
    const api = await createKubeApi({ text: config });
    assert.equal((await api.selfSubjectReview()).username, user);
  });

  it('exits 5 for a host key that does not match known_hosts, before any CSR and writing no file', async (t) => {
    const cl = need(t);
    if (!cl || !requireCommands(t, SSHD_TOOLS) || !sshd) return;
    const user = `ut${cl.id}`;
    const sys = await clusterSystem(t);
    await addLocalUser(sys, user);
    for (const hosts of [sshd.wrongHosts, sshd.emptyHosts]) {
      const r = await run(
        createKubeconfig,
        [`${user}@${sshd.account}`, ...sshArgs(sshd, hosts), '--kubeconfig', await cl.adminCopy()],
        sys,
      );
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /host key of 127\.0\.0\.1 not verified/);
      assert.deepEqual(await readdir(path.join(sys.root, 'home', user, '.kube')), []);
      await assert.rejects(cl.certs.readCertificateSigningRequest({ name: user }), { code: 404 });
    }
    // a remote file that is no certificate: exit 5 too
    const missing = await run(
      createKubeconfig,
      [
        `${user}@${sshd.account}`,
        ...sshArgs(sshd, sshd.knownHosts).map((a) =>
          a.endsWith('pki/ca.crt') ? '/etc/hostname' : a,
        ),
        '--kubeconfig',
        await cl.adminCopy(),
      ],
      sys,
    );
    assert.equal(missing.code, 5, missing.stderr);
    assert.match(missing.stderr, /unusable: no PEM certificate/);
    assert.deepEqual(await readdir(path.join(sys.root, 'home', user, '.kube')), []);
  });
});

describe('bindrole / unbindrole', () => {
  it('grants exactly what the role allows to the new user, and takes it away again', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `uc${cl.id}`;
    const ns = `smf-${cl.id}`;
    await ensureNamespace(cl, ns);
    await createRole(cl, ns, 'pod-reader', [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    ]);
    const { r, sys, kubeconfig, configPath } = await issue(t, cl, user, ['--no-admin-context']);
    assert.equal(r.code, 0, r.stderr);
    const config = await readFile(configPath, 'utf8');
    const pods = `/api/v1/namespaces/${ns}/pods`;
    assert.equal(await statusWith(config, pods), 403, 'nothing before bindrole');
    const b = await run(
      bindrole,
      [user, 'role', 'pod-reader', 'rb1', ns, '--kubeconfig', kubeconfig],
      sys,
    );
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /RoleBinding .*rb1 created/);
    const rb = await cl.rbac.readNamespacedRoleBinding({ namespace: ns, name: 'rb1' });
    assert.deepEqual(plain(rb.roleRef), { apiGroup: G, kind: 'Role', name: 'pod-reader' });
    assert.deepEqual(plain(rb.subjects), [{ kind: 'User', apiGroup: G, name: user }]);
    assert.equal(await statusWith(config, pods), 200, 'allowed after bindrole');
    assert.equal(await statusWith(config, `/api/v1/namespaces/${ns}/secrets`), 403, 'not secrets');
    assert.equal(await statusWith(config, '/api/v1/namespaces/default/pods'), 403, 'not elsewhere');
    // G1: get-userroles shows it, its unbindCmd removes it, the binding goes with its last subject
    const report = await run(getUserroles, [user, '--kubeconfig', kubeconfig], sys);
    assert.equal(report.code, 0, report.stderr);
    const doc = JSON.parse(report.stdout);
    const entry = doc[user].roles.namespaces[0][ns][0];
    assert.equal(entry.unbindCmd, `podsec-k8s-rbac-unbindrole ${user} role pod-reader rb1 ${ns}`);
    const args = (entry.unbindCmd as string).split(' ').slice(1);
    const u = await run(unbindrole, [...args, '--kubeconfig', kubeconfig], sys);
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stdout, /last subject/);
    await assert.rejects(cl.rbac.readNamespacedRoleBinding({ namespace: ns, name: 'rb1' }), {
      code: 404,
    });
    assert.equal(await statusWith(config, pods), 403, 'forbidden again after unbindrole');
    const again = JSON.parse(
      (await run(getUserroles, [user, '--kubeconfig', kubeconfig], sys)).stdout,
    );
    assert.deepEqual(again, { [user]: { clusterRoles: [], roles: { namespaces: [] } } });
  });

  it('creates, extends, refuses and shrinks bindings as specified', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const sys = await clusterSystem(t);
    const kc = ['--kubeconfig', cl.adminKubeconfig];
    const [a, b] = [`ud${cl.id}`, `ue${cl.id}`];
    await addLocalUser(sys, a);
    await addLocalUser(sys, b);
    const crb = `sysview-${cl.id}`;
    const ns = `bind-${cl.id}`;
    await ensureNamespace(cl, ns);
    // D6: missing roles and namespaces, with the right word
    let r = await run(bindrole, [a, 'role=clusterrole', `nope-${cl.id}`, 'x', ns, ...kc], sys);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /Cluster role 'nope-/);
    r = await run(bindrole, [a, 'role', 'nope', 'x', ns, ...kc], sys);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /Role 'nope' absent/);
    r = await run(bindrole, [a, 'role=clusterrole', 'edit', 'x', `missing-${cl.id}`, ...kc], sys);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /namespace missing-.* not found/);
    // D7, D9, D10
    r = await run(bindrole, [a, 'clusterrole', 'view', crb, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    r = await run(bindrole, [b, 'clusterrole', 'view', crb, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    r = await run(bindrole, [b, 'clusterrole', 'view', crb, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /already bound/);
    let live = await cl.rbac.readClusterRoleBinding({ name: crb });
    assert.deepEqual(plain(live.roleRef), { apiGroup: G, kind: 'ClusterRole', name: 'view' });
    assert.deepEqual(
      live.subjects?.map((s) => s.name),
      [a, b],
    );
    assert.equal(live.metadata?.labels?.['app.kubernetes.io/managed-by'], 'podsec-k8s-rbac');
    // D11: a different role on the same binding name is refused
    r = await run(
      bindrole,
      [`system:serviceaccount:${ns}:sa`, 'clusterrole', 'edit', crb, ...kc],
      sys,
    );
    assert.equal(r.code, 3);
    assert.match(r.stderr, /already refers to ClusterRole\/view/);
    // D2: a system: name is bound verbatim, without a local home
    r = await run(
      bindrole,
      [`system:serviceaccount:${ns}:sa`, 'clusterrole', 'view', crb, ...kc],
      sys,
    );
    assert.equal(r.code, 0, r.stderr);
    live = await cl.rbac.readClusterRoleBinding({ name: crb });
    assert.equal(live.subjects?.[2]?.name, `system:serviceaccount:${ns}:sa`);
    // --dry-run shows the object and writes nothing
    r = await run(
      bindrole,
      [`uf${cl.id}`, 'clusterrole', 'view', crb, '--no-local-check', '--dry-run', ...kc],
      sys,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would be written[\s\S]*name: uf/);
    assert.equal((await cl.rbac.readClusterRoleBinding({ name: crb })).subjects?.length, 3);
    // D8: RoleBinding to a ClusterRole
    r = await run(bindrole, [a, 'role=clusterrole', 'edit', 'sysadmin', ns, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    const rb = await cl.rbac.readNamespacedRoleBinding({ namespace: ns, name: 'sysadmin' });
    assert.deepEqual(plain(rb.roleRef), { apiGroup: G, kind: 'ClusterRole', name: 'edit' });
    // D12: a binding without subjects
    await createBinding(cl, ns, 'bare', ['ClusterRole', 'view']);
    r = await run(bindrole, [a, 'role=clusterrole', 'view', 'bare', ns, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    // E8 + E5: an empty binding is not deleted, a user who is not bound is refused
    await createBinding(cl, ns, 'empty', ['ClusterRole', 'view'], []);
    r = await run(unbindrole, [a, 'role', 'view', 'empty', ns, ...kc], sys);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not bound/);
    await cl.rbac.readNamespacedRoleBinding({ namespace: ns, name: 'empty' });
    // E2: a missing binding names binding and namespace
    r = await run(unbindrole, [a, 'role', 'view', 'ghost', ns, ...kc], sys);
    assert.equal(r.code, 3);
    assert.match(r.stderr, new RegExp(`RoleBinding ghost not found in namespace ${ns}`));
    // E7: role or type mismatch
    r = await run(unbindrole, [a, 'clusterrole', 'edit', crb, ...kc], sys);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refers to ClusterRole\/view/);
    // E6 + E3: only the User entry goes, the order of the others is kept
    await createBinding(
      cl,
      undefined,
      `mixed-${cl.id}`,
      ['ClusterRole', 'view'],
      [
        { kind: 'Group', apiGroup: G, name: a },
        { kind: 'User', apiGroup: G, name: b },
        { kind: 'ServiceAccount', name: a, namespace: ns },
        { kind: 'User', apiGroup: G, name: a },
      ],
    );
    r = await run(unbindrole, [a, 'clusterrole', 'view', `mixed-${cl.id}`, ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    const mixed = await cl.rbac.readClusterRoleBinding({ name: `mixed-${cl.id}` });
    assert.deepEqual(
      mixed.subjects?.map((s) => `${s.kind}:${s.name}`),
      [`Group:${a}`, `User:${b}`, `ServiceAccount:${a}`],
    );
    // unbinding in order until the last subject deletes the binding
    for (const who of [a, b, `system:serviceaccount:${ns}:sa`]) {
      r = await run(unbindrole, [who, 'clusterrole', 'view', crb, ...kc], sys);
      assert.equal(r.code, 0, r.stderr);
    }
    await assert.rejects(cl.rbac.readClusterRoleBinding({ name: crb }), { code: 404 });
  });

  it('loses no subject when 10 bindrole runs add different users to one binding at once', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const sys = await clusterSystem(t);
    const users = Array.from({ length: 10 }, (_, i) => `cc${i}${cl.id}`);
    for (const u of users) await addLocalUser(sys, u);
    const name = `crowd-${cl.id}`;
    const results = await Promise.all(
      users.map((u) =>
        run(bindrole, [u, 'clusterrole', 'view', name, '--kubeconfig', cl.adminKubeconfig], sys),
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const live = await cl.rbac.readClusterRoleBinding({ name });
    assert.deepEqual(live.subjects?.map((s) => s.name).sort(), [...users].sort());
    // and concurrent removals delete it exactly when the last one goes
    const removed = await Promise.all(
      users.map((u) =>
        run(unbindrole, [u, 'clusterrole', 'view', name, '--kubeconfig', cl.adminKubeconfig], sys),
      ),
    );
    for (const r of removed) assert.equal(r.code, 0, r.stderr);
    await assert.rejects(cl.rbac.readClusterRoleBinding({ name }), { code: 404 });
  });

  it('exits 3 when the caller may not write bindings (403), never 0', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const lim = `lm${cl.id}`;
    const issued = await issue(t, cl, lim, ['--no-admin-context']);
    assert.equal(issued.r.code, 0, issued.r.stderr);
    const r = await run(
      bindrole,
      [lim, 'clusterrole', 'view', `x-${cl.id}`, '--kubeconfig', issued.configPath],
      issued.sys,
    );
    assert.equal(r.code, 3, r.stderr);
    const g = await run(getUserroles, [lim, '--kubeconfig', issued.configPath], issued.sys);
    assert.equal(g.code, 3, g.stderr);
    assert.equal(g.stdout, '', 'F8: nothing on stdout');
  });
});

describe('offboard', () => {
  it('takes every binding away from a user while others are bound concurrently: its kubeconfig then gets 403', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const user = `of${cl.id}`;
    const [A, B] = [`off-a-${cl.id}`, `off-b-${cl.id}`];
    const crb = `off-view-${cl.id}`;
    await ensureNamespace(cl, A);
    await ensureNamespace(cl, B);
    await createRole(cl, A, 'pod-reader', [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    ]);
    // a Group of the same name must stay
    await createBinding(
      cl,
      undefined,
      crb,
      ['ClusterRole', 'view'],
      [{ kind: 'Group', apiGroup: G, name: user }],
    );
    const { r, sys, configPath } = await issue(t, cl, user, ['--no-admin-context']);
    assert.equal(r.code, 0, r.stderr);
    const config = await readFile(configPath, 'utf8');
    const kc = ['--kubeconfig', cl.adminKubeconfig];
    const others = Array.from({ length: 5 }, (_, i) => `og${i}${cl.id}`);
    for (const o of others) await addLocalUser(sys, o);
    for (const args of [
      [user, 'role', 'pod-reader', 'own', A],
      [user, 'role=clusterrole', 'view', 'shared', B],
      [others[0]!, 'role=clusterrole', 'view', 'shared', B],
      [user, 'clusterrole', 'view', crb],
    ]) {
      const b = await run(bindrole, [...args, ...kc], sys);
      assert.equal(b.code, 0, b.stderr);
    }
    const urls = [
      `/api/v1/namespaces/${A}/pods`,
      `/api/v1/namespaces/${B}/pods`,
      '/api/v1/namespaces/default/configmaps',
      '/apis/apps/v1/deployments',
    ];
    for (const u of urls) assert.equal(await statusWith(config, u), 200, `before: ${u}`);

    // --dry-run --json lists what would change and changes nothing
    const dry = await run(offboard, [user, '--dry-run', '--json', ...kc], sys);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = JSON.parse(dry.stdout);
    assert.equal(planned.dryRun, true);
    assert.deepEqual(
      planned.entries.map((e: Doc) => [e.kind, e.namespace ?? '', e.binding, e.role, e.action]),
      [
        ['ClusterRoleBinding', '', crb, 'ClusterRole/view', 'update'],
        ['RoleBinding', A, 'own', 'Role/pod-reader', 'delete'],
        ['RoleBinding', B, 'shared', 'ClusterRole/view', 'update'],
      ],
    );
    await cl.rbac.readNamespacedRoleBinding({ namespace: A, name: 'own' });
    for (const u of urls) assert.equal(await statusWith(config, u), 200, `after dry run: ${u}`);

    // the real run, racing four bindrole runs that add others to the shared binding (409 retries)
    const [off, ...binds] = await Promise.all([
      run(offboard, [user, ...kc], sys),
      ...others
        .slice(1)
        .map((o) => run(bindrole, [o, 'role=clusterrole', 'view', 'shared', B, ...kc], sys)),
    ]);
    assert.equal(off.code, 0, off.stderr);
    for (const b of binds) assert.equal(b.code, 0, b.stderr);
    assert.match(off.stdout, /removed from 3 binding/);
    assert.match(off.stdout, new RegExp(`RoleBinding ${A}/own \\(Role/pod-reader\\) deleted`));
    assert.match(off.stderr, /stay valid until they expire/);
    await assert.rejects(cl.rbac.readNamespacedRoleBinding({ namespace: A, name: 'own' }), {
      code: 404,
    });
    const shared = await cl.rbac.readNamespacedRoleBinding({ namespace: B, name: 'shared' });
    assert.deepEqual(shared.subjects?.map((s) => s.name).sort(), [...others].sort());
    const view = await cl.rbac.readClusterRoleBinding({ name: crb });
    assert.deepEqual(plain(view.subjects), [{ kind: 'Group', apiGroup: G, name: user }]);
    for (const u of urls) assert.equal(await statusWith(config, u), 403, `after: ${u}`);
    const report = JSON.parse((await run(getUserroles, [user, ...kc], sys)).stdout);
    assert.deepEqual(report, { [user]: { clusterRoles: [], roles: { namespaces: [] } } });
    // idempotent
    const again = await run(offboard, [user, ...kc], sys);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /not a subject of any role binding/);
  });

  it('exits 3 for rejected credentials (401), printing nothing on stdout', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const sys = await clusterSystem(t);
    const file = await invalidTokenKubeconfig(cl, 'offboard-bad-token.conf');
    const denied = await run(offboard, ['someone', '--kubeconfig', file], sys);
    assert.equal(denied.code, 3, denied.stderr);
    assert.match(denied.stderr, /credentials rejected or expired/);
    assert.equal(denied.stdout, '');
  });
});

describe('get-userroles', () => {
  it('reports the F3 fixture with showRules, dangling roles, odd names and the table formats', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const sys = await clusterSystem(t);
    const user = `ug${cl.id}`;
    await addLocalUser(sys, user);
    const [d, s] = [`def-${cl.id}`, `smf2-${cl.id}`];
    await ensureNamespace(cl, d);
    await ensureNamespace(cl, s);
    await ensureNamespace(cl, `empty-${cl.id}`);
    const subj = [{ kind: 'User', apiGroup: G, name: user }];
    await createBinding(cl, undefined, `uview-${cl.id}`, ['ClusterRole', 'view'], subj);
    await createRole(cl, d, 'pod-reader', [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    await createBinding(cl, d, 'rb1', ['Role', 'pod-reader'], subj);
    await createRole(cl, s, 'cm-reader', [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list'] },
    ]);
    await createBinding(
      cl,
      s,
      'a "q" b',
      ['Role', 'cm-reader'],
      [...subj, { kind: 'Group', apiGroup: G, name: user }],
    );
    await createBinding(cl, s, 'basic-user', ['ClusterRole', 'system:basic-user'], subj);
    await createBinding(cl, s, 'dangling', ['Role', 'deleted-role'], subj);
    const kc = ['--kubeconfig', cl.adminKubeconfig];
    const r = await run(getUserroles, [user, 'showRules', ...kc], sys);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /refers to Role .*deleted-role, which does not exist/);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(
      doc[user].clusterRoles.map((e: Doc) => e.bindName),
      [`uview-${cl.id}`],
    );
    assert.ok(Array.isArray(doc[user].clusterRoles[0].rules));
    assert.deepEqual(
      doc[user].roles.namespaces.map((n: object) => Object.keys(n)[0]),
      [d, s],
      'namespaces in order, the empty one absent',
    );
    assert.deepEqual(doc[user].roles.namespaces[0][d][0].rules, [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    const smf = doc[user].roles.namespaces[1][s];
    assert.deepEqual(
      smf.map((e: Doc) => e.bindName),
      ['a "q" b', 'basic-user', 'dangling'],
      'one entry per binding',
    );
    assert.deepEqual(
      smf[0].rules,
      [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
      'a Role outside default',
    );
    assert.equal(smf[2].rules, null);
    assert.equal(
      smf[0].unbindCmd,
      `podsec-k8s-rbac-unbindrole ${user} role cm-reader 'a "q" b' ${s}`,
    );
    // the printed unbindCmd works, quoting included
    const u = await run(unbindrole, [user, 'role', 'cm-reader', 'a "q" b', s, ...kc], sys);
    assert.equal(u.code, 0, u.stderr);
    const wide = await run(getUserroles, [user, '-o', 'wide', ...kc], sys);
    assert.match(wide.stdout, new RegExp(`namespace +${d} +rb1 +Role/pod-reader +User`));
    const yaml = await run(getUserroles, [user, '-o', 'yaml', ...kc], sys);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.ok(yaml.stdout.length > 0, `yaml: ${JSON.stringify(yaml)}`);
    assert.equal(parse(yaml.stdout)[user].clusterRoles[0].roleName, 'view');
  });
});

describe('who-can', () => {
  it('agrees with the API server (SubjectAccessReview) on 300 generated cases', async (t) => {
    const cl = need(t);
    if (!cl) return;
    const id = cl.id;
    const [A, B] = [`wca-${id}`, `wcb-${id}`];
    await ensureNamespace(cl, A);
    await ensureNamespace(cl, B);
    const cr = (name: string, rules: k8s.V1PolicyRule[]) =>
      cl.rbac.createClusterRole({ body: { metadata: { name: `wc-${id}-${name}` }, rules } });
    await cr('reader', [
      { apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list', 'watch'] },
    ]);
    await cr('deployer', [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['*'] },
      { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get', 'update'] },
    ]);
    await cr('logs', [{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }]);
    await cr('named', [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['cm1'],
        verbs: ['get', 'update'],
      },
    ]);
    await cr('wildsub', [
      { apiGroups: ['apps'], resources: ['*/status'], verbs: ['get', 'patch'] },
    ]);
    await cr('urls', [{ nonResourceURLs: [`/wc-${id}/*`, '/healthz-wc'], verbs: ['get'] }]);
    await cr('star', [{ apiGroups: ['*'], resources: ['*'], verbs: ['list'] }]);
    for (const [ns, rules] of [
      [A, [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]],
      [B, [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'delete'] }]],
    ] as Array<[string, k8s.V1PolicyRule[]]>)
      await cl.rbac.createNamespacedRole({
        namespace: ns,
        body: { metadata: { name: 'local' }, rules },
      });
    const ref = (kind: string, name: string) => ({
      apiGroup: G,
      kind,
      name: kind === 'ClusterRole' ? `wc-${id}-${name}` : name,
    });
    const U = (n: string) => ({ kind: 'User', apiGroup: G, name: `${n}-${id}` });
    const Gr = (n: string) => ({ kind: 'Group', apiGroup: G, name: `${n}-${id}` });
    const SA = { kind: 'ServiceAccount', name: 'bot', namespace: A };
    await cl.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `wc-${id}-urls` },
        roleRef: ref('ClusterRole', 'urls'),
        subjects: [Gr('ops')],
      },
    });
    await cl.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `wc-${id}-star` },
        roleRef: ref('ClusterRole', 'star'),
        subjects: [U('boss')],
      },
    });
    await cl.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `wc-${id}-wildsub` },
        roleRef: ref('ClusterRole', 'wildsub'),
        subjects: [Gr('ops')],
      },
    });
    const rbs: Array<[string, string, ReturnType<typeof ref>, object[]]> = [
      [A, 'reader', ref('ClusterRole', 'reader'), [U('ann'), Gr('dev'), SA]],
      [A, 'logs', ref('ClusterRole', 'logs'), [Gr('dev')]],
      [A, 'local', ref('Role', 'local'), [U('bob')]],
      [A, 'dangling', ref('Role', 'missing'), [U('cid')]],
      [B, 'deployer', ref('ClusterRole', 'deployer'), [U('ann')]],
      [B, 'local', ref('Role', 'local'), [Gr('dev')]],
      [B, 'named', ref('ClusterRole', 'named'), [SA]],
    ];
    for (const [ns, name, roleRef, subjects] of rbs)
      await cl.rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: { metadata: { name }, roleRef, subjects: subjects as k8s.RbacV1Subject[] },
      });

    const identities: Array<{ user: string; groups: string[] }> = [
      { user: `ann-${id}`, groups: [] },
      { user: `bob-${id}`, groups: [`dev-${id}`] },
      { user: `cid-${id}`, groups: [] },
      { user: `boss-${id}`, groups: [] },
      { user: `olga-${id}`, groups: [`ops-${id}`] },
      {
        user: `system:serviceaccount:${A}:bot`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${A}`],
      },
      { user: `nobody-${id}`, groups: [`dev-${id}x`] },
    ];
    // weighted towards what the fixture grants, so that both answers are frequent
    const verbs = [
      'get',
      'get',
      'get',
      'list',
      'list',
      'watch',
      'create',
      'update',
      'patch',
      'delete',
    ];
    const targets: Array<[string, { subresource?: string }]> = [
      ['pods', {}],
      ['pods', { subresource: 'log' }],
      ['services', {}],
      ['secrets', {}],
      ['configmaps', {}],
      ['configmaps/cm1', {}],
      ['configmaps/cm2', {}],
      ['deployments.apps', {}],
      ['deployments.apps', { subresource: 'scale' }],
      ['deployments.apps', { subresource: 'status' }],
      ['statefulsets.apps', { subresource: 'status' }],
      ['nodes', {}],
      [`/wc-${id}/x/y`, {}],
      ['/healthz-wc', {}],
      ['/healthz-wcx', {}],
    ];
    const namespaces = [A, B, undefined];
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    await sleep(500);
    const objects = await readRbacObjects(await createKubeApi({ file: cl.adminKubeconfig }));
    const api = await createKubeApi({ file: cl.adminKubeconfig });
    let cases = 0;
    let allowedCount = 0;
    const disagreements: string[] = [];
    const pick = <T>(xs: readonly T[]) => xs[rnd(xs.length)]!;
    while (cases < 300) {
      const who = pick(identities);
      const verb = pick(verbs);
      const [target, extra] = pick(targets);
      const ns = target.startsWith('/') ? undefined : pick(namespaces);
      const q: AccessQuery = parseAccessQuery(verb, target, {
        ...extra,
        ...(ns ? { namespace: ns } : {}),
      });
      const ours = isAllowed(whoCan(objects, q), who.user, who.groups);
      const theirs = await api.subjectAccessReview(
        { user: who.user, groups: who.groups },
        q.kind === 'url'
          ? { verb, path: q.path }
          : {
              verb,
              group: q.group,
              resource: q.resource,
              ...(q.subresource ? { subresource: q.subresource } : {}),
              ...(q.name ? { name: q.name } : {}),
              ...(q.namespace ? { namespace: q.namespace } : {}),
            },
      );
      if (ours !== theirs)
        disagreements.push(
          `${who.user} ${verb} ${target} ${JSON.stringify(extra)} ns=${ns}: ours ${ours}, SAR ${theirs}`,
        );
      if (theirs) allowedCount++;
      cases++;
    }
    assert.deepEqual(disagreements, []);
    assert.ok(
      allowedCount >= 20 && allowedCount <= 280,
      `a mix of answers (${allowedCount} allowed)`,
    );

    // the binary: json names binding and role; table lists the subjects
    const sys = await clusterSystem(t);
    const j = await run(
      whoCanCli,
      [
        'get',
        'pods',
        '--subresource',
        'log',
        '-n',
        A,
        '-o',
        'json',
        '--kubeconfig',
        cl.adminKubeconfig,
      ],
      sys,
    );
    assert.equal(j.code, 0, j.stderr);
    const grants = (
      JSON.parse(j.stdout) as {
        subjects: Array<{ subject: { name: string }; binding: { name: string } }>;
      }
    ).subjects;
    assert.ok(grants.some((g) => g.subject.name === `dev-${id}` && g.binding.name === 'logs'));
    const tbl = await run(
      whoCanCli,
      ['get', `/wc-${id}/a`, '--kubeconfig', cl.adminKubeconfig],
      sys,
    );
    assert.match(tbl.stdout, new RegExp(`ClusterRoleBinding/wc-${id}-urls +- +ops-${id} +Group`));
  });
});
