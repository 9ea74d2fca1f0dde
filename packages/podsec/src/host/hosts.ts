import { UsageError } from '@podsec/core';

/** One non-comment line of /etc/hosts. */
export interface HostsEntry {
  readonly ip: string;
  readonly names: readonly string[];
  /** 1-based line number. */
  readonly line: number;
}

/** Parses /etc/hosts into (ip, names) entries; comments (also trailing ones) and blank lines are ignored. */
export function parseHosts(text: string): HostsEntry[] {
  const out: HostsEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const words = raw
      .replace(/#.*$/, '')
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
    if (words.length >= 2) out.push({ ip: words[0]!, names: words.slice(1), line: i + 1 });
  });
  return out;
}

/** For each name, the IP it is bound to (first binding wins, as the resolver does). */
export function bindingsOf(
  entries: readonly HostsEntry[],
  names: readonly string[],
): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of entries)
    for (const n of e.names) if (names.includes(n) && !m.has(n)) m.set(n, e.ip);
  return m;
}

/** Result of {@link planHostsBinding}. */
export interface HostsPlan {
  /** The new text, or `undefined` when nothing needs to change. */
  readonly text: string | undefined;
  readonly line: string;
}

/**
 * Pure: adds `<ip> <names...>` to /etc/hosts. Throws `HOSTS_ALREADY_BOUND` (details: name, ip) when any of
 * the names is bound already, to this IP or another one (the original only noticed the same IP, docs/weaknesses.md#w3-etchosts-handling).
 */
export function planHostsBinding(text: string, ip: string, names: readonly string[]): HostsPlan {
  const line = `${ip} ${names.join(' ')}`;
  const bound = bindingsOf(parseHosts(text), names);
  const [name, boundIp] = [...bound.entries()][0] ?? [];
  if (name !== undefined && boundIp !== undefined) {
    throw new UsageError(
      'HOSTS_ALREADY_BOUND',
      `${name} is already bound to ${boundIp} in /etc/hosts; remove the binding and run again`,
      { details: { name, ip: boundIp } },
    );
  }
  const body = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return { text: `${body}${line}\n`, line };
}
