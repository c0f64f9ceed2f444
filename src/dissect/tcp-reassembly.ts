// One direction of a TCP connection turned into an ordered byte stream:
// out-of-order segments are held (bounded), retransmissions and overlaps are
// trimmed (first copy wins, like most stacks and Wireshark's default), and a
// hole that will never be filled is reported as a gap so parsers resynchronise
// instead of waiting forever. Sequence numbers are compared modulo 2^32.
// Held segments are charged to the flow's memory budget meter.

import type { Meter } from './memory-budget.js';

export interface StreamSink {
  data(bytes: Buffer): void;
  gap(length: number): void;
}

export interface ReassemblyCounters {
  retransmitted: number;
  outOfOrder: number;
  gaps: number;
  gapBytes: number;
}

interface Segment {
  seq: number;
  data: Buffer;
}

/** Signed distance a - b in sequence space. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class HalfStream {
  /** Next expected sequence number; undefined until the first segment. */
  private nextSeq: number | undefined;
  private finSeq: number | undefined;
  private ooo: Segment[] = [];
  private oooBytes = 0;
  /** Highest ACK the peer sent: bytes below it reached the peer, captured or not. */
  private peerAck: number | undefined;
  finished = false;
  delivered = 0;

  constructor(
    private readonly sink: StreamSink,
    private readonly counters: ReassemblyCounters,
    private readonly maxBuffered: number,
    private readonly maxSegments = 256,
    private readonly meter?: Meter,
  ) {}

  /** Feed one segment of this direction. */
  segment(seq: number, syn: boolean, fin: boolean, payload: Buffer): void {
    if (syn) {
      // The SYN consumes one sequence number; a retransmitted SYN resets nothing.
      if (this.nextSeq === undefined || this.delivered === 0) this.nextSeq = (seq + 1) >>> 0;
      seq = (seq + 1) >>> 0;
    }
    if (this.nextSeq === undefined) this.nextSeq = seq;
    if (payload.length > 0) this.insert(seq, payload);
    if (fin) this.finSeq = (seq + payload.length) >>> 0;
    this.checkFin();
  }

  /** The peer acknowledged `ack`: holes below it were lost from the capture, not in flight. */
  ackHint(ack: number): void {
    if (this.peerAck === undefined || seqDiff(ack, this.peerAck) > 0) this.peerAck = ack;
    if (this.ooo.length > 0 && this.nextSeq !== undefined && seqDiff(this.ooo[0].seq, ack) < 0) {
      this.skipGap();
    }
  }

  /** End of connection or capture: deliver whatever is held, reporting holes. */
  flush(): void {
    while (this.ooo.length > 0) this.skipGap();
    this.checkFin();
  }

  private insert(seq: number, payload: Buffer): void {
    const next = this.nextSeq as number;
    const rel = seqDiff(seq, next);
    if (rel + payload.length <= 0) {
      this.counters.retransmitted++;
      return;
    }
    if (rel <= 0) {
      // In order (the usual case) needs no view: subarray(0) would still make one.
      this.deliver(rel === 0 ? payload : payload.subarray(-rel));
      this.drain();
      return;
    }
    // Ahead of the stream: a hole before it.
    this.counters.outOfOrder++;
    if (this.oooBytes + payload.length > this.maxBuffered || this.ooo.length >= this.maxSegments) {
      // Too much waiting on a hole: give it up rather than grow.
      this.storeSorted(seq, payload);
      this.skipGap();
      return;
    }
    this.storeSorted(seq, payload);
    if (this.peerAck !== undefined && seqDiff(this.peerAck, seq) > 0) this.skipGap();
  }

  private storeSorted(seq: number, payload: Buffer): void {
    const seg = { seq, data: Buffer.from(payload) };
    let i = this.ooo.length;
    while (i > 0 && seqDiff(this.ooo[i - 1].seq, seq) > 0) i--;
    if (i > 0 && this.ooo[i - 1].seq === seq && this.ooo[i - 1].data.length >= payload.length) {
      this.counters.retransmitted++;
      return;
    }
    this.ooo.splice(i, 0, seg);
    this.oooBytes += payload.length;
    this.meter?.add(payload.length);
  }

  private deliver(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.nextSeq = ((this.nextSeq as number) + bytes.length) >>> 0;
    this.delivered += bytes.length;
    this.sink.data(bytes);
  }

  /** Deliver held segments that now continue the stream. */
  private drain(): void {
    while (this.ooo.length > 0) {
      const first = this.ooo[0];
      const rel = seqDiff(first.seq, this.nextSeq as number);
      if (rel > 0) return;
      this.ooo.shift();
      this.oooBytes -= first.data.length;
      this.meter?.add(-first.data.length);
      if (rel + first.data.length > 0) this.deliver(first.data.subarray(-rel));
      else this.counters.retransmitted++;
    }
  }

  /** Declare the hole before the first held segment lost and continue after it. */
  private skipGap(): void {
    const first = this.ooo[0];
    if (!first) return;
    const hole = seqDiff(first.seq, this.nextSeq as number);
    if (hole > 0) {
      this.counters.gaps++;
      this.counters.gapBytes += hole;
      this.sink.gap(hole);
      this.nextSeq = first.seq;
    }
    this.drain();
  }

  private checkFin(): void {
    if (this.finSeq !== undefined && this.nextSeq !== undefined && seqDiff(this.nextSeq, this.finSeq) >= 0) {
      this.finished = true;
    }
  }
}
