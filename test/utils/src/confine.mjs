// Inside a fresh private mount namespace (see runConfined in attack.ts): bind every writable directory
// onto itself, make "/" read-only, then run the command and pass its exit status on.
import { execa } from 'execa';

const [count, ...rest] = process.argv.slice(2);
const n = Number(count);
const writable = rest.slice(0, n);
const [file, ...args] = rest.slice(n);
for (const dir of writable) await execa('mount', ['--bind', dir, dir]);
await execa('mount', ['-o', 'remount,bind,ro', '/']);
const r = await execa(file, args, { reject: false, stdio: 'inherit' });
process.exitCode = r.exitCode ?? 1;
