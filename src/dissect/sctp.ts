// SCTP as a transport next to TCP and UDP: chunks parsed (INIT/INIT-ACK,
// DATA, SACK, HEARTBEAT, ABORT, SHUTDOWN…), DATA put back in TSN order per
// direction, fragments (B/E flags) joined per stream, and each whole user
// message handed to the same stream parsers TCP uses: Diameter over SCTP and
// HTTP over SCTP dissect like over TCP. An association no dissector claims is
// one `sctp` entry with its chunk and message counts. Every buffer is bounded
// and counted when hit: held out-of-order chunks, a message being joined,
// associations tracked.
// Spec: RFC 9260

import type { Endpoint } from '../model/entry.js';
import { emptyEndpoint } from '../model/entry.js';
import type { CallRecord, ConnectionContext, Direction, ProtocolDissector, TcpStreamParser } from './api.js';
import type { IpPacket } from './decode/ip.js';
import { flowKey } from './flow-key.js';
import { enterMeter, type Meter } from './memory-budget.js';

export const CHUNK_NAMES: Record<number, string> = {
  0: 'DATA', 1: 'INIT', 2: 'INIT_ACK', 3: 'SACK', 4: 'HEARTBEAT', 5: 'HEARTBEAT_ACK', 6: 'ABORT', 7: 'SHUTDOWN',
  8: 'SHUTDOWN_ACK', 9: 'ERROR', 10: 'COOKIE_ECHO', 11: 'COOKIE_ACK', 14: 'SHUTDOWN_COMPLETE', 15: 'AUTH',
  64: 'I_DATA', 128: 'ASCONF_ACK', 130: 'RE_CONFIG', 132: 'PAD', 192: 'FORWARD_TSN', 193: 'ASCONF', 194: 'I_FORWARD_TSN',
};

/** Out-of-order DATA chunks held per direction before the hole is given up. */
const MAX_HELD_CHUNKS = 512;
/** Bytes of one user message being joined from fragments. */
const MAX_MESSAGE = 4 * 1024 * 1024;
/** Bytes of all messages being joined in one direction (up to 65,535 streams could each hold one). */
const MAX_PARTIAL_BYTES = 8 * 1024 * 1024;
const MAX_ASSOCIATIONS = 10_000;
/** Heap of an association with nothing buffered, charged to the memory budget. */
const ASSOCIATION_COST = 2048;

/** What the engine lends the SCTP layer: contexts, probes, the budget, counters. */
export interface SctpHost {
  newContext(client: Endpoint, server: Endpoint): ConnectionContext & { now: number; frame: number; touched: number };
  newMeter(): Meter;
  /** Stream dissectors, port-registered ones first for these ports. */
  probes(ports: [number, number]): Array<{ d: ProtocolDissector; portMatch: boolean }>;
  count(name: string, n?: number): void;
}

interface DataChunk {
  tsn: number;
  stream: number;
  flags: number;
  data: Buffer;
  now: number;
  frame: number;
  /** Payload bytes a snap length cut off (its chunk length says how many): the chunk is lost to the parser. */
  cut?: number;
}

/** One fragment of a user message, with the time and frame of the chunk that carried it. */
interface Piece {
  data: Buffer;
  now: number;
  frame: number;
}

/** One direction: TSN order restored, fragments joined per stream. */
class SctpHalf {
  /** Next TSN to deliver; undefined until the first DATA (or INIT) says. */
  next: number | undefined;
  readonly held = new Map<number, DataChunk>();
  heldBytes = 0;
  /** Fragments of the message being joined, per stream. */
  readonly partial = new Map<number, { parts: Piece[]; size: number }>();
  partialBytes = 0;
  dataChunks = 0;
  messages = 0;
  bytes = 0;
  packets = 0;
  /** DATA chunks sent that the capture missed (holes in the TSNs, or acknowledged by the peer and never seen). */
  lostChunks = 0;
  /** The peer's highest cumulative TSN ack (SACK): chunks up to it reached the peer, captured or not. */
  acked: number | undefined;
  /** The largest DATA chunk payload seen: what a lost chunk may have carried at most. */
  maxChunk = 1;
  /**
   * The latest holes given up, as [first TSN, TSN after): a chunk of one that
   * comes after all (recorded late, not lost) is told from a retransmission
   * of a chunk read. At most MAX_GIVEN_UP; older ones are forgotten.
   */
  readonly givenUp: [number, number][] = [];
}

