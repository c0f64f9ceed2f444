// LZ4 decompression (frame format and raw blocks), bounded: Kafka's record
// batches use the frame format. Checksums are not verified (the capture's TCP
// layer is what it is; a wrong byte shows as a bad record, not a crash).
// Spec: https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md and
// lz4_Block_format.md.

export class Lz4Error extends Error {}

const FRAME_MAGIC = 0x184d2204;
/** Skippable frames: magic 0x184D2A50 … 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/**
 * The content of LZ4 frames (one or several, back to back), at most
 * `maxOutput` bytes: past it, Lz4Error (a bomb is refused, not grown).
 */
export function lz4FrameDecompress(src: Buffer, maxOutput: number): Buffer {
  const out = new Output(maxOutput);
  let pos = 0;
  while (pos < src.length) {
    if (pos + 4 > src.length) throw new Lz4Error('short frame');
    const magic = src.readUInt32LE(pos);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (pos + 8 > src.length) throw new Lz4Error('short skippable frame');
      pos += 8 + src.readUInt32LE(pos + 4);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new Lz4Error('not an LZ4 frame');
    pos = frame(src, pos + 4, out);
  }
  return out.result();
}

function frame(src: Buffer, pos: number, out: Output): number {
  if (pos + 3 > src.length) throw new Lz4Error('short frame header');
  const flags = src[pos];
  if (flags >> 6 !== 1) throw new Lz4Error('unknown frame version');
  const blockChecksum = (flags & 0x10) !== 0;
  const contentSize = (flags & 0x08) !== 0;
  const contentChecksum = (flags & 0x04) !== 0;
  const dictionary = (flags & 0x01) !== 0;
  pos += 2 + (contentSize ? 8 : 0) + (dictionary ? 4 : 0) + 1; // FLG, BD, sizes, header checksum
  if (dictionary) throw new Lz4Error('dictionary frames are not supported');
  for (;;) {
    if (pos + 4 > src.length) throw new Lz4Error('short block');
    const word = src.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break; // end mark
    const size = word & 0x7fffffff;
    if (pos + size > src.length) throw new Lz4Error('short block');
    if (word & 0x80000000) out.literal(src, pos, pos + size);
    else block(src, pos, pos + size, out);
    pos += size + (blockChecksum ? 4 : 0);
  }
  return pos + (contentChecksum ? 4 : 0);
}

/** One LZ4 block: its sequences append to `out`; a match may reach into earlier blocks' output. */
function block(src: Buffer, pos: number, end: number, out: Output): void {
  const cursor = { pos, end };
  while (cursor.pos < end) {
    const token = src[cursor.pos++];
    const literals = length(src, cursor, token >> 4);
    if (cursor.pos + literals > end) throw new Lz4Error('literals past the block');
    out.literal(src, cursor.pos, cursor.pos + literals);
    cursor.pos += literals;
    if (cursor.pos >= end) return; // the last sequence has literals only
    if (cursor.pos + 2 > end) throw new Lz4Error('short match offset');
    const offset = src.readUInt16LE(cursor.pos);
    cursor.pos += 2;
    out.match(offset, length(src, cursor, token & 15) + 4);
  }
}

/** A token's 4-bit length; 15 goes on in the bytes that follow, each added, until one under 255. */
function length(src: Buffer, cursor: { pos: number; end: number }, nibble: number): number {
  let n = nibble;
  if (nibble !== 15) return n;
  let b: number;
  do {
    if (cursor.pos >= cursor.end) throw new Lz4Error('short length');
    b = src[cursor.pos++];
    n += b;
  } while (b === 255);
  return n;
}

/** Output that grows by doubling up to its bound. */
class Output {
  private buf = Buffer.allocUnsafe(1024);
  private length = 0;

  constructor(private readonly max: number) {}

  private room(n: number): void {
    const need = this.length + n;
    if (need > this.max) throw new Lz4Error('output over its bound');
    if (need <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.min(this.max, Math.max(need, this.buf.length * 2)));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  literal(src: Buffer, from: number, to: number): void {
    this.room(to - from);
    src.copy(this.buf, this.length, from, to);
    this.length += to - from;
  }

  match(offset: number, length: number): void {
    if (offset === 0 || offset > this.length) throw new Lz4Error('match before the output');
    this.room(length);
    let from = this.length - offset;
    // Byte by byte where the match overlaps what it writes (offset < length repeats a pattern).
    if (offset >= length) this.buf.copy(this.buf, this.length, from, from + length);
    else for (let i = 0; i < length; i++) this.buf[this.length + i] = this.buf[from++];
    this.length += length;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** One raw LZ4 block (no frame) that unpacks to exactly `size` bytes, as Cassandra's protocol sends them. */
export function lz4BlockDecompress(src: Buffer, size: number): Buffer {
  const out = new Output(size);
  block(src, 0, src.length, out);
  const result = out.result();
  if (result.length !== size) throw new Lz4Error('block shorter than its stated size');
  return result;
}
