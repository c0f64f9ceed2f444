// Zstandard decompression in TypeScript, bounded: Node 20's node:zlib has no zstd, and Kafka record
// batches, gRPC and HTTP bodies may be zstd-compressed. Decoding only (no compressor, no dictionaries).
// Every length read from the input is checked against the input or the output bound before it is used:
// a hostile frame ends in ZstdError, never in a RangeError, a huge allocation or an endless loop.
// Memory: the output (at most maxOutput bytes), one 128 KiB literals buffer and small tables.
// The content checksum (XXH64) is not verified, its 4 bytes are skipped (as lz4.ts does: a capture's
// damaged byte shows as a bad record, not a crash).
// Spec: RFC 8878, https://www.rfc-editor.org/rfc/rfc8878 (sections cited as §).
import { constants } from 'node:buffer';

export class ZstdError extends Error {}
/** The input ended before the frame did (a body cut at --max-body, a capture cut short), as opposed to bad data. */
class ZstdTruncated extends ZstdError {}
/** The content would pass the caller's bound (a bomb, or simply too large): not bad data either. */
export class ZstdOverflow extends ZstdError {}

const FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 … 0x184D2A5F (§3.1.2). */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Block_Maximum_Size is at most 128 KiB (§3.1.1.2.4); so are a block's literals. */
const BLOCK_SIZE_MAX = 128 * 1024;
/** Larger windows are refused (the reference decoder's limit too); we never allocate a window anyway. */
const WINDOW_MAX = 2 ** 31;

/**
 * The content of the zstd frames in `src` (one or several back to back; skippable frames skipped),
 * at most `maxOutput` bytes: past it, ZstdError (a bomb is refused, not grown). With `partial`, input
 * that ends inside a frame gives the blocks decoded before the end (as zlib's sync flush gives a cut
 * gzip stream's), instead of an error; bad data is still an error.
 */
export function zstdDecompress(src: Uint8Array, maxOutput: number, opts: { partial?: boolean } = {}): Buffer {
  const out = new Output(maxOutput >= 0 ? Math.min(Math.floor(maxOutput), constants.MAX_LENGTH) : 0); // NaN → 0
  try {
    frames(src, out);
  } catch (err) {
    if (!(opts.partial && err instanceof ZstdTruncated)) throw err;
  }
  return out.result();
}

function frames(src: Uint8Array, out: Output): void {
  let pos = 0;
  while (pos < src.length) {
    if (pos + 4 > src.length) throw new ZstdTruncated('short frame');
    const magic = u32(src, pos);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (pos + 8 > src.length) throw new ZstdTruncated('short skippable frame');
      const size = u32(src, pos + 4);
      if (size > src.length - pos - 8) throw new ZstdTruncated('short skippable frame');
      pos += 8 + size;
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new ZstdError('not a zstd frame');
    pos = frame(src, pos + 4, out);
  }
}

function u32(src: Uint8Array, pos: number): number {
  return (src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16) | (src[pos + 3] << 24)) >>> 0;
}

/** Index of the highest set bit (x > 0). */
function highBit(x: number): number {
  return 31 - Math.clz32(x);
}

// ---------------------------------------------------------------------------------------------------
// Frames and blocks (§3.1.1)

/** What a frame's blocks hand on to the next ones: entropy tables to repeat and the repeat offsets. */
class FrameState {
  huffman: HuffmanTable | null = null;
  /** Literal lengths, offsets, match lengths: the previous block's tables, for Repeat_Mode. */
  ll: FseTable | null = null;
  of: FseTable | null = null;
  ml: FseTable | null = null;
  rep0 = 1;
  rep1 = 4;
  rep2 = 8;
  /** This block's literals: `litSrc[litStart … litStart + litSize)` (the input itself when they are raw). */
  litSrc: Uint8Array = LITERALS;
  litStart = 0;
  litSize = 0;

  constructor(
    readonly frameStart: number,
    readonly blockMax: number,
  ) {}
}

/** Decoded literals of the current block; the decoder is synchronous, so one buffer serves every call. */
const LITERALS = new Uint8Array(BLOCK_SIZE_MAX);

