import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { mapArchitecture, UsageError } from '@podsec/core';
import { formatPolicy, parsePolicy, type Policy } from '@podsec/core/config';
import {
  createArchiveHost,
  createRootFs,
  createUserDatabase,
  runOrThrow,
  type System,
} from '@podsec/core/system';
import { createImageMakers } from '../imagemaker/create-imagemakers.ts';
import { loadSignOci } from '../oci/load-sign.ts';
import { planSaveOci } from '../oci/plan-save.ts';
import { saveOci } from '../oci/save.ts';
import { POLICY_JSON } from '../paths.ts';
import { createPolicy } from '../policy/create-policy.ts';
import { startServices } from '../services/serve.ts';
import { verifyTrust } from '../trust/trust.ts';

/**
 * The address that stands for the signature server inside the sandbox: TEST-NET-1 (RFC 5737), never routed.
 * The sandbox treats it as a local interface address so that podsec-create-policy takes the server role;
 * the services themselves listen on 127.0.0.1.
 */
export const SANDBOX_SERVER_ADDRESS = '192.0.2.1';
const MAKER = 'imagemaker';
const MAKER_EMAIL = 'imagemaker@podsec.quickstart';

/** Options of {@link runQuickstart}. */
export interface QuickstartOptions {
  /** Host directory of the sandbox (created, must be empty or absent). */
  readonly dir: string;
  /** Image architecture. @default this CPU's */
  readonly arch?: string;
}

