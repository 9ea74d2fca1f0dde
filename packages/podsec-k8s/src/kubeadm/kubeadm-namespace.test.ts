// The real kubeadm through the wrapper, inside a real u7s-admin namespace: `init phase certs all` and
// `kubeconfig all` write /etc/kubernetes on the host, owned by u7s-admin; the host's admin kubeconfig points at the
// forward of the API port; a pass-through command runs inside as pseudo-root. Needs root, rootlesskit, slirp4netns,
// nsenter, setpriv and the real kubeadm (copied to a root-owned directory u7s-admin can reach: the build cache is
// under /root). /dev/net/tun is root-only here: allowTun() opens it for the test.
import assert from 'node:assert/strict';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';
import {
  allowTun,
  freePort,
  lockTestUser,
  removeTestUser,
  requireCommands,
} from '@podsec/test-utils';

const isRoot = process.geteuid?.() === 0;
const u7sMain = fileURLToPath(new URL('../test-helpers/podsec-u7s-main.ts', import.meta.url));
const wrapMain = fileURLToPath(
  new URL('../test-helpers/podsec-u7s-kubeadm-main.ts', import.meta.url),
);
const SELF = JSON.stringify([process.execPath, '--conditions=podsec-source', u7sMain]);
const ADDR = '192.0.2.10';
const HOME = '/var/lib/u7s-admin';