/** One frame after its magic number; returns the position after it. */
function frame(src: Uint8Array, pos: number, out: Output): number {
  if (pos >= src.length) throw new ZstdTruncated('short frame header');
  const descriptor = src[pos++];
  const fcsFlag = descriptor >>> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  if (descriptor & 0x08) throw new ZstdError('reserved bit set in the frame header');
  const checksum = (descriptor & 0x04) !== 0;
  const didSize = [0, 1, 2, 4][descriptor & 3];
  const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  if (pos + (singleSegment ? 0 : 1) + didSize + fcsSize > src.length) throw new ZstdTruncated('short frame header');

  let windowSize = 0;
  if (!singleSegment) {
    const exponent = src[pos] >>> 3;
    const base = 2 ** (10 + exponent);
    windowSize = base + (base / 8) * (src[pos] & 7);
    pos++;
  }
  let dictionaryId = 0;
  for (let i = didSize - 1; i >= 0; i--) dictionaryId = dictionaryId * 256 + src[pos + i];
  pos += didSize;
  if (dictionaryId !== 0) throw new ZstdError('dictionary not supported');
  let contentSize = -1; // absent
  if (fcsSize > 0) {
    contentSize = 0;
    for (let i = fcsSize - 1; i >= 0; i--) contentSize = contentSize * 256 + src[pos + i];
    if (fcsSize === 2) contentSize += 256;
    pos += fcsSize;
  }
  // A declared size past the bound is refused before anything is decoded.
  if (contentSize > out.max - out.length) throw out.overError();
  if (singleSegment) windowSize = contentSize;
  if (windowSize > WINDOW_MAX) throw new ZstdError('window over 2 GiB');

  // The declared size (within the bound, checked above) is allocated at once rather than grown to.
  if (contentSize > 0) out.reserve(contentSize);
  const state = new FrameState(out.length, Math.min(windowSize, BLOCK_SIZE_MAX));
  for (;;) {
    if (pos + 3 > src.length) throw new ZstdTruncated('short block header');
    const header = src[pos] | (src[pos + 1] << 8) | (src[pos + 2] << 16);
    pos += 3;
    const type = (header >>> 1) & 3;
    const size = header >>> 3;
    // Raw and RLE: size is what the block regenerates; compressed: what it takes in the input (§3.1.1.2.3).
    if (size > state.blockMax) throw new ZstdError('block over its maximum size');
    if (type === 0) {
      if (pos + size > src.length) {
        // Cut short: what there is of a raw block is content as it stands (a partial decode keeps it).
        out.append(src, pos, Math.min(size, src.length - pos));
        throw new ZstdTruncated('short raw block');
      }
      out.append(src, pos, size);
      pos += size;
    } else if (type === 1) {
      if (pos >= src.length) throw new ZstdTruncated('short RLE block');
      out.fill(src[pos], size);
      pos++;
    } else if (type === 2) {
      if (pos + size > src.length) throw new ZstdTruncated('short compressed block');
      compressedBlock(src, pos, pos + size, state, out);
      pos += size;
    } else {
      throw new ZstdError('reserved block type');
    }
    if (header & 1) break; // Last_Block
  }
  if (checksum) {
    if (pos + 4 > src.length) throw new ZstdTruncated('short content checksum');
    pos += 4; // XXH64 of the content: not verified (see the header comment)
  }
  if (contentSize >= 0 && out.length - state.frameStart !== contentSize) {
    throw new ZstdError(`frame content ${out.length - state.frameStart} bytes, its header says ${contentSize}`);
  }
  return pos;
}

/** A compressed block: its literals section, then its sequences section which uses them (§3.1.1.3). */
function compressedBlock(src: Uint8Array, pos: number, end: number, state: FrameState, out: Output): void {
  pos = literalsSection(src, pos, end, state);
  sequencesSection(src, pos, end, state, out);
}

// ---------------------------------------------------------------------------------------------------
// Literals section (§3.1.1.3.1)

