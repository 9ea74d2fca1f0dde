/**
 * containers-storage.conf(5): the few `[storage]` settings podsec reads and writes.
 */
import { getTomlValue, parseTomlText, setTomlValue } from './toml-edit.ts';

/** The storage.conf settings podsec uses. */
export interface StorageSettings {
  /** `[storage] driver`, e.g. `overlay`. */
  readonly driver?: string;
  readonly graphroot?: string;
  readonly runroot?: string;
  /** `[storage.options.overlay] mount_program`, e.g. `/usr/bin/fuse-overlayfs`. */
  readonly mountProgram?: string;
}

const ERR = { code: 'STORAGE_CONF_INVALID', what: 'storage.conf' } as const;
const PLACES = {
  driver: [['storage'], 'driver'],
  graphroot: [['storage'], 'graphroot'],
  runroot: [['storage'], 'runroot'],
  mountProgram: [['storage', 'options', 'overlay'], 'mount_program'],
} as const satisfies Record<keyof StorageSettings, readonly [readonly string[], string]>;

/**
 * Read the podsec-relevant settings of a storage.conf (non-string values are ignored).
 * @throws UsageError `STORAGE_CONF_INVALID`
 */
export function parseStorageConf(text: string): StorageSettings {
  const doc = parseTomlText(text, ERR.code, ERR.what);
  const out: Record<string, string> = {};
  for (const [name, [table, key]] of Object.entries(PLACES)) {
    const v = getTomlValue(doc, table, key);
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/**
 * Set storage.conf settings in text, keeping comments; `changed: false` returns the input unchanged.
 * @throws UsageError `STORAGE_CONF_INVALID`, `TOML_EDIT_UNSUPPORTED`
 */
export function updateStorageConf(
  text: string,
  settings: StorageSettings,
): { text: string; changed: boolean } {
  let out = text;
  let changed = false;
  for (const [name, [table, key]] of Object.entries(PLACES)) {
    const value = settings[name as keyof StorageSettings];
    if (value === undefined) continue;
    const r = setTomlValue(out, table, key, value, ERR);
    out = r.text;
    changed ||= r.changed;
  }
  return { text: changed ? out : text, changed };
}
