// QPACK (RFC 9204): the field compression of HTTP/3. One decoder per direction
// of a connection: it learns the peer's dynamic table from the peer's encoder
// stream and decodes the field sections (HEADERS frame payloads) the peer sends.
//
// Unlike HPACK, table updates travel on their own stream, so a field section
// can arrive before the inserts it refers to; decode() then answers
// {blocked: true} and the caller asks again once more encoder-stream bytes
// have been fed. Everything here is written by the peer, so every length,
// count and index is bounded, and no public method ever throws: a problem
// comes back as a short, lower-case reason ("qpack: ...").
//
// Strings and Huffman decoding are the same as HPACK's and are shared with
// hpack.ts: non-Huffman strings are read as latin1, byte for byte, so a
// string's length is its size in bytes (which the table sizes rely on).

import { huffmanDecode } from './hpack.js';

export interface QpackField {
  name: string;
  value: string;
}

export type QpackResult =
  | { fields: QpackField[] }
  | { blocked: true } // needs dynamic-table inserts not yet seen on the encoder stream
  | { error: string }; // malformed; short, lower-case reason

/** Appendix A: the static table, index 0..98 (QPACK counts from 0, unlike HPACK). */
export const QPACK_STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  /* 0 */ [':authority', ''],
  [':path', '/'],
  ['age', '0'],
  ['content-disposition', ''],
  ['content-length', '0'],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  /* 10 */ ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['referer', ''],
  ['set-cookie', ''],
  [':method', 'CONNECT'],
  [':method', 'DELETE'],
  [':method', 'GET'],
  [':method', 'HEAD'],
  [':method', 'OPTIONS'],
  /* 20 */ [':method', 'POST'],
  [':method', 'PUT'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '103'],
  [':status', '200'],
  [':status', '304'],
  [':status', '404'],
  [':status', '503'],
  ['accept', '*/*'],
  /* 30 */ ['accept', 'application/dns-message'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['accept-ranges', 'bytes'],
  ['access-control-allow-headers', 'cache-control'],
  ['access-control-allow-headers', 'content-type'],
  ['access-control-allow-origin', '*'],
  ['cache-control', 'max-age=0'],
  ['cache-control', 'max-age=2592000'],
  ['cache-control', 'max-age=604800'],
  ['cache-control', 'no-cache'],
  /* 40 */ ['cache-control', 'no-store'],
  ['cache-control', 'public, max-age=31536000'],
  ['content-encoding', 'br'],
  ['content-encoding', 'gzip'],
  ['content-type', 'application/dns-message'],
  ['content-type', 'application/javascript'],
  ['content-type', 'application/json'],
  ['content-type', 'application/x-www-form-urlencoded'],
  ['content-type', 'image/gif'],
  ['content-type', 'image/jpeg'],
  /* 50 */ ['content-type', 'image/png'],
  ['content-type', 'text/css'],
  ['content-type', 'text/html; charset=utf-8'],
  ['content-type', 'text/plain'],
  ['content-type', 'text/plain;charset=utf-8'],
  ['range', 'bytes=0-'],
  ['strict-transport-security', 'max-age=31536000'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains'],
  ['strict-transport-security', 'max-age=31536000; includesubdomains; preload'],
  ['vary', 'accept-encoding'],
  /* 60 */ ['vary', 'origin'],
  ['x-content-type-options', 'nosniff'],
  ['x-xss-protection', '1; mode=block'],
  [':status', '100'],
  [':status', '204'],
  [':status', '206'],
  [':status', '302'],
  [':status', '400'],
  [':status', '403'],
  [':status', '421'],
  /* 70 */ [':status', '425'],
  [':status', '500'],
  ['accept-language', ''],
  ['access-control-allow-credentials', 'FALSE'],
  ['access-control-allow-credentials', 'TRUE'],
  ['access-control-allow-headers', '*'],
  ['access-control-allow-methods', 'get'],
  ['access-control-allow-methods', 'get, post, options'],
  ['access-control-allow-methods', 'options'],
  ['access-control-expose-headers', 'content-length'],
  /* 80 */ ['access-control-request-headers', 'content-type'],
  ['access-control-request-method', 'get'],
  ['access-control-request-method', 'post'],
  ['alt-svc', 'clear'],
  ['authorization', ''],
  ['content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
  ['early-data', '1'],
  ['expect-ct', ''],
  ['forwarded', ''],
  ['if-range', ''],
  /* 90 */ ['origin', ''],
  ['purpose', 'prefetch'],
  ['server', ''],
  ['timing-allow-origin', '*'],
  ['upgrade-insecure-requests', '1'],
  ['user-agent', ''],
  ['x-forwarded-for', ''],
  ['x-frame-options', 'deny'],
  ['x-frame-options', 'sameorigin'],
];

// Our own bounds (RFC 9204 §7.4 asks every implementation to pick some).
const MAX_FIELDS = 1000; // field lines per section
const MAX_SECTION_BYTES = 256 * 1024; // decoded name + value bytes per section
const MAX_TABLE_BYTES = 64 * 1024; // dynamic table capacity we accept, whatever the settings say
const MAX_TAIL_BYTES = 64 * 1024; // unfinished encoder-stream instruction we buffer
const MAX_INT = 2 ** 32; // prefix integers above this are refused
const MAX_CONTINUATION_BYTES = 6;
/** §3.2.1: an entry's size is its name and value bytes plus 32 of overhead. */
const ENTRY_OVERHEAD = 32;

/** A malformed input: the message is the reason handed back to the caller. */
class QpackError extends Error {}

/**
 * The input ended inside an instruction. On the encoder stream that only means
 * "wait for more"; `need` is how many bytes (from the start of the buffer being
 * read) must be there before trying again is worth it.
 */
class Truncated extends Error {
  constructor(readonly need: number) {
    super('truncated');
  }
}

/** Cursor over one buffer: prefix integers and string literals (§4.1). */
class Reader {
  pos = 0;

  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  peek(): number {
    if (this.pos >= this.buf.length) throw new Truncated(this.pos + 1);
    return this.buf[this.pos];
  }

  /** RFC 7541 §5.1 integer with an N-bit prefix; bounded so that hostile input stays cheap. */
  int(prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = this.peek() & max;
    this.pos++;
    if (value < max) return value;
    for (let i = 0; ; i++) {
      if (i >= MAX_CONTINUATION_BYTES) throw new QpackError('qpack: integer longer than 6 continuation bytes');
      const b = this.peek();
      this.pos++;
      value += (b & 0x7f) * 2 ** (7 * i);
      if (value > MAX_INT) throw new QpackError('qpack: integer above 2^32');
      if ((b & 0x80) === 0) return value;
    }
  }

  /**
   * N-bit prefix string literal (§4.1.2): the H (Huffman) flag is the top bit of
   * the prefix, the length an (N-1)-bit prefix integer. A declared length over
   * maxLength is refused before any byte of it is awaited or copied.
   */
  string(prefixBits: number, maxLength: number): string {
    const huffman = (this.peek() & (1 << (prefixBits - 1))) !== 0;
    const length = this.int(prefixBits - 1);
    if (length > maxLength) throw new QpackError(`qpack: string length ${length} over limit ${Math.max(0, maxLength)}`);
    const end = this.pos + length;
    if (end > this.buf.length) throw new Truncated(end);
    const raw = this.buf.subarray(this.pos, end);
    this.pos = end;
    if (!huffman) return raw.toString('latin1');
    const text = huffmanDecode(raw);
    if (text === null) throw new QpackError('qpack: bad huffman string');
    return text;
  }
}

interface TableEntry {
  name: string;
  value: string;
  size: number;
}

/**
 * The dynamic table (§3.2): entries in insertion order, addressed by absolute
 * index (the first entry ever inserted is 0). Eviction drops the oldest.
 */
class DynamicTable {
  /** entries[i] has absolute index dropped + i. */
  private entries: TableEntry[] = [];
  private dropped = 0;
  size = 0;
  capacity = 0; // §3.2.2: starts at zero until the encoder sets it

  get insertCount(): number {
    return this.dropped + this.entries.length;
  }

  setCapacity(capacity: number): void {
    this.capacity = capacity;
    this.evictTo(capacity);
  }

  insert(name: string, value: string): void {
    // Strings are latin1, one char per byte, so length is the byte count.
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.capacity) throw new QpackError(`qpack: entry of ${size} bytes over table capacity ${this.capacity}`);
    this.evictTo(this.capacity - size);
    this.entries.push({ name, value, size });
    this.size += size;
  }

  /** The entry at an absolute index, or undefined when it was evicted or never inserted. */
  get(absolute: number): TableEntry | undefined {
    return this.entries[absolute - this.dropped];
  }

  /** Absolute index of an encoder-stream relative index (§3.2.5: 0 is the newest entry). */
  relative(index: number): number {
    return this.insertCount - 1 - index;
  }

  private evictTo(limit: number): void {
    while (this.size > limit) {
      const oldest = this.entries.shift();
      if (!oldest) break;
      this.size -= oldest.size;
      this.dropped++;
    }
  }
}

function staticEntry(index: number): readonly [string, string] {
  const entry = QPACK_STATIC_TABLE[index];
  if (!entry) throw new QpackError(`qpack: static index ${index} out of range`);
  return entry;
}

/** The reason to hand back for anything caught at a public method. */
function describe(err: unknown): string {
  if (err instanceof QpackError) return err.message;
  if (err instanceof Truncated) return 'qpack: truncated field section';
  return `qpack: internal error (${err instanceof Error ? err.message : String(err)})`;
}

export class QpackDecoder {
  private readonly table = new DynamicTable();
  private maxTableCapacity = 0;
  /** Largest capacity the encoder stream has set: stands in for the setting while it is unknown. */
  private largestCapacitySet = 0;
  /** Set once the encoder stream is malformed: the table can no longer be trusted. */
  private failure: string | undefined;
  /** Bytes of an unfinished encoder instruction: tail[0, tailLength). */
  private tail: Buffer = Buffer.alloc(0);
  private tailLength = 0;
  /** Tail length below which re-parsing cannot complete the instruction (avoids quadratic re-reads). */
  private tailNeed = 0;

  /** maxTableCapacity: the decoder side's SETTINGS_QPACK_MAX_TABLE_CAPACITY if known (else 0 = not known yet). */
  constructor(maxTableCapacity = 0) {
    this.setMaxTableCapacity(maxTableCapacity);
  }

  /** Learn/replace SETTINGS_QPACK_MAX_TABLE_CAPACITY later (it arrives on the control stream). */
  setMaxTableCapacity(n: number): void {
    // The setting is a varint up to 2^62: clamp rather than ignore, since it
    // only feeds the Required Insert Count arithmetic (our 64 KiB cap on the
    // table itself is separate).
    this.maxTableCapacity = Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), Number.MAX_SAFE_INTEGER) : 0;
  }

  /** Number of entries ever inserted (for tests/diagnostics). */
  get insertCount(): number {
    return this.table.insertCount;
  }

  /** Current dynamic table size in bytes, §3.2.1 accounting (for tests/diagnostics). */
  get tableSize(): number {
    return this.table.size;
  }

  /**
   * In-order bytes of the peer's QPACK encoder stream (after the stream-type
   * byte). Instructions may be split anywhere: the unfinished tail is kept
   * (bounded). Returns an error string if the stream is malformed; after that
   * the decoder stays in error and decode() returns {error}.
   */
  onEncoderStream(data: Buffer): string | undefined {
    if (this.failure !== undefined) return this.failure;
    try {
      this.feed(data);
      return undefined;
    } catch (err) {
      this.failure = describe(err);
      this.tail = Buffer.alloc(0);
      this.tailLength = 0;
      return this.failure;
    }
  }

  /** Decode one HEADERS frame payload (a whole encoded field section). */
  decode(section: Buffer): QpackResult {
    if (this.failure !== undefined) return { error: this.failure };
    try {
      return this.decodeSection(new Reader(section));
    } catch (err) {
      return { error: describe(err) };
    }
  }

  // ---- encoder stream (§4.3) ----

  private feed(data: Buffer): void {
    const buf = this.withTail(data);
    if (buf.length < this.tailNeed) {
      this.keepTail(buf); // still short of what the pending instruction needs
      return;
    }
    const r = new Reader(buf);
    let consumed = 0;
    this.tailNeed = 0;
    while (consumed < buf.length) {
      try {
        this.instruction(r);
        consumed = r.pos;
      } catch (err) {
        if (!(err instanceof Truncated)) throw err;
        this.tailNeed = err.need - consumed;
        break;
      }
    }
    this.keepTail(buf.subarray(consumed));
  }

  /**
   * One encoder instruction. It reads everything before changing the table,
   * so an instruction cut short (Truncated) leaves no trace and is re-read
   * whole once more bytes arrive.
   */
  private instruction(r: Reader): void {
    const b = r.peek();
    if (b & 0x80) {
      // 1Txxxxxx Insert with Name Reference: T=1 static, T=0 dynamic relative index.
      const isStatic = (b & 0x40) !== 0;
      const index = r.int(6);
      const name = isStatic ? staticEntry(index)[0] : this.encoderStreamEntry(index).name;
      const value = r.string(8, this.room(name.length));
      this.table.insert(name, value);
    } else if (b & 0x40) {
      // 01Hxxxxx Insert with Literal Name: 6-bit prefix name, then value.
      const name = r.string(6, this.room(0));
      const value = r.string(8, this.room(name.length));
      this.table.insert(name, value);
    } else if (b & 0x20) {
      // 001xxxxx Set Dynamic Table Capacity.
      this.setCapacity(r.int(5));
    } else {
      // 000xxxxx Duplicate: re-insert an existing entry by relative index.
      const entry = this.encoderStreamEntry(r.int(5));
      this.table.insert(entry.name, entry.value);
    }
  }

  /**
   * Longest string that can still fit in a new entry whose other string has
   * `used` bytes: lets a huge declared length fail at once instead of being
   * buffered while we wait for it.
   */
  private room(used: number): number {
    const room = this.table.capacity - ENTRY_OVERHEAD - used;
    if (room < 0) throw new QpackError(`qpack: entry over table capacity ${this.table.capacity}`);
    return room;
  }

  private encoderStreamEntry(relativeIndex: number): TableEntry {
    const absolute = this.table.relative(relativeIndex);
    const entry = absolute >= 0 ? this.table.get(absolute) : undefined;
    if (!entry) throw new QpackError(`qpack: encoder stream reference to absent entry ${absolute}`);
    return entry;
  }

  private setCapacity(capacity: number): void {
    if (capacity > MAX_TABLE_BYTES) throw new QpackError(`qpack: table capacity ${capacity} over our 64 kib limit`);
    if (this.maxTableCapacity > 0 && capacity > this.maxTableCapacity) {
      throw new QpackError(`qpack: table capacity ${capacity} over the maximum ${this.maxTableCapacity}`);
    }
    this.table.setCapacity(capacity);
    this.largestCapacitySet = Math.max(this.largestCapacitySet, capacity);
  }

  /** The bytes to parse: the kept tail followed by the new data (no copy when there is no tail). */
  private withTail(data: Buffer): Buffer {
    if (this.tailLength === 0) return data;
    const total = this.tailLength + data.length;
    if (total > this.tail.length) {
      const grown = Buffer.allocUnsafe(Math.max(total, this.tail.length * 2));
      this.tail.copy(grown, 0, 0, this.tailLength);
      this.tail = grown;
    }
    data.copy(this.tail, this.tailLength);
    this.tailLength = total;
    return this.tail.subarray(0, total);
  }

  /**
   * Keeps the unfinished instruction for next time; over the bound, the stream
   * is in error. A backstop: string lengths are already checked against the
   * room in the table (at most 64 KiB) as soon as they are read.
   */
  private keepTail(rest: Buffer): void {
    if (rest.length > MAX_TAIL_BYTES) throw new QpackError('qpack: unfinished encoder instruction over 64 kib');
    // Reallocate when too small, or when a large chunk grew the buffer well past the bound.
    if (rest.length > this.tail.length || this.tail.length > 2 * MAX_TAIL_BYTES) {
      const fresh = Buffer.allocUnsafe(Math.max(rest.length, 256));
      rest.copy(fresh);
      this.tail = fresh;
    } else {
      rest.copy(this.tail); // may overlap when rest lies in tail: Buffer.copy allows that
    }
    this.tailLength = rest.length;
  }

  // ---- field sections (§4.5) ----

  private decodeSection(r: Reader): QpackResult {
    const required = this.requiredInsertCount(r.int(8));
    const base = this.base(required, r);
    if (required > this.table.insertCount) return { blocked: true };
    const fields: QpackField[] = [];
    let bytes = 0;
    while (!r.done) {
      if (fields.length >= MAX_FIELDS) throw new QpackError(`qpack: more than ${MAX_FIELDS} fields in a section`);
      const field = this.fieldLine(r, required, base, MAX_SECTION_BYTES - bytes);
      bytes += field.name.length + field.value.length;
      if (bytes > MAX_SECTION_BYTES) throw new QpackError('qpack: field section over 256 kib');
      fields.push(field);
    }
    return { fields };
  }

  /**
   * §4.5.1.1: the encoder sends Required Insert Count modulo 2 * MaxEntries
   * (plus one); it is unwrapped against our own insert count.
   */
  private requiredInsertCount(encoded: number): number {
    if (encoded === 0) return 0;
    // Until SETTINGS is seen, the largest capacity set on the encoder stream is
    // the best guess (the encoder may not set more than the maximum).
    const maxCapacity = this.maxTableCapacity > 0 ? this.maxTableCapacity : this.largestCapacitySet;
    if (maxCapacity === 0) throw new QpackError('qpack: dynamic table reference with no table capacity known');
    const maxEntries = Math.floor(maxCapacity / 32);
    const fullRange = 2 * maxEntries;
    if (encoded > fullRange) throw new QpackError(`qpack: invalid required insert count ${encoded}`);
    const maxValue = this.table.insertCount + maxEntries;
    const maxWrapped = Math.floor(maxValue / fullRange) * fullRange;
    let required = maxWrapped + encoded - 1;
    if (required > maxValue) {
      if (required <= fullRange) throw new QpackError(`qpack: invalid required insert count ${encoded}`);
      required -= fullRange;
    }
    if (required === 0) throw new QpackError(`qpack: invalid required insert count ${encoded}`);
    return required;
  }

  /** §4.5.1.2: Base from the Sign bit and Delta Base; it may not be negative. */
  private base(required: number, r: Reader): number {
    const negative = (r.peek() & 0x80) !== 0;
    const delta = r.int(7);
    if (!negative) return required + delta;
    if (delta >= required) throw new QpackError('qpack: negative base');
    return required - delta - 1;
  }

  /** One field line representation (§4.5.2 - §4.5.6); `budget` is the section's remaining bytes. */
  private fieldLine(r: Reader, required: number, base: number, budget: number): QpackField {
    const b = r.peek();
    if (b & 0x80) {
      // 1Txxxxxx Indexed Field Line.
      const isStatic = (b & 0x40) !== 0;
      const index = r.int(6);
      return isStatic ? fieldOf(staticEntry(index)) : this.sectionEntry(base - 1 - index, required);
    }
    if (b & 0x40) {
      // 01NTxxxx Literal Field Line with Name Reference (N, never-index, matters only to re-encoders).
      const isStatic = (b & 0x10) !== 0;
      const index = r.int(4);
      const name = isStatic ? staticEntry(index)[0] : this.sectionEntry(base - 1 - index, required).name;
      return { name, value: r.string(8, budget - name.length) };
    }
    if (b & 0x20) {
      // 001NHxxx Literal Field Line with Literal Name: 4-bit prefix name, then value.
      const name = r.string(4, budget);
      return { name, value: r.string(8, budget - name.length) };
    }
    if (b & 0x10) {
      // 0001xxxx Indexed Field Line with Post-Base Index.
      return this.sectionEntry(base + r.int(4), required);
    }
    // 0000Nxxx Literal Field Line with Post-Base Name Reference.
    const name = this.sectionEntry(base + r.int(3), required).name;
    return { name, value: r.string(8, budget - name.length) };
  }

  /**
   * A dynamic entry named by a field section (§2.2.3): it must lie below the
   * section's Required Insert Count and must not have been evicted.
   */
  private sectionEntry(absolute: number, required: number): QpackField {
    if (absolute < 0) throw new QpackError('qpack: relative index below the base');
    if (absolute >= required) throw new QpackError(`qpack: reference to entry ${absolute} not below required insert count ${required}`);
    const entry = this.table.get(absolute);
    if (!entry) throw new QpackError(`qpack: reference to evicted entry ${absolute}`);
    return { name: entry.name, value: entry.value };
  }
}

function fieldOf(entry: readonly [string, string]): QpackField {
  return { name: entry[0], value: entry[1] };
}
