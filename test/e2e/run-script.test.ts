// The README's entry point `./run` (plain bash, for a fresh Debian machine): the package lists it installs from and
// what it does without root. The script runs for real (bash, dpkg-query, setpriv to a plain user); it is copied
// into a temp directory next to a `.ci/run` whose list names one package that cannot be installed here, so that
// the "missing" path is taken on any machine without changing it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { whichCommand } from '@podsec/test-utils';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ABSENT = 'podsec-no-such-package-for-the-run-test';

/** The words of a bash array assignment `name=(...)` (comments dropped), as the script sees them. */
async function bashArray(file: string, name: string): Promise<string[]> {
  const r = await execa('bash', ['-c', `eval "$(cat)"; printf '%s\\n' "\${${name}[@]}"`], {
    input: await arrayAssignment(file, name),
  });
  return r.stdout.split('\n').filter((w) => w !== '');
}
async function arrayAssignment(file: string, name: string): Promise<string> {
  const text = await readFile(file, 'utf8');
  const m = new RegExp(`^${name}=\\([^)]*\\)`, 'm').exec(text);
  assert.ok(m, `${file} has no ${name}=(...)`);
  return m[0];
}

describe('./run (fresh machine entry point)', () => {
  it('reads the test packages from .ci/run exactly as the pkgs array there lists them', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-run-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const want = await bashArray(path.join(repo, '.ci/run'), 'pkgs');
    assert.ok(want.includes('docker-registry') && want.includes('podman'), want.join(' '));
    // ./run prints the install command with the list it computed; as a plain user it stops there
    const got = await runAsNobody(
      dir,
      (await readFile(path.join(repo, '.ci/run'), 'utf8')).replace(/^pkgs=\(/m, `pkgs=(${ABSENT} `),
    );
    const missing = got.packages;
    assert.equal(missing[0], ABSENT);
    for (const p of missing.slice(1)) assert.ok(want.includes(p), `${p} is not in .ci/run's pkgs`);
  });

  it('without root prints the exact apt-get command for the missing packages only, and stops before npm', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'podsec-run-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // bash is installed everywhere: only the absent package is reported
    const got = await runAsNobody(dir, `#!/bin/bash\npkgs=(bash ${ABSENT}\n  coreutils)\n`);
    assert.equal(got.code, 1, got.stderr);
    const install = `apt-get install -y --no-install-recommends ${ABSENT}`;
    assert.equal(
      got.stderr,
      'run: missing system packages; install them as root first:\n' +
        // a machine without sudo (Debian installed with a root password, like this one may be) gets su
        (got.sudo
          ? `  sudo apt-get update && sudo ${install}`
          : `  su -c 'apt-get update && ${install}'`),
    );
    assert.equal(got.stdout, '== system packages');
    assert.deepEqual((await readdir(dir)).sort(), ['.ci', 'run']); // no node_modules, no stamp
  });
});

/**
 * Runs a copy of ./run (`deps`) as nobody in `dir`, with `ciRun` as its .ci/run. npm is kept on PATH so the list
 * is exactly the one of `ciRun` (without npm the script adds Debian's nodejs and npm).
 */
async function runAsNobody(
  dir: string,
  ciRun: string,
): Promise<{ code: number; stdout: string; stderr: string; packages: string[]; sudo: boolean }> {
  const setpriv = whichCommand('setpriv');
  const npm = whichCommand('npm');
  const PATH = `${path.dirname(npm ?? '/')}:/usr/sbin:/usr/bin:/sbin:/bin`;
  const sudo = PATH.split(':').some((d) => existsSync(path.join(d, 'sudo')));
  assert.ok(setpriv !== undefined && npm !== undefined, 'setpriv and npm on PATH');
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, '.ci'), { mode: 0o755 });
  await writeFile(path.join(dir, '.ci/run'), ciRun, { mode: 0o755 });
  await copyFile(path.join(repo, 'run'), path.join(dir, 'run'));
  await chmod(path.join(dir, 'run'), 0o755);
  const r = await execa(
    setpriv,
    ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(dir, 'run'), 'deps'],
    {
      reject: false,
      cwd: '/',
      env: { PATH, LANG: 'C' },
      extendEnv: false,
      stdin: 'ignore',
    },
  );
  const stderr = String(r.stderr);
  const packages = / --no-install-recommends ([^']*)'?$/m.exec(stderr)?.[1]?.split(' ') ?? [];
  return { code: r.exitCode ?? 128, stdout: String(r.stdout), stderr, packages, sudo };
}
