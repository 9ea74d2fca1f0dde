import { createTranslator, type Catalog } from '@podsec/core';
import { changesMessages } from '@podsec/core/changes';

/**
 * Messages of podsec-create-imagemakeruser (errors by code, progress and dry-run lines by `imagemaker.*`).
 * `{name}` marks a parameter.
 */
export const imagemakerMessages = {
  en: {
    ...changesMessages.en,
    IMAGEMAKER_BAD_FORMAT:
      'Invalid repository path description format "{arg}": expected user@scope',
    IMAGEMAKER_BAD_SCOPE:
      'Invalid repository path "{scope}" in "{arg}": not a docker policy scope (host[:port][/path])',
    IMAGEMAKER_DUPLICATE_SCOPE: 'Repository path {scope} is given more than once ({users})',
    IMAGEMAKER_SCOPE_BOUND:
      'Repository path {scope} is already bound to {current} in {policy}; use --force to replace it',
    IMAGEMAKER_NOT_SERVER: 'This host is not the signature server: {reason}',
    IMAGEMAKER_NO_SIGSTORE:
      'Signature server directory /var/sigstore/ not created. Run podsec-create-policy <server-ip> first',
    IMAGEMAKER_NO_GROUP: 'Group {group} does not exist. Run podsec-create-policy <server-ip> first',
    IMAGEMAKER_NO_POLICY: '{path} does not exist. Run podsec-create-policy <server-ip> first',
    IMAGEMAKER_USER_EXISTS:
      'User {user} already exists; use --existing to make this account an image maker',
    IMAGEMAKER_NO_HOME: 'User {user} has no home directory {home}',
    IMAGEMAKER_KEY_FAILED: 'Cannot generate the signing key of {user}: {reason}',
    IMAGEMAKER_KEY_UNUSABLE: 'The key {fingerprint} of {user} cannot be used for signing: {reason}',
    IMAGEMAKER_KEY_MISMATCH:
      'The published key {publicKey} does not belong to the private key {privateKey} of {user}; remove one of them',
    IMAGEMAKER_KEY_INVALID: 'Cannot read the existing key {path} of {user}: {reason}',
    IMAGEMAKER_EMAIL_AMBIGUOUS:
      '--email {email} would be used by several new keys ({users}); put {user} into it',
    IMAGEMAKER_NO_PASSPHRASE:
      'No passphrase for the signing key of {user}: give --passphrase-file <file> or run on a terminal',
    IMAGEMAKER_NO_PASSWORD:
      'No password for the new user {user}: give --password-file <file> or --no-password, or run on a terminal',
    IMAGEMAKER_SECRET_EMPTY: 'The {what} must not be empty',
    IMAGEMAKER_SECRET_MISMATCH: 'The {what}s do not match',
    IMAGEMAKER_SECRET_INVALID: 'The {what} must be one line',
    IMAGEMAKER_ABORTED: 'Aborted',
    IMAGEMAKER_UNSAFE_DIR:
      '{path} is not a plain directory of {user} (symbolic link or foreign owner); fix it first',
    'imagemaker.checkingServer': 'Checking the signature server role of this host',
    'imagemaker.prompt.password':
      'Enter the password for user {user} - the container image developer: ',
    'imagemaker.prompt.passwordAgain': 'Repeat the password for user {user}: ',
    'imagemaker.prompt.passphrase': 'Enter the passphrase of the signing key of {user} <{email}>: ',
    'imagemaker.prompt.passphraseAgain': 'Repeat the passphrase: ',
    'imagemaker.what.password': 'password',
    'imagemaker.what.passphrase': 'passphrase',
    'imagemaker.keyReused':
      'User {user} already has the signing key {fingerprint}: not generating a new one',
    'imagemaker.keyPublicOnly':
      'User {user}: {publicKey} exists but podsec holds no private key (it may be in the GnuPG keyring): keeping it',
    'imagemaker.gpgMissing':
      'gpg is not installed: the key of {user} is only in {path} (podman push --sign-by needs it in GnuPG)',
    'imagemaker.gpgFailed': 'Could not import the key of {user} into {homedir}: {reason}',
    'imagemaker.unsafeDir': 'Not writing {path}: {reason}',
    'imagemaker.sharedSignatureDir':
      'Signature directory {dir} of {scope} is shared with {other}: signatures of both land in the same directory (the lookaside path omits the registry host)',
    'imagemaker.keysDirWritable':
      '{dir} is writable by group or others: any member can replace public keys (run podsec-create-policy to fix its mode)',
    'imagemaker.done': 'Image makers: {users}',
  },
  ru: {
    ...changesMessages.ru,
    IMAGEMAKER_BAD_FORMAT:
      'Неверный формат описания пути репозитория "{arg}": ожидается пользователь@путь',
    IMAGEMAKER_BAD_SCOPE:
      'Неверный путь репозитория "{scope}" в "{arg}": это не область политики docker (хост[:порт][/путь])',
    IMAGEMAKER_DUPLICATE_SCOPE: 'Путь репозитория {scope} указан более одного раза ({users})',
    IMAGEMAKER_SCOPE_BOUND:
      'Путь репозитория {scope} уже привязан к {current} в {policy}; для замены укажите --force',
    IMAGEMAKER_NOT_SERVER: 'Этот узел не является сервером подписей: {reason}',
    IMAGEMAKER_NO_SIGSTORE:
      'Каталог сервера подписей /var/sigstore/ не создан. Сначала выполните podsec-create-policy <ip-сервера>',
    IMAGEMAKER_NO_GROUP:
      'Группа {group} не существует. Сначала выполните podsec-create-policy <ip-сервера>',
    IMAGEMAKER_NO_POLICY:
      '{path} не существует. Сначала выполните podsec-create-policy <ip-сервера>',
    IMAGEMAKER_USER_EXISTS:
      'Пользователь {user} уже существует; чтобы сделать его разработчиком образов, укажите --existing',
    IMAGEMAKER_NO_HOME: 'У пользователя {user} нет домашнего каталога {home}',
    IMAGEMAKER_KEY_FAILED: 'Не удалось создать ключ подписи пользователя {user}: {reason}',
    IMAGEMAKER_KEY_UNUSABLE:
      'Ключ {fingerprint} пользователя {user} нельзя использовать для подписи: {reason}',
    IMAGEMAKER_KEY_MISMATCH:
      'Опубликованный ключ {publicKey} не соответствует закрытому ключу {privateKey} пользователя {user}; удалите один из них',
    IMAGEMAKER_KEY_INVALID:
      'Не удалось прочитать существующий ключ {path} пользователя {user}: {reason}',
    IMAGEMAKER_EMAIL_AMBIGUOUS:
      '--email {email} досталась бы нескольким новым ключам ({users}); используйте в ней {user}',
    IMAGEMAKER_NO_PASSPHRASE:
      'Нет пароля ключа подписи пользователя {user}: укажите --passphrase-file <файл> или запустите в терминале',
    IMAGEMAKER_NO_PASSWORD:
      'Нет пароля нового пользователя {user}: укажите --password-file <файл> или --no-password, или запустите в терминале',
    IMAGEMAKER_SECRET_EMPTY: 'Значение ({what}) не должно быть пустым',
    IMAGEMAKER_SECRET_MISMATCH: 'Введённые значения ({what}) не совпадают',
    IMAGEMAKER_SECRET_INVALID: 'Значение ({what}) должно быть одной строкой',
    IMAGEMAKER_ABORTED: 'Прервано',
    IMAGEMAKER_UNSAFE_DIR:
      '{path} не является обычным каталогом пользователя {user} (символьная ссылка или чужой владелец); исправьте это',
    'imagemaker.checkingServer': 'Проверка роли сервера подписей на этом узле',
    'imagemaker.prompt.password':
      'Введите пароль пользователя {user} - разработчика образов контейнеров: ',
    'imagemaker.prompt.passwordAgain': 'Повторите пароль пользователя {user}: ',
    'imagemaker.prompt.passphrase': 'Введите пароль ключа подписи пользователя {user} <{email}>: ',
    'imagemaker.prompt.passphraseAgain': 'Повторите пароль ключа: ',
    'imagemaker.what.password': 'пароль',
    'imagemaker.what.passphrase': 'пароль ключа',
    'imagemaker.keyReused':
      'У пользователя {user} уже есть ключ подписи {fingerprint}: новый не создаётся',
    'imagemaker.keyPublicOnly':
      'Пользователь {user}: {publicKey} существует, но закрытого ключа у podsec нет (возможно, он в связке GnuPG): ключ сохраняется',
    'imagemaker.gpgMissing':
      'gpg не установлен: ключ пользователя {user} есть только в {path} (для podman push --sign-by он нужен в GnuPG)',
    'imagemaker.gpgFailed':
      'Не удалось импортировать ключ пользователя {user} в {homedir}: {reason}',
    'imagemaker.unsafeDir': '{path} не записан: {reason}',
    'imagemaker.sharedSignatureDir':
      'Каталог подписей {dir} области {scope} общий с {other}: подписи обоих попадают в один каталог (путь lookaside не содержит хост реестра)',
    'imagemaker.keysDirWritable':
      '{dir} доступен на запись группе или всем: любой её член может подменить открытые ключи (исправьте права с помощью podsec-create-policy)',
    'imagemaker.done': 'Разработчики образов: {users}',
  },
} as const satisfies Catalog;

/** A message lookup: key and parameters to text. */
export type ImagemakerTranslate = (
  key: string,
  params?: Readonly<Record<string, unknown>>,
) => string;

const english = createTranslator('en', imagemakerMessages);

/** The English catalogue as a {@link ImagemakerTranslate} (library default). */
export const translateEnglish: ImagemakerTranslate = (key, params) => english(key, params) ?? key;
