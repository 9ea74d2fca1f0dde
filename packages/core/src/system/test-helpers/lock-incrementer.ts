// Test helper: increments <root>/counter N times, each a read-modify-write under the file's lock.
import { setTimeout as sleep } from 'node:timers/promises';
import { createRootFs } from '../node-fs.ts';

const [root, rounds] = [process.argv[2]!, Number(process.argv[3])];
const fs = createRootFs(root);
for (let i = 0; i < rounds; i++) {
  await fs.withLock('/counter', async () => {
    const n = Number(await fs.readText('/counter'));
    await sleep(1 + Math.random() * 3); // widen the race window a lost update would need
    await fs.writeFileAtomic('/counter', String(n + 1), { backup: false });
  });
}
