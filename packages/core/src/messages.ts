import type { Catalog } from './i18n.ts';

/** Messages of @podsec/core itself (runCli, system boundary). Keys are error codes or `cli.*`. */
export const coreMessages = {
  en: {
    'cli.internal': 'internal error: {message}',
    'cli.report': 'This is a bug in podsec. Please report it with the output of --debug.',
    'cli.dryRun': 'dry run: nothing was changed',
    NOT_ROOT: '{command} must be run by a user with root rights',
    FS_ROOT_ESCAPE: 'path leaves the root directory: {path}',
    FS_LOCK_TIMEOUT: 'could not lock {path}',
    USAGE_BAD_NAME: 'invalid {what} name "{name}"',
    PLATFORM_UNKNOWN: 'cannot determine the platform: {reason}',
    PLATFORM_ARCH_UNSUPPORTED: 'unsupported CPU architecture "{machine}"',
  },
  ru: {
    'cli.internal': 'внутренняя ошибка: {message}',
    'cli.report': 'Это ошибка в podsec. Сообщите о ней, приложив вывод с ключом --debug.',
    'cli.dryRun': 'пробный запуск: ничего не изменено',
    NOT_ROOT: '{command} должна запускаться пользователем с правами root',
    FS_ROOT_ESCAPE: 'путь выходит за пределы корневого каталога: {path}',
    FS_LOCK_TIMEOUT: 'не удалось заблокировать {path}',
    USAGE_BAD_NAME: 'недопустимое имя ({what}) "{name}"',
    PLATFORM_UNKNOWN: 'не удалось определить платформу: {reason}',
    PLATFORM_ARCH_UNSUPPORTED: 'неподдерживаемая архитектура процессора "{machine}"',
  },
} as const satisfies Catalog;
