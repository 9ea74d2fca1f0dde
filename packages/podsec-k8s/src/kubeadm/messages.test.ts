import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exitCodes } from '../cli/podsec-u7s-kubeadm.ts';
import { u7sMessages } from '../messages.ts';

const dir = path.dirname(fileURLToPath(import.meta.url));

describe('the kubeadm wrapper messages', () => {
  it('have an English and a Russian text for every code the wrapper throws', async () => {
    const files = [
      ...(await readdir(dir))
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => path.join(dir, f)),
      path.join(dir, '../cli/podsec-u7s-kubeadm.ts'),
    ];
    const codes = new Set<string>();
    for (const f of files)
      for (const m of (await readFile(f, 'utf8')).matchAll(
        /(?:Error\(|bad\(|usage\(|badFlag\()\s*'((?:KUBEADM|U7S)_[A-Z_]*[A-Z])'/g,
      ))
        if (m[1] !== 'KUBEADM_NO_FACTS') codes.add(m[1]!);
    for (const c of Object.keys(exitCodes)) if (c !== 'NOT_ROOT') codes.add(c);
    const en: Record<string, string> = u7sMessages.en;
    const ru: Record<string, string> = u7sMessages.ru;
    assert.ok(codes.size > 30);
    for (const c of codes) {
      assert.ok(en[c], `${c} has no English text`);
      assert.ok(ru[c], `${c} has no Russian text`);
    }
    assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort());
  });
});
