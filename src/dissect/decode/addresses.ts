// Address text for IPv4/IPv6 with a bounded cache: the same few thousand
// addresses recur in every capture, so formatting each packet's would be waste.

const v4Cache = new Map<number, string>();
const v6Cache = new Map<string, string>();
const CACHE_LIMIT = 65536;

export function ipv4ToString(n: number): string {
  // Keyed by the address as a signed 32-bit integer, which V8 keeps unboxed: half of all IPv4
  // addresses are 2^31 or more, and a key that large was a new heap number per lookup.
  const key = n | 0;
  let s = v4Cache.get(key);
  if (s === undefined) {
    s = formatIpv4(n);
    if (v4Cache.size >= CACHE_LIMIT) v4Cache.clear();
    v4Cache.set(key, s);
  }
  return s;
}

const v4Text = Buffer.allocUnsafeSlow(15);

/**
 * Dotted-quad text, written as bytes and read back as one flat string: the
 * text is kept by the cache and by every flow of the address, and a string
 * built by concatenation is a tree of pieces (flow-key.ts says why that costs).
 */
function formatIpv4(n: number): string {
  let p = 0;
  for (let shift = 24; shift >= 0; shift -= 8) {
    const octet = (n >>> shift) & 255;
    if (octet >= 100) v4Text[p++] = 0x30 + ((octet / 100) | 0);
    if (octet >= 10) v4Text[p++] = 0x30 + (((octet / 10) | 0) % 10);
    v4Text[p++] = 0x30 + (octet % 10);
    if (shift > 0) v4Text[p++] = 0x2e;
  }
  return v4Text.toString('latin1', 0, p);
}

/** RFC 5952 text of the 16 bytes at `off`. */
export function ipv6ToString(buf: Buffer, off: number): string {
  const key = buf.toString('latin1', off, off + 16);
  let s = v6Cache.get(key);
  if (s === undefined) {
    s = formatIpv6(buf, off);
    if (v6Cache.size >= CACHE_LIMIT) v6Cache.clear();
    v6Cache.set(key, s);
  }
  return s;
}

/** RFC 5952 text of the 16 bytes at `off`, uncached (see ipv6ToString). */
export function formatIpv6(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  // IPv4-mapped ::ffff:a.b.c.d
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  // Longest run of zero groups (length >= 2) becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}
