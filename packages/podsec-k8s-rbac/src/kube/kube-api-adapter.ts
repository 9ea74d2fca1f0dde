// The one adapter over @kubernetes/client-node (design B5). The client is imported on first use so that
// `--help` and argument errors never load it.
import type * as K8s from '@kubernetes/client-node';
import { errorMessage, KubeApiError } from '@podsec/core';
import type { AccessAttributes, Binding, KubeApi } from './kube-api.ts';

/** Where the credentials come from: a kubeconfig file, or kubeconfig text (for new user credentials). */
export interface KubeApiSource {
  readonly file?: string;
  readonly text?: string;
  /** Context to use instead of the file's current-context. */
  readonly context?: string;
  /** Per-request timeout. @default 15000 */
  readonly timeoutMs?: number;
}

const PAGE = 500;

function statusMessage(body: unknown, fallback: string): string {
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON: use the text
    }
    return body.trim() === '' ? fallback : body.trim().slice(0, 500);
  }
  if (
    body &&
    typeof body === 'object' &&
    typeof (body as { message?: unknown }).message === 'string'
  )
    return (body as { message: string }).message;
  return fallback;
}

function causeText(e: unknown): string {
  let c: unknown = e;
  let text = errorMessage(e);
  for (let i = 0; i < 4 && c instanceof Error && c.cause !== undefined; i++) {
    c = c.cause;
    text = errorMessage(c);
  }
  return text;
}

function wrap(server: string, what: string, e: unknown): KubeApiError {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 100) {
    const message = statusMessage((e as { body?: unknown }).body, `HTTP ${code}`);
    const kind =
      code === 401
        ? 'RBAC_API_UNAUTHORIZED'
        : code === 403
          ? 'RBAC_API_FORBIDDEN'
          : code === 404
            ? 'RBAC_API_NOT_FOUND'
            : code === 409
              ? 'RBAC_API_CONFLICT'
              : 'RBAC_API_ERROR';
    return new KubeApiError(kind, `${what}: ${message}`, {
      cause: e,
      details: { status: code, server, what, message },
    });
  }
  const reason = causeText(e);
  return new KubeApiError('RBAC_API_UNREACHABLE', `API server ${server} unreachable: ${reason}`, {
    cause: e,
    details: { status: 0, server, what, reason },
  });
}

