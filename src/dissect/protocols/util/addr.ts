// Address text as people (and tshark) write it.

/** IPv6 address at `off` in RFC 5952 form (longest run of ≥2 zero words as "::"). */
export function ipv6Text(b: Buffer, off = 0): string {
  if (off + 16 > b.length) throw new RangeError('address truncated');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(off + i));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const h = words.map((w) => w.toString(16));
  if (best < 0) return h.join(':');
  return `${h.slice(0, best).join(':')}::${h.slice(best + bestLen).join(':')}`;
}

/** IPv4 address at `off` in dotted form. */
export function ipv4Text(b: Buffer, off = 0): string {
  if (off + 4 > b.length) throw new RangeError('address truncated');
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}
