// A bounded FIFO of bytes for stream parsers: append chunks as they arrive,
// look at the front without copying when one chunk holds it, consume parsed
// bytes. Parsers keep one per direction. What a queue holds is charged to the
// memory budget of the flow it was created for (see memory-budget.ts).

import { currentMeter, type Meter } from './memory-budget.js';

const EMPTY = Buffer.alloc(0);

export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private total = 0;
  private readonly meter: Meter | undefined = currentMeter();
  /**
   * Spare room after the last chunk, left by a compaction of the whole queue:
   * appends are copied there, so a parser that looks again at a head that
   * keeps growing (peek of everything, per packet) copies each byte a bounded
   * number of times instead of once per look. When set, the last chunk is
   * `room[roomStart, roomUsed)`.
   */
  private room: Buffer | undefined;
  private roomStart = 0;
  private roomUsed = 0;
  /** The caller's own buffer, queued uncopied by pushBorrowed until settle(). */
  private borrowed: Buffer | undefined;

  get length(): number {
    return this.total;
  }

  /** Append a copy (callers' buffers are only valid during onData). */
  push(data: Buffer): void {
    if (data.length === 0) return;
    const room = this.room;
    if (room && this.roomUsed + data.length <= room.length) {
      data.copy(room, this.roomUsed);
      this.roomUsed += data.length;
      this.chunks[this.chunks.length - 1] = room.subarray(this.roomStart, this.roomUsed);
    } else {
      this.room = undefined;
      this.chunks.push(Buffer.from(data));
    }
    this.total += data.length;
    this.meter?.add(data.length);
  }

  /**
   * Append `data` without copying it, for a parser that reads it at once and
   * calls settle() before it returns: only what is still queued then is
   * copied. A packet is mostly parsed whole in its own onData (a head and its
   * body, a body's next bytes), so most are never copied. Into a queue that
   * already holds bytes, a plain push.
   */
  pushBorrowed(data: Buffer): void {
    if (this.total > 0 || data.length === 0) {
      this.push(data);
      return;
    }
    this.room = undefined;
    this.chunks.push(data);
    this.borrowed = data;
    this.total = data.length;
    this.meter?.add(data.length);
  }

  /** The end of the caller's onData: what is left of a borrowed buffer becomes the queue's own copy. */
  settle(): void {
    const b = this.borrowed;
    if (b === undefined) return;
    this.borrowed = undefined;
    // Still the front chunk unless it was consumed (or merged into a copy by a compaction).
    if (this.chunks[0] === b) {
      this.chunks[0] = Buffer.from(b.subarray(this.head));
      this.head = 0;
    }
  }

  /** The first `n` bytes (or all, when fewer) as one buffer; copies only when they span chunks. */
  peek(n = this.total): Buffer {
    n = Math.min(n, this.total);
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    this.compact(n);
    return this.chunks[0].subarray(0, n);
  }

  /** The chunk holding the first queued byte (empty when nothing is queued), to read in place. */
  get frontChunk(): Buffer {
    return this.chunks[0] ?? EMPTY;
  }

  /** Where the first queued byte is in `frontChunk`. */
  get frontOffset(): number {
    return this.head;
  }

  /** Byte at offset `i` from the front, or -1. */
  at(i: number): number {
    if (i >= this.total) return -1;
    let off = this.head + i;
    for (const c of this.chunks) {
      if (off < c.length) return c[off];
      off -= c.length;
    }
    return -1;
  }

  /** Offset of the first occurrence of `needle` at or after `from`, or -1. */
  indexOf(needle: Buffer | string, from = 0, limit = this.total): number {
    const n = typeof needle === 'string' ? Buffer.from(needle, 'latin1') : needle;
    const span = Math.min(limit, this.total);
    if (span < n.length) return -1;
    return this.peek(span).indexOf(n, from);
  }

  /**
   * Offset of the first `byte` within the first `limit` bytes, or -1. Searches
   * the front chunk in place: line-based parsers call this once per line.
   */
  indexOfByte(byte: number, limit = this.total): number {
    const span = Math.min(limit, this.total);
    if (span === 0) return -1;
    const first = this.chunks[0];
    const end = this.head + span;
    if (end <= first.length) {
      const i = first.indexOf(byte, this.head);
      return i < 0 || i >= end ? -1 : i - this.head;
    }
    return this.peek(span).indexOf(byte);
  }

  /**
   * As `indexOf`, but searching chunk by chunk in place: only the few bytes
   * that span two chunks are copied. For scans that resume where they
   * stopped as bytes arrive (a head whose end is awaited), so each arrival
   * costs its own length, not the length of everything queued.
   */
  indexOfInPlace(needle: Buffer, from = 0, limit = this.total): number {
    const end = Math.min(limit, this.total);
    const n = needle.length;
    if (n === 0 || end - from < n) return -1;
    let start = -this.head; // queue offset of the current chunk's first byte
    for (const c of this.chunks) {
      const chunkEnd = start + c.length;
      if (chunkEnd > from) {
        if (start >= end) return -1;
        // Wholly inside this chunk.
        const lo = Math.max(from, start) - start;
        const hi = Math.min(end, chunkEnd) - start;
        // (A view only when the search stops short of the chunk's end: most calls search a whole chunk.)
        const i = (hi === c.length ? c : c.subarray(0, hi)).indexOf(needle, lo);
        if (i >= 0) return start + i;
        // Starting in this chunk's last n-1 bytes and running into the next ones.
        const first = Math.max(from, chunkEnd - (n - 1), start);
        if (first < chunkEnd && chunkEnd < end) {
          const span = this.bytesAt(first, Math.min(n - 1 + (chunkEnd - first), end - first));
          const j = span.indexOf(needle);
          if (j >= 0 && first + j < chunkEnd) return first + j;
        }
      }
      start = chunkEnd;
    }
    return -1;
  }

  /** A copy of `len` bytes from queue offset `at` (for short spans across chunks). */
  private bytesAt(at: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    let written = 0;
    let start = -this.head;
    for (const c of this.chunks) {
      const chunkEnd = start + c.length;
      if (chunkEnd > at + written && written < len) {
        const off = at + written - start;
        written += c.copy(out, written, off, Math.min(c.length, off + len - written));
      }
      if (written >= len) break;
      start = chunkEnd;
    }
    return out;
  }

  /** Drop `n` bytes from the front. */
  consume(n: number): void {
    n = Math.min(n, this.total);
    this.total -= n;
    this.meter?.add(-n);
    while (n > 0) {
      const c = this.chunks[0];
      const avail = c.length - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
    if (this.chunks.length === 0) this.room = undefined;
  }

  /** Remove and return `n` bytes (a copy-free view when possible). */
  take(n: number): Buffer {
    const b = this.peek(n);
    const out = this.chunks.length > 0 && b.buffer === this.chunks[0].buffer ? Buffer.from(b) : b;
    this.consume(n);
    return out;
  }

  clear(): void {
    this.meter?.add(-this.total);
    this.room = undefined;
    this.borrowed = undefined;
    this.chunks = [];
    this.head = 0;
    this.total = 0;
  }

  private compact(n: number): void {
    // Most of the queue asked for at once: merge all of it, with room to grow.
    if (n * 2 >= this.total) {
      this.compactAll();
      return;
    }
    this.room = undefined;
    const merged = Buffer.allocUnsafe(Math.max(n, 0));
    let written = 0;
    let i = 0;
    let off = this.head;
    while (written < n) {
      const c = this.chunks[i];
      const part = Math.min(c.length - off, n - written);
      c.copy(merged, written, off, off + part);
      written += part;
      if (off + part === c.length) {
        i++;
        off = 0;
      } else off += part;
    }
    const rest = this.chunks.slice(i);
    if (rest.length > 0 && off > 0) rest[0] = rest[0].subarray(off);
    this.chunks = [merged, ...rest];
    this.head = 0;
  }

  private compactAll(): void {
    const total = this.total;
    const merged = Buffer.allocUnsafe(Math.max(Math.ceil(total * 1.5), 1024));
    let written = 0;
    let off = this.head;
    for (const c of this.chunks) {
      written += c.copy(merged, written, off);
      off = 0;
    }
    this.chunks = [merged.subarray(0, total)];
    this.head = 0;
    this.room = merged;
    this.roomStart = 0;
    this.roomUsed = total;
  }
}
