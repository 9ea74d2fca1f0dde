// Test helper (run as root, confined by runConfined): podsec-create-imagemakeruser run again and again on a
// server root while its maker swaps a directory of its home for a symlink. Each run binds one more scope, so
// that every run rewrites the personal policy in the maker's home. Prints one JSON line:
// {"exit": {code: count}, "refused": failed runs that refused the link, "readOnly": n, "errors": [...]}.
import { runCli } from '@podsec/core/cli';
import { cli } from '../../cli/podsec-create-imagemakeruser.ts';

const [root, rounds, maker, first] = [
  process.argv[2]!,
  Number(process.argv[3]),
  process.argv[4]!,
  Number(process.argv[5]),
];
const exit: Record<string, number> = {};
let refused = 0;
let readOnly = 0;
/** The distinct last lines of failed runs (the error), for the test's diagnostics. */
const errors = new Set<string>();
for (let i = first; i < first + rounds; i++) {
  let err = '';
  const code = await runCli(
    cli,
    ['--root', root, '--existing', '--no-password', `${maker}@registry.local/s${i}`],
    {
      // no gpg on PATH: nothing to import (the maker's keyring is the maker's business anyway)
      env: { PATH: '/usr/sbin:/sbin', LANG: 'C' },
      stdout: () => undefined,
      stderr: (s) => void (err += s),
    },
  );
  exit[code] = (exit[code] ?? 0) + 1;
  // a failed run must be a refusal: a plan that saw the link, or the descriptor walk that met it
  if (
    code !== 0 &&
    /symbolic link|not a (plain )?directory|changed while it was walked/i.test(
      err.trim().split('\n').at(-1)!,
    )
  )
    refused++;
  if (/read-only/i.test(err)) readOnly++;
  if (code !== 0) errors.add(err.trim().split('\n').at(-1)!.replace(/s\d+/g, 's<n>'));
}
process.stdout.write(`${JSON.stringify({ exit, refused, readOnly, errors: [...errors] })}\n`);
