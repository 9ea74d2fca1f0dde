/** Languages with a message catalogue. */
export type Language = 'en' | 'ru';

/** A message catalogue: the same keys in English and Russian. `{name}` marks a parameter. */
export interface Catalog<K extends string = string> {
  readonly en: Readonly<Record<K, string>>;
  readonly ru: Readonly<Record<K, string>>;
}

/** Looks a message up and fills in its parameters. */
export type Translator = (
  key: string,
  params?: Readonly<Record<string, unknown>>,
) => string | undefined;

/**
 * The language gettext would pick for LC_MESSAGES: the first non-empty of LC_ALL, LC_MESSAGES, LANG;
 * Russian for `ru*`, otherwise English (C/POSIX included).
 */
export function detectLanguage(env: Readonly<Record<string, string | undefined>>): Language {
  const v =
    [env['LC_ALL'], env['LC_MESSAGES'], env['LANG']].find((x) => x !== undefined && x !== '') ?? '';
  return /^ru([_.@]|$)/i.test(v) ? 'ru' : 'en';
}

/** Fills `{name}` placeholders; unknown ones stay as they are. */
export function formatMessage(
  template: string,
  params: Readonly<Record<string, unknown>> = {},
): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (m, k: string) =>
    k in params ? String(params[k]) : m,
  );
}

/** A translator over several catalogues (the package's first, then core's); English is the fallback. */
export function createTranslator(lang: Language, ...catalogs: readonly Catalog[]): Translator {
  return (key, params) => {
    for (const c of catalogs) {
      const t = c[lang][key] ?? c.en[key];
      if (t !== undefined) return formatMessage(t, params);
    }
    return undefined;
  };
}
