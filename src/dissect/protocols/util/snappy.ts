// Raw Snappy decompression (the block format MongoDB's and Cassandra's
// compressors use; no framing). Snappy is a byte-oriented LZ77: literals and
// back-references, nothing else, so a bounded decoder is a few lines and
// saves a native dependency. The output size is declared up front and capped.
// Format: https://github.com/google/snappy/blob/main/format_description.txt

export class SnappyError extends Error {}

export function snappyDecompress(src: Buffer, maxOutput: number): Buffer {
  let p = 0;
  let size = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= src.length || shift > 28) throw new SnappyError('bad length');
    const b = src[p++];
    size += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  if (size > maxOutput) throw new SnappyError('output too large');
  const out = Buffer.alloc(size);
  let o = 0;
  while (p < src.length) {
    const tag = src[p++];
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >> 2;
      if (len >= 60) {
        const n = len - 59;
        if (p + n > src.length) throw new SnappyError('truncated literal length');
        len = 0;
        for (let i = 0; i < n; i++) len += src[p + i] * 2 ** (8 * i);
        p += n;
      }
      len += 1;
      if (p + len > src.length || o + len > size) throw new SnappyError('literal overruns');
      src.copy(out, o, p, p + len);
      p += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      if (p >= src.length) throw new SnappyError('truncated copy');
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | src[p++];
    } else if (kind === 2) {
      if (p + 2 > src.length) throw new SnappyError('truncated copy');
      len = (tag >> 2) + 1;
      offset = src.readUInt16LE(p);
      p += 2;
    } else {
      if (p + 4 > src.length) throw new SnappyError('truncated copy');
      len = (tag >> 2) + 1;
      offset = src.readUInt32LE(p);
      p += 4;
    }
    if (offset === 0 || offset > o || o + len > size) throw new SnappyError('bad copy');
    // Overlapping copies repeat the bytes just written: byte by byte on purpose.
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset];
  }
  if (o !== size) throw new SnappyError('short output');
  return out;
}
