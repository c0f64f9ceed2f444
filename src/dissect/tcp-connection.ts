// One TCP connection as the engine follows it: its two reassembly halves (made
// only once more than the client's SYN was seen), the bytes held while its
// protocol is probed, the parser that won, its context, totals and memory
// meter. The engine (engine.ts) decides what happens to it: detection,
// timeouts, eviction; this class keeps its state and replays what waited.

import { emptyEndpoint, type Endpoint } from '../model/entry.js';
import type { Direction, TcpStreamParser } from './api.js';
import type { MutableContext } from './flow-context.js';
import type { Meter } from './memory-budget.js';
import { newFlowTotals, packetsOf, type FlowTotals } from './protocols/fallback.js';
import { HalfStream, seqDiff, type ReassemblyCounters, type StreamSink } from './tcp-reassembly.js';

/**
 * Heap bytes of a tracked flow with nothing buffered (its objects, key string,
 * parser state), charged to the memory budget while it lives. Measured with
 * SYN and DNS floods (heap growth per flow; see docs/architecture.md).
 */
export const TCP_FLOW_COST = 2560;

const EMPTY = Buffer.alloc(0);

/** What a connection asks of the engine that follows it. */
export interface TcpConnectionOwner {
  readonly options: { readonly maxBufferedPerDirection: number };
  readonly reassembly: ReassemblyCounters;
  newMeter(): Meter;
  newContext(transport: 'tcp', client: Endpoint, server: Endpoint): MutableContext;
  /** Bytes arrived on a connection with no parser yet: try the dissectors. */
  detect(conn: TcpConnection, side: number): void;
}

/**
 * A segment held back because its packet acknowledged bytes of the other
 * direction that the capture has not shown yet (engine.ts, `holdAhead`).
 */
export interface HeldSegment {
  seq: number;
  flags: number;
  data: Buffer;
  now: number;
  frame: number;
  ack: number;
  /** Bytes a snap length cut off its payload. */
  cut: number;
}

interface PendingChunk {
  side: number;
  data: Buffer;
  now: number;
  frame: number;
}

/** One direction's reassembled bytes and gaps, into its connection (a class, not two closures per side). */
class SideSink implements StreamSink {
  constructor(
    private readonly conn: TcpConnection,
    private readonly side: number,
  ) {}
  data(bytes: Buffer, now?: number, frame?: number, ack?: number): void {
    this.conn.onStream(this.side, bytes, now, frame, ack);
  }
  gap(length: number): void {
    this.conn.onGap(this.side, length);
  }
  fin(): void {
    this.conn.onFin(this.side);
  }
}

/**
 * A connection that has seen only its client's SYN (a SYN flood's millions)
 * holds no reassembly halves, sinks or context: those are made when any other
 * packet arrives (SYN-ACK, data, ACK, FIN), replaying the SYN into the
 * client's half. Such a record is a few small objects that die young, where a
 * full one was ~1.5 KB promoted to the old generation and swept there. It
 * stays in the same flow table, so ticks, evictions and emissions keep their
 * order; the budget is charged the same, so the same flows are evicted.
 */
const NO_PENDING: PendingChunk[] = [];
const NO_PENDING_BYTES: [number, number] = [0, 0];
const NO_REJECTED: [boolean, boolean] = [false, false];

export class TcpConnection {
  private halvesMade: [HalfStream, HalfStream] | undefined;
  private ctxMade: MutableContext | undefined;
  private endsMade: [Endpoint, Endpoint] | undefined;
  /** Capture time and frame of the last packet while no context exists. */
  private liteNow = 0;
  private liteFrame = 0;
  /** The client's SYN was counted but not fed to its half yet. */
  private synDeferred = false;
  readonly totals: FlowTotals;
  readonly meter: Meter;
  older: TcpConnection | undefined;
  newer: TcpConnection | undefined;
  clientSide = 0;
  orientationKnown = false;
  parser: TcpStreamParser | undefined;
  protocol: string | undefined;
  // Shared empty (never written) until the halves are made: only a sink's bytes write them.
  pending: PendingChunk[] = NO_PENDING;
  pendingBytes: [number, number] = NO_PENDING_BYTES;
  /** Sides whose data every probe rejected. */
  rejected: [boolean, boolean] = NO_REJECTED;
  ended = false;
  /** Both FINs seen: the next packet (the last ACK) ends the connection. */
  closing = false;
  /** Sequence number of the client's SYN, to tell a retransmitted SYN from port reuse. */
  synSeq: number | undefined;
  /** Bytes lost per side before any parser was attached (made at the first such gap): the fallback entry reports them. */
  lostUnparsed: [number, number] | undefined;
  /** Segments of side `heldSide` waiting for the other side's bytes their packets acknowledged (none: undefined). */
  held: HeldSegment[] | undefined;
  heldSide = 0;
  heldBytes = 0;
  /** Sequence number just past the held segments' bytes. */
  heldEnd = 0;