/** Holes remembered per direction for late chunks: loss comes in few holes, and an older hole's chunks are long overdue. */
const MAX_GIVEN_UP = 16;

const tsnAfter = (a: number, b: number): number => (a - b) | 0;

/** Whether `tsn` is in a hole `h` gave up; if so it is taken out of it (a second copy is a retransmission). */
function takeGivenUp(h: SctpHalf, tsn: number): boolean {
  const list = h.givenUp;
  for (let i = list.length - 1; i >= 0; i--) {
    const [from, to] = list[i];
    if (tsnAfter(tsn, from) < 0 || tsnAfter(to, tsn) <= 0) continue;
    const pieces: [number, number][] = [];
    if (tsn !== from) pieces.push([from, tsn]);
    if (((tsn + 1) >>> 0) !== to) pieces.push([(tsn + 1) >>> 0, to]);
    list.splice(i, 1, ...pieces);
    if (list.length > MAX_GIVEN_UP) list.shift();
    return true;
  }
  return false;
}

class Association {
  readonly halves: [SctpHalf, SctpHalf] = [new SctpHalf(), new SctpHalf()];
  clientSide = 0;
  orientationKnown = false;
  parser: TcpStreamParser | undefined;
  protocol: string | undefined;
  /** Messages that arrived before a dissector was chosen (the first one decides). */
  undecided = false;
  /** Bytes lost per side before a dissector was chosen: said to it first (the message that chose it may answer what they held). */
  readonly unsaid: [{ length: number; slack: number }, { length: number; slack: number }] = [
    { length: 0, slack: 0 },
    { length: 0, slack: 0 },
  ];
  ctx: ConnectionContext & { now: number; frame: number; touched: number };
  readonly chunks: Record<string, number> = {};
  readonly ppids = new Set<number>();
  firstTime: number;
  firstFrame: number;
  lastTime: number;
  lastFrame: number;
  ended = false;
  aborted = false;
  /** A chunk was cut by the capture's snap length. */
  truncated = false;

  constructor(
    readonly key: string,
    readonly ends: [Endpoint, Endpoint],
    readonly meter: Meter,
    host: SctpHost,
    now: number,
    frame: number,
  ) {
    this.ctx = host.newContext(ends[0], ends[1]);
    this.firstTime = this.lastTime = now;
    this.firstFrame = this.lastFrame = frame;
    meter.add(ASSOCIATION_COST);
  }

  setClient(side: number): void {
    this.clientSide = side;
    (this.ctx as { client: Endpoint }).client = this.ends[side];
    (this.ctx as { server: Endpoint }).server = this.ends[1 - side];
  }

  dir(side: number): Direction {
    return side === this.clientSide ? 'c2s' : 's2c';
  }
}

export class SctpLayer {
  private readonly assocs = new Map<string, Association>();

  constructor(private readonly host: SctpHost) {}

  get size(): number {
    return this.assocs.size;
  }

