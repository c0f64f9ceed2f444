// Traffic no dissector claimed still becomes entries, so nothing on the wire
// is invisible: one entry per TCP connection or UDP conversation with packets
// and bytes each way — split into intervals of the request timeout for
// long-lived flows, so a connection that lasts an hour shows up while it lasts
// and entries stay in time order (like Hubble's periodic flow records).

import type { CallRecord, ConnectionContext, Direction, TcpStreamParser, UdpDatagramParser } from '../api.js';
import { QuicShapeWatch } from '../quic/mid-connection.js';

/** Per-flow counters the engine keeps up to date as packets arrive. */
/**
 * A flow's counts. Per side as members, not [side 0, side 1] arrays: every
 * tracked flow has one, and in a flood of half-open flows the two arrays were
 * an eighth of what each flow kept alive (see packetsOf/bytesOf).
 */
export interface FlowTotals {
  packets0: number;
  packets1: number;
  bytes0: number;
  bytes1: number;
  firstTime: number;
  firstFrame: number;
  lastTime: number;
  lastFrame: number;
  reset: boolean;
  /** Side index (0/1) of the client in `packets`/`bytes`. */
  clientSide: number;
  /** Time and frame of the first packet not yet reported (undefined: none since the last report). */
  intervalTime?: number;
  intervalFrame?: number;
}

export function packetsOf(t: FlowTotals, side: number): number {
  return side === 0 ? t.packets0 : t.packets1;
}

export function bytesOf(t: FlowTotals, side: number): number {
  return side === 0 ? t.bytes0 : t.bytes1;
}

/** A new flow's totals, its first packet at `now`. */
export function newFlowTotals(now: number, frame: number): FlowTotals {
  // Every member from the start (intervalTime too): one set later would move the object's members out of line, 40+ bytes more per flow.
  return { packets0: 0, packets1: 0, bytes0: 0, bytes1: 0, firstTime: now, firstFrame: frame, lastTime: now, lastFrame: frame, reset: false, clientSide: 0, intervalTime: undefined, intervalFrame: undefined };
}

