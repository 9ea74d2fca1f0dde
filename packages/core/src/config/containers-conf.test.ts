import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getContainersConfValue, setContainersConfValue } from './containers-conf.ts';

const CONF = `[containers]
log_driver = "k8s-file"

[engine]
# cgroup manager
cgroup_manager = "systemd"

[network]
network_backend = "netavark"
`;

describe('getContainersConfValue', () => {
  it('reads [engine] keys by default and other tables on request', () => {
    assert.equal(getContainersConfValue(CONF, 'cgroup_manager'), 'systemd');
    assert.equal(getContainersConfValue(CONF, 'network_backend', 'network'), 'netavark');
    assert.equal(getContainersConfValue(CONF, 'events_logger'), undefined);
  });

  it('rejects malformed TOML with CONTAINERS_CONF_INVALID', () => {
    assert.throws(() => getContainersConfValue('[engine\n', 'x'), {
      code: 'CONTAINERS_CONF_INVALID',
    });
  });
});

describe('setContainersConfValue', () => {
  it('replaces an existing key and adds a new one in [engine] only', () => {
    const a = setContainersConfValue(CONF, 'cgroup_manager', 'cgroupfs');
    assert.match(a.text, /# cgroup manager\ncgroup_manager = "cgroupfs"\n/);
    const b = setContainersConfValue(a.text, 'events_logger', 'file');
    assert.equal(getContainersConfValue(b.text, 'events_logger'), 'file');
    assert.equal(getContainersConfValue(b.text, 'events_logger', 'network'), undefined);
    assert.equal(getContainersConfValue(b.text, 'network_backend', 'network'), 'netavark');
  });

  it('writes booleans, numbers and string arrays', () => {
    let t = setContainersConfValue('', 'no_pivot_root', true).text;
    t = setContainersConfValue(t, 'num_locks', 2048).text;
    t = setContainersConfValue(t, 'hooks_dir', ['/usr/share/containers/oci/hooks.d']).text;
    assert.equal(getContainersConfValue(t, 'no_pivot_root'), true);
    assert.equal(getContainersConfValue(t, 'num_locks'), 2048);
    assert.deepEqual(getContainersConfValue(t, 'hooks_dir'), ['/usr/share/containers/oci/hooks.d']);
  });

  it('is a no-op for an unchanged value', () => {
    assert.deepEqual(setContainersConfValue(CONF, 'cgroup_manager', 'systemd'), {
      text: CONF,
      changed: false,
    });
  });

  it('rejects keys that would need quoting', () => {
    assert.throws(() => setContainersConfValue(CONF, 'a b', 'x'), {
      code: 'TOML_EDIT_UNSUPPORTED',
    });
  });
});
