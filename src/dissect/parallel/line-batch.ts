// A worker's serialised entries on their way to the main thread: each line is
// UTF-8 encoded into one buffer as soon as it is made, so its string dies
// young (a batch of strings kept until it was posted outlived the young
// generation and was copied into the old one), and the bytes travel in an
// ArrayBuffer that is transferred, never cloned.

/** Bytes a batch starts with; it doubles when a batch needs more. */
const INITIAL_BYTES = 64 * 1024;

export class LineBatch {
  private buf = fresh(INITIAL_BYTES);
  private used = 0;
  /** Lines added since the last `take`. */
  count = 0;

  add(line: string): void {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit; 1 for the newline before it.
    const worst = line.length * 3 + 1;
    if (this.used + worst > this.buf.length) this.grow(this.used + worst);
    if (this.count > 0) this.buf[this.used++] = 0x0a;
    this.used += this.buf.write(line, this.used, 'utf8');
    this.count++;
  }

  /** One line already UTF-8. */
  addBytes(line: Uint8Array): void {
    const need = line.length + 1;
    if (this.used + need > this.buf.length) this.grow(this.used + need);
    if (this.count > 0) this.buf[this.used++] = 0x0a;
    this.buf.set(line, this.used);
    this.used += line.length;
    this.count++;
  }

  /**
   * The lines so far, joined by newlines, in an ArrayBuffer of their own (to
   * transfer); the batch starts again empty. A batch using little of its
   * buffer is copied out (the buffer is kept), so no thread holds a mostly
   * empty buffer per batch.
   */
  take(): Uint8Array {
    let out: Uint8Array;
    if (this.used * 2 <= this.buf.length) {
      out = new Uint8Array(new ArrayBuffer(this.used));
      out.set(this.buf.subarray(0, this.used));
    } else {
      out = new Uint8Array(this.buf.buffer, 0, this.used);
      this.buf = fresh(INITIAL_BYTES);
    }
    this.used = 0;
    this.count = 0;
    return out;
  }

  private grow(need: number): void {
    const next = fresh(Math.max(need, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

/** A Buffer over an ArrayBuffer of its own (Buffer.allocUnsafe may share a pool, which cannot be transferred). */
function fresh(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size));
}
