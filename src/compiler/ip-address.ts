/**
 * Small, pure IPv4/IPv6 address helpers for the ipset model: parse to integers, format back, mask.
 * Enough to tell when two spellings name the same set element (10.0.0.0/8 and 10.1.2.3/8 in a
 * hash:net set); anything unusual is left to the kernel when staging.
 */

/** Parses a dotted IPv4 address to a 32-bit number. */
export function parseIpv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

/** Formats a 32-bit number as a dotted IPv4 address. */
export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses an IPv6 address (with `::` and an optional dotted IPv4 tail) to a 128-bit bigint. */
export function parseIpv6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return undefined;
  let text = s;
  const v4tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail !== null) {
    const v4 = parseIpv4(v4tail[2] as string);
    if (v4 === undefined) return undefined;
    text = `${v4tail[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : (halves[1] as string).split(':')) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let n = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

/** Formats a 128-bit bigint as an IPv6 address, the longest run of zero groups as `::` (RFC 5952). */
export function formatIpv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** The network address of `addr/prefix` in a family of `bits` (32 or 128). */
export function maskAddress(addr: bigint, prefix: number, bits: number): bigint {
  const host = BigInt(bits - prefix);
  return (addr >> host) << host;
}
