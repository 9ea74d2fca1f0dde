/**
 * System paths, names and defaults of the podsec base package (docs/files.md#roles-and-well-known-names, docs/files.md; docs/weaknesses.md#w19-hard-coded-values: one place for all of
 * them). Paths are system paths; the FileSystem maps them under --root.
 */
export const OS_RELEASE = '/etc/os-release';
export const ETC_HOSTS = '/etc/hosts';
export const CONTAINERS_DIR = '/etc/containers';
export const POLICY_JSON = '/etc/containers/policy.json';
export const REGISTRIES_D = '/etc/containers/registries.d';
export const REGISTRIES_D_DEFAULT = '/etc/containers/registries.d/default.yaml';
export const REGISTRIES_CONF = '/etc/containers/registries.conf';
export const SYSCTL_PODMAN = '/etc/sysctl.d/99-podman.conf';
export const SIGSTORE_DIR = '/var/sigstore';
export const SIGSTORE_KEYS = '/var/sigstore/keys';
export const SIGSTORE_SIGNATURES = '/var/sigstore/sigstore';
export const SIGSTORE_INDEX = '/var/sigstore/index.html';
export const PUBLISHED_POLICY = '/var/sigstore/keys/policy.json';
export const NGINX_SITES_AVAILABLE = '/etc/nginx/sites-available.d';
export const NGINX_SITES_ENABLED = '/etc/nginx/sites-enabled.d';
export const NGINX_SITE_NAME = 'podsec-sigstore.conf';
export const DOCKER_REGISTRY_CONFIG = '/etc/docker-registry/config.yml';
export const REGISTRY_STORAGE = '/var/lib/containers/storage/volumes/registry/_data/';
export const SYSTEMD_UNIT_DIR = '/etc/systemd/system';
/** Lock against concurrent podsec runs changing the same configuration (docs/weaknesses.md#w17-configuration-file-management): `withLock` takes /run/podsec.lock. */
export const PODSEC_LOCK = '/run/podsec';

/** Well-known host names bound in /etc/hosts. */
export const REGISTRY_HOST = 'registry.local';
export const SIGSTORE_HOST = 'sigstore.local';
export const TRIVY_HOST = 'trivy.local';
export const PODSEC_HOSTNAMES = [REGISTRY_HOST, SIGSTORE_HOST, TRIVY_HOST] as const;
export const REGISTRY_PORT = 80;
export const SIGSTORE_PORT = 81;

/** Lookaside URLs as the original writes them (docs/files.md#registriesd). */
export const LOOKASIDE_READ_URL = 'http://sigstore.local:81/sigstore/';
export const LOOKASIDE_WRITE_URL = 'file:///var/sigstore/sigstore/';
export const KEYS_URL = 'http://sigstore.local:81/keys/';

/** Groups. */
export const PODMAN_GROUP = 'podman';
export const PODMAN_DEV_GROUP = 'podman_dev';

/** Default image maker and scope (docs/commands/podsec-create-imagemakeruser.md#synopsis). */
export const DEFAULT_IMAGE_MAKER = 'imagemaker';
export const DEFAULT_SCOPE = 'registry.local';

/** Upstream registry for archiving (docs/commands/podsec-save-oci.md) and the legacy alias prefix (docs/files.md#oci-archives). */
export const ALT_REGISTRY = 'registry.altlinux.org';
export const LEGACY_C10F_PREFIX = 'k8s-c10f2';

/** The maker's private signing key and own registries.d, relative to the home directory (from passwd). */
export const SIGNING_KEY_IN_HOME = '.config/podsec/signing-key.asc';
export const USER_REGISTRIES_D_IN_HOME = '.config/containers/registries.d';
