import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStorageConf, updateStorageConf } from './storage-conf.ts';

const CONF = `# storage.conf
[storage]
driver = "overlay" # default
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"

[storage.options]
additionalimagestores = []

[storage.options.overlay]
mountopt = "nodev"
`;

describe('parseStorageConf', () => {
  it('reads driver, graphroot, runroot and mount_program', () => {
    assert.deepEqual(parseStorageConf(CONF), {
      driver: 'overlay',
      graphroot: '/var/lib/containers/storage',
      runroot: '/run/containers/storage',
    });
    assert.equal(
      parseStorageConf('[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n')
        .mountProgram,
      '/usr/bin/fuse-overlayfs',
    );
  });

  it('rejects malformed TOML with STORAGE_CONF_INVALID', () => {
    assert.throws(() => parseStorageConf('[storage\n'), { code: 'STORAGE_CONF_INVALID' });
  });
});

describe('updateStorageConf', () => {
  it('replaces values in place, keeping comments and other keys', () => {
    const r = updateStorageConf(CONF, { driver: 'vfs', mountProgram: '/usr/bin/fuse-overlayfs' });
    assert.equal(r.changed, true);
    assert.match(r.text, /^# storage\.conf\n\[storage\]\ndriver = "vfs" # default\n/);
    assert.match(
      r.text,
      /\[storage\.options\.overlay\]\nmount_program = "\/usr\/bin\/fuse-overlayfs"\nmountopt = "nodev"\n/,
    );
    assert.deepEqual(parseStorageConf(r.text).driver, 'vfs');
  });

  it('returns the input byte for byte when nothing changes', () => {
    assert.deepEqual(updateStorageConf(CONF, { driver: 'overlay' }), {
      text: CONF,
      changed: false,
    });
  });

  it('creates missing tables at the end', () => {
    const r = updateStorageConf('', {
      graphroot: '/home/u/.local/share/containers/storage',
      mountProgram: '/usr/bin/fuse-overlayfs',
    });
    assert.deepEqual(parseStorageConf(r.text), {
      graphroot: '/home/u/.local/share/containers/storage',
      mountProgram: '/usr/bin/fuse-overlayfs',
    });
  });

  it('escapes values so a quote cannot inject TOML', () => {
    const r = updateStorageConf(CONF, { graphroot: '/x"\nevil = "1' });
    assert.equal(parseStorageConf(r.text).graphroot, '/x"\nevil = "1');
  });

  it('refuses a table defined inline that it cannot edit as text', () => {
    assert.throws(
      () =>
        updateStorageConf('[storage.options]\noverlay = { mountopt = "nodev" }\n', {
          mountProgram: '/x',
        }),
      { code: 'TOML_EDIT_UNSUPPORTED' },
    );
  });
});