/** One printed step. */
export interface QuickstartStep {
  readonly step: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Result of {@link runQuickstart}. */
export interface QuickstartResult {
  readonly dir: string;
  readonly root: string;
  readonly registry: string;
  readonly sigstore: string;
  readonly signedImage: string;
  readonly unsignedImage: string;
  readonly steps: readonly QuickstartStep[];
  /** The signed image was accepted and the unsigned one refused under the generated policy. */
  readonly ok: boolean;
}

/** A System whose "/" is the sandbox root and which counts {@link SANDBOX_SERVER_ADDRESS} as local. */
function sandboxSystem(base: System, root: string, identity?: System['identity']): System {
  const fs = createRootFs(root, { now: () => base.clock.now() });
  return {
    ...base,
    root: fs.root,
    fs,
    users: createUserDatabase(fs, base.proc),
    host: {
      localAddresses: async () => [...(await base.host.localAddresses()), SANDBOX_SERVER_ADDRESS],
    },
    identity: identity ?? base.identity,
    dryRun: false,
  };
}

/** The generated policy as a client sees it: key paths of the sandbox root made host paths for skopeo. */
export function planClientPolicy(policy: Policy, root: string): Policy {
  const rewrite = (reqs: Policy['default']) =>
    reqs.map((r) =>
      r.type === 'signedBy' && r.keyPath !== undefined
        ? { ...r, keyPath: `${root}${r.keyPath}` }
        : r,
    ) as Policy['default'];
  const transports: Record<string, Record<string, Policy['default']>> = {};
  for (const [t, scopes] of Object.entries(policy.transports ?? {})) {
    transports[t] = Object.fromEntries(
      Object.entries(scopes).map(([s, reqs]) => [s, rewrite(reqs)]),
    );
  }
  return { ...policy, default: rewrite(policy.default), transports };
}

/**
 * The whole trust domain in a sandbox directory, with the real tools on loopback: docker-registry and
 * nginx (podsec-serve), the server policy (podsec-create-policy), an image maker with a key
 * (podsec-create-imagemakeruser), a small image built with buildah, packed into an xz OCI archive
 * (podsec-save-oci), loaded and signed into the registry (podsec-load-sign-oci); then skopeo, under the
 * generated policy and the signature server, pulls the signed image and refuses an unsigned one.
 * Nothing outside `dir` is changed.
 */
export async function runQuickstart(base: System, o: QuickstartOptions): Promise<QuickstartResult> {
  if (base.identity.uid !== 0) {
    throw new UsageError(
      'QUICKSTART_NOT_ROOT',
      'the quickstart creates users with useradd --prefix and builds images with buildah: run it as root',
      { details: {} },
    );
  }
  const dir = o.dir.replace(/\/+$/, '');
  const host = base.hostFs;
  if ((await host.exists(dir)) && (await host.readdir(dir)).length > 0) {
    throw new UsageError('QUICKSTART_DIR_NOT_EMPTY', `sandbox directory ${dir} is not empty`, {
      details: { dir },
    });
  }
  // The sandbox users (the image maker runs gpg as itself) must be able to reach their homes under `dir`,
  // as every user can reach /home on a real machine: each existing ancestor must be searchable by others.
  for (let a = path.posix.dirname(dir); ; a = path.posix.dirname(a)) {
    const st = await host.stat(a);
    if (st !== undefined && (st.mode & 0o001) === 0) {
      throw new UsageError(
        'QUICKSTART_DIR_UNREACHABLE',
        `sandbox directory ${dir} is not reachable by other users (${a} has mode ${st.mode.toString(8).padStart(4, '0')}): the image maker of the sandbox runs gpg as itself; choose a directory under a searchable parent`,
        { details: { dir, ancestor: a } },
      );
    }
    if (a === '/') break;
  }
  const arch = o.arch ?? mapArchitecture(process.arch);
  const root = `${dir}/root`;
  const steps: QuickstartStep[] = [];
  const step = (name: string, ok: boolean, detail: string) => {
    steps.push({ step: name, ok, detail });
    base.report.progress(`${ok ? '✔' : '✘'} ${name}: ${detail}`);
  };

  // a minimal system tree: accounts for the shadow tools, an empty hosts file, a v2 registries.conf
  // like a real "/": root-owned, searchable by the sandbox's users, writable by root only
  await host.mkdir(dir, { mode: 0o711 });
  await host.chmod(dir, 0o711);
  for (const d of [
    'root',
    'root/etc/containers/registries.d',
    'root/home',
    'root/run',
    'work',
    'client/registries.d',
    'oci-out',
  ])
    await host.mkdir(`${dir}/${d}`);
  await host.writeFileAtomic(`${root}/etc/passwd`, 'root:x:0:0:root:/root:/bin/bash\n', {
    backup: false,
  });
  await host.writeFileAtomic(`${root}/etc/group`, 'root:x:0:\n', { backup: false });
  await host.writeFileAtomic(`${root}/etc/shadow`, 'root:*::0:99999:7:::\n', {
    mode: 0o640,
    backup: false,
  });
  await host.writeFileAtomic(`${root}/etc/gshadow`, 'root:*::\n', { mode: 0o640, backup: false });
  await host.writeFileAtomic(`${root}/etc/hosts`, '127.0.0.1 localhost\n', { backup: false });
  await host.writeFileAtomic(
    `${root}/etc/containers/registries.conf`,
    'unqualified-search-registries = []\n',
    { backup: false },
  );
  const sys = sandboxSystem(base, root);
  step('sandbox', true, `${dir} (system root ${root}; the host's /etc is not touched)`);

  const services = await startServices(sys, { registry: '127.0.0.1:0', sigstore: '127.0.0.1:0' });
  try {
    const registry = services.registry.host;
    step(
      'services',
      true,
      `docker-registry on ${services.registry.url}, signature server (nginx) on ${services.sigstore.url}`,
    );

    const policy = await createPolicy(sys, { ip: SANDBOX_SERVER_ADDRESS });
    step(
      'podsec-create-policy',
      true,
      `${policy.mode} mode: default reject, ${policy.changedFiles.length} files written`,
    );

    const passphraseFile = `${dir}/passphrase`;
    const passphrase = randomBytes(18).toString('base64url');
    await host.writeFileAtomic(passphraseFile, `${passphrase}\n`, { mode: 0o600, backup: false });
    const scope = `${registry}/quickstart`;
    const makers = await createImageMakers(sys, {
      makers: [{ user: MAKER, scope }],
      key: { type: 'ed25519', name: 'Quickstart Image Maker', email: MAKER_EMAIL },
      passphrase: () => Promise.resolve(passphrase),
      password: () => Promise.resolve(null),
    });
    const maker = makers.makers[0]!;
    step(
      'podsec-create-imagemakeruser',
      true,
      `${MAKER}@${scope}, key ${maker.key.fingerprint ?? '?'} (${MAKER_EMAIL})`,
    );

    // build a tiny image with buildah from scratch, in private storage, and publish it "upstream" (unsigned)
    const store = [
      '--root',
      `${dir}/work/storage`,
      '--runroot',
      `${dir}/work/run`,
      '--storage-driver',
      'vfs',
    ];
    const env = { BUILDAH_ISOLATION: 'chroot', STORAGE_DRIVER: 'vfs' };
    const buildPolicy = `${dir}/work/build-policy.json`;
    await host.writeFileAtomic(buildPolicy, '{"default":[{"type":"insecureAcceptAnything"}]}\n', {
      backup: false,
    });
    const build = async (text: string, target: string) => {
      await host.writeFileAtomic(`${dir}/work/hello.txt`, text, { backup: false });
      const ctr = (
        await runOrThrow(
          sys.proc,
          'buildah',
          [...store, 'from', '--signature-policy', buildPolicy, 'scratch'],
          { env },
        )
      ).stdout.trim();
      await runOrThrow(
        sys.proc,
        'buildah',
        [...store, 'copy', ctr, `${dir}/work/hello.txt`, '/hello.txt'],
        { env },
      );
      await runOrThrow(
        sys.proc,
        'buildah',
        [...store, 'config', '--cmd', '/hello.txt', '--arch', arch, ctr],
        { env },
      );
      await runOrThrow(
        sys.proc,
        'buildah',
        [
          ...store,
          'commit',
          '--signature-policy',
          buildPolicy,
          ctr,
          `localhost/qs-${randomBytes(4).toString('hex')}`,
        ],
        { env },
      ).then(async (r) => {
        const id = r.stdout.trim().split('\n').pop()!;
        await runOrThrow(
          sys.proc,
          'buildah',
          [
            ...store,
            'push',
            '--signature-policy',
            buildPolicy,
            '--tls-verify=false',
            id,
            `docker://${target}`,
          ],
          { env },
        );
      });
    };
    const upstream = `${registry}/upstream`;
    await build('Hello from a signed podsec image\n', `${upstream}/quickstart/hello:1`);
    const unsignedImage = `${registry}/quickstart/unsigned:1`;
    await build('Nobody signed me\n', unsignedImage);
    step(
      'buildah',
      true,
      `built quickstart/hello:1 (pushed unsigned to ${upstream}) and ${unsignedImage} (never signed)`,
    );

    const archiveHost = createArchiveHost(sys.env);
    const saved = await saveOci(
      sys,
      archiveHost,
      planSaveOci({
        args: [`${dir}/oci`, arch, 'quickstart/hello:1'],
        registry: upstream,
        transport: 'docker://',
        srcTlsVerify: false,
        env: sys.env,
      }),
      { tmpDir: `${dir}/work` },
    );
    const archive = saved.archives[0]!.file;
    step('podsec-save-oci', true, `${archive}`);

    const makerEntry = (await sys.users.getUser(MAKER))!;
    const asMaker = sandboxSystem(base, root, {
      uid: makerEntry.uid,
      gid: makerEntry.gid,
      user: MAKER,
    });
    const loaded = await loadSignOci(asMaker, archiveHost, {
      archive,
      arch,
      signerEmail: MAKER_EMAIL,
      target: scope,
      platform: 'quickstart',
      passphraseFile,
      tmpDir: `${dir}/work`,
    });
    const signedImage = loaded.loaded[loaded.loaded.length - 1]!.reference;
    step(
      'podsec-load-sign-oci',
      true,
      `${loaded.loaded.map((l) => `${l.reference} (${l.digest.slice(0, 19)}…)`).join(', ')} signed into /var/sigstore/sigstore`,
    );

    // a client's view: the generated policy and the signature server over HTTP
    const systemPolicy = parsePolicy(await sys.fs.readText(POLICY_JSON));
    const clientPolicy = `${dir}/client/policy.json`;
    await host.writeFileAtomic(clientPolicy, formatPolicy(planClientPolicy(systemPolicy, root)), {
      backup: false,
    });
    await host.writeFileAtomic(
      `${dir}/client/registries.d/default.yaml`,
      `default-docker:\n  lookaside: ${services.sigstore.url}/sigstore/\n`,
      { backup: false },
    );
    const pull = (image: string, to: string) =>
      sys.proc.run('skopeo', [
        '--policy',
        clientPolicy,
        '--registries.d',
        `${dir}/client/registries.d`,
        'copy',
        '--src-tls-verify=false',
        `docker://${image}`,
        `dir:${dir}/oci-out/${to}`,
      ]);
    const who = await verifyTrust(sys, signedImage, {
      insecure: true,
      lookaside: `${services.sigstore.url}/sigstore/`,
    });
    const sig = who.signatures.find((s) => s.valid);
    step(
      'podsec-trust verify',
      sig !== undefined && who.verdict.accepted,
      sig
        ? `${signedImage} signed by ${sig.userIds?.join(', ')} (key ${sig.keyFingerprint}); policy ${who.verdict.accepted ? 'accepts' : 'rejects'}`
        : 'no valid signature',
    );
    const good = await pull(signedImage, 'signed');
    step(
      'skopeo pulls the signed image',
      good.exitCode === 0,
      good.exitCode === 0
        ? `${signedImage} accepted under the generated policy`
        : good.stderr.trim(),
    );
    const bad = await pull(unsignedImage, 'unsigned');
    const refusedForPolicy =
      bad.exitCode !== 0 && /signature|rejected|not allowed/i.test(bad.stderr);
    step(
      'skopeo refuses the unsigned image',
      refusedForPolicy,
      refusedForPolicy
        ? (bad.stderr.trim().split('\n').pop() ?? '')
        : `unexpected: exit ${bad.exitCode} ${bad.stderr.trim()}`,
    );
    const ok = steps.every((s) => s.ok);
    return {
      dir,
      root,
      registry: services.registry.url,
      sigstore: services.sigstore.url,
      signedImage,
      unsignedImage,
      steps,
      ok,
    };
  } finally {
    await services.stop();
    step('services stopped', true, 'docker-registry and nginx');
  }
}
