/**
 * Helpers for tests that start real RootlessKit namespaces as a real system user.
 *
 * `/dev/net/tun` is root-only (0600) on this machine, and slirp4netns, which runs as the namespace user,
 * must open it: {@link allowTun} makes it 0666 for the duration of a test and restores the old mode when
 * the last test holding it finishes (holders are counted in a directory, so parallel test files agree).
 */
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { execa } from 'execa';
import { createDaemonLauncher } from '@podsec/core/system';

const TUN = '/dev/net/tun';
const HOLDERS = '/run/podsec-test-tun';

/** Makes /dev/net/tun usable by unprivileged users until the test ends (root only). */
export async function allowTun(t: TestContext): Promise<void> {
  await mkdir(HOLDERS, { recursive: true, mode: 0o700 });
  const me = `${HOLDERS}/${process.pid}-${Math.random().toString(36).slice(2)}`;
  const before = (await stat(TUN)).mode & 0o7777;
  if (before !== 0o666)
    await writeFile(`${HOLDERS}/.mode`, before.toString(8), { flag: 'wx' }).catch(() => {});
  await writeFile(me, '');
  await chmod(TUN, 0o666);
  t.after(async () => {
    await rm(me, { force: true });
    // holders of test processes that died without cleaning up do not count
    const left = (await readdir(HOLDERS)).filter(
      (n) => !n.startsWith('.') && existsSync(`/proc/${n.split('-')[0]}`),
    );
    if (left.length === 0) {
      const mode = await readFile(`${HOLDERS}/.mode`, 'utf8').catch(() => '600');
      await chmod(TUN, parseInt(mode, 8));
      await rm(HOLDERS, { recursive: true, force: true });
    }
  });
}

/** Removes a test user completely: its processes, account, subordinate id lines, home and runtime dir. */
export async function removeTestUser(name: string): Promise<void> {
  const id = await execa('id', ['-u', name], { reject: false });
  if (id.exitCode !== 0) return;
  const uid = id.stdout.trim();
  // only the processes of this test user, by pid
  const launcher = createDaemonLauncher({ uid: 0 });
  for (const pid of await launcher.userProcesses(Number(uid))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  const home = (await execa('getent', ['passwd', name], { reject: false })).stdout.split(':')[5];
  // home and runtime dir go while the uid is still this user's: after userdel, useradd in a parallel test may give
  // the same uid to its user (u7s-admin), whose namespace state in /run/user/<uid> this would then remove
  if (home && home.startsWith('/var/lib/')) await rm(home, { recursive: true, force: true });
  await rm(`/run/user/${uid}`, { recursive: true, force: true });
  await execa('userdel', ['--', name], { reject: false });
  await execa('groupdel', ['--', name], { reject: false });
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    const kept = text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith(`${name}:`))
      .map((l) => `${l}\n`)
      .join('');
    if (kept !== text) await writeFile(file, kept);
  }
}

/**
 * Holds a machine-wide lock on the test user `name` until the returned release is called: test files that
 * create, start and remove the same system user (u7s-admin) run in parallel under `npm test` and would
 * otherwise remove it from under each other. The lock is a directory with the holder's pid; a holder that died
 * does not count. Waits at most `timeoutMs`.
 */
export async function lockTestUser(
  name: string,
  timeoutMs = 15 * 60_000,
): Promise<() => Promise<void>> {
  const dir = `/run/podsec-test-user-${name}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(dir, { mode: 0o700 });
      await writeFile(`${dir}/pid`, String(process.pid));
      return async () => {
        await rm(dir, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number(await readFile(`${dir}/pid`, 'utf8').catch(() => ''));
    const st = await stat(dir).catch(() => undefined);
    // a holder that died, or a lock left half-made (no pid after 5 s)
    if (
      (Number.isInteger(holder) && holder > 0 && !existsSync(`/proc/${holder}`)) ||
      (!holder && st && Date.now() - st.mtimeMs > 5000)
    )
      await rm(dir, { recursive: true, force: true });
    else if (Date.now() > deadline) throw new Error(`${dir} still held by pid ${holder}`);
    else await new Promise((r) => setTimeout(r, 200));
  }
}
