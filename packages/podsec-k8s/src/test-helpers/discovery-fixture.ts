/** Test data of file-based join discovery: a discovery kubeconfig around a test CA. */
import { stringify } from 'yaml';

// a self-signed CA certificate (test data only: nothing trusts it)
export const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIUbtYOaogfI4UrbFnyUTTQNmj8xGwwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKa3ViZXJuZXRlczAgFw0yNjEyMDEyMDEzNDBaGA8yMTI2MTEw
NzIwMTM0MFowFTETMBEGA1UEAwwKa3ViZXJuZXRlczBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABNH4QZyfDgrbkVz1uGIvhT4Q+6krDBWm+WUwgxNwDy4v1Qu5DitV
wIWKPtvPr45hqH87EnSnA6aR4c4CQZdaHOujUzBRMB0GA1UdDgQWBBRz2zUuDb6G
Y6np/kbxDkP7CaM4ijAfBgNVHSMEGDAWgBRz2zUuDb6GY6np/kbxDkP7CaM4ijAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFskyiCu02zqjFCN1Eql
fCuh87mvAlF3lZk/FKT5uCwUAiEA5onLDNVHrBERpGksTicpqZJXB7FYUef5yK3C
nasbmXg=
-----END CERTIFICATE-----
`;

/** A discovery kubeconfig (the shape of kube-public/cluster-info's), with optional overrides. */
export function discoveryKubeconfig(
  o: {
    server?: string;
    cluster?: Record<string, unknown>;
    user?: Record<string, unknown>;
    currentContext?: string;
  } = {},
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kubernetes',
        cluster: {
          server: o.server ?? 'https://192.0.2.1:6443',
          'certificate-authority-data': Buffer.from(TEST_CA_PEM).toString('base64'),
          ...o.cluster,
        },
      },
    ],
    contexts: [{ name: 'join', context: { cluster: 'kubernetes', user: 'joiner' } }],
    users: [{ name: 'joiner', user: o.user ?? {} }],
    'current-context': o.currentContext ?? 'join',
  });
}
