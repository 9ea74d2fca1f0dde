import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCgroupMode } from './cgroup.ts';
import { planEnter } from './enter.ts';
import { formatPortSpec, parsePortSpec } from './ports.ts';
import { planRootlesskitArgs } from './rootlesskit.ts';

const HYBRID = [
  '30 27 0:25 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
  '31 30 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  '32 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
].join('\n');
const UNIFIED = '30 27 0:25 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';

describe('parseCgroupMode', () => {
  it('tells hybrid, unified and legacy hierarchies apart', () => {
    assert.equal(parseCgroupMode(HYBRID), 'hybrid');
    assert.equal(parseCgroupMode(UNIFIED), 'v2');
    assert.equal(
      parseCgroupMode(
        HYBRID.split('\n')
          .filter((l) => !l.includes('cgroup2'))
          .join('\n'),
      ),
      'v1',
    );
  });
});

describe('planRootlesskitArgs', () => {
  const host = {
    existingDirs: new Set(['/etc', '/run', '/var/lib', '/opt', '/usr/libexec']),
    cgroup: 'hybrid' as const,
    cgroup2Delegated: false,
  };
  it('keeps the spec flags, drops copy-ups of missing dirs and the cgroup v2 evacuation on cgroup v1', () => {
    const p = planRootlesskitArgs(
      {
        stateDir: '/run/user/990/usernetes/rootlesskit',
        cidr: '10.96.0.0/12',
        payload: ['/x/child.sh'],
      },
      host,
    );
    assert.deepEqual(p.args, [
      '--state-dir=/run/user/990/usernetes/rootlesskit',
      '--net=slirp4netns',
      '--mtu=65520',
      '--disable-host-loopback',
      '--slirp4netns-sandbox=true',
      '--slirp4netns-seccomp=true',
      '--port-driver=builtin',
      '--copy-up=/etc',
      '--copy-up=/run',
      '--copy-up=/var/lib',
      '--copy-up=/opt',
      '--copy-up=/usr/libexec',
      '--cgroupns',
      '--pidns',
      '--ipcns',
      '--utsns',
      '--propagation=rslave',
      '--cidr=10.96.0.0/12',
      '--',
      '/x/child.sh',
    ]);
    assert.deepEqual(
      p.omitted.map((o) => o.flag),
      [
        '--copy-up=/etc/sysconfig',
        '--copy-up=/var/lib/crio',
        '--evacuate-cgroup2=rootlesskit_evac',
      ],
    );
  });
  it('evacuates on a delegated cgroup v2 host', () => {
    const p = planRootlesskitArgs(
      { stateDir: '/s', payload: ['x'] },
      { ...host, cgroup: 'v2', cgroup2Delegated: true },
    );
    assert.ok(p.args.includes('--evacuate-cgroup2=rootlesskit_evac'));
  });
  it('refuses a relative state dir, an empty payload and a bad MTU', () => {
    assert.throws(() => planRootlesskitArgs({ stateDir: 'rel', payload: ['x'] }, host), {
      code: 'USERNS_BAD_STATE_DIR',
    });
    assert.throws(() => planRootlesskitArgs({ stateDir: '/s', payload: [] }, host), {
      code: 'USERNS_NO_PAYLOAD',
    });
    assert.throws(() => planRootlesskitArgs({ stateDir: '/s', payload: ['x'], mtu: 70000 }, host), {
      code: 'USERNS_BAD_MTU',
    });
  });
});

describe('parsePortSpec', () => {
  it('parses the rootlessctl forms and formats them back', () => {
    assert.deepEqual(parsePortSpec('0.0.0.0:6443:6443/tcp'), {
      proto: 'tcp',
      parentIP: '0.0.0.0',
      parentPort: 6443,
      childPort: 6443,
    });
    assert.deepEqual(parsePortSpec('6053:53/udp'), {
      proto: 'udp',
      parentIP: '0.0.0.0',
      parentPort: 6053,
      childPort: 53,
    });
    assert.equal(formatPortSpec(parsePortSpec('[::1]:80:8080/tcp')), '[::1]:80:8080/tcp');
  });
  it('refuses garbage and out-of-range ports', () => {
    for (const bad of ['80/tcp', '1:2/sctp', '0:1/tcp', '1:70000/udp', 'a:1:2/tcp'])
      assert.throws(() => parsePortSpec(bad), { code: 'PORT_BAD_SPEC' }, bad);
  });
});

describe('planEnter', () => {
  it('drops root to the namespace user before nsenter into all seven namespaces; the command dies with nsenter', () => {
    assert.deepEqual(
      planEnter({ pid: 42, cwd: '/tmp', user: { uid: 990, gid: 990 }, self: { uid: 0 } }, [
        'id',
        '-u',
      ]),
      {
        file: 'setpriv',
        args: [
          '--reuid=990',
          '--regid=990',
          '--init-groups',
          '--',
          'nsenter',
          '--user',
          '--preserve-credentials',
          '--mount',
          '--net',
          '--cgroup',
          '--pid',
          '--ipc',
          '--uts',
          '-t',
          '42',
          '--wd=/tmp',
          '--',
          'setpriv',
          '--pdeathsig=KILL',
          '--',
          'id',
          '-u',
        ],
      },
    );
  });

  it('enters at / when no directory is given (nsenter would reopen the caller cwd as the user: EACCES from /root)', () => {
    const { args } = planEnter({ pid: 42, user: { uid: 990, gid: 990 }, self: { uid: 0 } }, ['id']);
    assert.ok(args.includes('--wd=/'), args.join(' '));
  });
});
