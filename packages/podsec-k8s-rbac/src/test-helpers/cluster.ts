// A real cluster for the tests: the control plane of @podsec/test-utils (etcd, kube-apiserver and
// kube-controller-manager built from source), or any cluster whose admin kubeconfig PODSEC_TEST_KUBECONFIG names.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RequestOptions } from 'node:https';
import type { TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import type { System } from '@podsec/core/system';
import * as testUtils from '@podsec/test-utils';
import { runProgram } from '@podsec/test-utils';
import type { CliDefinition } from '@podsec/core/cli';

/** What startControlPlane() of @podsec/test-utils returns (the parts used here). */
interface ControlPlaneLike {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly caCert: string;
  stop(): Promise<void>;
}
type StartControlPlane = (o?: { clusterSigningDuration?: string }) => Promise<ControlPlaneLike>;

/** A cluster and an admin kubeconfig the tests may modify (a private copy). */
export interface TestCluster {
  readonly dir: string;
  readonly server: string;
  readonly caPem: string;
  /** Private copy of the admin kubeconfig. */
  readonly adminKubeconfig: string;
  /** True when PODSEC_TEST_KUBECONFIG named an existing cluster. */
  readonly external: boolean;
  readonly kc: k8s.KubeConfig;
  readonly rbac: k8s.RbacAuthorizationV1Api;
  readonly core: k8s.CoreV1Api;
  readonly certs: k8s.CertificatesV1Api;
  readonly authz: k8s.AuthorizationV1Api;
  /** A unique suffix for names of this run (several runs can share an external cluster). */
  readonly id: string;
  /** A fresh copy of the admin kubeconfig. */
  adminCopy(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the control plane (or connects to PODSEC_TEST_KUBECONFIG). Undefined after marking the test
 * skipped when the Kubernetes binaries are not built (a failure under CI=true).
 */
export async function startTestCluster(
  t: TestContext,
  o: { readonly clusterSigningDuration?: string } = {},
): Promise<TestCluster | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rbac-cluster-'));
  const external = process.env['PODSEC_TEST_KUBECONFIG'];
  let plane: ControlPlaneLike | undefined;
  let source: string;
  if (external) {
    source = external;
  } else {
    const start = (testUtils as unknown as { startControlPlane?: StartControlPlane })
      .startControlPlane;
    const have = ['kubeadm', 'etcd', 'kube-apiserver', 'kube-controller-manager'].every(
      (b) => testUtils.k8sBinary(b) !== undefined,
    );
    if (!start || !have) {
      await rm(dir, { recursive: true, force: true });
      if (!start) {
        if (process.env['CI'] === 'true')
          throw new Error('startControlPlane is missing from @podsec/test-utils');
        t.skip('startControlPlane is not in @podsec/test-utils yet');
        return undefined;
      }
      testUtils.requireCommands(t, [
        'kubeadm',
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
      ]);
      return undefined;
    }
    plane = await start(
      o.clusterSigningDuration ? { clusterSigningDuration: o.clusterSigningDuration } : {},
    );
    source = plane.kubeconfigPath;
  }
  const adminKubeconfig = path.join(dir, 'admin.conf');
  await copyFile(source, adminKubeconfig);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(adminKubeconfig);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const caPem =
    plane?.caCert ??
    (cluster.caData
      ? Buffer.from(cluster.caData, 'base64').toString('utf8')
      : await readFile(cluster.caFile ?? '', 'utf8'));
  let copies = 0;
  return {
    dir,
    server: cluster.server,
    caPem,
    adminKubeconfig,
    external: Boolean(external),
    kc,
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    core: kc.makeApiClient(k8s.CoreV1Api),
    certs: kc.makeApiClient(k8s.CertificatesV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    id: randomBytes(3).toString('hex'),
    async adminCopy() {
      const file = path.join(dir, `admin-${++copies}.conf`);
      await copyFile(source, file);
      return file;
    },
    async stop() {
      await plane?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A System over a temp root with real tools and the real clock (certificates are checked against it). */
export async function clusterSystem(t: TestContext, now?: () => Date): Promise<System> {
  const sys = await testUtils.createTestSystem(t, {
    tree: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
      'etc/group': 'root:x:0:\nk8s:x:1500:\n',
      'home/.keep': '',
    },
  });
  return { ...sys, clock: { now: now ?? (() => new Date()) } };
}

let nextUid = 2000;
/** Adds a local user with a home and a private ~/.kube (what create-user makes). Returns its uid. */
export async function addLocalUser(sys: System, name: string): Promise<number> {
  const uid = nextUid++;
  const { appendFile, chown } = await import('node:fs/promises');
  await appendFile(
    path.join(sys.root, 'etc/passwd'),
    `${name}:x:${uid}:1500::/home/${name}:/bin/sh\n`,
  );
  const home = path.join(sys.root, 'home', name);
  await mkdir(path.join(home, '.kube'), { recursive: true, mode: 0o700 });
  await chown(home, uid, 1500);
  await chown(path.join(home, '.kube'), uid, 1500);
  return uid;
}

/** Runs a binary in-process against the test System. */
export function run(
  def: CliDefinition,
  args: readonly string[],
  system: System,
  env: Record<string, string> = {},
) {
  return runProgram(def, args, { system, env: { LANG: 'C', ...env } });
}

/** HTTP status of a GET with a kubeconfig (200, 403 ...), through the client's own request setup. */
export async function statusWith(kubeconfigText: string, urlPath: string): Promise<number> {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(kubeconfigText);
  const server = kc.getCurrentCluster()?.server ?? '';
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const { request } = await import('node:https');
  const url = new URL(urlPath, server);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...opts,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: 'GET',
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const RBAC = 'rbac.authorization.k8s.io';
/** A User subject. */
export const userSubject = (name: string): k8s.RbacV1Subject => ({
  kind: 'User',
  apiGroup: RBAC,
  name,
});
/** A Group subject. */
export const groupSubject = (name: string): k8s.RbacV1Subject => ({
  kind: 'Group',
  apiGroup: RBAC,
  name,
});

/** Creates a namespace unless it exists. */
export async function ensureNamespace(cl: TestCluster, name: string): Promise<void> {
  try {
    await cl.core.createNamespace({ body: { metadata: { name } } });
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
}

/** Creates a Role in `namespace`, or a ClusterRole when `namespace` is undefined. */
export async function createRole(
  cl: TestCluster,
  namespace: string | undefined,
  name: string,
  rules: k8s.V1PolicyRule[],
): Promise<void> {
  const body = { metadata: { name }, rules };
  if (namespace === undefined) await cl.rbac.createClusterRole({ body });
  else await cl.rbac.createNamespacedRole({ namespace, body });
}

/**
 * Creates a RoleBinding in `namespace`, or a ClusterRoleBinding when `namespace` is undefined, to
 * `[kind, name]`; `subjects` undefined leaves the field out.
 */
export async function createBinding(
  cl: TestCluster,
  namespace: string | undefined,
  name: string,
  [kind, role]: readonly ['Role' | 'ClusterRole', string],
  subjects?: k8s.RbacV1Subject[],
): Promise<void> {
  const body = {
    metadata: { name },
    roleRef: { apiGroup: RBAC, kind, name: role },
    ...(subjects === undefined ? {} : { subjects }),
  };
  if (namespace === undefined) await cl.rbac.createClusterRoleBinding({ body });
  else await cl.rbac.createNamespacedRoleBinding({ namespace, body });
}

/** A copy of the admin kubeconfig whose users carry a token the API server rejects (401). */
export async function invalidTokenKubeconfig(cl: TestCluster, name: string): Promise<string> {
  const { parse, stringify } = await import('yaml');
  const doc = parse(await readFile(cl.adminKubeconfig, 'utf8')) as {
    users: Array<{ user: unknown }>;
  };
  for (const u of doc.users) u.user = { token: 'invalid-token' };
  const file = path.join(cl.dir, name);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(file, stringify(doc));
  return file;
}
