import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from '@commander-js/extra-typings';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { reflowParagraphs } from './help-layout.ts';
import type { CliDefinition } from './run-cli.ts';

describe('help layout', () => {
  it('joins the lines of a paragraph, keeps blank-line paragraphs and indented tables', () => {
    assert.equal(reflowParagraphs('one\ntwo\n\nthree'), 'one two\n\nthree');
    assert.equal(reflowParagraphs('codes:\n  0 ok\n  1 bad'), 'codes:\n  0 ok\n  1 bad');
  });

  it('wraps descriptions at the width without breaking a sentence at a source line break', async (t) => {
    const system = await createTestSystem(t);
    const def: CliDefinition = {
      name: 'podsec-test',
      create: () =>
        new Command('podsec-test')
          .description('A first sentence that is rather long and goes on,\nthen ends here.')
          .action(() => {}),
    };
    const r = await runProgram(def, ['--help'], { system, env: { COLUMNS: '40', LANG: 'C' } });
    assert.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('A first'));
    assert.deepEqual(lines.slice(start, start + 3), [
      'A first sentence that is rather long and',
      'goes on, then ends here.',
      '',
    ]);
  });
});