/** Reads the literals into `state` (litSrc, litStart, litSize); returns where the sequences section starts. */
function literalsSection(src: Uint8Array, pos: number, end: number, state: FrameState): number {
  if (pos >= end) throw new ZstdError('short literals section header');
  const b0 = src[pos];
  const type = b0 & 3;
  const sizeFormat = (b0 >>> 2) & 3;
  if (type === 0 || type === 1) {
    // Raw or RLE: a 5-, 12- or 20-bit Regenerated_Size.
    let size: number;
    let headerSize: number;
    if ((sizeFormat & 1) === 0) {
      headerSize = 1;
      size = b0 >>> 3;
    } else {
      headerSize = sizeFormat === 1 ? 2 : 3;
      if (pos + headerSize > end) throw new ZstdError('short literals section header');
      size = (b0 >>> 4) + (src[pos + 1] << 4) + (headerSize === 3 ? src[pos + 2] << 12 : 0);
    }
    pos += headerSize;
    if (size > state.blockMax) throw new ZstdError('literals over the block maximum size');
    state.litSize = size;
    if (type === 0) {
      if (pos + size > end) throw new ZstdError('short raw literals');
      state.litSrc = src;
      state.litStart = pos;
      return pos + size;
    }
    if (pos >= end) throw new ZstdError('short RLE literals');
    LITERALS.fill(src[pos], 0, size);
    state.litSrc = LITERALS;
    state.litStart = 0;
    return pos + 1;
  }

  // Compressed (with a Huffman tree description) or Treeless (the previous one's tree): 10, 14 or 18-bit
  // Regenerated_Size then Compressed_Size; Size_Format 0 alone says one stream rather than four.
  const headerSize = sizeFormat <= 1 ? 3 : sizeFormat === 2 ? 4 : 5;
  if (pos + headerSize > end) throw new ZstdError('short literals section header');
  const h = (b0 | (src[pos + 1] << 8) | (src[pos + 2] << 16) | (headerSize > 3 ? src[pos + 3] << 24 : 0)) >>> 0;
  let regenerated: number;
  let compressed: number;
  if (headerSize === 3) {
    regenerated = (h >>> 4) & 0x3ff;
    compressed = (h >>> 14) & 0x3ff;
  } else if (headerSize === 4) {
    regenerated = (h >>> 4) & 0x3fff;
    compressed = h >>> 18;
  } else {
    regenerated = (h >>> 4) & 0x3ffff;
    compressed = (h >>> 22) + (src[pos + 4] << 10);
  }
  pos += headerSize;
  if (regenerated > state.blockMax) throw new ZstdError('literals over the block maximum size');
  const stop = pos + compressed;
  if (stop > end) throw new ZstdError('short compressed literals');
  if (type === 2) pos = huffmanTreeDescription(src, pos, stop, state);
  else if (state.huffman === null) throw new ZstdError('treeless literals without a previous Huffman tree');
  const table = state.huffman as HuffmanTable;
  if (sizeFormat === 0) {
    huffmanStream(src, pos, stop, table, 0, regenerated);
  } else {
    // Four streams after a 6-byte jump table of the first three sizes; each regenerates a quarter,
    // rounded up, the last the remainder (§3.1.1.3.1.6).
    if (pos + 6 > stop) throw new ZstdError('short jump table');
    const s1 = src[pos] | (src[pos + 1] << 8);
    const s2 = src[pos + 2] | (src[pos + 3] << 8);
    const s3 = src[pos + 4] | (src[pos + 5] << 8);
    const start = pos + 6;
    if (start + s1 + s2 + s3 > stop) throw new ZstdError('jump table past the literals');
    const quarter = (regenerated + 3) >>> 2;
    if (quarter * 3 > regenerated) throw new ZstdError('too few literals for four streams');
    huffmanStream(src, start, start + s1, table, 0, quarter);
    huffmanStream(src, start + s1, start + s1 + s2, table, quarter, 2 * quarter);
    huffmanStream(src, start + s1 + s2, start + s1 + s2 + s3, table, 2 * quarter, 3 * quarter);
    huffmanStream(src, start + s1 + s2 + s3, stop, table, 3 * quarter, regenerated);
  }
  state.litSrc = LITERALS;
  state.litStart = 0;
  state.litSize = regenerated;
  return stop;
}

// ---------------------------------------------------------------------------------------------------
// Huffman coding of literals (§4.2)