  onPacket(ip: IpPacket, now: number, frame: number): void {
    const p = ip.payload;
    if (p.length < 12) {
      this.host.count('sctp.truncated');
      return;
    }
    const sport = p.readUInt16BE(0);
    const dport = p.readUInt16BE(2);
    const { key, senderIsA } = flowKey('s', ip.src, sport, ip.dst, dport);
    let a = this.assocs.get(key);
    if (!a) {
      if (this.assocs.size >= MAX_ASSOCIATIONS) {
        this.host.count('sctp.associations_evicted');
        const oldest = this.assocs.values().next().value as Association;
        this.end(oldest, 'timeout');
      }
      const sender = emptyEndpoint(ip.src, sport);
      const receiver = emptyEndpoint(ip.dst, dport);
      a = new Association(key, senderIsA ? [sender, receiver] : [receiver, sender], this.host.newMeter(), this.host, now, frame);
      // Until an INIT says otherwise: the side on the lower (well-known) port is the server.
      a.setClient(sport >= dport ? (senderIsA ? 0 : 1) : senderIsA ? 1 : 0);
      this.assocs.set(key, a);
    } else {
      // Most recently active last: the first in the map is the one to evict.
      this.assocs.delete(key);
      this.assocs.set(key, a);
    }
    const side = senderIsA ? 0 : 1;
    a.lastTime = now;
    a.lastFrame = frame;
    a.ctx.now = now;
    a.ctx.frame = frame;
    a.ctx.touched = frame;
    a.halves[side].packets++;
    let off = 12;
    while (off + 4 <= p.length) {
      const type = p[off];
      const flags = p[off + 1];
      const len = p.readUInt16BE(off + 2);
      // Past the packet's captured end with the IP header saying it was sent whole: a snap length cut it.
      const cut = len >= 4 && off + len > p.length && (ip.cut ?? 0) >= off + len - p.length ? off + len - p.length : 0;
      if (len < 4 || (off + len > p.length && cut === 0)) {
        this.host.count('sctp.malformed_chunk');
        break;
      }
      if (cut > 0) {
        this.host.count('sctp.truncated_chunks');
        a.truncated = true;
      }
      const name = CHUNK_NAMES[type] ?? `chunk_${type}`;
      a.chunks[name] = (a.chunks[name] ?? 0) + 1;
      const value = p.subarray(off + 4, off + len - cut);
      if (type === 0) this.onData(a, side, flags, value, now, frame, cut);
      else if (type === 3) this.onSack(a, side, value);
      else if ((type === 1 || type === 2) && value.length >= 16) {
        // INIT names the client; its initial TSN (and INIT-ACK's) says where each direction's DATA starts.
        if (!a.orientationKnown) {
          a.setClient(type === 1 ? side : 1 - side);
          a.orientationKnown = true;
        }
        a.halves[side].next ??= value.readUInt32BE(12);
      } else if (type === 64) this.host.count('sctp.idata_unsupported');
      else if (type === 6) a.aborted = true;
      if (cut > 0) break;
      off += len + ((4 - (len % 4)) % 4);
    }
    if (a.aborted || a.chunks.SHUTDOWN_COMPLETE) this.end(a, a.aborted ? 'rst' : 'fin');
  }

  private onData(a: Association, side: number, flags: number, value: Buffer, now: number, frame: number, cut = 0): void {
    if (value.length < 12) {
      // A header the snap length cut leaves no TSN: the hole it leaves is given up as any other.
      if (cut === 0) this.host.count('sctp.malformed_chunk');
      return;
    }
    const h = a.halves[side];
    const chunk: DataChunk = { tsn: value.readUInt32BE(0), stream: value.readUInt16BE(4), flags, data: Buffer.from(value.subarray(12)), now, frame };
    if (cut > 0) chunk.cut = cut;
    a.ppids.add(value.readUInt32BE(8));
    h.dataChunks++;
    h.bytes += chunk.data.length;
    if (chunk.data.length > h.maxChunk) h.maxChunk = chunk.data.length;
    h.next ??= chunk.tsn;
    // The other side acknowledged chunks of this one's peer that the capture never showed, and now
    // sends: they were lost, and what this answers may have been in them (said before it is read).
    this.settleAcked(a, 1 - side, true);
    const ahead = tsnAfter(chunk.tsn, h.next);
    if (ahead < 0 && takeGivenUp(h, chunk.tsn)) {
      // Its hole was given up (the parser told of a gap, what followed read): captured after all, too late to read.
      this.host.count('sctp.late_chunks');
      return;
    }
    if (ahead < 0 || h.held.has(chunk.tsn)) {
      this.host.count('sctp.retransmitted_chunks');
      return;
    }
    h.held.set(chunk.tsn, chunk);
    h.heldBytes += chunk.data.length;
    a.meter.add(chunk.data.length);
    this.deliver(a, side);
    // A hole the peer acknowledged past was lost from the capture, not reordered: no need to wait.
    this.settleAcked(a, side, false);
    // A hole that never fills: skip to the oldest chunk held, the stream parser told of a gap.
    if (h.held.size > MAX_HELD_CHUNKS) this.skipHole(a, side);
  }

