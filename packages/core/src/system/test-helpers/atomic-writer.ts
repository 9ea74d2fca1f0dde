// Test helper: writes a large replacement for <root>/policy.json and stops forever just before the rename.
import { createRootFs } from '../node-fs.ts';

const root = process.argv[2]!;
const fs = createRootFs(root, {
  beforeRename: async () => {
    process.stdout.write('before-rename\n');
    await new Promise(() => undefined);
  },
});
await fs.writeFileAtomic('/policy.json', JSON.stringify({ new: 'x'.repeat(1 << 20) }));
