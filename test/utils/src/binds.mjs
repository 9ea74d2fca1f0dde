// Inside a fresh private mount namespace (see runWithBinds in binds.ts): bind each source over its target, then
// run the command in the environment given as JSON and pass its exit status on. Nothing of it is seen outside that namespace.
import { execa } from 'execa';

const [count, ...rest] = process.argv.slice(2);
const n = Number(count);
const pairs = rest.slice(0, 2 * n);
const [envJson, file, ...args] = rest.slice(2 * n);
for (let i = 0; i < n; i++) await execa('mount', ['--bind', pairs[2 * i], pairs[2 * i + 1]]);
// the command's own environment only (the mounts above use this helper's)
const r = await execa(file, args, {
  reject: false,
  stdio: 'inherit',
  env: JSON.parse(envJson),
  extendEnv: false,
});
process.exitCode = r.exitCode ?? 1;
