// podsec-u7s as a real process: the commands that start, stop or enter processes refuse --dry-run (they have no
// plan to print) with one line and exit 1, before anything else happens: no user, namespace or root is needed to
// see it, and nothing under --root changes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { snapshotTree } from '@podsec/test-utils';

const main = fileURLToPath(new URL('../test-helpers/podsec-u7s-main.ts', import.meta.url));

describe('podsec-u7s --dry-run', () => {
  it('is refused by start, run, stop, enter, wrap and ports add|remove, which would act for real', async (t) => {
    const root = await mkdtemp(path.join(tmpdir(), 'u7s-dry-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const before = await snapshotTree(root);
    for (const args of [
      ['start', '--extip', '192.0.2.10'],
      ['run'],
      ['stop'],
      ['enter', '--', 'id', '-u'],
      ['wrap', 'rootlessctl', '--', 'list-ports'],
      ['ports', 'add', '127.0.0.1:8080:80/tcp'],
      ['ports', 'remove', '1'],
    ]) {
      const r = await execa(
        process.execPath,
        ['--conditions=podsec-source', main, '--root', root, '--dry-run', ...args],
        { reject: false, extendEnv: false, env: { PATH: process.env['PATH'], LANG: 'C' } },
      );
      const command = args[0] === 'ports' ? `ports ${args[1]}` : args[0];
      assert.equal(r.exitCode, 1, `${args.join(' ')}: ${r.stderr}`);
      // (after -- it is the command's own argument: `enter -- tool --dry-run` runs the tool with it)
      assert.equal(
        r.stderr.trim(),
        `podsec-u7s: podsec-u7s ${command} has no dry run: it starts, stops or enters processes (nothing was done)`,
      );
    }
    const ru = await execa(
      process.execPath,
      ['--conditions=podsec-source', main, '--root', root, 'stop', '--dry-run'],
      { reject: false, extendEnv: false, env: { PATH: process.env['PATH'], LANG: 'ru_RU.UTF-8' } },
    );
    assert.match(ru.stderr, /нет пробного запуска/);
    assert.deepEqual(await snapshotTree(root), before);
  });
});