describe(
  'podsec-u7s-kubeadm inside a real u7s-admin namespace',
  { skip: !isRoot && 'needs root' },
  () => {
    let dir = '';
    let release: (() => Promise<void>) | undefined;
    const env = () => ({
      PATH: process.env['PATH'],
      LANG: 'C',
      PODSEC_U7S_SELF: SELF,
      U7S_KUBEADM: path.join(dir, 'bin/kubeadm'),
      // the wrapper checks the kubectl of the add-ons before init: the built one, not /usr/bin's (none on a fresh host)
      U7S_KUBECTL: path.join(dir, 'bin/kubectl'),
    });
    const u7s = (args: string[]) =>
      execa(process.execPath, ['--conditions=podsec-source', u7sMain, ...args], {
        reject: false,
        env: env(),
        extendEnv: false,
        timeout: 90_000,
      });
    const wrap = (args: string[], extra: Record<string, string> = {}) =>
      execa(process.execPath, ['--conditions=podsec-source', wrapMain, ...args], {
        reject: false,
        env: { ...env(), ...extra },
        extendEnv: false,
        timeout: 300_000,
      });
    const common = [
      '--apiserver-advertise-address',
      ADDR,
      '--image-repository',
      'registry.k8s.io',
      '--node-name',
      'node1',
    ];

    before(async () => {
      if (!isRoot) return;
      release = await lockTestUser('u7s-admin');
      await removeTestUser('u7s-admin');
      // what a run that died left (its u7s-admin's data dir makes provision refuse the new one)
      for (const p of ['/etc/kubernetes', '/var/lib/podsec/u7s'])
        await rm(p, { recursive: true, force: true });
      dir = await mkdtemp(path.join(tmpdir(), 'kubeadm-ns-'));
      await chmod(dir, 0o755);
      await mkdir(path.join(dir, 'bin'), { mode: 0o755 });
      await mkdir(path.join(dir, 'libexec'), { mode: 0o755 });
    });
    after(async () => {
      if (!isRoot) return;
      await u7s(['stop', '--timeout', '10']);
      await removeTestUser('u7s-admin');
      for (const p of [
        '/etc/kubernetes',
        '/etc/podsec/u7s/kubeadm',
        '/etc/podsec/u7s/audit',
        '/etc/podsec/u7s/config',
        '/etc/podsec/u7s/manifests',
        '/var/lib/podsec/u7s',
        dir,
      ])
        await rm(p, { recursive: true, force: true });
      await release?.();
    });

    it('runs init phase certs all and kubeconfig all for real: /etc/kubernetes on the host, owned by u7s-admin', async (t) => {
      const found = requireCommands(t, [
        'kubeadm',
        'kubectl',
        'rootlesskit',
        'slirp4netns',
        'nsenter',
        'setpriv',
      ]);
      if (!found) return;
      await allowTun(t);
      for (const bin of ['kubeadm', 'kubectl'] as const)
        await link(found[bin], path.join(dir, 'bin', bin)).catch(() =>
          copyFile(found[bin], path.join(dir, 'bin', bin)),
        );
      const prov = await u7s(['provision', '--libexec', path.join(dir, 'libexec')]);
      assert.equal(prov.exitCode, 0, prov.stderr);
      const uid = Number((await execa('id', ['-u', 'u7s-admin'])).stdout);
      // provision creates /etc/kubernetes for u7s-admin before any namespace starts ...
      assert.equal((await stat('/etc/kubernetes')).uid, uid);
      // ... here it is gone again (a tree provisioned before that), so the wrapper's guard is what is tested
      await rm('/etc/kubernetes', { recursive: true, force: true });
      const start = () =>
        u7s([
          'start',
          '--libexec',
          path.join(dir, 'libexec'),
          '--parent-ip',
          '127.0.0.1',
          '--extip',
          ADDR,
        ]);
      const first = await start();
      assert.equal(first.exitCode, 0, first.stderr);

      // /etc/kubernetes did not exist when the namespace started: the wrapper creates it and asks for a restart
      const hidden = await wrap(['init', 'phase', 'certs', 'all', ...common]);
      assert.equal(hidden.exitCode, 3, hidden.stderr);
      assert.match(hidden.stderr, /\/etc\/kubernetes inside the namespace is not the host's/);
      assert.equal((await stat('/etc/kubernetes')).uid, uid);
      assert.equal((await u7s(['stop'])).exitCode, 0);
      const restarted = await start();
      assert.equal(restarted.exitCode, 0, restarted.stderr);

      const dry = await wrap(['init', 'phase', 'certs', 'all', ...common, '--dry-run', '--json']);
      assert.equal(dry.exitCode, 0, dry.stderr);
      const certs = await wrap(['init', 'phase', 'certs', 'all', ...common, '--json']);
      assert.equal(certs.exitCode, 0, certs.stderr);
      const run = JSON.parse(certs.stdout) as { argv: string[]; plan: { kubeadmArgv: string[] } };
      // the dry run printed exactly what ran (inside: setpriv ... nsenter ... -- <kubeadm argv>)
      const planned = (JSON.parse(dry.stdout) as { plan: { kubeadmArgv: string[] } }).plan
        .kubeadmArgv;
      assert.deepEqual(run.argv.slice(-planned.length), planned);
      assert.ok(run.argv.includes('nsenter'));
      for (const f of ['ca.crt', 'ca.key', 'apiserver.crt', 'etcd/ca.crt', 'sa.key']) {
        const st = await stat(path.join('/etc/kubernetes/pki', f));
        assert.equal(st.uid, uid, f);
      }
      const apiserverCert = await execa('openssl', [
        'x509',
        '-noout',
        '-ext',
        'subjectAltName',
        '-in',
        '/etc/kubernetes/pki/apiserver.crt',
      ]);
      assert.match(apiserverCert.stdout, new RegExp(`IP Address:${ADDR.replace(/\./g, '\\.')}`));
      assert.match(apiserverCert.stdout, /IP Address:127\.0\.0\.1/);

      // the API port forwarded to a free host port: the admin kubeconfig points there
      const port = await freePort();
      assert.equal((await u7s(['ports', 'add', `127.0.0.1:${port}:6443/tcp`])).exitCode, 0);
      const adminOut = path.join(dir, 'out/admin.conf');
      const kc = await wrap([
        'init',
        'phase',
        'kubeconfig',
        'all',
        ...common,
        '--admin-kubeconfig',
        adminOut,
      ]);
      assert.equal(kc.exitCode, 0, kc.stderr);
      for (const f of [
        'admin.conf',
        'super-admin.conf',
        'controller-manager.conf',
        'scheduler.conf',
      ])
        assert.equal((await stat(path.join('/etc/kubernetes', f))).uid, uid, f);
      const host = parse(await readFile(adminOut, 'utf8')) as {
        clusters: { cluster: { server: string } }[];
      };
      assert.equal(host.clusters[0]!.cluster.server, `https://127.0.0.1:${port}`);
      assert.equal((await stat(adminOut)).mode & 0o777, 0o600);
      assert.equal((await stat(adminOut)).uid, 0);
      // kubelet-start: kubeadm inside writes /var/lib/kubelet/config.yaml (u7s-admin's _var_lib_kubelet on the
      // host). A kubeadm patch stands in for a rootful cluster's kubelet-config (systemd driver, a gate of its own,
      // swap refused): the wrapper then sets the rootless values over it and keeps the cluster's gate
      const patches = path.join(dir, 'patches');
      await mkdir(patches, { mode: 0o755 });
      await writeFile(
        path.join(patches, 'kubeletconfiguration+strategic.yaml'),
        'cgroupDriver: systemd\nfailSwapOn: true\nfeatureGates:\n  Foo: true\n',
        { mode: 0o644 },
      );
      const ks = await wrap([
        'init',
        'phase',
        'kubelet-start',
        ...common,
        '--patches',
        patches,
        '--json',
      ]);
      assert.equal(ks.exitCode, 0, ks.stderr);
      const kubeletConf = `${HOME}/.local/share/usernetes/_var_lib_kubelet/config.yaml`;
      assert.ok((JSON.parse(ks.stdout) as { written: string[] }).written.includes(kubeletConf));
      const kubelet = parse(await readFile(kubeletConf, 'utf8')) as Record<string, unknown>;
      assert.equal(kubelet['cgroupDriver'], 'cgroupfs');
      assert.equal(kubelet['failSwapOn'], false);
      assert.deepEqual(kubelet['featureGates'], { Foo: true, KubeletInUserNamespace: true });
      assert.equal(kubelet['staticPodPath'], '/etc/kubernetes/manifests', 'kubeadm keys kept');
      assert.equal((await stat(kubeletConf)).uid, uid);

      // the rendered configuration stays root-owned, readable by the namespace's group only
      const cfg = await stat('/etc/podsec/u7s/kubeadm/init.yaml');
      assert.deepEqual([cfg.uid, cfg.mode & 0o777], [0, 0o640]);

      // a pass-through command runs inside as the namespace's root and keeps kubeadm's status
      const print = await wrap(['config', 'print', 'init-defaults']);
      assert.equal(print.exitCode, 0, print.stderr);
      assert.match(print.stdout, /kind: InitConfiguration/);
      const bad = await wrap(['token', 'list', '--nonsense-flag']);
      assert.equal(bad.exitCode, 1);
      assert.match(bad.stderr, /unknown flag: --nonsense-flag/);

      // every wait is bounded: a kubeadm that never finishes (its kubeconfig a FIFO nobody writes: open() blocks)
      // is stopped after --timeout, exit 5 with a message
      const fifo = path.join(dir, 'never.conf');
      await execa('mkfifo', ['-m', '0644', fifo]);
      const started = Date.now();
      const hung = await wrap(['token', 'list', '--kubeconfig', fifo, '--timeout', '2']);
      assert.equal(hung.exitCode, 5, hung.stderr);
      assert.match(hung.stderr, /kubeadm token did not finish within 2 s and was stopped/);
      assert.ok(Date.now() - started < 60_000);

      // the etcd data of an earlier cluster (u7s-admin's, as etcd leaves it): kept without --yes, removed with it
      const member = '/var/lib/podsec/u7s/etcd/member';
      await execa('setpriv', [
        `--reuid=${uid}`,
        `--regid=${uid}`,
        '--clear-groups',
        'mkdir',
        '-p',
        `${member}/snap`,
      ]);
      const kept = await wrap(['init', ...common]);
      assert.equal(kept.exitCode, 1, kept.stderr);
      assert.match(kept.stderr, /etcd\/member exists .*give --yes/);
      assert.ok((await stat(member)).isDirectory());
      // with --yes it goes, then the real kubeadm init runs inside; there is no CRI in this namespace, so its
      // preflight stops it (kubeadm's failure, exit 1), after the removal
      const yes = await wrap(['init', ...common, '--yes', '--timeout', '240']);
      assert.equal(yes.exitCode, 1, yes.stderr);
      assert.match(yes.stderr, /removed \/var\/lib\/podsec\/u7s\/etcd\/member/);
      assert.match(yes.stderr, /kubeadm init .*failed with exit status 1/);
      await assert.rejects(stat(member), { code: 'ENOENT' });
      // the init wrote the network add-on for kubectl, root's, outside the static-pod directory
      const flannel = await stat('/etc/podsec/u7s/manifests/kube-flannel.yml');
      assert.deepEqual([flannel.uid, flannel.mode & 0o777], [0, 0o644]);
      await assert.rejects(stat('/etc/kubernetes/manifests/kube-flannel.yml'), { code: 'ENOENT' });

      // W-S5: the join configuration (bootstrap token, CA hash) is kept after a failed join and removed after a
      // successful one. The real kubeadm join cannot succeed on this machine: it waits for the kubelet's TLS
      // bootstrap, and the kubelet cannot run in this namespace on cgroup v1 (test/e2e/u7s-kubeadm-join.test.ts
      // runs the real join as far as it gets). Two stand-ins that print the real kubeadm's version and then fail or
      // succeed run in its place, inside the namespace like it.
      const joinYaml = '/etc/podsec/u7s/kubeadm/join.yaml';
      const realVersion = (await execa(found.kubeadm, ['version', '-o', 'short'])).stdout.trim();
      const standIn = async (name: string, status: number) => {
        const d = path.join(dir, name);
        await mkdir(d, { mode: 0o755 });
        await writeFile(
          path.join(d, 'kubeadm'),
          `#!/bin/sh\nif [ "$1" = version ]; then echo ${realVersion}; exit 0; fi\nexit ${status}\n`,
          { mode: 0o755 },
        );
        return path.join(d, 'kubeadm');
      };
      const join = [
        'join',
        `${ADDR}:6443`,
        '--token',
        'abcdef.0123456789abcdef',
        '--discovery-token-ca-cert-hash',
        `sha256:${'a'.repeat(64)}`,
        '--node-name',
        'node2',
      ];
      const failed = await wrap(join, {
        U7S_KUBEADM: await standIn('kubeadm-fails', 1),
        U7S_PLATFORM: 'c10f',
      });
      assert.equal(failed.exitCode, 1, failed.stderr);
      assert.match(failed.stderr, /kubeadm join failed with exit status 1/);
      const keptYaml = await readFile(joinYaml, 'utf8');
      assert.match(keptYaml, /token: abcdef\.0123456789abcdef/);
      assert.deepEqual(
        [(await stat(joinYaml)).uid, (await stat(joinYaml)).mode & 0o777],
        [0, 0o640],
      );
      const joined = await wrap(join, {
        U7S_KUBEADM: await standIn('kubeadm-succeeds', 0),
        U7S_PLATFORM: 'c10f',
      });
      assert.equal(joined.exitCode, 0, joined.stderr);
      await assert.rejects(stat(joinYaml), { code: 'ENOENT' });
    });
  },
);
