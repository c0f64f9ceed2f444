// A Snappy block of literals only: the uncompressed length, then literals of at most 60 bytes. It is
// what a compressor emits for input with nothing to repeat, and any reader must take it; tests that
// need real compression use python-snappy.

export function snappyBlock(data: Buffer): Buffer {
  const out: number[] = [];
  for (let n = data.length; ; n = Math.floor(n / 128)) {
    if (n < 0x80) {
      out.push(n);
      break;
    }
    out.push((n & 0x7f) | 0x80);
  }
  const parts: Buffer[] = [Buffer.from(out)];
  for (let at = 0; at < data.length; at += 60) {
    const piece = data.subarray(at, at + 60);
    parts.push(Buffer.from([(piece.length - 1) << 2]), piece);
  }
  return Buffer.concat(parts);
}
