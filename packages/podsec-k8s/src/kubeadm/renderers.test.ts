import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { parse } from 'yaml';
import { planNode } from '../u7s/node-config.ts';
import { renderAuditPolicy } from './audit.ts';
import { renderContainerdConf, renderCrioConf } from './cri.ts';
import { parseEnvFile, renderEnvFile, type EnvFileInput } from './env-file.ts';
import { parseDefaultRouteDev, pickDefaultAddress } from './facts.ts';
import { planHostKubeconfig, planHostServer } from './kubeconfig.ts';
import { hostsNameRegistryLocal, planImageRepository } from './registry.ts';

const envInput: EnvFileInput = {
  node: planNode({ role: 'initMaster', extIP: '192.0.2.10' }),
  uid: 990,
  kubernetesVersion: '1.37.2',
  libexec: '/usr/libexec/podsec/u7s/bin',
  imageRepository: 'registry.local/c10f',
  advertiseAddress: '192.0.2.10',
  extDev: 'eth0',
  apiServerEndpoint: '192.0.2.10:6443',
  kubeadmFlags: ['--v=5', '--ignore-preflight-errors=Swap'],
  platform: 'c10f',
  pauseImage: 'pause:3.10',
};

describe('renderEnvFile', () => {
  it('has the PATH line first, every key once, the derived addresses, no multi-line value, same bytes again', () => {
    const text = renderEnvFile(envInput);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'PATH=/usr/libexec/podsec/u7s/bin:/sbin/:/usr/sbin/:/bin:/usr/bin/');
    const env = parseEnvFile(text);
    assert.deepEqual(
      {
        U7S_SERVICECIDR: env['U7S_SERVICECIDR'],
        U7S_SERVICEMASK: env['U7S_SERVICEMASK'],
        U7S_KUBERNETESCLUSTERIP: env['U7S_KUBERNETESCLUSTERIP'],
        U7S_KUBERNETESCLUSTERDNS: env['U7S_KUBERNETESCLUSTERDNS'],
        U7S_SLIRP4IP: env['U7S_SLIRP4IP'],
        U7S_ROOTLESSKIT_FLAGS: env['U7S_ROOTLESSKIT_FLAGS'],
        U7S_PODNETWORKCIDR: env['U7S_PODNETWORKCIDR'],
        U7S_CONTROLPLANE: env['U7S_CONTROLPLANE'],
        U7S_EXTIP: env['U7S_EXTIP'],
        U7S_APISERVER_BIND_PORT: env['U7S_APISERVER_BIND_PORT'],
        U7S_UID: env['U7S_UID'],
        U7S_KUBEVERSION: env['U7S_KUBEVERSION'],
        _CONTAINERS_USERNS_CONFIGURED: env['_CONTAINERS_USERNS_CONFIGURED'],
      },
      {
        U7S_SERVICECIDR: '10.96.0.0/12',
        U7S_SERVICEMASK: '12',
        U7S_KUBERNETESCLUSTERIP: '10.96.0.1',
        U7S_KUBERNETESCLUSTERDNS: '10.96.0.10',
        U7S_SLIRP4IP: '10.96.0.100',
        U7S_ROOTLESSKIT_FLAGS: '--cidr=10.96.0.0/12',
        U7S_PODNETWORKCIDR: '10.244.0.0/16',
        U7S_CONTROLPLANE: 'initMaster',
        U7S_EXTIP: '192.0.2.10',
        U7S_APISERVER_BIND_PORT: '6443',
        U7S_UID: '990',
        U7S_KUBEVERSION: 'v1.37.2',
        _CONTAINERS_USERNS_CONFIGURED: '1',
      },
    );
    assert.equal(env['U7S_KUBEADMFLAGS'], '--v=5 --ignore-preflight-errors=Swap');
    const keys = lines.map((l) => l.split('=')[0]);
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(!/TOKEN|CACERTHASH|CERIFICATEKEY/.test(text));
    assert.equal(renderEnvFile(envInput), text);
    // a newline in a value cannot start a new line
    const tricky = renderEnvFile({ ...envInput, kubeadmFlags: ['--v=1\nEVIL=1'] });
    assert.ok(!/^EVIL=/m.test(tricky));
  });
});