  constructor(
    readonly key: string,
    now: number,
    frame: number,
    readonly engine: TcpConnectionOwner,
  ) {
    this.meter = engine.newMeter();
    this.meter.add(TCP_FLOW_COST);
    this.totals = newFlowTotals(now, frame);
  }

  /**
   * The canonical A and B ends, read from the key when first needed (at
   * detection, or when the connection's entry is made). A flood's SYNs each
   * open a flow that is evicted with only its SYN seen: two endpoint
   * objects, their array and two address texts were a third of what such a
   * flow kept alive, copied at every young-generation collection it lived
   * through, for a key that already says it all.
   */
  get ends(): [Endpoint, Endpoint] {
    return (this.endsMade ??= endsOfKey(this.key));
  }

  get halves(): [HalfStream, HalfStream] {
    return this.halvesMade ?? this.makeHalves();
  }

  get ctx(): MutableContext {
    return this.ctxMade ?? this.makeCtx();
  }

  /** Only the client's SYN seen so far (retransmissions included): no halves made yet. */
  get lite(): boolean {
    return this.halvesMade === undefined;
  }

  private makeHalves(): [HalfStream, HalfStream] {
    const counters = this.engine.reassembly;
    const max = this.engine.options.maxBufferedPerDirection;
    const halves: [HalfStream, HalfStream] = [
      new HalfStream(new SideSink(this, 0), counters, max, undefined, this.meter),
      new HalfStream(new SideSink(this, 1), counters, max, undefined, this.meter),
    ];
    this.halvesMade = halves;
    if (this.pending === NO_PENDING) this.pending = [];
    this.pendingBytes = [0, 0];
    this.rejected = [false, false];
    if (this.synDeferred) {
      // A SYN carries no payload, so feeding it once now is what feeding each copy did then.
      halves[this.clientSide].segment(this.synSeq as number, true, false, EMPTY);
      this.synDeferred = false;
    }
    return halves;
  }

  private makeCtx(): MutableContext {
    const ctx = this.engine.newContext('tcp', this.ends[this.clientSide], this.ends[1 - this.clientSide]);
    ctx.now = this.liteNow;
    ctx.frame = this.liteFrame;
    ctx.touched = this.liteFrame;
    ctx.clientGuessed = !this.orientationKnown;
    this.ctxMade = ctx;
    return ctx;
  }

  /** The packet being handled now (kept here until a context is needed). */
  setTime(now: number, frame: number): void {
    if (this.ctxMade) {
      this.ctxMade.now = now;
      this.ctxMade.frame = frame;
      this.ctxMade.touched = frame;
    } else {
      this.liteNow = now;
      this.liteFrame = frame;
    }
  }

  setNow(now: number): void {
    if (this.ctxMade) this.ctxMade.now = now;
    else this.liteNow = now;
  }

  /** A bare SYN from the client, same sequence number, while lite: counted, its feeding deferred. */
  deferSyn(): void {
    this.synDeferred = true;
  }

  setClient(side: number): void {
    this.clientSide = side;
    this.totals.clientSide = side;
    if (this.ctxMade) {
      this.ctxMade.client = this.ends[side];
      this.ctxMade.server = this.ends[1 - side];
    }
  }

  dir(side: number): Direction {
    return side === this.clientSide ? 'c2s' : 's2c';
  }

