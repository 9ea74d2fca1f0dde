/** podsec-inotify: library API (implemented by later issues). */
export const PACKAGE_NAME = 'podsec-inotify';
