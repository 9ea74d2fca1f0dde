import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

/** A full listing of a tree: path -> kind, mode, owner and content (or link target). */
export async function snapshot(root: string): Promise<Record<string, string>> {
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
      } else out[rel] = `file ${meta} ${(await readFile(p)).toString('base64')}`;
    }
  };
  await walk(root);
  return out;
}
