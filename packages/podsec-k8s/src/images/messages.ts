import type { Catalog } from '@podsec/core';

/** Messages of podsec-k8s-save-oci (keys: error codes with details, or `k8s.images.*`). */
export const imagesMessages = {
  en: {
    K8S_SAVE_NO_ARCH:
      'No architecture specified: name amd64, arm64, arm, ppc64le, 386, a comma-separated list or all',
    K8S_SAVE_K8S_PLATFORM:
      'platform {platform}: the k8s- prefix is not supported (since 2024-11-11): name the platform without it',
    K8S_SAVE_BAD_PLATFORM: 'invalid platform "{platform}"',
    K8S_BAD_VERSION: 'invalid Kubernetes version "{value}" (expected v1.<minor>.<patch>)',
    K8S_KUBEADM_FAILED: 'cannot ask {kubeadm} for its version: {reason}',
    K8S_IMAGES_LIST_FAILED: 'kubeadm cannot list the images of Kubernetes {version}: {reason}',
    K8S_IMAGES_INVALID: 'kubeadm printed an unusable image list: {reason}',
    K8S_IMAGES_UNEXPECTED: 'unexpected image {reference} in the list of kubeadm: {reason}',
    K8S_IMAGES_INCOMPLETE: 'kubeadm lists no image of {missing}',
    K8S_BUILD_ARCH:
      'images built from binaries have the architecture of those binaries: name exactly one architecture, not {archs}',
    K8S_BUILD_BINARY_MISSING: 'the binary of {component} is missing: {binary} does not exist',
    K8S_BUILD_BINARY_INVALID: '{binary} is not an executable file',
    K8S_IMAGE_BUILD_FAILED: 'building the image {image} failed: {reason}',
    K8S_BAD_TMPDIR: 'temporary directory {dir} must not contain ":", "+", "[" or "]"',
    'k8s.images.listed': 'Kubernetes {version}: {count} images',
    'k8s.images.built': '{n}/{total} built {image}',
    'k8s.images.saved':
      '{count} archives of the {images} images of Kubernetes {version} written to {dir}',
    'k8s.images.would':
      'would write {count} archives of the {images} images of Kubernetes {version} to {dir}',
  },
  ru: {
    K8S_SAVE_NO_ARCH:
      'Не указана архитектура: укажите amd64, arm64, arm, ppc64le, 386, список через запятую или all',
    K8S_SAVE_K8S_PLATFORM:
      'платформа {platform}: префикс k8s- не поддерживается (с 11.11.2024): укажите платформу без него',
    K8S_SAVE_BAD_PLATFORM: 'недопустимая платформа "{platform}"',
    K8S_BAD_VERSION: 'недопустимая версия Kubernetes "{value}" (ожидается v1.<минор>.<патч>)',
    K8S_KUBEADM_FAILED: 'не удалось узнать версию {kubeadm}: {reason}',
    K8S_IMAGES_LIST_FAILED: 'kubeadm не может перечислить образы Kubernetes {version}: {reason}',
    K8S_IMAGES_INVALID: 'kubeadm вывел непригодный список образов: {reason}',
    K8S_IMAGES_UNEXPECTED: 'неожиданный образ {reference} в списке kubeadm: {reason}',
    K8S_IMAGES_INCOMPLETE: 'в списке kubeadm нет образа {missing}',
    K8S_BUILD_ARCH:
      'образы из двоичных файлов имеют архитектуру этих файлов: укажите ровно одну архитектуру, а не {archs}',
    K8S_BUILD_BINARY_MISSING: 'нет двоичного файла {component}: {binary} не существует',
    K8S_BUILD_BINARY_INVALID: '{binary} не является исполняемым файлом',
    K8S_IMAGE_BUILD_FAILED: 'не удалось собрать образ {image}: {reason}',
    K8S_BAD_TMPDIR: 'временный каталог {dir} не должен содержать ":", "+", "[" или "]"',
    'k8s.images.listed': 'Kubernetes {version}: образов: {count}',
    'k8s.images.built': '{n}/{total} собран {image}',
    'k8s.images.saved': 'записано архивов: {count} ({images} образов Kubernetes {version}) в {dir}',
    'k8s.images.would':
      'будет записано архивов: {count} ({images} образов Kubernetes {version}) в {dir}',
  },
} as const satisfies Catalog;