describe('renderCrioConf and renderContainerdConf', () => {
  it('crio.conf parses as TOML with the user paths, cgroupfs, crun, the pause image and the podsec policy', () => {
    const c = parseToml(
      renderCrioConf({
        uid: 990,
        home: '/var/lib/u7s-admin',
        pauseImage: 'registry.local/c10f/pause:3.10',
      }),
    ) as Record<string, Record<string, unknown>>;
    const crio = c['crio']!;
    assert.equal(crio['root'], '/var/lib/u7s-admin/.local/share/usernetes/containers/storage');
    assert.equal(crio['runroot'], '/run/user/990/usernetes/containers/storage');
    const inner = crio as unknown as {
      api: { listen: string };
      image: { pause_image: string; signature_policy: string; insecure_registries: string[] };
      runtime: {
        cgroup_manager: string;
        default_runtime: string;
        runtimes: { crun: { runtime_path: string } };
      };
      network: { plugin_dirs: string[] };
    };
    assert.equal(inner.api.listen, '/run/user/990/usernetes/crio/crio.sock');
    assert.equal(inner.image.pause_image, 'registry.local/c10f/pause:3.10');
    assert.equal(inner.image.signature_policy, '/etc/containers/policy.json');
    assert.deepEqual(inner.image.insecure_registries, []);
    assert.equal(inner.runtime.cgroup_manager, 'cgroupfs');
    assert.equal(inner.runtime.default_runtime, 'crun');
    assert.equal(inner.runtime.runtimes.crun.runtime_path, '/usr/bin/crun');
    assert.deepEqual(inner.network.plugin_dirs, ['/opt/cni/bin/']);
    // every path of the original's crio.sh for this uid and home, and an insecure registry when one is given
    const full = parseToml(
      renderCrioConf({
        uid: 990,
        home: '/var/lib/u7s-admin',
        pauseImage: 'registry.local/c10f/pause:3.10',
        insecureRegistries: ['registry.local'],
      }),
    ) as unknown as {
      crio: {
        version_file: string;
        storage_driver: string;
        image: { insecure_registries: string[] };
        runtime: Record<string, unknown> & { runtimes: { crun: Record<string, unknown> } };
        network: { network_dir: string };
      };
    };
    assert.equal(full.crio.version_file, '/run/user/990/usernetes/crio/version');
    assert.equal(full.crio.storage_driver, 'overlay');
    assert.deepEqual(full.crio.image.insecure_registries, ['registry.local']);
    const rt = full.crio.runtime;
    assert.deepEqual(
      [
        rt['conmon'],
        rt['conmon_cgroup'],
        rt['hooks_dir'],
        rt['container_exits_dir'],
        rt['container_attach_socket_dir'],
        rt['namespaces_dir'],
        rt.runtimes.crun['runtime_root'],
      ],
      [
        '/usr/bin/conmon',
        'pod',
        ['/var/lib/u7s-admin/.local/share/usernetes/containers/oci/hooks.d'],
        '/run/user/990/usernetes/crio/exits',
        '/run/user/990/usernetes/crio',
        '/run/user/990/usernetes/crio/ns',
        '/run/user/990/crio/crun',
      ],
    );
    assert.equal(full.crio.network.network_dir, '/etc/cni/net.d/');
    const ctr = parseToml(
      renderContainerdConf({ uid: 990, home: '/var/lib/u7s-admin', pauseImage: 'p:1' }),
    ) as { version: number; grpc: { address: string } };
    assert.equal(ctr.version, 2);
    assert.equal(ctr.grpc.address, '/run/user/990/usernetes/containerd/containerd.sock');
  });
});

describe('renderAuditPolicy', () => {
  it('is the original policy rule by rule, except that system:masters and service accounts are audited', () => {
    const p = parse(renderAuditPolicy()) as {
      rules: Record<string, unknown>[];
      omitManagedFields: boolean;
    };
    assert.equal(p.omitManagedFields, true);
    assert.deepEqual(
      p.rules.map((r) => r['level']),
      ['None', 'None', 'None', 'Metadata', 'RequestResponse', 'RequestResponse', 'Metadata'],
    );
    assert.deepEqual(p.rules[2]!['userGroups'], ['system:nodes']);
    assert.ok(!renderAuditPolicy().includes('system:masters'));
    assert.deepEqual(p.rules[5]!['verbs'], ['create', 'patch', 'update', 'delete']);
    assert.ok(!renderAuditPolicy().includes('*a1'), 'no YAML aliases');
  });
});

