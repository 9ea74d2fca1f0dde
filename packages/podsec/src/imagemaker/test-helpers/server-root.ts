/** Test helpers: a prepared signature-server root and a snapshot of a whole tree. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, type TestContext } from 'node:test';
import { formatPolicy } from '@podsec/core/config';
import { createProcessRunner } from '@podsec/core/system';
import { createTestSystem, FakeRunner, type TestSystem, type Tree } from '@podsec/test-utils';
import { writeVersioned } from '../../config-files/versioned.ts';

/** The policy podsec-create-policy leaves on the server (docs/files.md#server-policy). */
export const FRESH_POLICY = formatPolicy({
  default: [{ type: 'reject' }],
  transports: { docker: {} },
});

/** Account files with the podman groups, /etc/hosts binding the server names to 127.0.0.1. */
export const SERVER_TREE: Tree = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
  'etc/group': 'root:x:0:\npodman:x:500:\npodman_dev:x:501:\n',
  'etc/shadow': { content: 'root:*::0:99999:7:::\n', mode: 0o640 },
  'etc/gshadow': { content: 'root:*::\npodman:!::\npodman_dev:!::\n', mode: 0o640 },
  'etc/hosts': '127.0.0.1 localhost\n127.0.0.1 registry.local sigstore.local trivy.local\n',
};

/** Host directory with the files the user names on the command line (they are host files, not under --root). */
export const SECRETS = await mkdtemp(path.join(tmpdir(), 'podsec-secrets-'));
await writeFile(path.join(SECRETS, 'passphrase'), 'correct horse\n', { mode: 0o600 });
await writeFile(path.join(SECRETS, 'password'), 'S3cret-pw\n', { mode: 0o600 });
after(() => rm(SECRETS, { recursive: true, force: true }));
export const PASSPHRASE_FILE = path.join(SECRETS, 'passphrase');
export const PASSWORD_FILE = path.join(SECRETS, 'password');

/** Options of {@link prepareServer}. */
export interface PrepareServerOptions {
  readonly tree?: Tree;
  readonly uid?: number;
  readonly dryRun?: boolean;
  readonly sigstore?: boolean;
  readonly policy?: string;
  /** Record process calls (falls through to the real tools). */
  readonly record?: boolean;
  /** PATH of the tools (e.g. without gpg). @default the test's PATH */
  readonly path?: string;
}

/** A server root as podsec-create-policy + create-services leave it. */
export async function prepareServer(
  t: TestContext | undefined,
  o: PrepareServerOptions = {},
): Promise<{ system: TestSystem; runner: FakeRunner | undefined }> {
  const env = { PATH: o.path ?? process.env['PATH'] };
  const runner = o.record ? new FakeRunner(createProcessRunner(env)) : undefined;
  const system = await createTestSystem(t, {
    tree: { ...SERVER_TREE, ...o.tree },
    env,
    ...(runner ? { proc: runner } : {}),
    ...(o.uid === undefined ? {} : { uid: o.uid }),
  });
  if (o.sigstore ?? true) {
    await system.fs.mkdir('/var/sigstore', { mode: 0o755 });
    await system.fs.mkdir('/var/sigstore/keys', { mode: 0o755 });
    await system.fs.mkdir('/var/sigstore/sigstore', { mode: 0o775, uid: 0, gid: 501 });
  }
  await writeVersioned(system, '/etc/containers/policy.json', o.policy ?? FRESH_POLICY, {
    prefix: 'policy_',
  });
  if (o.dryRun) return { system: { ...system, dryRun: true }, runner };
  return { system, runner };
}

export { snapshotTree } from '@podsec/test-utils';
