// Test helper (run as root, confined): the operations root does in a user's home, many times over, while
// the user swaps directories of that home for symlinks. Prints {"errors": {code: count}, "ok": n}.
import { createRootFs } from '../node-fs.ts';

const [root, rounds, uid] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const fs = createRootFs(root);
const errors: Record<string, number> = {};
let ok = 0;
const home = '/home/maker';
const ops: (() => Promise<unknown>)[] = [
  () => fs.mkdir(`${home}/.config/containers`, { mode: 0o755, uid, gid: uid }),
  () =>
    fs.writeFileAtomic(`${home}/.config/containers/policy.json`, '{"owned":"by maker"}\n', {
      mode: 0o644,
      uid,
      gid: uid,
      backup: false,
    }),
  () => fs.chmod(`${home}/.config/containers/policy.json`, 0o600),
  () => fs.chown(`${home}/.config/containers`, uid, uid),
  () => fs.chown(`${home}/box/passwd`, uid, uid),
  () => fs.chmod(`${home}/box/shadow`, 0o666),
  () => fs.chownTree(`${home}/box`, uid, uid),
  () => fs.chownTree(`${home}/.config`, uid, uid),
  () => fs.writeFileAtomic(`${home}/box/hosts`, 'evil\n', { backup: true }),
  () => fs.symlink('/x', `${home}/box/link`),
  () => fs.remove(`${home}/box/group`),
  () => fs.mkdir(`${home}/box/made`, { mode: 0o777 }),
  () => fs.readText(`${home}/box/shadow`),
  () => fs.remove(`${home}/.config/containers`, { recursive: true }),
];
for (let i = 0; i < rounds; i++) {
  for (const op of ops) {
    try {
      await op();
      ok++;
    } catch (e) {
      const code = (e as { code?: string }).code ?? String(e);
      errors[code] = (errors[code] ?? 0) + 1;
    }
  }
}
process.stdout.write(`${JSON.stringify({ ok, errors })}\n`);
