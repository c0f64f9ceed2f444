// A single-producer single-consumer byte ring in a SharedArrayBuffer: the
// dispatcher writes packet records, one worker reads them, with no copy or
// structured clone per packet. Records are [u32 length][bytes]; a record that
// would not fit before the end starts again at 0 behind a length-0 marker.
// Bounded: a writer finding it full waits (asynchronously) for the reader.

const HEAD = 0; // next byte the writer writes (monotonic, modulo capacity)
const TAIL = 1; // next byte the reader reads
const CLOSED = 2;
const HEADER_BYTES = 16;

/** Node 16+ has Atomics.waitAsync; TypeScript's ES2022 library does not declare it. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeout?: number): { async: boolean; value: Promise<string> | string };
}

export interface RingHandle {
  sab: SharedArrayBuffer;
}

export function createRing(capacity: number): RingHandle {
  return { sab: new SharedArrayBuffer(HEADER_BYTES + capacity) };
}

export class RingWriter {
  private readonly ctl: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly cap: number;
  /** Times the writer found the ring full and waited (the reader is the bottleneck). */
  waits = 0;

  constructor(handle: RingHandle) {
    this.ctl = new Int32Array(handle.sab, 0, 4);
    this.bytes = new Uint8Array(handle.sab, HEADER_BYTES);
    this.cap = this.bytes.length;
  }

  get capacity(): number {
    return this.cap;
  }

  /** Reserve room for a record of `len` bytes; resolves to its offset in `view` once the reader made room. */
  async reserve(len: number): Promise<number> {
    const need = len + 4;
    if (need + 4 > this.cap) throw new Error(`ring: record of ${len} bytes larger than the ring`);
    for (;;) {
      const head = Atomics.load(this.ctl, HEAD);
      const tail = Atomics.load(this.ctl, TAIL);
      const used = (head - tail + this.cap) % this.cap;
      const free = this.cap - used - 1;
      const toEnd = this.cap - head;
      // A record never wraps: skip the end's remainder (with a 0 marker when 4 bytes fit).
      const cost = toEnd >= need ? need : toEnd + need;
      if (cost <= free) {
        let at = head;
        if (toEnd < need) {
          if (toEnd >= 4) new DataView(this.bytes.buffer, HEADER_BYTES + head, 4).setUint32(0, 0, true);
          at = 0;
        }
        return at;
      }
      this.waits++;
      const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.ctl, TAIL, tail, 1000);
      if (wait.async) await wait.value;
    }
  }

  /** The ring's bytes (a record goes at reserve()'s offset + 4). */
  get view(): Uint8Array {
    return this.bytes;
  }

  /** Publish a record of `len` bytes written at `at + 4`. */
  commit(at: number, len: number): void {
    new DataView(this.bytes.buffer, HEADER_BYTES + at, 4).setUint32(0, len, true);
    Atomics.store(this.ctl, HEAD, (at + 4 + len) % this.cap);
    Atomics.notify(this.ctl, HEAD);
  }

  close(): void {
    Atomics.store(this.ctl, CLOSED, 1);
    Atomics.notify(this.ctl, HEAD);
  }
}

export class RingReader {
  private readonly ctl: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly cap: number;

  constructor(handle: RingHandle) {
    this.ctl = new Int32Array(handle.sab, 0, 4);
    this.bytes = new Uint8Array(handle.sab, HEADER_BYTES);
    this.cap = this.bytes.length;
  }

  /** True when a record is waiting. */
  get ready(): boolean {
    return Atomics.load(this.ctl, HEAD) !== Atomics.load(this.ctl, TAIL);
  }

  /** Block (a worker has nothing else to do) until a record comes or the ring is closed; false when closed and empty. */
  waitForData(): boolean {
    for (;;) {
      const head = Atomics.load(this.ctl, HEAD);
      if (head !== Atomics.load(this.ctl, TAIL)) return true;
      if (Atomics.load(this.ctl, CLOSED)) return false;
      Atomics.wait(this.ctl, HEAD, head, 1000);
    }
  }

  /**
   * Copy the waiting records (at most `max` bytes of them, at least one) out
   * of the ring and free their room: the copy is what the engine may keep.
   */
  take(max: number): Buffer[] {
    const out: Buffer[] = [];
    let tail = Atomics.load(this.ctl, TAIL);
    const head = Atomics.load(this.ctl, HEAD);
    let taken = 0;
    const dv = new DataView(this.bytes.buffer, HEADER_BYTES);
    while (tail !== head && (taken === 0 || taken < max)) {
      if (this.cap - tail < 4) {
        tail = 0;
        continue;
      }
      const len = dv.getUint32(tail, true);
      if (len === 0) {
        tail = 0;
        continue;
      }
      out.push(Buffer.from(this.bytes.subarray(tail + 4, tail + 4 + len)));
      taken += len;
      tail = (tail + 4 + len) % this.cap;
    }
    Atomics.store(this.ctl, TAIL, tail);
    Atomics.notify(this.ctl, TAIL);
    return out;
  }
}