interface HuffmanTable {
  /** Code length of the longest code: the decoder peeks this many bits. */
  maxBits: number;
  /** By the next maxBits bits: the symbol, and how many of those bits its code really takes. */
  symbol: Uint8Array;
  bits: Uint8Array;
}

const HUFFMAN_MAX_BITS = 11;
const WEIGHTS = new Uint8Array(256);

/** The Huffman tree description (§4.2.1) into `state.huffman`; returns the position after it. */
function huffmanTreeDescription(src: Uint8Array, pos: number, end: number, state: FrameState): number {
  if (pos >= end) throw new ZstdError('short Huffman tree description');
  const header = src[pos++];
  let count: number;
  if (header < 128) {
    // FSE-compressed weights in the next `header` bytes.
    if (pos + header > end) throw new ZstdError('short Huffman weights');
    count = fseWeights(src, pos, pos + header);
    pos += header;
  } else {
    // Direct: 4 bits a weight, the first in the high nibble.
    count = header - 127;
    const bytes = (count + 1) >>> 1;
    if (pos + bytes > end) throw new ZstdError('short Huffman weights');
    for (let i = 0; i < count; i++) {
      const b = src[pos + (i >>> 1)];
      WEIGHTS[i] = i & 1 ? b & 15 : b >>> 4;
    }
    pos += bytes;
  }
  state.huffman = huffmanTable(WEIGHTS, count);
  return pos;
}

/** Weights compressed with FSE: two interleaved states on one backward bitstream (§4.2.1.2). */
function fseWeights(src: Uint8Array, pos: number, end: number): number {
  const { table, next } = fseTableDescription(src, pos, end, 255, 6);
  const bits = new BackwardBits(src, next, end);
  const { symbol, bits: nbBits, base } = table;
  let s1 = bits.read(table.log);
  let s2 = bits.read(table.log);
  if (bits.pos < 0) throw new ZstdError('short Huffman weights stream');
  let count = 0;
  // Alternate the states until a state update reads past the stream's start (the missing bits are
  // zeros): the other state's symbol is then the last one.
  for (;;) {
    if (count + 2 > 255) throw new ZstdError('over 255 Huffman weights');
    WEIGHTS[count++] = symbol[s1];
    s1 = base[s1] + bits.read(nbBits[s1]);
    if (bits.pos < 0) {
      WEIGHTS[count++] = symbol[s2];
      return count;
    }
    WEIGHTS[count++] = symbol[s2];
    s2 = base[s2] + bits.read(nbBits[s2]);
    if (bits.pos < 0) {
      if (count >= 255) throw new ZstdError('over 255 Huffman weights');
      WEIGHTS[count++] = symbol[s1];
      return count;
    }
  }
}

/**
 * The decoding table from `count` weights; the last symbol's weight is deduced: it completes the
 * sum of 2^(weight-1) to the next power of two (§4.2.1.3). Weight w is a code of maxBits + 1 - w bits.
 */
function huffmanTable(weights: Uint8Array, count: number): HuffmanTable {
  const perWeight = new Uint32Array(HUFFMAN_MAX_BITS + 2);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const w = weights[i];
    if (w > HUFFMAN_MAX_BITS) throw new ZstdError('Huffman weight over 11');
    perWeight[w]++;
    if (w > 0) total += 1 << (w - 1);
  }
  if (total === 0) throw new ZstdError('Huffman weights all zero');
  const maxBits = highBit(total) + 1;
  if (maxBits > HUFFMAN_MAX_BITS) throw new ZstdError('Huffman codes over 11 bits');
  const rest = (1 << maxBits) - total;
  const last = highBit(rest) + 1;
  if (1 << (last - 1) !== rest) throw new ZstdError('Huffman weights do not complete a tree');
  weights[count] = last;
  perWeight[last]++;

  // Codes in order of weight (longest first), then of symbol: each weight's symbols fill a run of
  // the table, 2^(w-1) entries each.
  const size = 1 << maxBits;
  const symbol = new Uint8Array(size);
  const bits = new Uint8Array(size);
  const next = new Uint32Array(HUFFMAN_MAX_BITS + 2);
  for (let w = 1, at = 0; w <= maxBits; w++) {
    next[w] = at;
    at += perWeight[w] << (w - 1);
  }
  for (let s = 0; s <= count; s++) {
    const w = weights[s];
    if (w === 0) continue;
    const from = next[w];
    const to = from + (1 << (w - 1));
    symbol.fill(s, from, to);
    bits.fill(maxBits + 1 - w, from, to);
    next[w] = to;
  }
  return { maxBits, symbol, bits };
}

