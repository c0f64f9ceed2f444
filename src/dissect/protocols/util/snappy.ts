// Raw Snappy decompression (the block format MongoDB's and Cassandra's
// compressors and Prometheus remote write use), and Snappy's framing format
// (`x-snappy-framed`: the block format cut into checksummed chunks). Snappy is
// a byte-oriented LZ77: literals and back-references, nothing else, so a
// bounded decoder is a few lines and saves a native dependency. The output
// size is declared up front and capped.
// Formats: https://github.com/google/snappy/blob/main/format_description.txt
//          https://github.com/google/snappy/blob/main/framing_format.txt

export class SnappyError extends Error {}

/** Thrown (before anything is allocated) when the declared output is past the caller's bound. */
export class SnappyOverflow extends SnappyError {}

/** A cut block: what its whole elements gave, for partial decoding. */
class SnappyCut extends SnappyError {
  constructor(readonly decoded: number) {
    super('truncated');
  }
}

/**
 * Decode one raw Snappy block. `partial`: the block was cut short (a body cut
 * at --max-body): return what its whole elements give instead of failing on
 * the missing end.
 */
export function snappyDecompress(src: Buffer, maxOutput: number, partial = false): Buffer {
  let p = 0;
  let size = 0;
  for (let shift = 0; ; shift += 7) {
    if (p >= src.length || shift > 28) throw new SnappyError('bad length');
    const b = src[p++];
    size += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  if (size > maxOutput) throw new SnappyOverflow('output too large');
  const out = Buffer.alloc(size);
  try {
    const o = decodeElements(src, p, out);
    if (o !== size) throw new SnappyCut(o);
    return out;
  } catch (e) {
    if (partial && e instanceof SnappyCut) return out.subarray(0, e.decoded);
    throw e;
  }
}

/** The elements of a block from `p` into `out`; the bytes written. A cut element throws SnappyCut. */
function decodeElements(src: Buffer, p: number, out: Buffer): number {
  const size = out.length;
  let o = 0;
  while (p < src.length) {
    const tag = src[p++];
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >> 2;
      if (len >= 60) {
        const n = len - 59;
        if (p + n > src.length) throw new SnappyCut(o);
        len = 0;
        for (let i = 0; i < n; i++) len += src[p + i] * 2 ** (8 * i);
        p += n;
      }
      len += 1;
      if (o + len > size) throw new SnappyError('literal overruns');
      if (p + len > src.length) {
        // A literal cut short: its bytes as far as they go are still the data.
        src.copy(out, o, p);
        throw new SnappyCut(o + src.length - p);
      }
      src.copy(out, o, p, p + len);
      p += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    const extra = kind === 1 ? 1 : kind === 2 ? 2 : 4;
    if (p + extra > src.length) throw new SnappyCut(o);
    if (kind === 1) {
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | src[p];
    } else if (kind === 2) {
      len = (tag >> 2) + 1;
      offset = src.readUInt16LE(p);
    } else {
      len = (tag >> 2) + 1;
      offset = src.readUInt32LE(p);
    }
    p += extra;
    if (offset === 0 || offset > o || o + len > size) throw new SnappyError('bad copy');
    // Overlapping copies repeat the bytes just written: byte by byte on purpose.
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset];
  }
  return o;
}

const STREAM_IDENTIFIER = Buffer.from('sNaPpY');
/** A frame's chunk never decodes to more than this (the framing format's own limit). */
const MAX_CHUNK_OUTPUT = 65536;

/**
 * Decode Snappy's framing format: a stream identifier, then compressed and
 * uncompressed chunks (checksums are not verified: the capture's bytes are
 * what was sent). `partial`: a cut last chunk gives what it can.
 */
export function snappyFramedDecompress(src: Buffer, maxOutput: number, partial = false): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  let p = 0;
  let first = true;
  while (p < src.length) {
    if (p + 4 > src.length) {
      if (partial) break;
      throw new SnappyError('truncated chunk header');
    }
    const type = src[p];
    const length = src[p + 1] | (src[p + 2] << 8) | (src[p + 3] << 16);
    const body = src.subarray(p + 4, Math.min(src.length, p + 4 + length));
    const cut = body.length < length;
    if (cut && !partial) throw new SnappyError('truncated chunk');
    if (first && (type !== 0xff || !body.equals(STREAM_IDENTIFIER))) throw new SnappyError('no stream identifier');
    first = false;
    let data: Buffer | undefined;
    if (type === 0x00 || type === 0x01) {
      if (body.length < 4) break; // only the checksum arrived
      const payload = body.subarray(4);
      data = type === 0x00 ? snappyDecompress(payload, Math.min(MAX_CHUNK_OUTPUT, maxOutput - total), cut) : payload;
      if (data.length > MAX_CHUNK_OUTPUT) throw new SnappyError('chunk too large');
    } else if (type >= 0x02 && type <= 0x7f) {
      throw new SnappyError(`reserved unskippable chunk 0x${type.toString(16)}`);
    } // 0xff (identifier again), 0xfe (padding), 0x80–0xfd (skippable): nothing to add
    if (data) {
      if (total + data.length > maxOutput) throw new SnappyOverflow('output too large');
      parts.push(data);
      total += data.length;
    }
    if (cut) break;
    p += 4 + length;
  }
  return Buffer.concat(parts, total);
}