  /** The lowest TSN held: the hole before it is given up (the capture missed those chunks). */
  private skipHole(a: Association, side: number): void {
    const h = a.halves[side];
    let lowest = h.next as number;
    let best = Infinity;
    for (const t of h.held.keys()) {
      const d = tsnAfter(t, h.next as number);
      if (d < best) {
        best = d;
        lowest = t;
      }
    }
    this.lostUpTo(a, side, lowest);
  }

  /**
   * The chunks from the next expected TSN up to (not including) `tsn` were
   * lost from the capture: counted, the messages being joined dropped, the
   * parser told of a gap, and what is held after them delivered.
   */
  private lostUpTo(a: Association, side: number, tsn: number): void {
    const h = a.halves[side];
    const n = tsnAfter(tsn, h.next as number);
    if (n <= 0) return;
    this.host.count('sctp.gaps');
    this.host.count('sctp.lost_chunks', n);
    h.lostChunks += n;
    if (h.givenUp.length >= MAX_GIVEN_UP) h.givenUp.shift();
    h.givenUp.push([h.next as number, tsn]);
    h.next = tsn;
    // The stream parser's bytes lost: the messages being joined, and what the chunks carried (each
    // at least a byte, at most the largest chunk seen: an upper bound, said as such).
    const joined = h.partialBytes;
    this.dropPartials(a, h);
    const most = n * h.maxChunk;
    this.gap(a, side, joined + most, most - n);
    this.deliver(a, side);
  }

  /** A SACK from `side`: the other direction's chunks up to its cumulative TSN ack reached the peer. */
  private onSack(a: Association, side: number, value: Buffer): void {
    if (value.length < 4) return;
    const h = a.halves[1 - side];
    const cum = value.readUInt32BE(0);
    if (h.acked === undefined || tsnAfter(cum, h.acked) > 0) h.acked = cum;
    this.settleAcked(a, 1 - side, false);
  }

  /**
   * The chunks of `side` up to the peer's cumulative TSN ack that the capture
   * has not shown were lost from it: each hole is given up and what is held
   * after it read. A hole with nothing captured after it is given up only
   * when `final` (the peer has sent since, or the association ends): until
   * then its chunks may still come, recorded out of order.
   */
  private settleAcked(a: Association, side: number, final: boolean): void {
    const h = a.halves[side];
    // Each pass gives up one hole and reads at least one held chunk, or returns.
    for (let passes = h.held.size + 1; passes > 0; passes--) {
      if (h.acked === undefined || h.next === undefined || tsnAfter(h.acked, h.next) < 0) return;
      let lowest: number | undefined;
      for (const t of h.held.keys()) if (lowest === undefined || tsnAfter(t, lowest) < 0) lowest = t;
      if (lowest !== undefined && tsnAfter(lowest, h.acked) <= 0) this.lostUpTo(a, side, lowest);
      else {
        if (lowest !== undefined || final) this.lostUpTo(a, side, (h.acked + 1) >>> 0);
        return;
      }
    }
  }

