import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseHostRootUid,
  planRealToolPath,
  planRootlessctlArgs,
  planSystemctlArgs,
} from './shadow.ts';

describe('planSystemctlArgs', () => {
  it('sends u7s-admin to its user manager through machined and shows the job transaction', () => {
    assert.deepEqual(planSystemctlArgs({ USER: 'u7s-admin' }, ['restart', 'kubelet']), [
      '--user',
      '-M',
      'u7s-admin@',
      '-T',
      'restart',
      'kubelet',
    ]);
  });
  it('leaves the arguments of root (and of anyone else) unchanged', () => {
    assert.deepEqual(planSystemctlArgs({ USER: 'root' }, ['daemon-reload']), ['daemon-reload']);
    assert.deepEqual(planSystemctlArgs({}, ['status', 'a b']), ['status', 'a b']);
  });
});

describe('planRootlessctlArgs', () => {
  it("puts the socket of RootlessKit's state dir first", () => {
    assert.deepEqual(planRootlessctlArgs('/run/user/990', ['list-ports']), [
      '--socket',
      '/run/user/990/usernetes/rootlesskit/api.sock',
      'list-ports',
    ]);
  });
});

describe('planRealToolPath', () => {
  it('takes U7S_SYSTEMCTL / U7S_ROOTLESSCTL, else the fixed default, never PATH', () => {
    assert.equal(planRealToolPath('systemctl', { PATH: '/evil' }), '/bin/systemctl');
    assert.equal(planRealToolPath('systemctl', { U7S_SYSTEMCTL: '/opt/s' }), '/opt/s');
    assert.equal(planRealToolPath('rootlessctl', {}), '/usr/bin/rootlessctl');
  });
});

describe('parseHostRootUid', () => {
  it('is 0 on the host and undefined in a namespace that maps only u7s-admin and its subordinate ids', () => {
    assert.equal(parseHostRootUid('         0          0 4294967295\n'), 0);
    assert.equal(parseHostRootUid('0 990 1\n1 100000 65536\n'), undefined);
    assert.equal(parseHostRootUid('0 1 10\n1000 0 1\n'), 1000);
  });
});