/** One Huffman-coded stream into LITERALS[from … to); it must use its bits exactly. */
function huffmanStream(src: Uint8Array, start: number, end: number, table: HuffmanTable, from: number, to: number): void {
  const bits = new BackwardBits(src, start, end);
  const { maxBits, symbol, bits: length } = table;
  for (let i = from; i < to; i++) {
    const index = bits.peek(maxBits);
    LITERALS[i] = symbol[index];
    bits.pos -= length[index];
  }
  if (bits.pos !== 0) throw new ZstdError('Huffman stream not used exactly');
}

// ---------------------------------------------------------------------------------------------------
// FSE tables (§4.1)

/** An FSE decoding table: by state, the symbol, the bits to read and the base the next state adds them to. */
class FseTable {
  readonly symbol: Uint8Array;
  readonly bits: Uint8Array;
  readonly base: Uint16Array;

  constructor(readonly log: number) {
    const size = 1 << log;
    this.symbol = new Uint8Array(size);
    this.bits = new Uint8Array(size);
    this.base = new Uint16Array(size);
  }
}

const NORMALIZED = new Int16Array(256);
const NEXT_STATE = new Uint16Array(256);

/**
 * An FSE table description (§4.1.1) at `pos`, a forward bitstream: the accuracy log, then each symbol's
 * probability (-1 is "less than 1"), a zero followed by 2-bit counts of more zeros; stops when the
 * probabilities add up to 2^log. Returns the decoding table and the position after the description.
 */
function fseTableDescription(
  src: Uint8Array,
  pos: number,
  end: number,
  maxSymbol: number,
  maxLog: number,
): { table: FseTable; next: number } {
  if (pos >= end) throw new ZstdError('short FSE table description');
  const log = (src[pos] & 15) + 5;
  if (log > maxLog) throw new ZstdError(`FSE accuracy log ${log} over ${maxLog}`);
  let bitPos = 4;
  let remaining = (1 << log) + 1;
  let threshold = 1 << log;
  let nbBits = log + 1;
  let symbol = 0;
  while (remaining > 1) {
    if (symbol > maxSymbol) throw new ZstdError('FSE table description past its last symbol');
    // Values below `low` take nbBits - 1 bits; the others nbBits, those past threshold shifted down.
    const low = 2 * threshold - 1 - remaining;
    const v = forwardBits(src, pos, end, bitPos, nbBits);
    let value: number;
    if ((v & (threshold - 1)) < low) {
      value = v & (threshold - 1);
      bitPos += nbBits - 1;
    } else {
      value = v & (2 * threshold - 1);
      if (value >= threshold) value -= low;
      bitPos += nbBits;
    }
    const probability = value - 1;
    remaining -= probability < 0 ? -probability : probability;
    NORMALIZED[symbol++] = probability;
    if (probability === 0) {
      // Then 2 bits: how many more zeros; 3 means 3 and another 2-bit count follows.
      for (;;) {
        const repeat = forwardBits(src, pos, end, bitPos, 2);
        bitPos += 2;
        if (symbol + repeat > maxSymbol + 1) throw new ZstdError('FSE table description past its last symbol');
        for (let i = 0; i < repeat; i++) NORMALIZED[symbol++] = 0;
        if (repeat !== 3) break;
      }
    }
    while (remaining < threshold) {
      nbBits--;
      threshold >>>= 1;
    }
  }
  if (remaining !== 1) throw new ZstdError('FSE probabilities do not add up');
  const next = pos + ((bitPos + 7) >>> 3);
  if (next > end) throw new ZstdError('short FSE table description');
  return { table: fseTable(NORMALIZED, symbol, log), next };
}

