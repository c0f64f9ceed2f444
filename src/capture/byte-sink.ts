// Collects small binary records into large buffers and writes those to a
// Writable with backpressure: `reserve` hands out room in the current buffer;
// when it is full the buffer goes to the stream and a fresh one is started
// (the stream may keep a reference to what it was given even after its write
// callback — a PassThrough hands the same memory on — so buffers are never
// reused). The promise returned when the stream is full is the caller's cue
// to wait; a reader that went away (EPIPE) turns into `closed`, not an error.

import type { Writable } from 'node:stream';
import { isEpipe } from '../cli/errors.js';

const DEFAULT_BUFFER_BYTES = 256 * 1024;

/** Output buffers owned by the caller (see the ByteSink constructor). */
export interface Staging {
  buffers: Buffer[];
  reuseAfterWrite: boolean;
}

export class ByteSink {
  /** The current buffer; after `room(n)`, write the n bytes at `at` (through `buf` or `view`). */
  buf: Buffer;
  view: DataView;
  at = 0;
  private used = 0;
  /** A Uint8Array over the whole ArrayBuffer behind `buf`, for copyWithin (see copyIn). */
  private whole: Uint8Array | undefined;
  /** Staging buffers not held by the stream. */
  private readonly free: Buffer[];
  private onRelease: (() => void) | undefined;
  private failure: Error | undefined;
  private waiting: Promise<void> | undefined;
  closed = false;

  constructor(
    private readonly out: Writable,
    private readonly bufferBytes = DEFAULT_BUFFER_BYTES,
    private readonly onClosed?: () => void,
    /**
     * Buffers to fill again and again instead of a fresh one per write (fresh
     * memory costs a page fault per 4 KiB). With `reuseAfterWrite` — only for
     * streams that are done with a buffer when they call back (files,
     * process.stdout; not a PassThrough) — a buffer is reused once its write
     * called back; otherwise each write hands the stream a copy. Worth it when
     * the records come from the same ArrayBuffer: see copyIn.
     */
    private readonly staging?: Staging,
  ) {
    this.free = staging ? [...staging.buffers] : [];
    this.buf = this.free.pop() ?? Buffer.allocUnsafe(bufferBytes);
    this.view = viewOf(this.buf);
    out.on('error', (err) => {
      if (isEpipe(err)) this.markClosed();
      else this.failure ??= err;
      this.stopWaitingForRelease();
    });
  }

  /**
   * Room for `n` bytes: returns the buffer and the offset to write at. When the
   * current buffer had to be sent first and the stream is full, `flushed` is
   * the promise to await before writing more.
   */
  reserve(n: number): { buf: Buffer; at: number; flushed: Promise<void> | undefined } {
    const flushed = this.room(n);
    return { buf: this.buf, at: this.at, flushed };
  }

  /**
   * The allocation-free form of `reserve` for per-packet writers: makes room
   * for `n` bytes at `this.at` in `this.buf`; returns the promise to await
   * before writing more when the stream is full.
   */
  room(n: number): Promise<void> | undefined {
    let flushed: Promise<void> | undefined;
    if (this.used + n > this.buf.length) {
      flushed = this.flush();
      if (n > this.buf.length) this.setBuffer(Buffer.allocUnsafe(n));
    }
    this.at = this.used;
    this.used += n;
    return flushed;
  }

  /**
   * Copy `src[from … from + n)` to `buf[at…]` (room already made). Within one
   * ArrayBuffer this is a single copyWithin, several times cheaper for
   * packet-sized copies than Buffer.copy/set, which build a view per call.
   */
  copyIn(src: Buffer, from: number, n: number, at: number): void {
    const dst = this.buf;
    if (src.buffer === dst.buffer) {
      let whole = this.whole;
      if (whole === undefined || whole.buffer !== dst.buffer) whole = this.whole = new Uint8Array(dst.buffer);
      const start = src.byteOffset + from;
      whole.copyWithin(dst.byteOffset + at, start, start + n);
    } else {
      src.copy(dst, at, from, from + n);
    }
  }

  /** Send what is buffered; resolves when the stream wants more. */
  flush(): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (this.used === 0 || this.closed) {
      this.used = 0;
      return this.waiting;
    }
    const held = this.buf;
    const staging = this.staging;
    const staged = staging !== undefined && staging.buffers.includes(held);
    let data: Buffer;
    let release: (() => void) | undefined;
    let released: Promise<void> | undefined;
    if (staged && !staging.reuseAfterWrite) {
      data = Buffer.allocUnsafe(this.used);
      held.copy(data, 0, 0, this.used);
      this.free.push(held);
    } else {
      data = held.subarray(0, this.used);
      if (staged) release = () => this.release(held);
    }
    const next = this.free.pop();
    if (next) this.setBuffer(next);
    else {
      // No staging buffer is free yet (the stream calls back later): carry on in
      // fresh memory, and have the caller wait for the release (release moves
      // what was written meanwhile, one record, back into staging memory).
      this.setBuffer(Buffer.allocUnsafe(this.bufferBytes));
      if (staged) released = new Promise<void>((resolve) => (this.onRelease = resolve));
    }
    this.used = 0;
    let ok: boolean;
    try {
      ok = this.out.write(data, release);
    } catch (err) {
      if (isEpipe(err)) {
        this.markClosed();
        return undefined;
      }
      throw err;
    }
    if (ok) return released;
    if (released) return Promise.all([released, this.drained()]).then(() => undefined);
    return this.drained();
  }

  /** A staging buffer the stream called back for: continue in it if fresh memory stood in, else keep it for later. */
  private release(held: Buffer): void {
    if (!this.staging!.buffers.includes(this.buf) && this.used <= held.length) {
      this.buf.copy(held, 0, 0, this.used);
      this.setBuffer(held);
    } else {
      this.free.push(held);
    }
    this.stopWaitingForRelease();
  }

  /** A failed stream may never call back: nobody should wait for a release then. */
  private stopWaitingForRelease(): void {
    const resolve = this.onRelease;
    this.onRelease = undefined;
    resolve?.();
  }

  /** Resolves when the stream wants more. */
  private drained(): Promise<void> {
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

  private setBuffer(buf: Buffer): void {
    this.buf = buf;
    this.view = viewOf(buf);
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed?.();
  }
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
