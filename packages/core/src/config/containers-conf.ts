/**
 * containers.conf(5): get and set keys of the `[engine]` table (and other tables) podsec manages.
 */
import { getTomlValue, parseTomlText, setTomlValue } from './toml-edit.ts';
import type { TomlScalar } from './toml-edit.ts';

const ERR = { code: 'CONTAINERS_CONF_INVALID', what: 'containers.conf' } as const;

/**
 * Value of `[table] key` in containers.conf text (`table` defaults to `engine`), or undefined.
 * @throws UsageError `CONTAINERS_CONF_INVALID`
 */
export function getContainersConfValue(text: string, key: string, table = 'engine'): unknown {
  return getTomlValue(parseTomlText(text, ERR.code, ERR.what), table.split('.'), key);
}

/**
 * Set `[table] key = value` in containers.conf text (`table` defaults to `engine`), keeping comments.
 * @throws UsageError `CONTAINERS_CONF_INVALID`, `TOML_EDIT_UNSUPPORTED`
 */
export function setContainersConfValue(
  text: string,
  key: string,
  value: TomlScalar,
  table = 'engine',
): { text: string; changed: boolean } {
  return setTomlValue(text, table.split('.'), key, value, ERR);
}