  onStream(side: number, data: Buffer, now?: number, frame?: number, ackSeq?: number): void {
    if (now !== undefined && frame !== undefined) {
      // Bytes that waited behind a hole keep their own packet's time, frame and ACK (measured against the other direction as it is now).
      const { now: was, frame: wasFrame, ack } = this.ctx;
      this.ctx.now = now;
      this.ctx.frame = frame;
      const expected = this.halves[1 - side].expectedSeq;
      this.ctx.ack = ackSeq !== undefined && expected !== undefined ? { from: this.dir(side), ahead: seqDiff(ackSeq, expected) } : undefined;
      this.onStream(side, data);
      this.ctx.now = was;
      this.ctx.frame = wasFrame;
      this.ctx.ack = ack;
      return;
    }
    if (this.parser) {
      this.parser.onData(this.dir(side), data);
      return;
    }
    this.pending.push({ side, data: Buffer.from(data), now: this.ctx.now, frame: this.ctx.frame });
    this.pendingBytes[side] += data.length;
    this.meter.add(data.length);
    this.engine.detect(this, side);
  }

  /** A side's FIN, in order: its parser learns that side said all it will (a body read until the close ends there). */
  onFin(side: number): void {
    this.parser?.onFin?.(this.dir(side));
  }

  onGap(side: number, length: number): void {
    if (this.parser) {
      this.parser.onGap(this.dir(side), length);
      return;
    }
    (this.lostUnparsed ??= [0, 0])[side] += length;
    // Bytes before a hole cannot be parsed reliably: start probing afresh after it.
    this.pending = this.pending.filter((c) => c.side !== side);
    this.meter.add(-this.pendingBytes[side]);
    this.pendingBytes[side] = 0;
    this.rejected[side] = false;
  }

  /**
   * The connection has ended: let go of what it made. A connection that lived
   * through two young-generation collections is in the old one, and a dead
   * old object's pointers keep the young objects they point at alive until a
   * full collection finds it dead. Each flow a SYN flood evicts made its
   * context, fallback parser and closures only to report itself; kept from
   * its connection, all of them were copied and promoted (half of what a
   * flood promoted, ~0.9 KB a SYN).
   */
  forget(): void {
    this.parser = undefined;
    this.ctxMade = undefined;
    this.halvesMade = undefined;
    this.endsMade = undefined;
    this.pending = NO_PENDING;
    this.pendingBytes = NO_PENDING_BYTES;
    this.rejected = NO_REJECTED;
    this.lostUnparsed = undefined;
    this.held = undefined;
  }

  /**
   * Attach the chosen parser and replay what arrived while probing. Bytes a
   * side lost before then come first, as a gap: what was kept of that side
   * began after it (onGap dropped the rest), so the parser must read it as it
   * reads bytes after any gap (a memcached data block is no command, a
   * response whose request was lost is no answer to the next one).
   */
  start(parser: TcpStreamParser, protocol: string): void {
    this.parser = parser;
    this.protocol = protocol;
    const lost = this.lostUnparsed;
    this.lostUnparsed = undefined;
    if (lost) for (const side of [0, 1]) if (lost[side] > 0) parser.onGap(this.dir(side), lost[side]);
    const pending = this.pending;
    this.pending = [];
    this.meter.add(-(this.pendingBytes[0] + this.pendingBytes[1]));
    const { now, frame, ack } = this.ctx;
    // Replayed bytes keep their packet's time; their packet's ACK is not kept.
    this.ctx.ack = undefined;
    for (const c of pending) {
      this.ctx.now = c.now;
      this.ctx.frame = c.frame;
      parser.onData(this.dir(c.side), c.data);
    }
    this.ctx.now = now;
    this.ctx.frame = frame;
    this.ctx.ack = ack;
  }
}

/** A TCP key's ends, as flowEnds (engine.ts) gives them: `t|A ip|A port|B ip|B port` (addresses have no '|'). */
function endsOfKey(key: string): [Endpoint, Endpoint] {
  const a = key.indexOf('|');
  const b = key.indexOf('|', a + 1);
  const c = key.indexOf('|', b + 1);
  const d = key.indexOf('|', c + 1);
  return [emptyEndpoint(key.slice(a + 1, b), Number(key.slice(b + 1, c))), emptyEndpoint(key.slice(c + 1, d), Number(key.slice(d + 1)))];
}

/** A SYN with no answer and no data since. */
export function isHalfOpen(conn: TcpConnection): boolean {
  const t = conn.totals;
  return conn.synSeq !== undefined && packetsOf(t, 1 - conn.clientSide) === 0 && t.bytes0 + t.bytes1 === 0;
}

