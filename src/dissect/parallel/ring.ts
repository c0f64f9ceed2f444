// A single-producer single-consumer byte ring in a SharedArrayBuffer: the
// dispatcher writes packet records, one worker reads them, with no copy or
// structured clone per packet. Records are [u32 length][bytes]; a record that
// would not fit before the end starts again at 0 behind a length-0 marker.
// Bounded: a writer finding it full waits (asynchronously) for the reader.

const HEAD = 0; // next byte the writer writes (monotonic, modulo capacity)
const TAIL = 1; // next byte the reader reads
const CLOSED = 2;
const HEADER_BYTES = 16;
/** Bytes committed without waking the reader before it is woken anyway (it starts on a batch, not on a packet). */
const WAKE_BYTES = 32 * 1024;

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
  /** Over `view`'s bytes: records are written through it (no DataView per record). */
  readonly data: DataView;
  private readonly cap: number;
  /** The reader's position when `tryReserve` last found the ring full. */
  private tail = 0;
  /** Bytes committed since the reader was last woken. */
  private unwoken = 0;
  /** Times the writer found the ring full and waited (the reader is the bottleneck). */
  waits = 0;

  constructor(handle: RingHandle) {
    this.ctl = new Int32Array(handle.sab, 0, 4);
    this.bytes = new Uint8Array(handle.sab, HEADER_BYTES);
    this.data = new DataView(handle.sab, HEADER_BYTES);
    this.cap = this.bytes.length;
  }

  get capacity(): number {
    return this.cap;
  }

  /**
   * Room for a record of `len` bytes now: its offset in `view`, or -1 when
   * the reader must make room first. The dispatcher's per-packet path: no
   * promise when the ring has room, which it nearly always has.
   */
  tryReserve(len: number): number {
    const need = len + 4;
    if (need + 4 > this.cap) throw new Error(`ring: record of ${len} bytes larger than the ring`);
    const head = Atomics.load(this.ctl, HEAD);
    const tail = Atomics.load(this.ctl, TAIL);
    const used = (head - tail + this.cap) % this.cap;
    const free = this.cap - used - 1;
    const toEnd = this.cap - head;
    // A record never wraps: skip the end's remainder (with a 0 marker when 4 bytes fit).
    const cost = toEnd >= need ? need : toEnd + need;
    if (cost > free) {
      this.tail = tail;
      return -1;
    }
    if (toEnd >= need) return head;
    if (toEnd >= 4) this.data.setUint32(head, 0, true);
    return 0;
  }

  /** Reserve room for a record of `len` bytes; resolves to its offset in `view` once the reader made room. */
  async reserve(len: number): Promise<number> {
    for (;;) {
      const at = this.tryReserve(len);
      if (at >= 0) return at;
      this.waits++;
      // Records committed without a wake-up are the reader's to take first.
      this.notify();
      const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.ctl, TAIL, this.tail, 1000);
      if (wait.async) await wait.value;
    }
  }

  /** The ring's bytes (a record goes at reserve()'s offset + 4). */
  get view(): Uint8Array {
    return this.bytes;
  }

  /**
   * Publish a record of `len` bytes written at `at + 4`. `wake: false` wakes
   * a sleeping reader only once WAKE_BYTES are waiting (a packet among many:
   * a wake-up per packet cost more than the packet); the writer then calls
   * `notify()` before it waits for anything (and the reader wakes by itself
   * within a second).
   */
  commit(at: number, len: number, wake = true): void {
    this.data.setUint32(at, len, true);
    Atomics.store(this.ctl, HEAD, (at + 4 + len) % this.cap);
    this.unwoken += len + 4;
    if (wake || this.unwoken >= WAKE_BYTES) this.notify();
  }

  /** Wake the reader if it sleeps. */
  notify(): void {
    this.unwoken = 0;
    Atomics.notify(this.ctl, HEAD);
  }

  close(): void {
    Atomics.store(this.ctl, CLOSED, 1);
    Atomics.notify(this.ctl, HEAD);
  }
}

/**
 * Records are copied out of the ring a contiguous run at a time, runs of at
 * most this many bytes (or one longer record). A record is a view of its
 * run, so whatever a flow keeps of one pins at most this much, as Node's
 * 8 KB pool did when each record was copied on its own: copying them one by
 * one (a view of the shared buffer, a pool slice, a copy, each) was 17 % of a
 * worker's time.
 */
const RUN_BYTES = 8 * 1024;

/**
 * The records one `takeInto` took: record i is `lengths[i]` bytes at
 * `starts[i]` of `runs[runOf[i]]`. Reused from take to take, so a worker
 * makes no object per record: it reads a record's fields from its run and
 * makes a view only of what the engine keeps (a packet's bytes).
 */
export class TakenRecords {
  count = 0;
  readonly runs: Buffer[] = [];
  runOf = new Int32Array(256);
  starts = new Int32Array(256);
  lengths = new Int32Array(256);

  /** Record i as a view of its run. */
  record(i: number): Buffer {
    const start = this.starts[i];
    return this.runs[this.runOf[i]].subarray(start, start + this.lengths[i]);
  }

  clear(): void {
    this.count = 0;
    this.runs.length = 0;
  }

  add(run: number, start: number, length: number): void {
    const n = this.count;
    if (n === this.starts.length) this.grow();
    this.runOf[n] = run;
    this.starts[n] = start;
    this.lengths[n] = length;
    this.count = n + 1;
  }

  private grow(): void {
    const twice = (a: Int32Array) => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.runOf = twice(this.runOf);
    this.starts = twice(this.starts);
    this.lengths = twice(this.lengths);
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

  /** `takeInto`, each record as a view of its run (tests, and readers that keep every record). */
  take(max: number): Buffer[] {
    const taken = new TakenRecords();
    this.takeInto(max, taken);
    return Array.from({ length: taken.count }, (_, i) => taken.record(i));
  }

  /**
   * Copy the waiting records (at most `max` bytes of them, at least one) out
   * of the ring into `out` (cleared first) and free their room: the copy is
   * what the engine may keep.
   */
  takeInto(max: number, out: TakenRecords): void {
    out.clear();
    let tail = Atomics.load(this.ctl, TAIL);
    const head = Atomics.load(this.ctl, HEAD);
    let taken = 0;
    while (tail !== head && (taken === 0 || taken < max)) {
      if (this.cap - tail < 4) {
        tail = 0;
        continue;
      }
      if (this.lengthAt(tail) === 0) {
        tail = 0;
        continue;
      }
      // A run of records up to the wrap, the writer's head, or RUN_BYTES: one copy.
      const runStart = tail;
      const runIndex = out.runs.length;
      const first = out.count;
      while (tail !== head && this.cap - tail >= 4) {
        const len = this.lengthAt(tail);
        if (len === 0 || (out.count > first && tail + 4 + len - runStart > RUN_BYTES)) break;
        out.add(runIndex, tail + 4 - runStart, len);
        taken += len;
        tail += 4 + len;
        if (tail === this.cap) tail = 0;
        if (tail === 0 || taken >= max) break;
      }
      const runEnd = tail === 0 ? this.cap : tail;
      const run = Buffer.allocUnsafeSlow(runEnd - runStart);
      run.set(this.bytes.subarray(runStart, runEnd));
      out.runs.push(run);
    }
    Atomics.store(this.ctl, TAIL, tail);
    Atomics.notify(this.ctl, TAIL);
  }

  /** The u32 length at `at`, read through the byte view (a DataView over shared memory is slower). */
  private lengthAt(at: number): number {
    const b = this.bytes;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
  }
}
