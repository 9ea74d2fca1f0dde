import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALL_EXIT_CODES } from './cli/common.ts';
import { rbacMessages } from './messages.ts';

const dir = path.dirname(fileURLToPath(import.meta.url));

async function sources(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('rbacMessages', () => {
  it('has an English and a Russian text for every code thrown and every rbac.* key', async () => {
    const codes = new Set<string>();
    for (const f of await sources(dir)) {
      const text = await readFile(f, 'utf8');
      for (const m of text.matchAll(/'(RBAC_[A-Z_]*[A-Z]|rbac\.[A-Za-z]+)'/g)) codes.add(m[1]!);
    }
    const en: Record<string, string> = rbacMessages.en;
    const ru: Record<string, string> = rbacMessages.ru;
    for (const c of codes) {
      assert.ok(en[c], `${c} has no English text`);
      assert.ok(ru[c], `${c} has no Russian text`);
    }
    assert.deepEqual(Object.keys(ru).sort(), Object.keys(en).sort());
  });

  it('maps every error code to the exit status of its category', () => {
    for (const [code, exit] of Object.entries(ALL_EXIT_CODES)) {
      assert.ok(exit >= 1 && exit <= 5, code);
      if (code !== 'NOT_ROOT')
        assert.ok(rbacMessages.en[code as keyof typeof rbacMessages.en], code);
    }
  });
});
