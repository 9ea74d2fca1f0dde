// Test helper (run as root, confined by runConfined): podsec-create-podmanusers --existing run again and
// again on a tree while the container user swaps its ~/.config for a symlink. Before each run the user's
// ~/.config/containers is removed (by descriptor), so that every run creates and chowns it anew. Prints one
// JSON line: {"exit": {code: count}, "refused": failed runs that refused the link, "readOnly": n, "errors": [...]}.
import { runCli } from '@podsec/core/cli';
import { createRootFs } from '@podsec/core/system';
import { cli } from '../../cli/podsec-create-podmanusers.ts';

const [root, rounds, user] = [process.argv[2]!, Number(process.argv[3]), process.argv[4]!];
const fs = createRootFs(root);
const exit: Record<string, number> = {};
let refused = 0;
let readOnly = 0;
const errors = new Set<string>();
for (let i = 0; i < rounds; i++) {
  await fs.remove(`/home/${user}/.config/containers`, { recursive: true }).catch(() => undefined);
  let err = '';
  const code = await runCli(cli, ['--root', root, '--existing', user], {
    env: { PATH: process.env['PATH'], LANG: 'C' },
    stdout: () => undefined,
    stderr: (s) => void (err += s),
  });
  exit[code] = (exit[code] ?? 0) + 1;
  const last = err.trim().split('\n').at(-1) ?? '';
  if (/read-only/i.test(err)) readOnly++;
  if (code !== 0) {
    errors.add(last);
    // "no such directory": the swap moved ~/.config away between creating containers in it and opening that
    if (
      /symbolic link|symlink|not a directory|changed while it was walked|no such (file or )?directory/i.test(
        last,
      )
    )
      refused++;
  }
}
process.stdout.write(`${JSON.stringify({ exit, refused, readOnly, errors: [...errors] })}\n`);
