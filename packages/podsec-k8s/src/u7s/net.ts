/** IPv4 CIDR arithmetic and the host-network overlap check (pure). */
import { UsageError } from '@podsec/core';

/** A parsed IPv4 network. */
export interface Cidr {
  readonly text: string;
  /** Network address as a 32-bit unsigned number. */
  readonly base: number;
  readonly bits: number;
}

/** Parses a dotted IPv4 address; undefined when malformed. */
export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255) || m.slice(1).some((x) => x.length > 1 && x.startsWith('0')))
    return undefined;
  return ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!;
}

/** Dotted form of a 32-bit number. */
export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (bits: number) => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** Parses `a.b.c.d/n` strictly (the address must be the network address). Throws `U7S_BAD_CIDR`. */
export function parseCidr(text: string, what = 'CIDR'): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIPv4(m[1]!) : undefined;
  const bits = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || bits > 32)
    throw new UsageError('U7S_BAD_CIDR', `invalid ${what} "${text}" (expected a.b.c.d/n)`, {
      details: { what, value: text },
    });
  if ((ip & mask(bits)) >>> 0 !== ip)
    throw new UsageError(
      'U7S_BAD_CIDR',
      `invalid ${what} "${text}" (host bits set; network is ${formatIPv4((ip & mask(bits)) >>> 0)}/${bits})`,
      { details: { what, value: text } },
    );
  return { text, base: ip, bits };
}

/** Address `offset` inside the network (CIDR arithmetic, not string concatenation). */
export function hostAddress(c: Cidr, offset: number): string {
  if (offset >= 2 ** (32 - c.bits))
    throw new UsageError('U7S_CIDR_TOO_SMALL', `${c.text} has no address at offset ${offset}`, {
      details: { value: c.text },
    });
  return formatIPv4((c.base + offset) >>> 0);
}

/** True when the two networks share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  return (a.base & mask(bits)) >>> 0 === (b.base & mask(bits)) >>> 0;
}

/** One address configured on a host interface. */
export interface HostAddress {
  readonly ifname: string;
  readonly address: string;
  readonly prefix: number;
}

/** Pure: parses `ip -j -4 addr` output. */
export function parseIpAddrJson(json: string): HostAddress[] {
  const out: HostAddress[] = [];
  const data: unknown = JSON.parse(json);
  if (!Array.isArray(data)) return out;
  for (const link of data as {
    ifname?: string;
    addr_info?: { family?: string; local?: string; prefixlen?: number }[];
  }[])
    for (const a of link.addr_info ?? [])
      if (a.family === 'inet' && a.local && typeof a.prefixlen === 'number')
        out.push({ ifname: link.ifname ?? '?', address: a.local, prefix: a.prefixlen });
  return out;
}

/**
 * Pure: refuses cluster networks that overlap a host network (loopback excluded), naming the interface.
 * Throws `U7S_NET_OVERLAP`.
 */
export function checkNetOverlap(
  nets: readonly { readonly name: string; readonly cidr: Cidr }[],
  host: readonly HostAddress[],
): void {
  for (const h of host) {
    const ip = parseIPv4(h.address);
    if (ip === undefined || h.address.startsWith('127.')) continue;
    const hostNet: Cidr = {
      text: `${h.address}/${h.prefix}`,
      base: (ip & mask(h.prefix)) >>> 0,
      bits: h.prefix,
    };
    for (const n of nets)
      if (cidrsOverlap(n.cidr, hostNet))
        throw new UsageError(
          'U7S_NET_OVERLAP',
          `the ${n.name} ${n.cidr.text} overlaps ${h.address}/${h.prefix} of interface ${h.ifname}`,
          {
            details: {
              network: n.name,
              cidr: n.cidr.text,
              address: `${h.address}/${h.prefix}`,
              ifname: h.ifname,
            },
          },
        );
  }
}
