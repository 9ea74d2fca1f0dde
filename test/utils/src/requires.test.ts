import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { k8sBinary, k8sBinDir, k8sVersion, requireCommand } from './requires.ts';

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('k8sVersion reads the pin of tools/k8s-bin/kubernetes/go.mod', () => {
  assert.match(k8sVersion(), /^v1\.\d+\.\d+$/);
});

test('k8sBinary resolves from PODSEC_K8S_BIN before PATH; the default dir is keyed by version', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-requires-'));
  try {
    const bin = path.join(dir, 'podsec-test-tool');
    await writeFile(bin, '#!/bin/sh\n');
    await chmod(bin, 0o755);
    await writeFile(path.join(dir, 'not-executable'), '');
    withEnv({ PODSEC_K8S_BIN: dir }, () => {
      assert.equal(k8sBinDir(), dir);
      assert.equal(k8sBinary('podsec-test-tool'), bin);
      assert.equal(k8sBinary('not-executable'), undefined);
      assert.match(k8sBinary('sh') ?? '', /\/sh$/);
    });
    withEnv({ PODSEC_K8S_BIN: undefined }, () => {
      assert.ok(k8sBinDir().endsWith(path.join('.cache/podsec/k8s-bin', k8sVersion(), 'bin')));
      assert.equal(k8sBinary('podsec-test-tool'), undefined);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('requireCommand skips on a developer machine and fails under CI=true', () => {
  const skipped: string[] = [];
  const t = { skip: (why: string) => skipped.push(why) } as unknown as TestContext;
  withEnv({ CI: undefined }, () => {
    assert.equal(requireCommand(t, 'podsec-no-such-tool'), undefined);
  });
  assert.equal(skipped.length, 1);
  assert.match(skipped[0] ?? '', /podsec-no-such-tool not found/);
  withEnv({ CI: 'true' }, () => {
    assert.throws(() => requireCommand(t, 'podsec-no-such-tool'), /required command missing in CI/);
  });
  assert.equal(requireCommand(t, 'sh')?.endsWith('/sh'), true);
});
