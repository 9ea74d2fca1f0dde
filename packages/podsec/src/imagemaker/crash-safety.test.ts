import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatPolicy, parsePolicy } from '@podsec/core/config';
import { planMakerPolicy } from './plan-imagemakers.ts';
import { FRESH_POLICY, PASSPHRASE_FILE, prepareServer } from './test-helpers/server-root.ts';

const RUNNER = fileURLToPath(new URL('./test-helpers/run-cli.ts', import.meta.url));
const MAKERS = [
  { user: 'a', scope: 'registry.local/c10f' },
  { user: 'b', scope: 'registry.local' },
];
const ARGS = [
  '-v',
  '--key-type',
  'ed25519',
  '--passphrase-file',
  PASSPHRASE_FILE,
  '--no-password',
  'a@registry.local/c10f',
  'b@registry.local',
];
const RUNS = 10;

async function prepared(t: TestContext): Promise<string> {
  const { system } = await prepareServer(t);
  await writeFile(path.join(system.root, 'var/sigstore/keys/policy.json'), FRESH_POLICY);
  return system.root;
}

/** The last change before the policy switch (printed by -v just before it is made). */
const LAST_STEP = 'create signature directory /var/sigstore/sigstore/c10f';

/**
 * Start the real CLI from source; kill it with SIGKILL `killAfterMs` after the start, or `afterLastStep` ms
 * after it printed {@link LAST_STEP} (never when both are undefined).
 */
async function runChild(
  root: string,
  killAfterMs?: number,
  afterLastStep?: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number; stderr: string }> {
  const started = Date.now();
  // gpg is left out of PATH: a killed import would leave a gpg-agent behind; the policy switch is what is tested
  const child = execa(
    process.execPath,
    ['--conditions=podsec-source', RUNNER, '--root', root, ...ARGS],
    {
      env: { LANG: 'C', PATH: '/usr/sbin:/sbin' },
      extendEnv: false,
      stdin: 'ignore',
      stdout: 'ignore',
      reject: false,
    },
  );
  let stderr = '';
  let timer =
    killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  child.stderr.on('data', (d: Buffer) => {
    const seen = stderr.includes(LAST_STEP);
    stderr += d.toString();
    if (afterLastStep !== undefined && !seen && stderr.includes(LAST_STEP))
      timer = setTimeout(() => child.kill('SIGKILL'), afterLastStep);
  });
  const r = await child;
  clearTimeout(timer);
  return { code: r.exitCode ?? null, signal: r.signal ?? null, ms: Date.now() - started, stderr };
}

describe('podsec-create-imagemakeruser crash safety', () => {
  it(`keeps policy.json and its published copy either old or new when killed at ${RUNS} random points`, async (t) => {
    const oldPolicy = parsePolicy(FRESH_POLICY);
    const newPolicy = parsePolicy(formatPolicy(planMakerPolicy(oldPolicy, MAKERS).policy));
    const full = await runChild(await prepared(t));
    assert.equal(full.code, 0, full.stderr);
    const seen = { old: 0, new: 0 };
    for (let i = 0; i < RUNS; i++) {
      const root = await prepared(t);
      // half of the kills anywhere in the run, half in the few ms around the policy switch
      const delay = Math.round(Math.random() * (i % 2 === 0 ? full.ms : 20));
      const r = i % 2 === 0 ? await runChild(root, delay) : await runChild(root, undefined, delay);
      for (const file of ['etc/containers/policy.json', 'var/sigstore/keys/policy.json']) {
        const text = await readFile(path.join(root, file), 'utf8'); // follows the symlink; a dangling one throws
        const doc: unknown = JSON.parse(text);
        const isOld = JSON.stringify(doc) === JSON.stringify(oldPolicy);
        const isNew = JSON.stringify(doc) === JSON.stringify(newPolicy);
        assert.ok(
          isOld || isNew,
          `run ${i} (killed ${delay} ms after ${i % 2 === 0 ? 'the start' : 'the last step'}, ${r.signal ?? `exit ${r.code}`}): ${file} is neither old nor new:\n${text}`,
        );
        if (file.startsWith('etc')) seen[isNew ? 'new' : 'old'] += 1;
      }
    }
    t.diagnostic(`full run ${full.ms} ms; after the kills: ${seen.old} old, ${seen.new} new`);
  });
});
