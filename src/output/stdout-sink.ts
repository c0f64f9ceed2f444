// Writes text to stdout (or an injected stream) in batches, honours
// backpressure, and turns EPIPE (`| head`) into a quiet "done" signal instead
// of an error: callers abort their pipeline when `closed` fires.

import type { Writable } from 'node:stream';
import { ExitCode, UserError, isEpipe } from '../cli/errors.js';
import type { LineFormatter } from './formats/entry-format.js';

export interface LineSinkOptions {
  /** Flush when this many characters are buffered. */
  batchChars?: number;
  /** Called once when the reader went away (EPIPE) so producers can stop. */
  onClosed?: () => void;
  /** `-o compact|wide|detail|json`: each line is rendered for a person first; none for NDJSON. */
  format?: LineFormatter;
}

export class LineSink {
  /** Lines are UTF-8 encoded straight into this buffer: no join, no second copy. */
  private buf: Buffer;
  private used = 0;
  private readonly batchChars: number;
  closed = false;
  private failure: NodeJS.ErrnoException | undefined;

  constructor(
    private readonly out: Writable = process.stdout,
    private readonly opts: LineSinkOptions = {},
  ) {
    this.batchChars = opts.batchChars ?? 64 * 1024;
    this.buf = Buffer.allocUnsafe(this.batchChars * 2);
    out.on('error', (err) => {
      if (isEpipe(err)) this.markClosed();
      else {
        // Disk full, permission…: stop writing, and fail the next flush with one line.
        this.failure = err as NodeJS.ErrnoException;
        this.markClosed();
      }
    });
  }

  private wroteAny = false;

  /** Queue one line (without its newline). Returns a promise only when the caller must wait. */
  write(line: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    const format = this.opts.format;
    if (format) {
      if (!this.wroteAny) {
        const head = format.head?.();
        if (head !== undefined) this.put(head);
      }
      this.wroteAny = true;
      const lines = format.line(line);
      if (typeof lines === 'string') this.put(lines);
      else for (const l of lines) this.put(l);
      if (this.used >= this.batchChars) return this.flush();
      return undefined;
    }
    this.put(line);
    if (this.used >= this.batchChars) return this.flush();
    return undefined;
  }

  /**
   * Queue one entry line from its id's parts and the rest of it as UTF-8
   * bytes (`--workers`: the main thread numbers entries, a worker serialised
   * the rest, starting at the comma after the id): `{"id":"FRAME-SEQ"` then
   * `rest`. The id's digits go straight into the batch: a string per line
   * for it was a tenth of what the main thread allocated.
   */
  writeWithId(frame: number, seq: number, rest: Uint8Array): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.opts.format) return this.write(`{"id":"${frame}-${seq}"` + Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength).toString('utf8'));
    // `{"id":"`, '-', '"' and the newline: 10 bytes; at most 16 digits each (integers below 2^53).
    this.room(42 + rest.length);
    const b = this.buf;
    let p = this.used;
    for (let i = 0; i < ID_OPEN.length; i++) b[p++] = ID_OPEN[i];
    p = writeDigits(b, p, frame);
    b[p++] = 0x2d; // '-'
    p = writeDigits(b, p, seq);
    b[p++] = 0x22; // '"'
    b.set(rest, p);
    p += rest.length;
    b[p++] = 0x0a;
    this.used = p;
    if (this.used >= this.batchChars) return this.flush();
    return undefined;
  }

  /** Queue one line given as UTF-8 bytes (without its newline). Returns a promise only when the caller must wait. */
  writeBytes(line: Uint8Array): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.opts.format) return this.write(Buffer.from(line.buffer, line.byteOffset, line.byteLength).toString('utf8'));
    this.room(line.length + 1);
    this.buf.set(line, this.used);
    this.used += line.length;
    this.buf[this.used++] = 0x0a;
    if (this.used >= this.batchChars) return this.flush();
    return undefined;
  }

  /**
   * Queue one line given as the UTF-8 bytes `src[start, end)` (a line held in
   * a LineArena's slab: copied now, so the slab may be reused at once).
   * Returns a promise only when the caller must wait.
   */
  writeRange(src: Buffer, start: number, end: number): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.opts.format) return this.write(src.toString('utf8', start, end));
    this.room(end - start + 1);
    this.used += src.copy(this.buf, this.used, start, end);
    this.buf[this.used++] = 0x0a;
    if (this.used >= this.batchChars) return this.flush();
    return undefined;
  }

  /**
   * Queue several lines at once, each already ended by its newline (workers'
   * filtered blocks, parallel-ndjson.ts). NDJSON only: a formatter renders
   * line by line (write()).
   */
  writeText(text: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (this.opts.format) throw new Error('LineSink.writeText: lines to render go through write()');
    // Exact: a block is up to 256 KB, and room for 3 bytes a character would be a needless larger buffer.
    this.room(Buffer.byteLength(text, 'utf8'));
    this.used += this.buf.write(text, this.used, 'utf8');
    if (this.used >= this.batchChars) return this.flush();
    return undefined;
  }

  /** End the output: the formatter's closing text (a JSON array's `]`), then everything flushed. */
  async finish(): Promise<void> {
    const tail = this.closed ? undefined : this.opts.format?.tail?.(this.wroteAny);
    if (tail !== undefined) this.put(tail);
    await this.flush();
  }

  private put(line: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
    this.room(line.length * 3 + 1);
    this.used += this.buf.write(line, this.used, 'utf8');
    this.buf[this.used++] = 0x0a;
  }

  /** At least `bytes` free in the batch buffer: the batch so far goes out first when they do not fit. */
  private room(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    if (this.used > 0) this.handOff();
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(bytes);
  }

  /** Bytes not yet taken by the reader: this sink's batch plus the stream's own write queue. */
  get pendingBytes(): number {
    return this.used + (this.out.writableLength ?? 0);
  }

  /** Write what is queued; resolves when the stream can take more. */
  async flush(): Promise<void> {
    if (this.failure) {
      const f = this.failure;
      throw new UserError(`cannot write output: ${f.message}`, ExitCode.OUTPUT);
    }
    if (this.closed || this.used === 0) return;
    const ok = this.handOff();
    if (!ok && !this.closed) await this.drained();
    if (this.failure) await this.flush();
  }

  /** Give the filled part of the buffer to the stream, which keeps it: start a new buffer. */
  private handOff(): boolean {
    const chunk = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(Math.max(this.batchChars * 2, 1024));
    this.used = 0;
    try {
      return this.out.write(chunk);
    } catch (err) {
      if (isEpipe(err)) {
        this.markClosed();
        return true;
      }
      throw err;
    }
  }

  /** Resolve on 'drain' or 'close', removing both listeners (events.once would leak one per wait). */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
    });
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.used = 0;
    this.opts.onClosed?.();
  }
}

/** `{"id":"` */
const ID_OPEN = Buffer.from('{"id":"', 'latin1');

/** The decimal digits of a non-negative integer `n` (below 2^53) at `b[p]`; where they end. */
function writeDigits(b: Buffer, p: number, n: number): number {
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  for (let i = p + digits - 1; i >= p; i--) {
    b[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return p + digits;
}
