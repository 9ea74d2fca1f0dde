// Loaded by a bundle launcher only when it was started by a Node older than the one podsec needs (the check itself
// is inline in the launcher, so the normal start pays nothing). Plain ES2017 on purpose: old Nodes must parse it.
// It runs the same binary again with the repository's own Node (the root devDependency `node`, found by walking up
// from the bundle to a node_modules/node/bin/node) when there is one, or stops with an error naming both versions.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REQUIRED = '22.19';

function repositoryNode(from) {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', 'node', 'bin', 'node');
    if (existsSync(candidate)) return realpathSync(candidate);
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Re-run the launcher (its path or file: URL) with a suitable Node; returns the exit code to end with. */
export function rerunOnSuitableNode(launcherFile) {
  const launcher = launcherFile.startsWith('file:') ? fileURLToPath(launcherFile) : launcherFile;
  const name = path.basename(launcher).replace(/\.[cm]?js$/, '');
  const node = process.env.PODSEC_NODE || repositoryNode(path.dirname(realpathSync(launcher)));
  let self = process.execPath;
  try {
    self = realpathSync(self);
  } catch {
    // keep the unresolved path
  }
  if (node && node !== self && !process.env.PODSEC_NODE_RERUN) {
    const r = spawnSync(node, [launcher, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: Object.assign({}, process.env, { PODSEC_NODE_RERUN: '1' }),
    });
    if (r.error === undefined) {
      if (r.signal) process.kill(process.pid, r.signal);
      return r.status === null ? 1 : r.status;
    }
  }
  process.stderr.write(
    `${name}: needs Node.js >= ${REQUIRED}, but ${process.execPath} is ${process.version}` +
      `${node && node !== self ? ` and ${node} did not run` : ''}; install Node.js ${REQUIRED} or newer ` +
      '(or set PODSEC_NODE to its path)\n',
  );
  return 1;
}