/** `n` (≤ 17) bits at bit `bitPos` of the little-endian stream at `pos`; bytes at or past `end` read as 0. */
function forwardBits(src: Uint8Array, pos: number, end: number, bitPos: number, n: number): number {
  const at = pos + (bitPos >>> 3);
  const v = (at < end ? src[at] : 0) | (at + 1 < end ? src[at + 1] << 8 : 0) | (at + 2 < end ? src[at + 2] << 16 : 0);
  return (v >>> (bitPos & 7)) & ((1 << n) - 1);
}

/**
 * The decoding table for normalized probabilities summing to 2^log (§4.1.1): "less than 1" symbols take
 * the last states, one each; the others are spread with the RFC's step, then each state gets the bits and
 * base that lead to its symbol's next states.
 */
function fseTable(normalized: Int16Array, symbols: number, log: number): FseTable {
  const table = new FseTable(log);
  const size = 1 << log;
  let high = size - 1;
  for (let s = 0; s < symbols; s++) {
    if (normalized[s] === -1) {
      table.symbol[high--] = s;
      NEXT_STATE[s] = 1;
    } else {
      NEXT_STATE[s] = normalized[s];
    }
  }
  const step = (size >>> 1) + (size >>> 3) + 3;
  const mask = size - 1;
  let p = 0;
  for (let s = 0; s < symbols; s++) {
    for (let i = 0; i < normalized[s]; i++) {
      table.symbol[p] = s;
      do p = (p + step) & mask;
      while (p > high);
    }
  }
  if (p !== 0) throw new ZstdError('FSE table spread did not end at 0');
  for (let u = 0; u < size; u++) {
    const x = NEXT_STATE[table.symbol[u]]++;
    const n = log - highBit(x);
    table.bits[u] = n;
    table.base[u] = (x << n) - size;
  }
  return table;
}

/** A one-state table always giving `symbol` (RLE_Mode). */
function rleTable(symbol: number): FseTable {
  const table = new FseTable(0);
  table.symbol[0] = symbol;
  return table;
}

// ---------------------------------------------------------------------------------------------------
// Sequences (§3.1.1.3.2, §3.1.1.4)

const LL_MAX = 35;
const OF_MAX = 31;
const ML_MAX = 52;

/** Literal length codes: baseline and extra bits (§3.1.1.3.2.1.1). */
const LL_BASE = Uint32Array.from([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096,
  8192, 16384, 32768, 65536,
]);
const LL_BITS = Uint8Array.from([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
]);
/** Match length codes: 0…31 are lengths 3…34; then baseline and extra bits (§3.1.1.3.2.1.1). */
const ML_BASE = Uint32Array.from([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 39,
  41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539,
]);
const ML_BITS = Uint8Array.from([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8,
  9, 10, 11, 12, 13, 14, 15, 16,
]);

/** The predefined distributions (§3.1.1.3.2.2): accuracy logs 6, 5 and 6. */
const LL_DEFAULT = predefined(
  [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1],
  6,
);
const OF_DEFAULT = predefined([1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1], 5);
const ML_DEFAULT = predefined(
  [
    1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, -1, -1, -1, -1, -1, -1, -1,
  ],
  6,
);

function predefined(distribution: number[], log: number): FseTable {
  return fseTable(Int16Array.from(distribution), distribution.length, log);
}

/** One of the three symbol tables of a sequences section, by its Compression_Mode; returns [table, next position]. */
function sequenceTable(
  mode: number,
  src: Uint8Array,
  pos: number,
  end: number,
  previous: FseTable | null,
  defaults: FseTable,
  maxSymbol: number,
  maxLog: number,
): [FseTable, number] {
  if (mode === 0) return [defaults, pos];
  if (mode === 1) {
    if (pos >= end) throw new ZstdError('short RLE sequence table');
    if (src[pos] > maxSymbol) throw new ZstdError('RLE sequence symbol out of range');
    return [rleTable(src[pos]), pos + 1];
  }
  if (mode === 2) {
    const { table, next } = fseTableDescription(src, pos, end, maxSymbol, maxLog);
    return [table, next];
  }
  if (previous === null) throw new ZstdError('repeated sequence table without a previous one');
  return [previous, pos];
}

