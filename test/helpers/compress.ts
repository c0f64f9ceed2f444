// Compressed bytes for tests of the decoders that undo them, where no Debian
// tool writes the format: Snappy as literals only (a valid stream; the
// decoder's copies are checked on MongoDB's real captures).

/** Raw Snappy: the length as a varint, then literal runs of at most 60 bytes. */
export function snappyLiterals(b: Buffer): Buffer {
  const len: number[] = [];
  let n = b.length;
  do {
    len.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 0x80);
  } while (n > 0);
  const parts: Buffer[] = [Buffer.from(len)];
  for (let i = 0; i < b.length; i += 60) {
    const chunk = b.subarray(i, i + 60);
    parts.push(Buffer.from([(chunk.length - 1) << 2]), chunk);
  }
  return Buffer.concat(parts);
}
