/**
 * The real control plane of @podsec/test-utils: etcd + kube-apiserver + kube-controller-manager built from their Go
 * modules (tools/k8s-bin/build). A new user gets a certificate through the certificates.k8s.io/v1 API, signed by
 * the real controller-manager, and RBAC (a Role and a RoleBinding) decides what that user may do.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import {
  CONTROL_PLANE_BINARIES,
  makeClientCsr,
  requireCommands,
  startControlPlane,
} from '@podsec/test-utils';

function apiCode(error: unknown): number | undefined {
  return error instanceof k8s.ApiException ? error.code : undefined;
}

/** Processes whose command line mentions `dir` (all control-plane processes get paths below it). */
async function processesUsing(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

test('control plane: CSR signed by the real controller-manager, RBAC allows and refuses, audit log records it', async (t) => {
  if (requireCommands(t, CONTROL_PLANE_BINARIES) === undefined) return;
  const cp = await startControlPlane({ clusterSigningDuration: '1h' });
  try {
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(cp.kubeconfigPath);
    assert.equal(admin.getCurrentCluster()?.server, cp.server);
    const core = admin.makeApiClient(k8s.CoreV1Api);
    const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const certs = admin.makeApiClient(k8s.CertificatesV1Api);

    const ns = 'podsec-team';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'alice-reads-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
    });

    // A CSR for the new user, approved through the API and signed by kube-controller-manager's csrsigning.
    const { keyPem, csrPem } = makeClientCsr('alice', ['podsec-testers']);
    await certs.createCertificateSigningRequest({
      body: {
        metadata: { name: 'alice' },
        spec: {
          request: Buffer.from(csrPem).toString('base64'),
          signerName: 'kubernetes.io/kube-apiserver-client',
          usages: ['client auth'],
          expirationSeconds: 3600,
        },
      },
    });
    const pending = await certs.readCertificateSigningRequest({ name: 'alice' });
    await certs.replaceCertificateSigningRequestApproval({
      name: 'alice',
      body: {
        ...pending,
        status: {
          conditions: [
            {
              type: 'Approved',
              status: 'True',
              reason: 'PodsecTest',
              message: 'approved by the test',
            },
          ],
        },
      },
    });
    let certPem = '';
    for (let i = 0; i < 300 && certPem === ''; i++) {
      const csr = await certs.readCertificateSigningRequest({ name: 'alice' });
      if (csr.status?.certificate !== undefined)
        certPem = Buffer.from(csr.status.certificate, 'base64').toString();
      else await sleep(100);
    }
    assert.notEqual(certPem, '', 'the controller-manager did not sign the CSR within 30 s');
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(cp.caCert);
    assert.ok(cert.verify(ca.publicKey), 'certificate signed by the cluster CA');
    assert.equal(cert.issuer, ca.subject);
    assert.match(cert.subject, /CN=alice/);
    assert.match(cert.subject, /O=podsec-testers/);

    // Act as alice.
    const user = new k8s.KubeConfig();
    user.loadFromOptions({
      clusters: [
        { name: 'test', server: cp.server, caData: Buffer.from(cp.caCert).toString('base64') },
      ],
      users: [
        {
          name: 'alice',
          certData: Buffer.from(certPem).toString('base64'),
          keyData: Buffer.from(keyPem).toString('base64'),
        },
      ],
      contexts: [{ name: 'alice', cluster: 'test', user: 'alice' }],
      currentContext: 'alice',
    });
    const asAlice = user.makeApiClient(k8s.CoreV1Api);
    const list = await asAlice.listNamespacedConfigMap({ namespace: ns });
    assert.ok(Array.isArray(list.items), 'alice lists configmaps in her namespace');
    await assert.rejects(
      asAlice.listNamespacedSecret({ namespace: ns }),
      (e) => apiCode(e) === 403,
      'secrets are not in her Role',
    );
    await assert.rejects(
      asAlice.listNamespacedConfigMap({ namespace: 'default' }),
      (e) => apiCode(e) === 403,
      'the binding is for one namespace only',
    );

    // The refusal is in the audit log (JSON lines).
    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && refused === undefined; i++) {
      const lines = (await readFile(cp.auditLogPath, 'utf8')).split('\n').filter((l) => l !== '');
      refused = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((e) => {
          const userInfo = e['user'] as { username?: string } | undefined;
          const status = e['responseStatus'] as { code?: number } | undefined;
          const ref = e['objectRef'] as { resource?: string; namespace?: string } | undefined;
          return (
            userInfo?.username === 'alice' &&
            status?.code === 403 &&
            ref?.resource === 'secrets' &&
            ref.namespace === ns
          );
        });
      if (refused === undefined) await sleep(100);
    }
    assert.ok(refused !== undefined, 'audit log has the 403 for alice listing secrets');
    assert.equal(refused['verb'], 'list');
  } finally {
    await cp.stop();
  }
  assert.deepEqual(
    await processesUsing(cp.dir),
    [],
    'no control-plane process is left after stop()',
  );
});
