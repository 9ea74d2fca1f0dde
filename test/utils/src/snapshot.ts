import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Every entry under `root` (sorted): kind, mode, owner, and a content hash or link target. Two equal
 * snapshots mean "no side effects" in the sense of the commands' acceptance tests.
 */
export async function snapshotTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const st = await lstat(p);
      const rel = path.relative(root, p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out[rel] = `link ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${meta}`;
        await walk(p);
      } else if (!st.isFile()) out[rel] = `other ${meta}`;
      else
        out[rel] = `file ${meta} ${createHash('sha256')
          .update(await readFile(p))
          .digest('hex')}`;
    }
  };
  await walk(root);
  return out;
}
