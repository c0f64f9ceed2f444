// One capture input walked record by record, for `merge`'s hot loop: bytes
// are read into a single window buffer that is reused for the whole file (no
// Buffer per chunk or per packet), the format's parser finds each record by
// offset (RecordParser.next), and the current record (`rec`, its bytes at
// `buf[rec.dataOff…]`) stays valid until the next `advance`. Only the tail
// of a record cut by the window's end is moved, to the front, before the next
// read; the window grows only for a record larger than itself.
// A file is read with synchronous reads (no stream, no promise per chunk);
// stdin comes from an async iterator of chunks.

import { closeSync, readSync } from 'node:fs';
import { InputError } from '../cli/errors.js';
import type { CaptureInterface } from '../model/packet.js';
import { isPcapMagic, PcapParser } from './pcap-parser.js';
import { BLOCK_SHB, PcapngParser } from './pcapng-parser.js';
import { newRecordInfo, type RecordInfo, type RecordParser } from './record-parser.js';

/** Where a cursor's bytes come from. */
export interface ByteSource {
  /** Read up to `max` bytes into `buf` at `at`; 0 at the end. A promise only when the bytes are not there yet. */
  read(buf: Buffer, at: number, max: number): number | Promise<number>;
  close(): void;
}

/** A file descriptor read sequentially with readSync (the page cache answers at memcpy speed). */
export class FileSource implements ByteSource {
  private closed = false;

  constructor(private readonly fd: number) {}

  read(buf: Buffer, at: number, max: number): number {
    return readSync(this.fd, buf, at, max, null);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Chunks of a stream (stdin), copied into the cursor's window as it asks. */
export class StreamSource implements ByteSource {
  private chunk: Buffer | undefined;
  private pos = 0;

  constructor(
    private readonly chunks: AsyncIterator<Buffer>,
    private readonly onClose: () => void = () => {},
  ) {}

  read(buf: Buffer, at: number, max: number): number | Promise<number> {
    if (this.chunk) return this.copy(buf, at, max);
    return this.chunks.next().then((r) => {
      if (r.done) return 0;
      this.chunk = r.value;
      this.pos = 0;
      return this.copy(buf, at, max);
    });
  }

  close(): void {
    this.onClose();
  }

  private copy(buf: Buffer, at: number, max: number): number {
    const chunk = this.chunk!;
    const n = Math.min(max, chunk.length - this.pos);
    chunk.copy(buf, at, this.pos, this.pos + n);
    this.pos += n;
    if (this.pos >= chunk.length) this.chunk = undefined;
    return n;
  }
}

const MAGIC_BYTES = 4;
const DEFAULT_WINDOW_BYTES = 1 << 20;

export class RecordCursor {
  /** The window: the current record's bytes are at `rec.dataOff` in it. */
  buf: Buffer;
  /** The current packet record (valid after `advance` returned true, until the next call). */
  readonly rec: RecordInfo = newRecordInfo();
  private parser: RecordParser | undefined;
  /** Unparsed bytes are buf[start…end); `base` is the file offset of buf[0]. */
  private start = 0;
  private end = 0;
  private base = 0;
  private eof = false;

  constructor(
    readonly name: string,
    private readonly source: ByteSource,
    /** Bytes already read from the source (the sniffed head). */
    head: Buffer = Buffer.alloc(0),
    /** The window to use (merge places all windows and its output buffer in one ArrayBuffer), or its size. */
    window: Buffer | number = DEFAULT_WINDOW_BYTES,
  ) {
    const size = Math.max(typeof window === 'number' ? window : window.length, head.length, MAGIC_BYTES);
    this.buf = typeof window !== 'number' && window.length >= size ? window : Buffer.allocUnsafe(size);
    head.copy(this.buf, 0);
    this.end = head.length;
  }

  /** Interfaces seen so far (pcap: one; pcapng: grows as IDBs are read). */
  get interfaces(): CaptureInterface[] {
    return this.parser?.interfaces ?? [];
  }

  /**
   * Move to the next packet: true when `rec` holds one, false at the end of
   * the input. Throws InputError at damage, after every good packet before
   * it. Returns a promise only when the source had to wait for data.
   */
  advance(): boolean | Promise<boolean> {
    for (;;) {
      if (this.parseNext()) return true;
      if (this.eof) return this.atEnd();
      const n = this.readMore();
      if (typeof n !== 'number') {
        return n.then((k) => {
          this.got(k);
          return this.advance();
        });
      }
      this.got(n);
    }
  }

  close(): void {
    this.source.close();
  }

  private parseNext(): boolean {
    if (!this.parser) {
      if (this.end - this.start < MAGIC_BYTES) return false;
      this.parser = this.chooseParser();
    }
    const parser = this.parser;
    this.start += parser.next(this.buf, this.start, this.end, this.base + this.start, this.rec);
    if (this.rec.found) return true;
    if (parser.error) throw parser.error;
    return false;
  }

  /** Move the unparsed tail to the front (growing the window if one record needs more), then read behind it. */
  private readMore(): number | Promise<number> {
    const need = this.parser ? this.parser.need : MAGIC_BYTES;
    const tail = this.end - this.start;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(need);
      this.buf.copy(bigger, 0, this.start, this.end);
      this.buf = bigger;
    } else if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
    }
    this.base += this.start;
    this.start = 0;
    this.end = tail;
    return this.source.read(this.buf, this.end, this.buf.length - this.end);
  }

  private got(n: number): void {
    if (n === 0) this.eof = true;
    else this.end += n;
  }

  private atEnd(): false {
    const left = this.end - this.start;
    if (!this.parser) {
      throw new InputError(this.name, 'at byte 0', left === 0 && this.base === 0 ? 'empty capture file' : 'truncated file header');
    }
    if (left > 0) throw this.parser.endError(this.base + this.start);
    return false;
  }

  private chooseParser(): RecordParser {
    const le = this.buf.readUInt32LE(this.start);
    if (le === BLOCK_SHB) return new PcapngParser(this.name);
    if (isPcapMagic(this.buf, this.start)) return new PcapParser(this.name);
    const hex = this.buf.toString('hex', this.start, this.start + MAGIC_BYTES);
    throw new InputError(this.name, 'at byte 0', `not a pcap or pcapng file (starts with 0x${hex})`);
  }
}
