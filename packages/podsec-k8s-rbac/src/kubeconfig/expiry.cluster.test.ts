// A certificate that expires during the test: a short expirationSeconds request capped further by a
// controller-manager whose --cluster-signing-duration is 40 s. Needs its own control plane.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, it, type TestContext } from 'node:test';
import { cli as createKubeconfig } from '../cli/podsec-k8s-rbac-create-kubeconfig.ts';
import { cli as getUserroles } from '../cli/podsec-k8s-rbac-get-userroles.ts';
import {
  addLocalUser,
  clusterSystem,
  run,
  startTestCluster,
  statusWith,
  type TestCluster,
} from '../test-helpers/cluster.ts';

let c: TestCluster | undefined;
before(async () => {
  if (process.env['PODSEC_TEST_KUBECONFIG']) return; // the signing duration of a foreign cluster is not ours to set
  const probe = {
    skip: (m: string) => console.error(`# expiry test skipped: ${m}`),
  } as unknown as TestContext;
  c = await startTestCluster(probe, { clusterSigningDuration: '40s' });
});
after(async () => {
  await c?.stop();
});

it('issues a capped short certificate that works, then is rejected once expired (exit 3)', async (t) => {
  if (!c) return t.skip('needs a control plane of its own (not with PODSEC_TEST_KUBECONFIG)');
  const sys = await clusterSystem(t);
  const user = `ux${c.id}`;
  await addLocalUser(sys, user);
  const r = await run(
    createKubeconfig,
    [user, '--expiration-seconds', '600', '--no-admin-context', '--kubeconfig', c.adminKubeconfig],
    sys,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /the signer capped the lifetime/);
  const kube = path.join(sys.root, 'home', user, '.kube');
  const cert = new X509Certificate(await readFile(path.join(kube, `${user}.crt`), 'utf8'));
  const notAfter = new Date(cert.validTo).getTime();
  assert.ok(notAfter - Date.now() < 60_000, `valid for less than a minute (${cert.validTo})`);
  const config = await readFile(path.join(kube, 'config'), 'utf8');
  assert.equal(await statusWith(config, '/api'), 200);
  await new Promise((res) => setTimeout(res, Math.max(0, notAfter - Date.now()) + 2000));
  assert.equal(await statusWith(config, '/api'), 401, 'expired: the API server rejects it');
  const g = await run(getUserroles, [user, '--kubeconfig', path.join(kube, 'config')], sys);
  assert.equal(g.code, 3);
  assert.match(g.stderr, /credentials rejected or expired/);
  assert.equal(g.stdout, '');
});