/** The sequences section, executed as it is decoded: literals and matches into `out`, then the last literals. */
function sequencesSection(src: Uint8Array, pos: number, end: number, state: FrameState, out: Output): void {
  if (pos >= end) throw new ZstdError('short sequences section');
  const b0 = src[pos++];
  let count: number;
  if (b0 < 128) {
    count = b0;
  } else if (b0 < 255) {
    if (pos >= end) throw new ZstdError('short sequences section header');
    count = ((b0 - 128) << 8) + src[pos++];
  } else {
    if (pos + 2 > end) throw new ZstdError('short sequences section header');
    count = src[pos] + (src[pos + 1] << 8) + 0x7f00;
    pos += 2;
  }

  const block = new BlockOutput(out, state);
  if (count === 0) {
    if (pos !== end) throw new ZstdError('bytes after an empty sequences section');
    block.literals(state.litSize);
    block.done();
    return;
  }
  if (pos >= end) throw new ZstdError('short sequences section header');
  const modes = src[pos++];
  if (modes & 3) throw new ZstdError('reserved bits set in the sequence compression modes');
  [state.ll, pos] = sequenceTable(modes >>> 6, src, pos, end, state.ll, LL_DEFAULT, LL_MAX, 9);
  [state.of, pos] = sequenceTable((modes >>> 4) & 3, src, pos, end, state.of, OF_DEFAULT, OF_MAX, 8);
  [state.ml, pos] = sequenceTable((modes >>> 2) & 3, src, pos, end, state.ml, ML_DEFAULT, ML_MAX, 9);
  const ll = state.ll;
  const of = state.of;
  const ml = state.ml;

  const bits = new BackwardBits(src, pos, end);
  let llState = bits.read(ll.log);
  let ofState = bits.read(of.log);
  let mlState = bits.read(ml.log);
  let rep0 = state.rep0;
  let rep1 = state.rep1;
  let rep2 = state.rep2;
  for (let i = 0; i < count; i++) {
    // Extra bits in the order offset, match length, literal length (§3.1.1.3.2.1.2).
    const ofCode = of.symbol[ofState];
    const mlCode = ml.symbol[mlState];
    const llCode = ll.symbol[llState];
    const offsetValue = ofCode <= 24 ? (1 << ofCode) + bits.read(ofCode) : 2 ** ofCode + bits.read(ofCode - 16) * 65536 + bits.read(16);
    const matchLength = ML_BASE[mlCode] + bits.read(ML_BITS[mlCode]);
    const literalLength = LL_BASE[llCode] + bits.read(LL_BITS[llCode]);

    // Offset values 1…3 are the repeat offsets, shifted by one when there are no literals (§3.1.1.5).
    let offset: number;
    if (offsetValue > 3) {
      offset = offsetValue - 3;
      rep2 = rep1;
      rep1 = rep0;
      rep0 = offset;
    } else {
      const which = literalLength === 0 ? offsetValue : offsetValue - 1;
      if (which === 0) {
        offset = rep0;
      } else {
        offset = which === 1 ? rep1 : which === 2 ? rep2 : rep0 - 1;
        if (offset === 0) throw new ZstdError('repeat offset 0');
        if (which !== 1) rep2 = rep1;
        rep1 = rep0;
        rep0 = offset;
      }
    }

    if (i + 1 < count) {
      // States update in the order literal length, match length, offset.
      llState = ll.base[llState] + bits.read(ll.bits[llState]);
      mlState = ml.base[mlState] + bits.read(ml.bits[mlState]);
      ofState = of.base[ofState] + bits.read(of.bits[ofState]);
    }
    if (bits.pos < 0) throw new ZstdError('sequences bitstream overread');
    block.literals(literalLength);
    block.match(offset, matchLength);
  }
  if (bits.pos !== 0) throw new ZstdError('sequences bitstream not used exactly');
  state.rep0 = rep0;
  state.rep1 = rep1;
  state.rep2 = rep2;
  block.literals(state.litSize - block.litUsed);
  block.done();
}

// ---------------------------------------------------------------------------------------------------
// Bits and bytes

/**
 * A bitstream read backwards (§4.1): from its last byte, whose highest set bit only marks the start
 * (a zero last byte is an error). `pos` is the number of bits still unread; reads past the stream's
 * start give zeros and leave `pos` negative, for the caller to judge.
 */
class BackwardBits {
  pos: number;