/** Creates the KubeApi for a kubeconfig. Throws `RBAC_KUBECONFIG_INVALID` for an unusable file. */
export async function createKubeApi(source: KubeApiSource): Promise<KubeApi> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    if (source.text !== undefined) kc.loadFromString(source.text);
    else if (source.file !== undefined) kc.loadFromFile(source.file);
    else kc.loadFromDefault();
    if (source.context !== undefined) kc.setCurrentContext(source.context);
  } catch (e) {
    throw new KubeApiError(
      'RBAC_KUBECONFIG_INVALID',
      `cannot load the kubeconfig: ${errorMessage(e)}`,
      {
        cause: e,
        details: { reason: errorMessage(e) },
      },
    );
  }
  const server = kc.getCurrentCluster()?.server ?? '(no cluster)';
  const timeoutMs = source.timeoutMs ?? 15_000;
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coreApi = kc.makeApiClient(k8s.CoreApi);
  const certs = kc.makeApiClient(k8s.CertificatesV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  const authn = kc.makeApiClient(k8s.AuthenticationV1Api);
  const version = kc.makeApiClient(k8s.VersionApi);

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (e) {
      throw wrap(server, what, e);
    } finally {
      clearTimeout(timer);
    }
  }

  async function listAll<T>(
    what: string,
    page: (cont: string | undefined) => Promise<{ items: T[]; metadata?: K8s.V1ListMeta }>,
  ): Promise<T[]> {
    const out: T[] = [];
    let cont: string | undefined;
    do {
      const r = await call(what, () => page(cont));
      out.push(...r.items);
      cont = r.metadata?._continue || undefined;
    } while (cont);
    return out;
  }

  const review = (attrs: AccessAttributes): K8s.V1SubjectAccessReviewSpec =>
    attrs.path !== undefined
      ? { nonResourceAttributes: { path: attrs.path, verb: attrs.verb } }
      : {
          resourceAttributes: {
            verb: attrs.verb,
            ...(attrs.group !== undefined ? { group: attrs.group } : {}),
            ...(attrs.resource !== undefined ? { resource: attrs.resource } : {}),
            ...(attrs.subresource !== undefined ? { subresource: attrs.subresource } : {}),
            ...(attrs.name !== undefined ? { name: attrs.name } : {}),
            ...(attrs.namespace !== undefined ? { namespace: attrs.namespace } : {}),
          },
        };

  const api: KubeApi = {
    version: () => call('GET /version', async () => (await version.getCode()).gitVersion),
    discoveryKind: () => call('GET /api', async () => (await coreApi.getAPIVersions()).kind ?? ''),
    selfSubjectAccessReview: (attrs) =>
      call('create selfsubjectaccessreviews', async () => {
        const { nonResourceAttributes, resourceAttributes } = review(attrs);
        const r = await authz.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              ...(nonResourceAttributes ? { nonResourceAttributes } : {}),
              ...(resourceAttributes ? { resourceAttributes } : {}),
            },
          },
        });
        return r.status?.allowed === true;
      }),
    subjectAccessReview: (subject, attrs) =>
      call('create subjectaccessreviews', async () => {
        const r = await authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              ...review(attrs),
              user: subject.user,
              ...(subject.groups ? { groups: [...subject.groups] } : {}),
            },
          },
        });
        return r.status?.allowed === true;
      }),
    selfSubjectReview: () =>
      call('create selfsubjectreviews', async () => {
        const r = await authn.createSelfSubjectReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
        });
        return {
          username: r.status?.userInfo?.username ?? '',
          groups: r.status?.userInfo?.groups ?? [],
        };
      }),
    readNamespace: (name) => call(`get namespace ${name}`, () => core.readNamespace({ name })),
    readConfigMap: (namespace, name) =>
      call(`get configmap ${namespace}/${name}`, () =>
        core.readNamespacedConfigMap({ namespace, name }),
      ),
    readRole: (namespace, name) =>
      call(`get role ${namespace}/${name}`, () => rbac.readNamespacedRole({ namespace, name })),
    readClusterRole: (name) =>
      call(`get clusterrole ${name}`, () => rbac.readClusterRole({ name })),
    listRoles: () =>
      listAll('list roles', (c) =>
        rbac.listRoleForAllNamespaces({ limit: PAGE, ...(c ? { _continue: c } : {}) }),
      ),
    listClusterRoles: () =>
      listAll('list clusterroles', (c) =>
        rbac.listClusterRole({ limit: PAGE, ...(c ? { _continue: c } : {}) }),
      ),
    readBinding: (namespace, name) =>
      namespace === undefined
        ? call(`get clusterrolebinding ${name}`, () => rbac.readClusterRoleBinding({ name }))
        : call(`get rolebinding ${namespace}/${name}`, () =>
            rbac.readNamespacedRoleBinding({ namespace, name }),
          ),
    createBinding: (namespace, body) =>
      namespace === undefined
        ? call(`create clusterrolebinding ${body.metadata?.name}`, () =>
            rbac.createClusterRoleBinding({ body }),
          )
        : call(`create rolebinding ${namespace}/${body.metadata?.name}`, () =>
            rbac.createNamespacedRoleBinding({ namespace, body: body }),
          ),
    replaceBinding: (namespace, body: Binding) => {
      const name = body.metadata?.name ?? '';
      return namespace === undefined
        ? call(`update clusterrolebinding ${name}`, () =>
            rbac.replaceClusterRoleBinding({ name, body }),
          )
        : call(`update rolebinding ${namespace}/${name}`, () =>
            rbac.replaceNamespacedRoleBinding({ namespace, name, body }),
          );
    },
    deleteBinding: async (namespace, name, preconditions) => {
      const body: K8s.V1DeleteOptions = { preconditions: { ...preconditions } };
      if (namespace === undefined)
        await call(`delete clusterrolebinding ${name}`, () =>
          rbac.deleteClusterRoleBinding({ name, body }),
        );
      else
        await call(`delete rolebinding ${namespace}/${name}`, () =>
          rbac.deleteNamespacedRoleBinding({ namespace, name, body }),
        );
    },
    listClusterRoleBindings: () =>
      listAll('list clusterrolebindings', (c) =>
        rbac.listClusterRoleBinding({ limit: PAGE, ...(c ? { _continue: c } : {}) }),
      ),
    listRoleBindings: () =>
      listAll('list rolebindings', (c) =>
        rbac.listRoleBindingForAllNamespaces({ limit: PAGE, ...(c ? { _continue: c } : {}) }),
      ),
    readCsr: (name) =>
      call(`get certificatesigningrequest ${name}`, () =>
        certs.readCertificateSigningRequest({ name }),
      ),
    createCsr: (body) =>
      call(`create certificatesigningrequest ${body.metadata?.name}`, () =>
        certs.createCertificateSigningRequest({ body }),
      ),
    replaceCsrApproval: (body) =>
      call(`approve certificatesigningrequest ${body.metadata?.name}`, () =>
        certs.replaceCertificateSigningRequestApproval({ name: body.metadata?.name ?? '', body }),
      ),
    deleteCsr: async (name) => {
      await call(`delete certificatesigningrequest ${name}`, () =>
        certs.deleteCertificateSigningRequest({ name }),
      );
    },
  };
  return api;
}
