/**
 * A package's bundles and Node in a fresh 0755 directory that every user can read, as an installed package lays
 * them out. Tests that run a podsec binary as another user (u7s-admin) cannot run it from the checkout, which may
 * be out of that user's reach (a clone under /root, 0700, on a fresh machine: "Cannot find module").
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, link, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** What {@link copyPackageForUsers} made: `<dir>/node` and `<dir>/bundle/` (removed after the test). */
export interface PackageCopy {
  readonly dir: string;
  readonly node: string;
  readonly bundle: string;
}

/** Copies `bundleDir` (a package's `bundle/`, made by `npm run build`) and links this Node beside it. */
export async function copyPackageForUsers(t: TestContext, bundleDir: string): Promise<PackageCopy> {
  assert.ok(existsSync(bundleDir), `no ${bundleDir}: npm run build`);
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-pkg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755);
  const bundle = path.join(dir, 'bundle');
  await cp(bundleDir, bundle, { recursive: true });
  const node = path.join(dir, 'node');
  await link(process.execPath, node).catch(() => copyFile(process.execPath, node));
  return { dir, node, bundle };
}
