/**
 * Tools a test needs: skip visibly on a developer machine that lacks them, fail in CI (`CI=true`).
 *
 * Kubernetes, etcd, CRI and scanner binaries are built from their Go modules by `tools/k8s-bin/build` into
 * `~/.cache/podsec/k8s-bin/<kubernetes version>/bin`; `PODSEC_K8S_BIN` (a directory) overrides that place.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The pinned k8s.io/kubernetes release, read from tools/k8s-bin/kubernetes/go.mod (the one source of the pin). */
export function k8sVersion(): string {
  const goMod = readFileSync(path.join(repoRoot, 'tools/k8s-bin/kubernetes/go.mod'), 'utf8');
  const match = /^(?:require\s+|\s+)k8s\.io\/kubernetes (v\d+\.\d+\.\d+)(?:\s*\/\/.*)?$/m.exec(
    goMod,
  );
  if (match?.[1] === undefined)
    throw new Error('tools/k8s-bin/kubernetes/go.mod pins no k8s.io/kubernetes');
  return match[1];
}

/** Where the k8s binaries are: `$PODSEC_K8S_BIN`, else the default cache directory of the pinned version. */
export function k8sBinDir(): string {
  const fromEnv = process.env['PODSEC_K8S_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  return path.join(homedir(), '.cache/podsec/k8s-bin', k8sVersion(), 'bin');
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An executable named `name` on PATH, or undefined. */
export function whichCommand(name: string): string | undefined {
  if (name.includes('/')) return isExecutableFile(name) ? path.resolve(name) : undefined;
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Absolute path of a built binary (kube-apiserver, etcd, kubeadm, crictl, trivy ...): k8s bin dir, then PATH. */
export function k8sBinary(name: string): string | undefined {
  const inDir = path.join(k8sBinDir(), name);
  if (isExecutableFile(inDir)) return inDir;
  return whichCommand(name);
}

/**
 * The absolute path of command `name` (looked up like {@link k8sBinary}), or undefined after marking the test
 * skipped with a visible reason. Under `CI=true` a missing command fails the test instead. Use:
 * `const kubeadm = requireCommand(t, 'kubeadm'); if (kubeadm === undefined) return;`
 */
export function requireCommand(t: TestContext, name: string): string | undefined {
  const found = k8sBinary(name);
  if (found !== undefined) return found;
  const why =
    `${name} not found in ${k8sBinDir()} nor on PATH ` +
    '(build it with tools/k8s-bin/build, or set PODSEC_K8S_BIN)';
  if (process.env['CI'] === 'true') throw new Error(`required command missing in CI: ${why}`);
  t.skip(why);
  return undefined;
}

/** {@link requireCommand} for several commands; undefined (test skipped) unless all are there. */
export function requireCommands<const N extends string>(
  t: TestContext,
  names: readonly N[],
): Record<N, string> | undefined {
  const found = {} as Record<N, string>;
  for (const name of names) {
    const file = requireCommand(t, name);
    if (file === undefined) return undefined;
    found[name] = file;
  }
  return found;
}
