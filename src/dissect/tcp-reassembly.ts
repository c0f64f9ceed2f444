// One direction of a TCP connection turned into an ordered byte stream:
// out-of-order segments are held (bounded), retransmissions and overlaps are
// trimmed (first copy wins, like most stacks and Wireshark's default), and a
// hole that will never be filled is reported as a gap so parsers resynchronise
// instead of waiting forever. Sequence numbers are compared modulo 2^32.
// Held segments are charged to the flow's memory budget meter.

import type { Meter } from './memory-budget.js';

export interface StreamSink {
  /**
   * In-order bytes. `now`/`frame` are set when the bytes were held out of
   * order and arrive with a later packet: they are the time and frame of the
   * packet that carried them (and `ack` its acknowledgement number, if any).
   */
  data(bytes: Buffer, now?: number, frame?: number, ack?: number): void;
  gap(length: number): void;
  /** The sender's FIN, reached in order: no more bytes come this way. */
  fin?(): void;
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
  /** Time, frame and acknowledgement number of the packet that carried it (when given). */
  now?: number;
  frame?: number;
  ack?: number;
  /** Bytes the segment carried past what was captured (a snap length cut it): lost, right after `data`. */
  cut?: number;
}

/** Acknowledged bytes past the last captured one, at the end, above this are a bogus ACK's, not a loss. */
const MAX_ACKED_LOSS = 1 << 30;

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
  /** The peer's first ACK, sent before this side's first segment here: where this side's bytes began. */
  private firstPeerAck: number | undefined;
  finished = false;
  delivered = 0;

  /** Sequence number of the next in-order byte (everything before it was delivered or reported as a gap). */
  get expectedSeq(): number | undefined {
    return this.nextSeq;
  }

  constructor(
    private readonly sink: StreamSink,
    private readonly counters: ReassemblyCounters,
    private readonly maxBuffered: number,
    private readonly maxSegments = 256,
    private readonly meter?: Meter,
  ) {}

  /**
   * Feed one segment of this direction (`now`/`frame`: its packet's, kept if it must wait for a hole).
   * `cut`: bytes it carried past what was captured (a snap length cut the packet), reported as a gap
   * right after its bytes, so a parser knows at once that the rest of the message is missing (the
   * last segment of a direction would otherwise never say so).
   */
  segment(seq: number, syn: boolean, fin: boolean, payload: Buffer, now?: number, frame?: number, ack?: number, cut = 0): void {
    if (syn) {
      // The SYN consumes one sequence number; a retransmitted SYN resets nothing.
      if (this.nextSeq === undefined || this.delivered === 0) this.nextSeq = (seq + 1) >>> 0;
      seq = (seq + 1) >>> 0;
    }
    if (this.nextSeq === undefined) {
      this.nextSeq = seq;
      // The peer acknowledged this side's bytes from an earlier point (its handshake ACK or a request's
      // ACK, this side's SYN-ACK and first segments lost), and acknowledged more since: those bytes were
      // sent and lost from the capture. (An acknowledgement that never moves says nothing: a tool that
      // writes ACK with 0.) The stream starts there, so the segment waits behind a hole said as a gap as
      // any other, and an HTTP/1 response lost with it is not paired with the next request.
      const from = this.firstPeerAck;
      const moved = from !== undefined && this.peerAck !== undefined && seqDiff(this.peerAck, from) > 0;
      if (!syn && moved && seqDiff(seq, from) > 0 && seqDiff(seq, from) <= MAX_ACKED_LOSS) this.nextSeq = from;
    }
    if (payload.length > 0 || cut > 0) this.insert(seq, payload, now, frame, ack, cut);
    if (fin) this.finSeq = (seq + payload.length + cut) >>> 0;
    this.checkFin();
  }

  /**
   * How many bytes the peer's `ack` acknowledges beyond what this half has
   * delivered (or reported lost); a FIN's sequence number is not a byte.
   * Undefined before this half's first segment.
   */
  unseenAcked(ack: number): number | undefined {
    if (this.nextSeq === undefined) return undefined;
    const ahead = seqDiff(ack, this.nextSeq);
    return this.finished ? ahead - 1 : ahead;
  }

  /**
   * The peer has acknowledged bytes this half has neither delivered nor
   * reported lost: a hole the capture missed, said as a gap only when a later
   * segment of this side shows where it ends. A report made meanwhile (a
   * long connection's interim entry) covers bytes it does not hold.
   */
  get lossPending(): boolean {
    return this.peerAck !== undefined && (this.unseenAcked(this.peerAck) ?? 0) > 0;
  }

  /** The peer acknowledged `ack`: holes below it were lost from the capture, not in flight. */
  ackHint(ack: number): void {
    if (this.nextSeq === undefined && this.firstPeerAck === undefined) this.firstPeerAck = ack;
    if (this.peerAck === undefined || seqDiff(ack, this.peerAck) > 0) this.peerAck = ack;
    if (this.ooo.length > 0 && this.nextSeq !== undefined && seqDiff(this.ooo[0].seq, ack) < 0) {
      this.skipGap();
    }
    // The peer acknowledged this side's FIN: every byte before it reached the peer, so a hole there was
    // lost from the capture. Said now, the connection closes on its FINs (it stayed open, reported as
    // ongoing, until the idle timeout).
    if (this.finSeq !== undefined && !this.finished && this.ooo.length === 0 && seqDiff(ack, this.finSeq) > 0) this.gapToFin();
  }

  /**
   * The bytes before `seq` will not come (the peer has answered past them and
   * this side has sent past them): report the hole now, before the peer's
   * bytes that waited on it are read, so the parser knows the question they
   * answer was lost.
   */
  lostBefore(seq: number): void {
    if (this.nextSeq === undefined || seqDiff(seq, this.nextSeq) <= 0) return;
    if (this.ooo.length > 0 && seqDiff(this.ooo[0].seq, seq) < 0) return;
    const hole = seqDiff(seq, this.nextSeq);
    this.counters.gaps++;
    this.counters.gapBytes += hole;
    this.sink.gap(hole);
    this.nextSeq = seq;
    this.drain();
  }

  /** End of connection or capture: deliver whatever is held, reporting holes. */
  flush(): void {
    while (this.ooo.length > 0) this.skipGap();
    this.checkFin();
  }

  /**
   * End of connection or capture, after flush: bytes between what was
   * delivered and the FIN were sent but never captured (the segments that
   * carried them were lost, or a snap length cut them off): a gap, so a
   * connection whose data the capture missed says so rather than looking
   * empty or complete. The FIN's sequence number says where the stream ended;
   * without a FIN, the peer's highest acknowledgement.
   */
  gapToFin(): void {
    if (this.nextSeq === undefined || this.ooo.length > 0) return;
    // Without a FIN, the peer's highest ACK says how far the stream went (a connection whose only
    // data segment was lost, then idle or cut off by the capture's end).
    const end = this.finSeq ?? this.peerAck;
    if (end === undefined) return;
    const hole = seqDiff(end, this.nextSeq);
    if (hole <= 0 || (this.finSeq === undefined && hole > MAX_ACKED_LOSS)) return;
    this.counters.gaps++;
    this.counters.gapBytes += hole;
    this.sink.gap(hole);
    this.nextSeq = end;
    this.checkFin();
  }

  private insert(seq: number, payload: Buffer, now?: number, frame?: number, ack?: number, cut = 0): void {
    const next = this.nextSeq as number;
    const rel = seqDiff(seq, next);
    if (rel + payload.length + cut <= 0) {
      this.counters.retransmitted++;
      return;
    }
    if (rel <= 0) {
      // In order (the usual case) needs no view: subarray(0) would still make one.
      if (rel + payload.length > 0) this.deliver(rel === 0 ? payload : payload.subarray(-rel));
      if (cut > 0) this.cutTail(seq, payload.length, cut);
      this.drain();
      return;
    }
    // Ahead of the stream: a hole before it.
    this.counters.outOfOrder++;
    if (this.oooBytes + payload.length > this.maxBuffered || this.ooo.length >= this.maxSegments) {
      // Too much waiting on a hole: give it up rather than grow.
      this.storeSorted(seq, payload, now, frame, ack, cut);
      this.skipGap();
      return;
    }
    this.storeSorted(seq, payload, now, frame, ack, cut);
    if (this.peerAck !== undefined && seqDiff(this.peerAck, seq) > 0) this.skipGap();
  }

  private storeSorted(seq: number, payload: Buffer, now?: number, frame?: number, ack?: number, cut = 0): void {
    const seg: Segment = { seq, data: Buffer.from(payload), now, frame, ack };
    if (cut > 0) seg.cut = cut;
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

  private deliver(bytes: Buffer, now?: number, frame?: number, ack?: number): void {
    if (bytes.length === 0) return;
    this.nextSeq = ((this.nextSeq as number) + bytes.length) >>> 0;
    this.delivered += bytes.length;
    if (now === undefined) this.sink.data(bytes);
    else this.sink.data(bytes, now, frame, ack);
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
      if (rel + first.data.length > 0) this.deliver(first.data.subarray(-rel), first.now, first.frame, first.ack);
      else if (!first.cut) this.counters.retransmitted++;
      if (first.cut) this.cutTail(first.seq, first.data.length, first.cut);
    }
  }

  /**
   * The bytes a snap length cut off the segment at `seq` (`length` captured)
   * are lost: a gap now, up to what a held segment still brings.
   */
  private cutTail(seq: number, length: number, cut: number): void {
    const end = (seq + length + cut) >>> 0;
    let hole = seqDiff(end, this.nextSeq as number);
    const first = this.ooo[0];
    if (first && seqDiff(first.seq, this.nextSeq as number) < hole) hole = seqDiff(first.seq, this.nextSeq as number);
    if (hole <= 0) return;
    this.counters.gaps++;
    this.counters.gapBytes += hole;
    this.sink.gap(hole);
    this.nextSeq = ((this.nextSeq as number) + hole) >>> 0;
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
    if (!this.finished && this.finSeq !== undefined && this.nextSeq !== undefined && seqDiff(this.nextSeq, this.finSeq) >= 0) {
      this.finished = true;
      this.sink.fin?.();
    }
  }
}