  constructor(
    private readonly src: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {
    if (end <= start) throw new ZstdError('empty bitstream');
    const last = src[end - 1];
    if (last === 0) throw new ZstdError('bitstream without its end mark');
    this.pos = (end - 1 - start) * 8 + highBit(last);
  }

  /** The next `n` (≤ 25) bits, the first read being the highest, without consuming them. */
  peek(n: number): number {
    const p = this.pos - n;
    if (p >= 0) {
      const at = this.start + (p >>> 3);
      if (at + 3 < this.end) {
        const s = this.src;
        const v = s[at] | (s[at + 1] << 8) | (s[at + 2] << 16) | (s[at + 3] << 24);
        return (v >>> (p & 7)) & ((1 << n) - 1);
      }
    }
    return this.peekSlow(p, n);
  }

  /** Near the stream's ends: only its own bytes, and zeros below its start. */
  private peekSlow(p: number, n: number): number {
    const top = p + n - 1; // highest bit wanted
    if (top < 0 || n === 0) return 0;
    const low = p < 0 ? 0 : p;
    let v = 0;
    for (let i = top >>> 3; i >= low >>> 3; i--) v = (v << 8) | this.src[this.start + i];
    v >>>= low & 7;
    if (p < 0) v <<= -p;
    return v & ((1 << n) - 1);
  }

  read(n: number): number {
    const v = this.peek(n);
    this.pos -= n;
    return v;
  }
}

/** Output that grows by doubling up to its bound; nothing is written past it. */
class Output {
  buf = Buffer.allocUnsafe(0);
  length = 0;

  constructor(readonly max: number) {}

  overError(): ZstdError {
    return new ZstdOverflow(`output over ${this.max} bytes`);
  }

  /** Room for `n` more bytes, `n` within the bound. */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.min(this.max, Math.max(need, this.buf.length * 2, 4096)));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  append(src: Uint8Array, from: number, n: number): void {
    if (n > this.max - this.length) throw this.overError();
    this.reserve(n);
    this.buf.set(src.subarray(from, from + n), this.length);
    this.length += n;
  }

  fill(byte: number, n: number): void {
    if (n > this.max - this.length) throw this.overError();
    this.reserve(n);
    this.buf.fill(byte, this.length, this.length + n);
    this.length += n;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * One compressed block's writes: room for the whole block is reserved first (within the bound), so each
 * write only checks the block's limit: Block_Maximum_Size, or the output bound when that comes first.
 */
class BlockOutput {
  private readonly buf: Buffer;
  private op: number;
  private readonly limit: number;
  litUsed = 0;

  constructor(
    private readonly out: Output,
    private readonly state: FrameState,
  ) {
    const room = Math.min(state.blockMax, out.max - out.length);
    out.reserve(room);
    this.buf = out.buf;
    this.op = out.length;
    this.limit = out.length + room;
  }

  private overflow(n: number): never {
    if (this.op + n > this.out.max) throw this.out.overError();
    throw new ZstdError('block over its maximum size');
  }

  /** The next `n` literals of the block. */
  literals(n: number): void {
    if (n > this.state.litSize - this.litUsed) throw new ZstdError('sequences use more literals than decoded');
    if (this.op + n > this.limit) this.overflow(n);
    const { buf } = this;
    const lit = this.state.litSrc;
    let from = this.state.litStart + this.litUsed;
    if (n < 32) {
      let op = this.op;
      for (let i = 0; i < n; i++) buf[op++] = lit[from++];
    } else {
      buf.set(lit.subarray(from, from + n), this.op);
    }
    this.op += n;
    this.litUsed += n;
  }

  /** `n` bytes copied from `offset` back, within this frame; overlapping copies repeat a pattern. */
  match(offset: number, n: number): void {
    if (offset > this.op - this.state.frameStart) throw new ZstdError('match before the start of the frame');
    if (this.op + n > this.limit) this.overflow(n);
    const { buf } = this;
    let op = this.op;
    let from = op - offset;
    if (offset >= n && n >= 32) {
      buf.copyWithin(op, from, from + n);
    } else {
      for (let i = 0; i < n; i++) buf[op++] = buf[from++];
    }
    this.op += n;
  }

  done(): void {
    this.out.length = this.op;
  }
}