  /** Hand over every chunk that is next in TSN order. */
  private deliver(a: Association, side: number): void {
    const h = a.halves[side];
    for (;;) {
      const c = h.held.get(h.next as number);
      if (!c) return;
      h.held.delete(c.tsn);
      h.heldBytes -= c.data.length;
      a.meter.add(-c.data.length);
      h.next = (c.tsn + 1) >>> 0;
      if (c.cut !== undefined) {
        // Its payload's end was not captured: lost to the parser (with the message it was part of), as a lost chunk is.
        h.lostChunks++;
        this.host.count('sctp.lost_chunks');
        const part = h.partial.get(c.stream);
        const joined = part?.size ?? 0;
        if (part) {
          this.host.count('sctp.fragments_dropped');
          this.release(a, h, part.size);
          h.partial.delete(c.stream);
        }
        this.gap(a, side, joined + c.data.length + c.cut);
        continue;
      }
      const begin = (c.flags & 0x02) !== 0;
      const end = (c.flags & 0x01) !== 0;
      if (begin && end) {
        this.message(a, side, [c]);
        continue;
      }
      let part = h.partial.get(c.stream);
      if (begin) {
        if (part) {
          this.host.count('sctp.fragments_dropped');
          this.release(a, h, part.size);
          this.gap(a, side, part.size);
        }
        part = { parts: [], size: 0 };
        h.partial.set(c.stream, part);
      } else if (!part) {
        // A middle or last fragment whose first was lost: its bytes are lost to the parser too.
        this.host.count('sctp.fragments_dropped');
        this.gap(a, side, c.data.length);
        continue;
      }
      if (part.size + c.data.length > MAX_MESSAGE || h.partialBytes + c.data.length > MAX_PARTIAL_BYTES) {
        this.host.count('sctp.message_too_large');
        this.release(a, h, part.size);
        h.partial.delete(c.stream);
        this.gap(a, side, part.size + c.data.length);
        continue;
      }
      part.size += c.data.length;
      h.partialBytes += c.data.length;
      a.meter.add(c.data.length);
      part.parts.push(c);
      if (end) {
        h.partial.delete(c.stream);
        this.release(a, h, part.size);
        this.message(a, side, part.parts);
      }
    }
  }

  /** Bytes of joined fragments let go (delivered or dropped). */
  private release(a: Association, h: SctpHalf, bytes: number): void {
    h.partialBytes -= bytes;
    a.meter.add(-bytes);
  }

  private dropPartials(a: Association, h: SctpHalf): void {
    if (h.partial.size > 0) this.host.count('sctp.fragments_dropped', h.partial.size);
    this.release(a, h, h.partialBytes);
    h.partial.clear();
  }

  /** `length` bytes of the direction's stream are lost to its parser (`slack`: as many fewer may have been, api.ts). */
  private gap(a: Association, side: number, length: number, slack = 0): void {
    if (a.parser) this.call(a, () => a.parser?.onGap(a.dir(side), Math.max(1, length), slack > 0 ? slack : undefined));
    else if (!a.undecided) {
      a.unsaid[side].length += Math.max(1, length);
      a.unsaid[side].slack += slack;
    }
  }

  /**
   * One whole user message: choose the dissector on the first, then feed it as stream bytes,
   * fragment by fragment with each fragment's own time and frame, as TCP feeds segments: a
   * parser stamps a message with the packet that began it and completes it on the one that
   * ended it (a response split over fragments is its last fragment's frame, as over TCP).
   */
  private message(a: Association, side: number, pieces: Piece[]): void {
    const h = a.halves[side];
    h.messages++;
    const was = { now: a.ctx.now, frame: a.ctx.frame };
    if (!a.parser && !a.undecided) {
      a.ctx.now = pieces[0].now;
      a.ctx.frame = pieces[0].frame;
      this.choose(a, side, pieces.length === 1 ? pieces[0].data : Buffer.concat(pieces.map((p) => p.data)));
      for (let s = 0; s < 2; s++) {
        const { length, slack } = a.unsaid[s];
        if (length > 0) this.gap(a, s, length, slack);
      }
    }
    for (const p of pieces) {
      if (!a.parser) break;
      a.ctx.now = p.now;
      a.ctx.frame = p.frame;
      this.call(a, () => a.parser?.onData(a.dir(side), p.data));
    }
    a.ctx.now = was.now;
    a.ctx.frame = was.frame;
  }

  private choose(a: Association, side: number, data: Buffer): void {
    for (const { d, portMatch } of this.host.probes([a.ends[0].port, a.ends[1].port])) {
      let verdict;
      try {
        verdict = d.probe(data, portMatch);
      } catch {
        verdict = false;
      }
      if (verdict !== 'request' && verdict !== 'response' && verdict !== 'stream') continue;
      if (!a.orientationKnown && verdict !== 'stream') a.setClient(verdict === 'request' ? side : 1 - side);
      const outer = enterMeter(a.meter);
      try {
        a.parser = (d.createTcpParser as (ctx: ConnectionContext) => TcpStreamParser)(a.ctx);
        a.protocol = d.name;
      } catch {
        this.host.count(`${d.name}.create_threw`);
      } finally {
        enterMeter(outer);
      }
      return;
    }
    // The first message decides: SIGTRAN (M3UA …) and other payloads are reported as a flow.
    a.undecided = true;
  }

