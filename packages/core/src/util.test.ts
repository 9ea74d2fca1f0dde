import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeForTerminal } from './util.ts';

describe('escapeForTerminal', () => {
  it('makes control characters, DEL, C1 and bidi overrides visible and keeps other text', () => {
    assert.equal(escapeForTerminal('a\x1b]0;title\x07b'), 'a\\x1b]0;title\\x07b');
    assert.equal(escapeForTerminal('x\ny\tz\x7f\x9b'), 'x\\x0ay\\x09z\\x7f\\x9b');
    assert.equal(escapeForTerminal('evil\u202egpj.exe'), 'evil\\u{202e}gpj.exe');
    assert.equal(escapeForTerminal('образ/pause:3.9'), 'образ/pause:3.9');
  });

  it('doubles a backslash so that an escape cannot be forged', () => {
    assert.equal(escapeForTerminal('a\\x1bb'), 'a\\\\x1bb');
  });
});
