// HPACK (RFC 7541): the header compression of HTTP/2. One decoder per
// direction of a connection, because each side keeps its own dynamic table.
// Decoding never throws: a broken block yields what could be read plus a
// problem string, and the caller marks the entry malformed.

/** Appendix A: the static table, index 1..61. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * Appendix B code lengths for symbols 0..256 (256 = EOS). The code is
 * canonical (codes assigned in order of length, then symbol), so the lengths
 * alone define it; the tree is built once at load.
 */
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28,
  28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6,
  12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5,
  6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22,
  22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21,
  20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22,
  23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26,
  28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27,
  28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/**
 * Binary decoding tree in flat arrays: node n has children left[n]/right[n];
 * a leaf stores -(symbol + 1). 0 means "no child" (the root is node 0 and is
 * never anyone's child).
 */
const HUFF_CHILD = buildHuffmanTree();

function buildHuffmanTree(): Int32Array {
  const symbols = HUFFMAN_LENGTHS.map((_, s) => s).sort(
    (a, b) => HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b,
  );
  const child = new Int32Array(2 * 2 * 260);
  let nodes = 1;
  let code = 0;
  let prevLength = HUFFMAN_LENGTHS[symbols[0]];
  for (const sym of symbols) {
    const length = HUFFMAN_LENGTHS[sym];
    code *= 2 ** (length - prevLength);
    prevLength = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const b = Math.floor(code / 2 ** bit) & 1;
      const slot = node * 2 + b;
      if (bit === 0) child[slot] = -(sym + 1);
      else {
        if (child[slot] === 0) child[slot] = nodes++;
        node = child[slot];
      }
    }
    code++;
  }
  return child;
}

/** Decodes a Huffman string; null when the encoding is invalid (EOS inside, bad padding). */
export function huffmanDecode(data: Buffer): string | null {
  const out: number[] = [];
  let node = 0;
  let depth = 0; // bits consumed since the last symbol
  let allOnes = true;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = HUFF_CHILD[node * 2 + b];
      depth++;
      allOnes = allOnes && b === 1;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) return null;
        out.push(sym);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) return null;
      else node = next;
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (depth > 7 || !allOnes) return null;
  return Buffer.from(out).toString('latin1');
}

export interface HeaderField {
  name: string;
  value: string;
}

export interface DecodedBlock {
  headers: HeaderField[];
  /** Set when the block could not be fully decoded (the headers hold what could). */
  problem?: string;
  /** References to dynamic-table entries this decoder cannot know (lost with a gap, or before the capture). */
  unknown: number;
  /** Fields past the header-list cap were decoded (to keep the table in step) but not kept. */
  truncated: boolean;
}

/** A dynamic-table size update above this is refused (SETTINGS_HEADER_TABLE_SIZE is 4 KB almost everywhere). */
const MAX_TABLE_SIZE = 1 << 20;
/**
 * Table bytes actually held: a peer that allows a larger table still gets its
 * newest entries tracked; older ones become unknown (marked, never wrong).
 */
const MAX_TRACKED_TABLE = 64 * 1024;
/** Fields kept per block, whatever their size (each also counts against the byte cap). */
const MAX_HEADERS_PER_BLOCK = 1000;

/** RFC 9113 6.5.2 counts each field as name + value + 32 bytes. */
export function fieldSize(field: HeaderField): number {
  return field.name.length + field.value.length + 32;
}

/** The header shown for a reference this decoder cannot resolve (its value, if any, is not shown). */
export function unknownField(index: number): HeaderField {
  return { name: `<unknown index ${index}>`, value: '' };
}

export class HpackDecoder {
  /** The entries known to be in the table, newest first. */
  private table: HeaderField[] = [];
  private size = 0;
  private maxSize = 4096;
  /**
   * Older entries may sit behind the known ones: the capture started
   * mid-connection, or header blocks were lost with a gap. References past the
   * known entries are then unknown rather than errors.
   */
  private unknownTail: boolean;
  /** Known entries dropped because the peer's table is larger than we track. */
  forgotten = 0;

  /** Start from an unknown table state (mid-connection capture): misses are expected, not malformed. */
  constructor(midStream = false) {
    this.unknownTail = midStream;
  }

  /** A copy to try a block on without touching this table (resync candidates). */
  clone(): HpackDecoder {
    const copy = new HpackDecoder(this.unknownTail);
    copy.table = [...this.table];
    copy.size = this.size;
    copy.maxSize = this.maxSize;
    return copy;
  }

  /** True while some table entries are unknown (so a miss is not an error). */
  get incomplete(): boolean {
    return this.unknownTail;
  }

  /**
   * Header blocks may have been lost (a gap): entries they inserted now sit in
   * front of the ones we know, so every known entry's index is in doubt.
   * Entries inserted from here on are known again.
   */
  loseSync(): void {
    this.table = [];
    this.size = 0;
    this.unknownTail = this.maxSize > 0;
  }

