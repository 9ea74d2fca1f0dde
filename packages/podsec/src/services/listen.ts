import { UsageError } from '@podsec/core';

// Apart from plan-services.ts so that the CLI can check its options without loading the YAML parser.
/** `host:port` / `:port` parsing of the listen options; the host part must be an IPv4 address or empty. */
export function parseListen(
  value: string,
  o: { allowEmptyHost: boolean; defaultPort?: number },
): { host: string; port: number } {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]|)(?::(\d{1,5}))?$/.exec(value);
  const bad = () =>
    new UsageError(
      'USAGE_BAD_LISTEN',
      `invalid listen address "${value}" (expected <ipv4>:<port>)`,
      { details: { value } },
    );
  if (!m) throw bad();
  const host = m[1] ?? (m[2] === undefined ? '' : `[${m[2]}]`);
  if (m[1] && m[1].split('.').some((o) => Number(o) > 255)) throw bad();
  if (host === '' && !o.allowEmptyHost) throw bad();
  const port = m[3] === undefined ? o.defaultPort : Number(m[3]);
  if (port === undefined || port > 65535) throw bad();
  return { host, port };
}
