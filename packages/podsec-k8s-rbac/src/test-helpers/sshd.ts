// Debian's real openssh-server for the tests, started on a loopback port with a throw-away host key and a
// throw-away account (key authentication only), whose home holds the files a test wants to fetch.
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { freePort, whichCommand } from '@podsec/test-utils';

/** The tools the sshd tests need (for `requireCommands`). */
export const SSHD_TOOLS = ['sshd', 'scp', 'ssh-keygen'] as const;

/** A running sshd and what a client needs to reach it. */
export interface TestSshd {
  readonly dir: string;
  readonly port: number;
  /** The account on the "remote" host, and its home. */
  readonly account: string;
  readonly home: string;
  /** The client's private key, authorized for the account. */
  readonly identity: string;
  /** known_hosts files: the real host key, another key, and none. */
  readonly knownHosts: string;
  readonly wrongHosts: string;
  readonly emptyHosts: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sshd did not listen on ${port}`);
}

/**
 * Starts sshd on 127.0.0.1 with the account's home holding `files` (relative path -> content, owned by
 * the account, 0600). Undefined when sshd, scp or ssh-keygen is missing (the caller's requireCommands
 * says so).
 */
export async function startTestSshd(
  files: Readonly<Record<string, string>>,
): Promise<TestSshd | undefined> {
  if (!SSHD_TOOLS.every((c) => whichCommand(c) !== undefined)) return undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'rbac-sshd-'));
  await chmod(dir, 0o755);
  const account = `podsecrp${randomBytes(3).toString('hex')}`;
  const home = path.join(dir, 'remote-home');
  const keygen = (name: string) =>
    execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
  await keygen('host_key');
  await keygen('other_key');
  await keygen('id');
  // '*' is "no password" but not "locked": sshd without PAM refuses locked accounts
  await execa('useradd', ['-M', '-d', home, '-s', '/bin/sh', '-p', '*', account]);
  const uid = Number((await execa('id', ['-u', account])).stdout);
  await mkdir(home);
  await chown(home, uid, uid);
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(home, rel);
    for (let d = path.dirname(file); d !== home; d = path.dirname(d)) {
      await mkdir(d, { recursive: true });
      await chown(d, uid, uid);
    }
    await writeFile(file, content, { mode: 0o600 });
    await chown(file, uid, uid);
  }
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(path.join(dir, 'id.pub')));
  const port = await freePort();
  await writeFile(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `AllowUsers ${account}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      '',
    ].join('\n'),
  );
  // privilege separation directory sshd requires (Debian creates it at service start)
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd = execa('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], {
    reject: false,
  });
  const stop = async () => {
    sshd.kill('SIGTERM');
    await sshd;
    await execa('userdel', [account], { reject: false });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 10_000);
    const line = async (key: string) => {
      const [type, data] = (await readFile(path.join(dir, key), 'utf8')).split(' ');
      return `[127.0.0.1]:${port} ${type} ${data}\n`;
    };
    const known = {
      knownHosts: path.join(dir, 'known_hosts'),
      wrongHosts: path.join(dir, 'wrong_hosts'),
      emptyHosts: path.join(dir, 'empty_hosts'),
    };
    await writeFile(known.knownHosts, await line('host_key.pub'));
    await writeFile(known.wrongHosts, await line('other_key.pub'));
    await writeFile(known.emptyHosts, '');
    return { dir, port, account, home, identity: path.join(dir, 'id'), ...known, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
