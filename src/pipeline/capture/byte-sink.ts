// Collects small binary records into large buffers and writes those to a
// Writable with backpressure: `reserve` hands out room in the current buffer;
// when it is full the buffer goes to the stream and a fresh one is started
// (the stream may keep a reference to what it was given even after its write
// callback — a PassThrough hands the same memory on — so buffers are never
// reused). The promise returned when the stream is full is the caller's cue
// to wait; a reader that went away (EPIPE) turns into `closed`, not an error.

import type { Writable } from 'node:stream';
import { isEpipe } from '../../cli/errors.js';

const DEFAULT_BUFFER_BYTES = 256 * 1024;

export class ByteSink {
  private buf: Buffer;
  private used = 0;
  private failure: Error | undefined;
  private waiting: Promise<void> | undefined;
  closed = false;

  constructor(
    private readonly out: Writable,
    private readonly bufferBytes = DEFAULT_BUFFER_BYTES,
    private readonly onClosed?: () => void,
  ) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
    out.on('error', (err) => {
      if (isEpipe(err)) this.markClosed();
      else this.failure ??= err;
    });
  }

  /**
   * Room for `n` bytes: returns the buffer and the offset to write at. When the
   * current buffer had to be sent first and the stream is full, `flushed` is
   * the promise to await before writing more.
   */
  reserve(n: number): { buf: Buffer; at: number; flushed: Promise<void> | undefined } {
    let flushed: Promise<void> | undefined;
    if (this.used + n > this.buf.length) {
      flushed = this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    }
    const at = this.used;
    this.used += n;
    return { buf: this.buf, at, flushed };
  }

  /** Send what is buffered; resolves when the stream wants more. */
  flush(): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (this.used === 0 || this.closed) {
      this.used = 0;
      return this.waiting;
    }
    const data = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.bufferBytes);
    this.used = 0;
    let ok: boolean;
    try {
      ok = this.out.write(data);
    } catch (err) {
      if (isEpipe(err)) {
        this.markClosed();
        return undefined;
      }
      throw err;
    }
    if (ok) return undefined;
    this.waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        this.out.off('drain', done);
        this.out.off('close', done);
        this.out.off('error', done);
        this.waiting = undefined;
        resolve();
      };
      this.out.on('drain', done);
      this.out.on('close', done);
      this.out.on('error', done);
    });
    return this.waiting;
  }

  /** Flush everything and wait until the stream took it. */
  async finish(): Promise<void> {
    await this.flush();
    await this.waiting;
    if (this.failure) throw this.failure;
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed?.();
  }
}