  /**
   * Decode one header block. Fields beyond `maxListBytes` (counted as RFC
   * 9113 does) are still decoded, so the dynamic table stays right, but not kept.
   */
  decode(block: Buffer, maxListBytes = Infinity): DecodedBlock {
    const out: DecodedBlock = { headers: [], unknown: 0, truncated: false };
    let listBytes = 0;
    const keep = (field: HeaderField): void => {
      listBytes += fieldSize(field);
      if (out.truncated || listBytes > maxListBytes || out.headers.length >= MAX_HEADERS_PER_BLOCK) out.truncated = true;
      else out.headers.push(field);
    };
    const r = { pos: 0 };
    try {
      while (r.pos < block.length) {
        const first = block[r.pos];
        if (first & 0x80) {
          const index = readInt(block, r, 7);
          keep(this.lookup(index, out) ?? unknownField(index));
        } else if (first & 0x40) {
          const field = this.readLiteral(block, r, 6, out);
          this.insert(field);
          keep(field);
        } else if (first & 0x20) {
          const size = readInt(block, r, 5);
          if (size > MAX_TABLE_SIZE) {
            out.problem = `table size ${size} too large`;
            return out;
          }
          this.maxSize = size;
          this.evict();
        } else {
          // Literal without indexing (0000) or never indexed (0001): same layout.
          keep(this.readLiteral(block, r, 4, out));
        }
      }
    } catch (e) {
      out.problem = e instanceof HpackError ? e.message : 'undecodable block';
    }
    return out;
  }

  /** The field at `index`, or null (counted in `out.unknown`) when it is an entry we cannot know. */
  private lookup(index: number, out: DecodedBlock): HeaderField | null {
    if (index === 0) throw new HpackError('index 0');
    if (index < STATIC_TABLE.length) {
      const [name, value] = STATIC_TABLE[index];
      return { name, value };
    }
    const entry = this.table[index - STATIC_TABLE.length];
    if (entry) return entry;
    if (!this.unknownTail) throw new HpackError(`index ${index} beyond the dynamic table`);
    out.unknown++;
    return null;
  }

  private readLiteral(block: Buffer, r: { pos: number }, prefix: number, out: DecodedBlock): HeaderField {
    const nameIndex = readInt(block, r, prefix);
    const name = nameIndex === 0 ? readString(block, r) : this.lookup(nameIndex, out)?.name;
    const value = readString(block, r);
    // A value whose name cannot be known is left out: it may be a secret no redaction rule would recognise.
    return name === undefined ? unknownField(nameIndex) : { name, value };
  }

  private insert(field: HeaderField): void {
    const entrySize = fieldSize(field);
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it (RFC 7541 4.4): the whole table is known again.
      this.table = [];
      this.size = 0;
      this.unknownTail = false;
      return;
    }
    this.table.unshift(field);
    this.size += entrySize;
    this.evict();
  }

  /**
   * Unknown entries are the oldest, so they go first: known ones leave only
   * when the known ones alone exceed the table. Once that happens, or no
   * unknown entry (32 bytes at least) could still fit beside the known ones,
   * the table is whole again.
   */
  private evict(): void {
    // A known entry evicted means every older (unknown) one went before it.
    if (this.size > this.maxSize) this.unknownTail = false;
    while (this.size > this.maxSize && this.table.length > 0) {
      const old = this.table.pop()!;
      this.size -= fieldSize(old);
    }
    if (this.size + 32 > this.maxSize) this.unknownTail = false;
    while (this.size > MAX_TRACKED_TABLE && this.table.length > 0) {
      const old = this.table.pop()!;
      this.size -= fieldSize(old);
      this.unknownTail = true;
      this.forgotten++;
    }
  }
}

class HpackError extends Error {}

/** RFC 7541 5.1 integer with an N-bit prefix. */
function readInt(block: Buffer, r: { pos: number }, prefixBits: number): number {
  if (r.pos >= block.length) throw new HpackError('truncated integer');
  const max = (1 << prefixBits) - 1;
  let value = block[r.pos++] & max;
  if (value < max) return value;
  let shift = 0;
  for (;;) {
    if (r.pos >= block.length) throw new HpackError('truncated integer');
    const b = block[r.pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return value;
    if (shift > 28) throw new HpackError('integer too large');
  }
}

function readString(block: Buffer, r: { pos: number }): string {
  if (r.pos >= block.length) throw new HpackError('truncated string');
  const huffman = (block[r.pos] & 0x80) !== 0;
  const length = readInt(block, r, 7);
  if (r.pos + length > block.length) throw new HpackError('truncated string');
  const raw = block.subarray(r.pos, r.pos + length);
  r.pos += length;
  if (!huffman) return raw.toString('latin1');
  const text = huffmanDecode(raw);
  if (text === null) throw new HpackError('bad huffman string');
  return text;
}

/** First header representation of a block, for probes: the static index it names, or 0. */
export function firstStaticIndex(block: Buffer): number {
  if (block.length === 0) return 0;
  const b = block[0];
  if (b & 0x80) return b & 0x7f;
  if (b & 0x40) return b & 0x3f;
  if ((b & 0xe0) === 0) return b & 0x0f;
  return 0;
}
