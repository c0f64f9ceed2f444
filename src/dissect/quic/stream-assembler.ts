// One direction of a QUIC stream (or of a CRYPTO stream) put back in order:
// frames carry their offset, arrive in any order and may repeat (a
// retransmission of data already seen). Bytes are handed on once, in order;
// pieces ahead of what is missing wait, up to a bound, and when the bound is
// hit the hole is given up (its size reported) so the stream goes on.

import { currentMeter } from '../memory-budget.js';

/** Pieces waiting ahead of a hole are searched linearly: a stream rarely has more than a few. */
const MAX_PIECES = 256;

export class StreamAssembler {
  /** Bytes handed on so far: the next offset expected. */
  next = 0;
  /** Where the stream ends, once a frame with FIN says so. */
  finalSize: number | undefined;
  private pieces = new Map<number, Buffer>();
  private heldBytes = 0;
  /** The flow's share of the run's memory budget: held pieces are charged to it. */
  private readonly meter = currentMeter();

  /**
   * `deliver` gets in-order bytes (valid during the call only); `onHole` the
   * size of a hole given up on. `limit` bounds the bytes held ahead of a hole.
   */
  constructor(
    private readonly deliver: (data: Buffer) => void,
    private readonly onHole: (lost: number) => void,
    private readonly limit: number,
  ) {}

  get held(): number {
    return this.heldBytes;
  }

  /** Every byte up to the final size has been handed on. */
  get complete(): boolean {
    return this.finalSize !== undefined && this.next >= this.finalSize;
  }

  add(offset: number, data: Buffer, fin: boolean): void {
    const end = offset + data.length;
    if (fin) this.finalSize = end;
    if (end <= this.next) return; // a retransmission of bytes already handed on
    if (offset <= this.next) {
      this.hand(data.subarray(this.next - offset));
      this.drain();
      return;
    }
    const prev = this.pieces.get(offset);
    if (prev && prev.length >= data.length) return;
    if (this.heldBytes + data.length - (prev?.length ?? 0) > this.limit || (!prev && this.pieces.size >= MAX_PIECES)) {
      // Too much waits behind the hole: give it up and go on from the earliest piece held.
      this.skipHole();
      if (offset <= this.next) {
        this.add(offset, data, fin);
        return;
      }
    }
    if (prev) this.hold(-prev.length);
    this.pieces.set(offset, Buffer.from(data));
    this.hold(data.length);
  }

  /** Give up the hole before the earliest piece held (the capture lost those frames), and go on. */
  skipHole(): void {
    let earliest = Infinity;
    for (const at of this.pieces.keys()) if (at < earliest) earliest = at;
    if (earliest === Infinity) return;
    this.onHole(earliest - this.next);
    this.next = earliest;
    this.drain();
  }

  /** Hand on the pieces that now start at or before the next offset. */
  private drain(): void {
    for (let found = true; found && this.pieces.size > 0; ) {
      found = false;
      for (const [at, piece] of this.pieces) {
        if (at > this.next) continue;
        this.pieces.delete(at);
        this.hold(-piece.length);
        if (at + piece.length > this.next) this.hand(piece.subarray(this.next - at));
        found = true;
        break;
      }
    }
  }

  private hold(n: number): void {
    this.heldBytes += n;
    this.meter?.add(n);
  }

  private hand(data: Buffer): void {
    this.next += data.length;
    if (data.length > 0) this.deliver(data);
  }
}
