import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from '@commander-js/extra-typings';
import { createTestSystem, runProgram } from '@podsec/test-utils';
import { reflowParagraphs, wrapLines } from './help-layout.ts';
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

  it('wraps lines at spaces under their indentation plus a hang, never splitting a word', () => {
    assert.equal(wrapLines('aaa bbb ccc ddd', 8), 'aaa bbb\nccc ddd');
    assert.equal(wrapLines('  aaa bbb ccc', 9, 2), '  aaa bbb\n    ccc');
    assert.equal(wrapLines('x https://a.very.long/word y', 10), 'x\nhttps://a.very.long/word\ny');
  });

  it('wraps the usage line, narrow option descriptions and the text after the options at $COLUMNS', async (t) => {
    const system = await createTestSystem(t);
    const def: CliDefinition = {
      name: 'podsec-test',
      create: () =>
        new Command('podsec-test')
          .argument('<first-argument>')
          .argument('<second-argument>')
          .argument('[third-argument]')
          .option('--a-rather-long-option <value>', 'what the option does, in a few more words')
          .addHelpText(
            'after',
            '\nExit codes: 0 ok; 1 usage or invalid argument; 2 local precondition;\n3 cluster API error.\n\n  0  a table row that is indented and rather long too\n',
          )
          .action(() => {}),
    };
    const r = await runProgram(def, ['--help'], { system, env: { COLUMNS: '50', LANG: 'C' } });
    assert.equal(r.code, 0);
    const lines = r.stdout.split('\n');
    assert.deepEqual(
      lines.filter((l) => l.length > 50),
      [],
    );
    assert.deepEqual(lines.slice(0, 3), [
      'Usage: podsec-test [options] <first-argument>',
      '                   <second-argument>',
      '                   [third-argument]',
    ]);
    const exit = lines.findIndex((l) => l.startsWith('Exit codes:'));
    assert.deepEqual(lines.slice(exit, exit + 6), [
      'Exit codes: 0 ok; 1 usage or invalid argument; 2',
      'local precondition; 3 cluster API error.',
      '',
      '  0  a table row that is indented and rather long',
      '  too',
      '',
    ]);
    const option = lines.indexOf('  --a-rather-long-option <value>');
    assert.deepEqual(lines.slice(option + 1, option + 3), [
      '        what the option does, in a few more words',
      '  --root <dir>',
    ]);
  });
});
