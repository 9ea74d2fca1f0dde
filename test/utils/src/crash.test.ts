import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crashView } from './crash.ts';

/** A tree with an /etc/shadow whose line for `maker` is `line`. */
async function treeWithShadow(line: string): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'podsec-crash-view-'));
  await mkdir(path.join(root, 'etc'));
  await writeFile(path.join(root, 'etc/shadow'), `root:*:20000:0:99999:7:::\n${line}\n`, {
    mode: 0o640,
  });
  await writeFile(path.join(root, 'etc/passwd'), `maker:x:1000:1000::/home/maker:/bin/sh\n`);
  return root;
}

test('crashView: runs on each side of midnight (useradd writes the day into shadow) compare equal', async (t) => {
  const before = await treeWithShadow('maker:!:20424:0:99999:7:::');
  const after = await treeWithShadow('maker:!:20425:0:99999:7:::');
  const otherPassword = await treeWithShadow('maker:$6$x$y:20424:0:99999:7:::');
  t.after(() => Promise.all([before, after, otherPassword].map((d) => rm(d, { recursive: true }))));
  assert.deepEqual(await crashView(before), await crashView(after));
  // only the day is left out: another password, another account or another file content still differ
  assert.notDeepEqual(await crashView(before), await crashView(otherPassword));
  await writeFile(path.join(after, 'etc/passwd'), 'maker:x:1001:1001::/home/maker:/bin/sh\n');
  assert.notDeepEqual(await crashView(before), await crashView(after));
});
