// Address text as people (and tshark) write it, for addresses found inside
// protocol payloads (DNS AAAA records, ICMP bodies). Bounds-checked wrappers
// around the packet decoder's formatting.
import { formatIpv6, ipv4ToString } from '../../decode/addresses.js';

/** IPv6 address at `off` in RFC 5952 form (longest run of ≥2 zero words as "::"). */
export function ipv6Text(b: Buffer, off = 0): string {
  if (off + 16 > b.length) throw new RangeError('address truncated');
  return formatIpv6(b, off);
}

/** IPv4 address at `off` in dotted form. */
export function ipv4Text(b: Buffer, off = 0): string {
  if (off + 4 > b.length) throw new RangeError('address truncated');
  return ipv4ToString(b.readUInt32BE(off)); // cached: answers repeat the same few addresses
}
