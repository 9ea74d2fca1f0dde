import type { Catalog } from '@podsec/core';

/** Messages of podsec-load-sign-oci and podsec-save-oci (keys: error codes with details, or `oci.*`). */
export const ociMessages = {
  en: {
    OCI_NOT_SIGSTORE_SERVER:
      'this host is not the signature server: {reason} (use --registry-host for another registry)',
    OCI_NOT_IMAGE_MAKER: 'user {user} is not a member of the {group} group',
    OCI_TARGET_NO_PATH: 'Missing path after registry name {target}',
    OCI_TARGET_INVALID: 'invalid target {target}',
    OCI_PLATFORM_UNKNOWN:
      'the platform is unknown: set U7S_PLATFORM, use --platform or name the target',
    OCI_ARCHIVE_MISSING: 'archive {archive} does not exist or is not a regular file',
    OCI_UNKNOWN_ARCH: 'unknown architecture {arch}: use amd64, arm64, arm, ppc64le or 386',
    OCI_REGISTRY_MISSING: 'registry name is missing',
    OCI_REGISTRY_NO_DOT: 'registry name {registry} must contain a dot',
    OCI_ARCHIVE_INVALID: 'cannot extract {archive}: {reason}',
    OCI_ARCHIVE_TOO_LARGE: 'cannot extract {archive}: {reason}',
    OCI_INDEX_TOO_LARGE:
      '{member} in {archive} is {size} bytes, more than the limit of {limit}: not an index of images',
    OCI_ARCH_DIR_MISSING: 'the archive has no {arch}/ directory',
    OCI_INDEX_MISSING: 'the archive has no {arch}/index.json',
    OCI_INDEX_INVALID: 'invalid index.json: {reason}',
    OCI_PLATFORM_MISMATCH:
      'the archive platform {archivePlatform} differs from {platform}; use --yes to accept it',
    OCI_K8S_PLATFORM:
      'archives of platform {archivePlatform} (prefix k8s-) are not supported: use the archive of the platform without the prefix',
    OCI_KEY_UNREADABLE: 'cannot read the signing key {file}: use --key <file>',
    OCI_SIGNER_MISMATCH: 'the signing key {fingerprint} has no user id {email}',
    OCI_KEY_CANNOT_SIGN: 'the key {fingerprint} cannot sign (expired or revoked)',
    OCI_LOOKASIDE_NOT_FILE:
      'signatures for {ref} would go to {url}: only a file:// lookaside-staging can be written',
    OCI_NO_HOME: 'user {user} is not in the user database',
    OCI_PUSH_FAILED:
      'pushing or signing {reference} failed: {reason}\nalready pushed and signed: {done}',
    OCI_PACK_FAILED: 'cannot write {file}: {reason}',
    KEY_PASSPHRASE_REQUIRED:
      'the signing key is protected by a passphrase: use --passphrase-file <file>',
    PASSPHRASE_UNREADABLE: 'cannot read passphrase file {file}',
    SAVE_NO_DIR: 'Image archiving directory not specified',
    SAVE_NO_IMAGES: 'No list of images specified',
    SAVE_DIR_EXISTS: 'OCI catalog {dir} already exists',
    SAVE_UNKNOWN_ARCH: 'unknown architecture {arch}: use amd64, arm64, arm, ppc64le, 386 or all',
    SAVE_BAD_TMPDIR: 'temporary directory {dir} must not contain ":"',
    SAVE_COPY_FAILED: 'copying {source} ({arch}) failed: {reason}',
    'oci.confirm':
      'The archive platform {archivePlatform} differs from the platform {platform}. Continue (y/N)? ',
    'oci.pushed': '[{n}/{total}] pushed and signed {reference}',
    'oci.pushedAlready': '[{n}/{total}] pushed {reference} (already signed)',
    'oci.would': '[{n}/{total}] would push {source} to {reference} and sign it',
    'oci.loaded': '{count} references pushed and signed from {archive}',
    'oci.saveCopy': '[{arch}] {n}/{total} copied {source}',
    'oci.saveArchive': 'written {file}',
    'oci.saved': '{count} archives written to {dir}',
  },
  ru: {
    OCI_NOT_SIGSTORE_SERVER:
      'этот узел не является сервером подписей: {reason} (для другого регистратора используйте --registry-host)',
    OCI_NOT_IMAGE_MAKER: 'пользователь {user} не входит в группу {group}',
    OCI_TARGET_NO_PATH: 'Отсутствует путь после имени регистратора {target}',
    OCI_TARGET_INVALID: 'недопустимое место назначения {target}',
    OCI_PLATFORM_UNKNOWN:
      'платформа неизвестна: задайте U7S_PLATFORM, ключ --platform или место назначения',
    OCI_ARCHIVE_MISSING: 'архив {archive} не существует или не является обычным файлом',
    OCI_UNKNOWN_ARCH: 'неизвестная архитектура {arch}: допустимы amd64, arm64, arm, ppc64le, 386',
    OCI_REGISTRY_MISSING: 'не указано имя регистратора',
    OCI_REGISTRY_NO_DOT: 'имя регистратора {registry} должно содержать точку',
    OCI_ARCHIVE_INVALID: 'не удалось распаковать {archive}: {reason}',
    OCI_ARCHIVE_TOO_LARGE: 'не удалось распаковать {archive}: {reason}',
    OCI_INDEX_TOO_LARGE:
      '{member} в {archive} имеет размер {size} байт, больше предела {limit}: это не индекс образов',
    OCI_ARCH_DIR_MISSING: 'в архиве нет каталога {arch}/',
    OCI_INDEX_MISSING: 'в архиве нет файла {arch}/index.json',
    OCI_INDEX_INVALID: 'неверный index.json: {reason}',
    OCI_PLATFORM_MISMATCH:
      'платформа архива {archivePlatform} отличается от {platform}; чтобы принять её, укажите --yes',
    OCI_K8S_PLATFORM:
      'архивы платформы {archivePlatform} (префикс k8s-) не поддерживаются: используйте архив платформы без префикса',
    OCI_KEY_UNREADABLE: 'не удалось прочитать ключ подписи {file}: укажите --key <файл>',
    OCI_SIGNER_MISMATCH: 'у ключа подписи {fingerprint} нет идентификатора {email}',
    OCI_KEY_CANNOT_SIGN: 'ключ {fingerprint} не может подписывать (истёк или отозван)',
    OCI_LOOKASIDE_NOT_FILE:
      'подписи для {ref} должны записываться в {url}: записывать можно только в file:// lookaside-staging',
    OCI_NO_HOME: 'пользователя {user} нет в базе пользователей',
    OCI_PUSH_FAILED:
      'не удалось поместить или подписать {reference}: {reason}\nуже помещены и подписаны: {done}',
    OCI_PACK_FAILED: 'не удалось записать {file}: {reason}',
    KEY_PASSPHRASE_REQUIRED: 'ключ подписи защищён паролем: укажите --passphrase-file <файл>',
    PASSPHRASE_UNREADABLE: 'не удалось прочитать файл пароля {file}',
    SAVE_NO_DIR: 'Не указан каталог архивирования образов',
    SAVE_NO_IMAGES: 'Не указан список образов',
    SAVE_DIR_EXISTS: 'OCI-каталог {dir} уже существует',
    SAVE_UNKNOWN_ARCH:
      'неизвестная архитектура {arch}: допустимы amd64, arm64, arm, ppc64le, 386 или all',
    SAVE_BAD_TMPDIR: 'временный каталог {dir} не должен содержать ":"',
    SAVE_COPY_FAILED: 'не удалось скопировать {source} ({arch}): {reason}',
    'oci.confirm':
      'Платформа архива {archivePlatform} отличается от платформы {platform}. Продолжить (y/N)? ',
    'oci.pushed': '[{n}/{total}] помещён и подписан {reference}',
    'oci.pushedAlready': '[{n}/{total}] помещён {reference} (подпись уже есть)',
    'oci.would': '[{n}/{total}] будет помещён {source} как {reference} и подписан',
    'oci.loaded': 'помещено и подписано ссылок: {count} из {archive}',
    'oci.saveCopy': '[{arch}] {n}/{total} скопирован {source}',
    'oci.saveArchive': 'записан {file}',
    'oci.saved': 'записано архивов: {count} в {dir}',
  },
} as const satisfies Catalog;