describe('the host admin kubeconfig', () => {
  const adminConf = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    '    certificate-authority-data: Q0E=',
    '    server: https://192.0.2.10:6443',
    '  name: kubernetes',
    'users: []',
    '',
  ].join('\n');
  it('replaces only the server, with the forward listening on a specific address or the node address', () => {
    const s = planHostServer({
      parentIP: '127.0.0.1',
      parentPort: 16443,
      advertiseAddress: '192.0.2.10',
    });
    assert.equal(s, 'https://127.0.0.1:16443');
    assert.equal(
      planHostServer({ parentIP: '0.0.0.0', parentPort: 6443, advertiseAddress: '192.0.2.10' }),
      'https://192.0.2.10:6443',
    );
    const out = parse(planHostKubeconfig(adminConf, s)) as {
      clusters: { cluster: Record<string, string> }[];
    };
    assert.deepEqual(out.clusters[0]!.cluster, {
      'certificate-authority-data': 'Q0E=',
      server: 'https://127.0.0.1:16443',
    });
    assert.throws(() => planHostKubeconfig('kind: Pod\n', s), { code: 'KUBEADM_BAD_KUBECONFIG' });
  });
});

describe('the node address from the default route (getExtIP fix)', () => {
  const addrs = [
    { ifname: 'lo', address: '127.0.0.1', prefix: 8 },
    { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
    { ifname: 'wg0', address: '198.51.100.2', prefix: 32 },
    { ifname: 'eth1', address: '203.0.113.5', prefix: 24 },
  ];
  it('takes the lowest metric of several default routes, in any order, with or without a gateway', () => {
    const several = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', metric: 200, flags: [] },
      { dst: 'default', dev: 'wg0', scope: 'link', metric: 50, flags: [] },
      { dst: 'default', gateway: '203.0.113.1', dev: 'eth1', metric: 100, flags: [] },
    ]);
    assert.equal(parseDefaultRouteDev(several), 'wg0');
    assert.equal(pickDefaultAddress(addrs, parseDefaultRouteDev(several))?.address, '198.51.100.2');
    // no metric is metric 0: the kernel's first choice
    assert.equal(
      parseDefaultRouteDev(
        '[{"dst":"default","gateway":"203.0.113.1","dev":"eth1","metric":100},{"dst":"default","dev":"eth0"}]',
      ),
      'eth0',
    );
    // a gateway-less route alone
    assert.equal(
      parseDefaultRouteDev('[{"dst":"default","dev":"wg0","scope":"link","flags":[]}]'),
      'wg0',
    );
  });
  it('skips dead and linkdown routes and routes without a device; garbage is no route', () => {
    assert.equal(
      parseDefaultRouteDev(
        JSON.stringify([
          { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', metric: 10, flags: ['linkdown'] },
          { dst: 'default', gateway: '192.0.2.9', metric: 1 },
          { dst: '192.0.2.0/24', dev: 'eth0', metric: 0 },
          { dst: 'default', gateway: '203.0.113.1', dev: 'eth1', metric: 100, flags: [] },
        ]),
      ),
      'eth1',
    );
    for (const bad of ['', 'not json', '{}', 'null', '[null, 1, "x"]'])
      assert.equal(parseDefaultRouteDev(bad), undefined, bad);
    assert.equal(pickDefaultAddress(addrs, 'eth9'), undefined);
    assert.equal(pickDefaultAddress(addrs, undefined), undefined);
  });
});

describe('host facts and the image repository (pure parts)', () => {
  it('takes the node address from the default route and registry.local only as a host name', () => {
    const dev = parseDefaultRouteDev('[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"}]');
    assert.equal(dev, 'eth0');
    assert.deepEqual(
      pickDefaultAddress(
        [
          { ifname: 'lo', address: '127.0.0.1', prefix: 8 },
          { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
        ],
        dev,
      ),
      { ifname: 'eth0', address: '192.0.2.2', prefix: 24 },
    );
    assert.equal(parseDefaultRouteDev('[]'), undefined);
    assert.equal(hostsNameRegistryLocal('192.0.2.5 registry.local\n'), true);
    assert.equal(hostsNameRegistryLocal('# 192.0.2.5 registry.local\n192.0.2.6 other\n'), false);
    assert.equal(
      planImageRepository({ platform: 'k8s-c10f2', hostsHaveRegistryLocal: true }),
      'registry.local/c10f',
    );
  });
});
