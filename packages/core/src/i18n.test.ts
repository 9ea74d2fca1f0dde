import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTranslator, detectLanguage } from './i18n.ts';
import { coreMessages } from './messages.ts';

describe('detectLanguage', () => {
  it('follows gettext precedence LC_ALL > LC_MESSAGES > LANG', () => {
    assert.equal(detectLanguage({ LANG: 'ru_RU.UTF-8' }), 'ru');
    assert.equal(detectLanguage({ LC_ALL: 'C', LANG: 'ru_RU.UTF-8' }), 'en');
    assert.equal(detectLanguage({ LC_MESSAGES: 'ru_RU.UTF-8', LANG: 'en_US.UTF-8' }), 'ru');
    assert.equal(detectLanguage({ LC_ALL: '', LANG: 'ru' }), 'ru');
    assert.equal(detectLanguage({}), 'en');
  });
});

describe('coreMessages', () => {
  it('has a Russian text for every English key', () => {
    assert.deepEqual(Object.keys(coreMessages.ru).sort(), Object.keys(coreMessages.en).sort());
  });
  it('fills parameters', () => {
    assert.equal(
      createTranslator('ru', coreMessages)('NOT_ROOT', { command: 'x' }),
      'x должна запускаться пользователем с правами root',
    );
  });
});