  /** A parser that throws is a bug in it: counted, and the association carries on without it. */
  private call(a: Association, fn: () => void): void {
    const outer = enterMeter(a.meter);
    try {
      fn();
    } catch {
      this.host.count(`${a.protocol}.parser_threw`);
      a.parser = undefined;
      a.undecided = true;
    } finally {
      enterMeter(outer);
    }
  }

  tick(now: number, timeoutMs: number, idleMs: number): void {
    for (const a of [...this.assocs.values()]) {
      a.ctx.now = now;
      if (a.parser) this.call(a, () => a.parser?.onTick?.(now, timeoutMs));
      if (now - a.lastTime > idleMs) this.end(a, 'timeout');
    }
  }

  /** Earliest request time a parser still holds (the floor when one cannot say). */
  pendingSince(floor: number): number {
    let low = Infinity;
    for (const a of this.assocs.values()) {
      if (!a.parser) continue;
      const t = a.parser.pendingSince ? (a.parser.pendingSince() ?? Infinity) : floor;
      if (t < low) low = t;
    }
    return low;
  }

  /** End the least recently active association (memory budget); false when there is none. */
  evictOldest(): boolean {
    const oldest = this.assocs.values().next().value as Association | undefined;
    if (!oldest) return false;
    // What it emits now says it was cut short (the engine's context marks it).
    (oldest.ctx as { evicting?: boolean }).evicting = true;
    this.end(oldest, 'timeout');
    return true;
  }

  finish(): void {
    for (const a of [...this.assocs.values()]) this.end(a, 'eof');
  }

  private end(a: Association, reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (a.ended) return;
    a.ended = true;
    this.assocs.delete(a.key);
    for (let side = 0; side < 2; side++) {
      const h = a.halves[side];
      // Chunks held behind a hole are read now, the hole reported lost (they were captured; only what is before them was not).
      for (let left = h.held.size; h.held.size > 0 && left > 0; left--) this.skipHole(a, side);
      // Chunks the peer acknowledged that the capture never showed (the last ones, or a direction's only ones).
      this.settleAcked(a, side, true);
      if (h.partial.size > 0) this.host.count('sctp.unfinished_messages', h.partial.size);
    }
    if (a.parser) this.call(a, () => a.parser?.onEnd(reason));
    else this.report(a, reason);
    a.meter.close();
  }

  /** An association no dissector read: one entry with what it carried. */
  private report(a: Association, reason: string): void {
    const c = a.halves[a.clientSide];
    const s = a.halves[1 - a.clientSide];
    const lost = c.lostChunks + s.lostChunks;
    const call: CallRecord = {
      protocol: 'sctp',
      request: { packets: c.packets, dataChunks: c.dataChunks, messages: c.messages, bytes: c.bytes, ...(c.lostChunks > 0 ? { lostChunks: c.lostChunks } : {}), chunks: a.chunks, ppids: [...a.ppids].slice(0, 16) },
      response: { packets: s.packets, dataChunks: s.dataChunks, messages: s.messages, bytes: s.bytes, ...(s.lostChunks > 0 ? { lostChunks: s.lostChunks } : {}), end: reason },
      requestTime: a.firstTime,
      requestFrame: a.firstFrame,
      responseTime: a.lastTime,
      responseFrame: a.lastFrame,
      requestSize: c.bytes,
      responseSize: s.bytes,
      error: a.aborted,
      summary: `SCTP ${c.messages} messages (${c.bytes} B) → ${s.messages} messages (${s.bytes} B)${a.aborted ? ' [ABORT]' : ''}${lost > 0 ? ` (${lost} chunk${lost === 1 ? '' : 's'} lost)` : ''}`,
    };
    const warnings = [...(lost > 0 ? ['gap'] : []), ...(a.truncated ? ['truncated'] : [])];
    if (warnings.length > 0) call.warnings = warnings;
    a.ctx.emit(call);
  }
}