/** One packet of `bytes` payload from `side`. */
export function countPacket(t: FlowTotals, side: number, bytes: number, now: number, frame: number): void {
  if (side === 0) {
    t.packets0++;
    t.bytes0 += bytes;
  } else {
    t.packets1++;
    t.bytes1 += bytes;
  }
  t.lastTime = now;
  t.lastFrame = frame;
  if (t.intervalTime === undefined) {
    t.intervalTime = now;
    t.intervalFrame = frame;
  }
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Reports a flow's traffic since the previous report. */
class FlowReporter {
  private reported = { packets: [0, 0], bytes: [0, 0] };
  /** Bytes the capture missed since the previous report (TCP gaps), client's and server's. */
  private lost: { c2s: number; s2c: number } | undefined;
  /** A datagram since the previous report was cut by the capture's snap length (UDP). */
  private cut = false;
  /** UDP: whether the conversation has a QUIC connection's shape, caught after its handshake. */
  private readonly quic: QuicShapeWatch | undefined;
  private quicCounted = false;

  constructor(
    private readonly protocol: 'tcp' | 'udp',
    private readonly ctx: ConnectionContext,
    private readonly totals: () => FlowTotals,
    /** TCP: whether bytes the capture missed are known (acknowledged by the peer) but not yet said as a gap. */
    private readonly lossPending?: () => boolean,
  ) {
    if (protocol === 'udp') this.quic = new QuicShapeWatch();
  }

  tick(now: number, timeoutMs: number): void {
    const t = this.totals();
    if (t.intervalTime !== undefined && now - t.intervalTime >= timeoutMs) this.report('active');
  }

  /** `length` bytes of `dir` never reached the capture. */
  gap(dir: Direction, length: number): void {
    (this.lost ??= { c2s: 0, s2c: 0 })[dir] += length;
  }

  /** A datagram arrived: one a snap length cut makes the report say `truncated` (its sizes are what was captured). */
  datagram(dir: Direction, payload: Buffer): void {
    if ((this.ctx.cut ?? 0) > 0) this.cut = true;
    this.quic?.add(dir === 'c2s' ? 0 : 1, payload);
  }

  end(reason: string): void {
    const t = this.totals();
    if (t.intervalTime !== undefined || this.lost !== undefined || (t.packets0 + t.packets1 === 0 && this.protocol === 'tcp')) this.report(reason);
  }

  private report(reason: string): void {
    const t = this.totals();
    const c = t.clientSide;
    const s = 1 - c;
    const pk = (i: number) => packetsOf(t, i) - this.reported.packets[i];
    const by = (i: number) => bytesOf(t, i) - this.reported.bytes[i];
    const lost = this.lost;
    this.lost = undefined;
    const req = { packets: pk(c), bytes: by(c), ...(lost?.c2s ? { lostBytes: lost.c2s } : {}) };
    const res = { packets: pk(s), bytes: by(s), ...(lost?.s2c ? { lostBytes: lost.s2c } : {}), end: reason };
    const lostNote = lost ? ` (${human(lost.c2s + lost.s2c)} lost)` : '';
    const start = t.intervalTime ?? t.firstTime;
    const call: CallRecord = {
      protocol: this.protocol,
      request: req,
      response: res.packets > 0 || this.protocol === 'tcp' ? res : null,
      requestTime: start,
      responseTime: t.lastTime,
      requestFrame: t.intervalFrame ?? t.firstFrame,
      responseFrame: t.lastFrame,
      requestSize: req.bytes,
      responseSize: res.bytes,
      error: t.reset && reason === 'rst',
      summary: `${this.protocol.toUpperCase()} ${human(req.bytes)} → ${human(res.bytes)}${reason === 'rst' ? ' [RST]' : reason === 'active' ? ' (ongoing)' : ''}${lostNote}`,
    };
    // An interim report made while a hole waits to be said (the lost bytes are counted in the next one) lacks them too.
    if (lost || (reason === 'active' && this.lossPending?.())) call.warnings = ['gap'];
    if (this.cut) call.warnings = [...(call.warnings ?? []), 'truncated'];
    if (this.quic?.looksLikeQuic) {
      // Named, not claimed: what the bytes show is a shape, and the user knows the port (docs/entry.md, QUIC).
      // Which end serves is a guess on UDP: a server's port is seldom the higher one.
      const port = Math.min(this.ctx.server.port, this.ctx.client.port);
      call.warnings = [...(call.warnings ?? []), `looks like QUIC whose handshake was not captured: -d udp.port==${port},quic reads it as QUIC`];
      if (!this.quicCounted) this.ctx.count('quic.mid_connection_unclaimed');
      this.quicCounted = true;
    }
    this.cut = false;
    this.reported = { packets: [t.packets0, t.packets1], bytes: [t.bytes0, t.bytes1] };
    t.intervalTime = undefined;
    t.intervalFrame = undefined;
    this.ctx.emit(call);
  }
}

/** TCP connection of unknown protocol. */
export function createTcpFallback(ctx: ConnectionContext, totals: () => FlowTotals, lossPending?: () => boolean): TcpStreamParser {
  const reporter = new FlowReporter('tcp', ctx, totals, lossPending);
  return {
    onData() {},
    onGap: (dir, length) => reporter.gap(dir, length),
    onTick: (now, timeout) => reporter.tick(now, timeout),
    // The next report is stamped with the first packet it covers.
    pendingSince: () => totals().intervalTime,
    onEnd: (reason) => reporter.end(reason),
  };
}

/** UDP conversation of unknown protocol. */
export function createUdpFallback(ctx: ConnectionContext, totals: () => FlowTotals): UdpDatagramParser {
  const reporter = new FlowReporter('udp', ctx, totals);
  return {
    onDatagram: (dir, payload) => reporter.datagram(dir, payload),
    onTick: (now, timeout) => reporter.tick(now, timeout),
    // The next report is stamped with the first packet it covers.
    pendingSince: () => totals().intervalTime,
    onEnd: (reason) => reporter.end(reason),
  };
}
