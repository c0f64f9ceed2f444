// Serialised lines waiting for their place in request order, copied into a
// few large slabs outside V8's heap instead of one allocation each.
//
// `dissect` holds every entry as its NDJSON line until the reorder buffer lets
// it out (reorder.ts). Held as a string a line was one heap allocation that
// outlived the young generation (lines wait ~100 ms of capture time, thousands
// of entries), so each byte was copied again into the old generation and
// collected there: the whole output, 177 MB on the bench capture, made and
// collected that way. Held as a Buffer each, it was a backing store made,
// tracked and freed per line. Here a line is one copy into a slab, and a slab
// is reused once every line in it is written.
//
// Bounded: a slab is kept by its lines, so one line held long could keep a
// whole slab (a crafted capture could hold one line per slab). When a slab not
// being filled drops below half live, its remaining lines move to the slab
// being filled and it is freed: slabs never hold more than about twice the
// live bytes plus the slab being filled. Each move follows as many bytes
// written, so moving costs at most one more copy of the output.

/** Bytes per slab. */
const SLAB_BYTES = 1024 * 1024;
/** A line longer than this gets a buffer of its own (it would waste most of a slab, and moving it would cost more). */
const OWN_BUFFER_FROM = SLAB_BYTES / 8;
/**
 * Empty slabs kept for reuse (never more than were once in use); more are
 * left to the collector. Lines are let out in bursts, many slabs at once:
 * keeping only 2 made and dropped a slab per MB written, memory outside the
 * heap that V8 counts toward its next full collection (bench capture: 28
 * full collections against 20).
 */
const SPARE_SLABS = 32;

class Slab {
  readonly buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
  used = 0;
  /** Bytes of lines not yet released. */
  live = 0;
  /** Lines placed here (some may have moved or been released since: `line.slab` says). */
  lines: ArenaLine[] = [];
}

/** A held line: `length` bytes at `start` of `slab` (or `own`, a buffer of its own). */
export class ArenaLine {
  constructor(
    public slab: Slab | undefined,
    public start: number,
    readonly length: number,
    readonly own: Buffer | undefined,
  ) {}

  /** The line's bytes and where they are, for a sink to copy. */
  get buffer(): Buffer {
    return this.own ?? (this.slab as Slab).buf;
  }
}

export class LineArena {
  static readonly SLAB_BYTES = SLAB_BYTES;
  private current = new Slab();
  private spare: Slab[] = [];
  /** Slabs allocated (in use or spare), times SLAB_BYTES: what the arena keeps. */
  private slabs = 1;

  private ownBytes = 0;

  /** Bytes of slabs holding lines or being filled (spare ones not counted), and of lines with buffers of their own. */
  get usedBytes(): number {
    return (this.slabs - this.spare.length) * SLAB_BYTES + this.ownBytes;
  }

  /** A copy of `src[start, end)`, held until `release`. */
  put(src: Uint8Array, start: number, end: number): ArenaLine {
    const n = end - start;
    if (n > OWN_BUFFER_FROM) {
      const own = Buffer.allocUnsafeSlow(n);
      own.set(src.subarray(start, end));
      this.ownBytes += n;
      return new ArenaLine(undefined, 0, n, own);
    }
    const line = new ArenaLine(undefined, 0, n, undefined);
    this.place(line, src, start);
    return line;
  }

  /** The line was written: its bytes may be reused. */
  release(line: ArenaLine): void {
    if (line.own) {
      this.ownBytes -= line.length;
      return;
    }
    const slab = line.slab as Slab;
    line.slab = undefined;
    slab.live -= line.length;
    if (slab === this.current) {
      // Everything written: start the slab being filled again from its beginning.
      if (slab.live === 0) {
        slab.used = 0;
        slab.lines = [];
      }
      return;
    }
    if (slab.live === 0) this.free(slab);
    else if (2 * slab.live < slab.used) this.evacuate(slab);
  }

  /** Copy `line`'s bytes (now at `src[start…]`) into the slab being filled. */
  private place(line: ArenaLine, src: Uint8Array, start: number): void {
    const n = line.length;
    if (this.current.used + n > SLAB_BYTES) this.next();
    const slab = this.current;
    slab.buf.set(src.subarray(start, start + n), slab.used);
    line.slab = slab;
    line.start = slab.used;
    slab.used += n;
    slab.live += n;
    slab.lines.push(line);
  }

  /** A fresh slab to fill (a spare one when there is one); the full one is freed or emptied if little of it is live. */
  private next(): void {
    const full = this.current;
    const reused = this.spare.pop();
    if (reused) this.current = reused;
    else {
      this.current = new Slab();
      this.slabs++;
    }
    // Its lines written while it was filled never asked (release() leaves the slab being filled alone).
    if (full.live === 0) this.free(full);
    else if (2 * full.live < full.used) this.evacuate(full);
  }

  /** Move a slab's remaining lines to the slab being filled, and free it. */
  private evacuate(slab: Slab): void {
    for (const line of slab.lines) {
      if (line.slab !== slab) continue;
      slab.live -= line.length;
      this.place(line, slab.buf, line.start);
    }
    this.free(slab);
  }

  private free(slab: Slab): void {
    slab.used = 0;
    slab.live = 0;
    slab.lines = [];
    if (this.spare.length < SPARE_SLABS) this.spare.push(slab);
    else this.slabs--;
  }
}
