// The dissection engine: packets in, entries out.
// link → IP (fragments) → TCP/UDP/ICMP → flows → per-direction reassembly →
// protocol detection by content → the protocol's parser → entries, released in
// request-time order. Every limit is a counter, never an exception. What the
// run holds is charged to one memory budget (memory-budget.ts); past it, whole
// flows are ended, least recently active first.
//
// One flow's state is its own module (tcp-connection.ts, udp-conversation.ts,
// flow-context.ts); this one decides what happens to flows. dissect-packets.ts
// drives an engine over a stream of packet batches.

import type { Endpoint, Entry, Transport } from '../model/entry.js';
import { emptyEndpoint } from '../model/entry.js';
import { packetTimeMs, type Packet } from '../model/packet.js';
import type {
  CallRecord,
  ConnectionContext,
  DissectOptions,
  InnerParser,
  Probe,
  ProtocolDissector,
  TcpStreamParser,
  UdpDatagramParser,
} from './api.js';
import { EtherType, findNetwork } from './decode/link.js';
import { ipTunnel, udpTunnel, type Tunnelled } from './decode/tunnels.js';
import { FragmentReassembler } from './decode/fragments.js';
import { decodeIp, IpProto, type IpPacket } from './decode/ip.js';
import { flowKey } from './flow-key.js';
import { UdpDuplicates } from './udp-duplicates.js';
import { FlowTable } from './flow-table.js';
import { DEFAULT_MEMORY_BUDGET, enterMeter, MemoryBudget, Meter } from './memory-budget.js';
import { countPacket, createTcpFallback, createUdpFallback } from './protocols/fallback.js';
import { MutableContext } from './flow-context.js';
import { isHalfOpen, TcpConnection, type HeldSegment } from './tcp-connection.js';
import { UdpConversation } from './udp-conversation.js';
import { guarded } from './parser-guard.js';
import { createIcmpTracker, tcpDissectors, udpDissectors, type IcmpHandler } from './registry.js';
import { ReorderBuffer } from './reorder.js';
import { DecodeAsTable } from './decode-as.js';
import { seqDiff, type ReassemblyCounters } from './tcp-reassembly.js';
import { SctpLayer } from './sctp.js';

export interface EngineOptions extends DissectOptions {
  /** Keep only entries of these protocols (empty: all). */
  protocols: string[];
  /** A request unanswered this long (capture time) is emitted with response null. */
  requestTimeoutMs: number;
  tcpIdleTimeoutMs: number;
  udpIdleTimeoutMs: number;
  /** Most connections/conversations tracked at once; the oldest is ended past it. */
  maxFlows: number;
  /** Most out-of-order bytes held per direction before a hole is given up. */
  maxBufferedPerDirection: number;
  /** Bytes of a connection's first data kept while deciding its protocol. */
  maxProbeBytes: number;
  /** How long entries wait to be put in request order (0 = emit as finished). */
  reorderWindowMs: number;
  maxReorderHeld: number;
  /** Bytes of state held at once (buffers, flows, pending queries, held entries) before flows are evicted. */
  memoryBudget: number;
  /** A connection whose SYN was never answered (and that carried no data) is ended after this much quiet. */
  halfOpenTimeoutMs: number;
  /**
   * What to hold in place of each entry while it waits for its place in
   * request order, made as it is emitted: `dissect` holds its NDJSON line,
   * `stats` the few fields it reads. An entry held ~100 ms of capture time
   * outlives V8's young generation, so its whole object graph was copied and
   * promoted; one flat string or a few fields cost a fraction of that. The
   * engine then hands on what this returned (its `timestamp` orders it).
   */
  hold?: (e: Entry) => Held;
  /**
   * Where entry ids' sequence numbers come from: one counter shared by the
   * engines of one run's inputs (one engine per file), so ids stay unique
   * across them (frames restart at 1 in every file). Default: this engine's own.
   */
  numbering?: EntryNumbering;
}

/** The last sequence number given to an entry id (`<frame>-<seq>`). */
export interface EntryNumbering {
  seq: number;
}

/** What `hold` returns: anything with the entry's timestamp (and `line`: a serialised entry, weighed by its length). */
export interface Held {
  timestamp: number;
  line?: { readonly length: number };
}

export const defaultEngineOptions: EngineOptions = {
  maxBody: 16 * 1024,
  noBodies: false,
  protocols: [],
  requestTimeoutMs: 30_000,
  tcpIdleTimeoutMs: 600_000,
  udpIdleTimeoutMs: 15_000,
  maxFlows: 100_000,
  maxBufferedPerDirection: 4 * 1024 * 1024,
  maxProbeBytes: 16 * 1024,
  reorderWindowMs: 31_000,
  maxReorderHeld: 10_000,
  memoryBudget: DEFAULT_MEMORY_BUDGET,
  halfOpenTimeoutMs: 10_000,
};

/** Warning on calls emitted because their flow was evicted. */
export const EVICTED_WARNING = 'evicted: memory budget reached (--memory-budget)';

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;
/**
 * Packets captured shorter than they were on the wire (`tcpdump -s 96`): what
 * lay past the snap length is missing, so their payloads come out as gaps.
 * Counted where packets enter an engine (or the dispatcher, with workers),
 * so the end-of-run line can say why (dissect-summary.ts).
 */
export const CUT_BY_SNAPLEN = 'capture.truncated_by_snaplen';
const TICK_MS = 1000;
/** Longest capture time between two ticks however many flows there are. */
const MAX_TICK_MS = 10_000;
/** How often (capture time) entries that nothing older can precede are let out. */
const RELEASE_MS = 100;
export const TOMBSTONE_MS = 10_000;
/** Ended connections remembered for TOMBSTONE_MS; a flood of SYN+RST pairs would otherwise fill the map without bound. */
const MAX_TOMBSTONES = 65_536;
const MAX_ENCAP_DEPTH = 4;
/**
 * A segment whose packet acknowledged bytes of the other direction not yet
 * captured waits for them at most this long (capture time), this many bytes
 * and segments of its side: packets recorded out of order are apart by
 * microseconds; bytes not there by then were lost, and what waited is read as
 * it would have been without waiting.
 */
const HOLD_ACKED_MS = 500;
const HOLD_ACKED_BYTES = 256 * 1024;
const HOLD_ACKED_SEGMENTS = 64;
/** An acknowledgement further ahead than this is no reordering of the capture (a lost stretch, a bogus ACK): never waited for. */
const MAX_HOLD_AHEAD = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Ports on which a side is probably the server when the handshake was not seen. */
function looksLikeServerPort(port: number, known: Set<number>): boolean {
  return port < 1024 || known.has(port);
}

/** The order a tick and the end of input visit flows in: TCP, UDP, SCTP associations, then ICMP. */
const EMIT_RANK: Record<Transport, number> = { tcp: 0, udp: 1, sctp: 2, icmp: 3 };

export class DissectionEngine {
  readonly options: EngineOptions;
  readonly counters: Record<string, number> = {};
  readonly reassembly: ReassemblyCounters = { retransmitted: 0, outOfOrder: 0, gaps: 0, gapBytes: 0 };
  private readonly frags: FragmentReassembler;
  /** What IP fragments in progress hold, charged to the same budget. */
  private readonly fragMeter: Meter;
  private readonly tcp = new FlowTable<TcpConnection>();
  private readonly udp = new FlowTable<UdpConversation>();
  private readonly udpCopies = new UdpDuplicates();
  readonly budget: MemoryBudget;
  /** What the reorder buffer holds, charged to the same budget. */
  private readonly reorderMeter: Meter;
  /** Packets since the last tick / release: scans of every flow are spread over at least flows/8 packets. */
  private sinceTick = 0;
  private sinceRelease = 0;
  /**
   * Flows tracked just after the last tick or release: the next waits for
   * an eighth as many packets. The count of *then*, not of each packet, so a
   * parallel run's dispatcher can follow this schedule from one report per
   * release (dissect/parallel/pool.ts): with the count of each packet it had
   * to stop every worker at every packet of a flood until enough had passed
   * (68,815 barriers for 200,000 SYNs, three times one thread's time).
   */
  private flowsAtRelease = 0;
  private readonly tombstones = new Map<string, number>();
  private readonly icmp: IcmpHandler;
  /** SCTP associations: DATA reassembled into messages for the stream dissectors. */
  private readonly sctp: SctpLayer;
  private readonly reorder: ReorderBuffer;
  private readonly tcpProbes: ProtocolDissector[];
  private readonly udpProbes: ProtocolDissector[];
  private readonly serverPorts: Set<number>;
  private readonly decodeAs: DecodeAsTable;
  private readonly keep: Set<string> | undefined;
  private lastTick = -Infinity;
  private lastRelease = -Infinity;
  /**
   * No packet still to come is older than this (a file reader looks ahead a
   * batch): capture timestamps can step back — interfaces interleaved in a
   * pcapng, a clock adjusted — and a call on such a packet must not find newer
   * entries already gone. Infinity when unknown (live): time only goes forward.
   */
  private horizon = Infinity;
  private maxTime = -Infinity;
  private readonly numbering: EntryNumbering;
  packets = 0;
  /**
   * A parallel worker's engine (src/dissect/parallel/): the dispatcher, who
   * sees every packet, decides when ticks and releases happen (`tickAt`), and
   * the main thread orders entries, so nothing is held here.
   */
  private readonly external: boolean;
  /** What is running when a call is emitted: 0 a packet, 1 a tick, 2 the memory budget, 3 the end (parallel ordering). */
  phase = 0;
  /** Transport rank (EMIT_RANK) and last-packet frame of the flow that emitted the last call: a tick visits flows in that order. */
  emitRank = 0;
  emitTouch = 0;

  constructor(options: Partial<EngineOptions> & { external?: boolean }, onEntry: (e: Entry) => void) {
    this.options = { ...defaultEngineOptions, ...options };
    this.external = options.external === true;
    this.numbering = options.numbering ?? { seq: 0 };
    this.budget = new MemoryBudget(this.options.memoryBudget);
    this.reorderMeter = new Meter(this.budget);
    this.fragMeter = new Meter(this.budget);
    this.frags = new FragmentReassembler(undefined, undefined, this.fragMeter);
    this.reorder = new ReorderBuffer(
      this.external ? 0 : Math.max(this.options.reorderWindowMs, 0),
      this.options.maxReorderHeld,
      onEntry,
      this.reorderMeter,
    );
    this.keep = this.options.protocols.length > 0 ? new Set(this.options.protocols) : undefined;
    this.tcpProbes = [...tcpDissectors()].sort((a, b) => a.priority - b.priority);
    this.udpProbes = [...udpDissectors()].sort((a, b) => a.priority - b.priority);
    this.serverPorts = new Set([...this.tcpProbes, ...this.udpProbes].flatMap((d) => d.ports));
    this.decodeAs = new DecodeAsTable(this.options.decodeAs);
    this.sctp = new SctpLayer({
      newContext: (client, server) => this.newContext('sctp', client, server),
      newMeter: () => this.newMeter(),
      probes: (ports) => [
        ...this.tcpProbes.filter((d) => d.ports.includes(ports[0]) || d.ports.includes(ports[1])).map((d) => ({ d, portMatch: true })),
        ...this.tcpProbes.filter((d) => !(d.ports.includes(ports[0]) || d.ports.includes(ports[1]))).map((d) => ({ d, portMatch: false })),
      ],
      count: (name, n) => this.count(name, n),
    });
    this.icmp = createIcmpTracker(
      (call, src, dst) => {
        const ctx = this.newContext('icmp', emptyEndpoint(src.ip, 0), emptyEndpoint(dst.ip, 0));
        this.emitCall(call, ctx);
      },
      (name) => this.count(name),
    );
  }

  count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  newMeter(): Meter {
    return new Meter(this.budget);
  }

  newContext(transport: Transport, client: Endpoint, server: Endpoint): MutableContext {
    return new MutableContext(transport, client, server, this.options, this);
  }

  /** Feed one captured frame. Never throws for bad packet content. */
  push(p: Packet): void {
    if (p.data.length < p.origLen) this.count(CUT_BY_SNAPLEN);
    this.pushFrame(p.linkType, p.data, packetTimeMs(p), p.frame);
  }

  /** As push, from the frame's parts (a batch's columns: no Packet object per packet). */
  pushFrame(linkType: number, data: Buffer, now: number, frameNumber: number): void {
    this.packets++;
    this.sinceTick++;
    this.sinceRelease++;
    if (now > this.maxTime) this.maxTime = now;
    this.phase = 0;
    this.frame(linkType, data, now, frameNumber, 0);
    if (this.external) return this.afterPacket();
    // Ticks and releases visit every flow: under a flood of flows they wait
    // for enough packets (an eighth of the flows at the last one) that each
    // packet pays for a few visits at most (timeouts then fire up to
    // MAX_TICK_MS late, never later).
    const flows = this.flowsAtRelease >> 3;
    const sinceTick = this.maxTime - this.lastTick;
    if ((sinceTick >= TICK_MS && this.sinceTick >= flows) || sinceTick >= MAX_TICK_MS) this.tick(this.maxTime);
    else if (this.maxTime - this.lastRelease >= RELEASE_MS && this.sinceRelease >= flows) this.release(this.maxTime);
    this.afterPacket();
  }

  private afterPacket(): void {
    this.phase = 2;
    if (this.budget.over) this.enforceBudget();
    this.budget.notePeak();
  }

  /** Parallel worker: an IP datagram the dispatcher reassembled from fragments. */
  pushIp(ip: IpPacket, now: number, frame: number): void {
    this.packets++;
    if (now > this.maxTime) this.maxTime = now;
    this.phase = 0;
    this.ipPacket(ip, now, frame, 0);
    this.afterPacket();
  }

  /** Parallel worker: the tick the single-thread engine would run now (the dispatcher decides when). */
  tickAt(now: number): void {
    if (now > this.maxTime) this.maxTime = now;
    this.phase = 1;
    this.tick(now);
  }

  /** Parallel worker: a release the single-thread engine makes here (only its datagram memory is the worker's to keep in step). */
  releaseAt(now: number): void {
    this.udpCopies.forget(now);
  }

  /** Flows tracked (the tick schedule spreads its scans over flows/8 packets). */
  get flowCount(): number {
    return this.tcp.size + this.udp.size;
  }

  /** Tell the engine no packet after the next one is older than `ms` (see `horizon`). */
  setHorizon(ms: number): void {
    this.horizon = ms;
  }

  /** Live captures: let wall-clock time release entries and time out requests when no packets come. */
  advance(nowMs: number): void {
    if (nowMs > this.maxTime) this.maxTime = nowMs;
    if (this.maxTime - this.lastTick >= TICK_MS) this.tick(this.maxTime);
  }

  /** End of input: end every flow (unanswered requests come out), release every entry. */
  finish(): void {
    this.phase = 3;
    this.tcp.forEach((conn) => this.endTcp(conn, 'eof'));
    this.udp.forEach((conv) => this.endUdp(conv, 'eof'));
    this.sctp.finish();
    this.icmp.end();
    this.reorder.flush();
  }

  /** Counters worth telling a user about (drops, damage), for the end-of-run line. */
  summary(): Record<string, number> {
    const out: Record<string, number> = { ...this.counters };
    const r = this.reassembly;
    if (r.gaps) out['tcp.gaps'] = r.gaps;
    if (r.gapBytes) out['tcp.gap_bytes'] = r.gapBytes;
    const f = this.frags.counters;
    if (f.dropped) out['ip.fragments_dropped'] = f.dropped;
    if (f.malformed) out['ip.fragments_malformed'] = f.malformed;
    // Copies of these datagrams, if any, were not recognised as copies.
    if (this.udpCopies.full) out['udp.duplicate_check_skipped'] = this.udpCopies.full;
    return out;
  }

  private frame(linkType: number, data: Buffer, now: number, frame: number, depth: number): void {
    const net = findNetwork(linkType, data);
    if (!net) {
      this.count('link.not_ip');
      return;
    }
    let version: 4 | 6;
    if (net.etherType === EtherType.IPV4) version = 4;
    else if (net.etherType === EtherType.IPV6) version = 6;
    else {
      this.count(net.etherType === EtherType.ARP ? 'link.arp' : 'link.not_ip');
      return;
    }
    const ip = decodeIp(data, net.offset, version, this.frags, now);
    if (ip === null) return; // fragment held for reassembly
    if ('skip' in ip) {
      this.count(ip.skip);
      return;
    }
    this.ipPacket(ip, now, frame, depth);
  }

  private ipPacket(ip: IpPacket, now: number, frame: number, depth: number): void {
    switch (ip.protocol) {
      case IpProto.TCP:
        this.tcpSegment(ip, now, frame);
        break;
      case IpProto.UDP:
        this.udpDatagram(ip, now, frame, depth);
        break;
      case IpProto.SCTP:
        this.sctp.onPacket(ip, now, frame);
        break;
      case IpProto.ICMP:
      case IpProto.ICMPV6:
        this.icmp.onPacket(ip.protocol === IpProto.ICMPV6, ip.src, ip.dst, ip.payload, now, frame, ip.cut);
        break;
      default:
        if (depth < MAX_ENCAP_DEPTH && this.decapsulate(ipTunnel(ip.protocol, ip.payload), ip.payload, now, frame, depth)) break;
        this.count('ip.other_protocol');
    }
  }

  // ---- TCP ---------------------------------------------------------------

  private tcpSegment(ip: IpPacket, now: number, frame: number): void {
    const seg = ip.payload;
    if (seg.length < 20) {
      this.count('tcp.truncated');
      return;
    }
    const sport = seg.readUInt16BE(0);
    const dport = seg.readUInt16BE(2);
    const seq = seg.readUInt32BE(4);
    const ack = seg.readUInt32BE(8);
    const dataOff = (seg[12] >> 4) * 4;
    const flags = seg[13];
    if (dataOff < 20 || dataOff > seg.length) {
      this.count('tcp.bad_header_length');
      return;
    }
    // A fifth of segments are bare ACKs: no view for them.
    const payload = dataOff === seg.length ? EMPTY : seg.subarray(dataOff);
    // Payload bytes a snap length cut off (the IP header says how many): lost, reported as soon as the segment is read.
    const cut = ip.cut ?? 0;
    const { key, senderIsA } = flowKey('t', ip.src, sport, ip.dst, dport);
    let conn = this.tcp.get(key);
    if (!conn) {
      if (flags & TCP_RST || (this.tombstones.has(key) && !(flags & TCP_SYN))) {
        // Trailing packets of a connection already ended.
        return;
      }
      this.tombstones.delete(key);
      conn = this.openTcp(key, ip, sport, dport, senderIsA, flags, now, frame);
    } else if (flags & TCP_SYN && !(flags & TCP_ACK) && conn.synSeq !== undefined && conn.synSeq !== seq) {
      // Port reuse: a new connection on the same 4-tuple (a retransmitted SYN keeps its sequence number).
      this.endTcp(conn, 'fin');
      conn = this.openTcp(key, ip, sport, dport, senderIsA, flags, now, frame);
    }
    if (flags & TCP_SYN && !(flags & TCP_ACK) && conn.synSeq === undefined) conn.synSeq = seq;
    const side = senderIsA ? 0 : 1;
    if (flags & TCP_RST && conn.synSeq !== undefined && this.strayReset(conn, side, flags, seq, ack)) {
      // A reset nowhere near this side's sequence: the previous connection on these ports, recorded
      // after the new one's SYN (the capture swapped them). It would end the new connection at its
      // first packet (an empty `TCP 0 B [RST]` entry, the rest read as one captured mid-way).
      this.count('tcp.rst_stray');
      return;
    }
    countPacket(conn.totals, side, payload.length, now, frame);
    this.tcp.touch(conn);
    conn.setTime(now, frame);
    if (flags & TCP_RST) {
      conn.totals.reset = true;
      this.endTcp(conn, 'rst');
      return;
    }
    if (conn.closing) {
      // The last ACK after both FINs: counted, then the connection is done.
      this.endTcp(conn, 'fin');
      return;
    }
    if (conn.lite && (flags & (TCP_SYN | TCP_ACK | TCP_FIN)) === TCP_SYN && payload.length === 0 && side === conn.clientSide && seq === conn.synSeq) {
      // Still only the client's SYN: nothing to reassemble, no ACK to measure, neither half can finish.
      conn.deferSyn();
      return;
    }
    conn.ctx.ack = undefined;
    if (flags & TCP_ACK) {
      const peer = conn.halves[1 - side];
      peer.ackHint(ack);
      // Relative to what the parser has of the other direction once the hint delivered what it could.
      const expected = peer.expectedSeq;
      if (expected !== undefined) {
        // Held bytes of the other side count as had: this packet may well acknowledge them.
        const had = conn.held !== undefined && conn.heldSide !== side && seqDiff(conn.heldEnd, expected) > 0 ? conn.heldEnd : expected;
        conn.ctx.ack = { from: conn.dir(side), ahead: seqDiff(ack, had) };
      }
    }
    if (conn.held !== undefined) {
      if (conn.heldSide === side) {
        // This side's later segments wait behind its held ones (a bare ACK's hint was taken above).
        if (payload.length > 0 || flags & (TCP_FIN | TCP_SYN)) this.holdSegment(conn, side, seq, flags, payload, now, frame, ack, cut);
        else if (now - (conn.held[0] as HeldSegment).now > HOLD_ACKED_MS) this.releaseHeld(conn, true);
        return;
      }
      // What waited goes first, as it would have without waiting, when the other side sent past what
      // the held segments acknowledged (the bytes they wait for were lost, not late), or when this
      // packet acknowledges held bytes (they were sent before it; `tap --tls` writes such pairs: a
      // write call that returned after the read of its reply acknowledges that reply).
      const first = conn.held[0] as HeldSegment;
      // A bare ACK's sequence number says as much as a data packet's: its sender had sent every byte before it.
      if (seqDiff(seq, first.ack) >= 0 && (payload.length > 0 || (flags & (TCP_FIN | TCP_ACK)) !== 0)) {
        // The gap is reported before the held segments are read: they answer what it took.
        conn.halves[side].lostBefore(seq);
        this.releaseHeld(conn, true);
      } else if ((payload.length > 0 || flags & TCP_FIN) && flags & TCP_ACK && seqDiff(ack, first.seq) > 0) {
        // The bytes the held segments wait for are this packet's own: not lost, they come next.
        this.releaseHeld(conn, true, false, false);
      }
    } else if (payload.length > 0 && flags & TCP_ACK && conn.ctx.ack !== undefined && conn.ctx.ack.ahead > 0) {
      const unseen = conn.halves[1 - side].unseenAcked(ack);
      if (unseen !== undefined && unseen > 0 && unseen <= MAX_HOLD_AHEAD) {
        // The packet acknowledges bytes of the other side the capture has not shown yet: the two
        // directions' packets were recorded out of order (`-i any`, several queues). Read the bytes
        // it answers first, or a response would be read before its request.
        this.holdSegment(conn, side, seq, flags, payload, now, frame, ack, cut);
        return;
      }
    } else if (payload.length > 0 && flags & TCP_ACK && conn.synSeq === undefined && conn.halves[side].expectedSeq === undefined && conn.halves[1 - side].expectedSeq === undefined) {
      // A connection captured mid-way, and nothing of either side read yet: the other side's first packet
      // may have been sent before this one and recorded after it (a request and its response swapped at
      // the capture's start, which read this way split into a lone response and an unanswered request).
      // This one waits for it (bounded as above); one sent after it is not held back.
      this.holdSegment(conn, side, seq, flags, payload, now, frame, ack, cut, false);
      return;
    }
    this.feedSegment(conn, side, seq, flags, payload, now, frame, ack, cut);
    if (conn.held !== undefined && !conn.ended) this.releaseHeld(conn, now - (conn.held[0] as HeldSegment).now > HOLD_ACKED_MS);
  }

  /**
   * A reset that cannot be this connection's (random ISNs put an earlier connection's sequence numbers
   * anywhere): with only the client's SYN seen, one that neither continues that SYN (the client's) nor
   * acknowledges it (the server's refusal); later, one far outside what its sender has sent.
   */
  private strayReset(conn: TcpConnection, side: number, flags: number, seq: number, ack: number): boolean {
    const syn = conn.synSeq as number;
    if (conn.lite) {
      if (side === conn.clientSide) return seq !== syn && seq !== ((syn + 1) >>> 0);
      return (flags & TCP_ACK) !== 0 && ack !== ((syn + 1) >>> 0);
    }
    const expected = conn.halves[side].expectedSeq;
    return expected !== undefined && Math.abs(seqDiff(seq, expected)) > MAX_RST_DISTANCE;
  }

  private feedSegment(conn: TcpConnection, side: number, seq: number, flags: number, payload: Buffer, now: number, frame: number, ack: number, cut = 0): void {
    conn.halves[side].segment(seq, (flags & TCP_SYN) !== 0, (flags & TCP_FIN) !== 0, payload, now, frame, flags & TCP_ACK ? ack : undefined, cut);
    if (conn.halves[0].finished && conn.halves[1].finished) {
      // Wait for the final ACK (tshark counts it in the conversation); the next tick ends it otherwise.
      if (flags & TCP_FIN) conn.closing = true;
      else this.endTcp(conn, 'fin');
    }
  }

  /** Keep a segment until the other side's bytes its packet acknowledged have been read (bounded: HOLD_ACKED_*). */
  private holdSegment(conn: TcpConnection, side: number, seq: number, flags: number, payload: Buffer, now: number, frame: number, ack: number, cut: number, counted = true): void {
    if (conn.held === undefined) {
      conn.held = [];
      conn.heldSide = side;
      conn.heldEnd = seq;
      if (counted) this.count('tcp.held_for_acked_bytes');
    }
    const data = Buffer.from(payload);
    conn.held.push({ seq, flags, data, now, frame, ack, cut });
    conn.heldBytes += data.length;
    conn.meter.add(data.length);
    const end = (seq + data.length + cut + (flags & TCP_SYN ? 1 : 0)) >>> 0;
    if (seqDiff(end, conn.heldEnd) > 0) conn.heldEnd = end;
    if (conn.heldBytes > HOLD_ACKED_BYTES || conn.held.length > HOLD_ACKED_SEGMENTS) this.releaseHeld(conn, true);
  }

  /**
   * Feed the held segments whose acknowledged bytes have now been read (`all`:
   * every one, the bytes they wait for having been lost, or waited for long
   * enough), each with its own packet's time, frame and ACK. `lost`: the
   * bytes they wait for will not come (reported as a gap before each is read).
   */
  private releaseHeld(conn: TcpConnection, all: boolean, ending = false, lost = all): void {
    const held = conn.held as HeldSegment[];
    const side = conn.heldSide;
    const peer = conn.halves[1 - side];
    const { now, frame } = conn.ctx;
    while (held.length > 0 && (ending || !conn.ended)) {
      const h = held[0];
      const unseen = peer.unseenAcked(h.ack) ?? 0;
      if (!all && unseen > 0) break;
      // Still ahead when all go: the bytes it acknowledged were sent before it and never captured. The
      // gap is reported first, as when the other side sends past them: the segment answers what it took
      // (a reply read before it would pass for one whose request the capture began after, with no warning).
      if (lost && unseen > 0) peer.lostBefore(h.ack);
      held.shift();
      conn.heldBytes -= h.data.length;
      conn.meter.add(-h.data.length);
      conn.ctx.now = h.now;
      conn.ctx.frame = h.frame;
      const expected = peer.expectedSeq;
      conn.ctx.ack = expected === undefined ? undefined : { from: conn.dir(side), ahead: seqDiff(h.ack, expected) };
      this.feedSegment(conn, side, h.seq, h.flags, h.data, h.now, h.frame, h.ack, h.cut);
    }
    if (held.length === 0 || (conn.ended && !ending)) {
      conn.held = undefined;
      conn.meter.add(-conn.heldBytes);
      conn.heldBytes = 0;
    }
    conn.ctx.now = now;
    conn.ctx.frame = frame;
    conn.ctx.ack = undefined;
  }

  private openTcp(
    key: string,
    ip: IpPacket,
    sport: number,
    dport: number,
    senderIsA: boolean,
    flags: number,
    now: number,
    frame: number,
  ): TcpConnection {
    if (this.tcp.size >= this.options.maxFlows) {
      this.count('tcp.flows_evicted');
      this.endTcp(this.tcp.oldest() as TcpConnection, 'timeout');
    }
    const conn = new TcpConnection(key, now, frame, this);
    const senderSide = senderIsA ? 0 : 1;
    if (flags & TCP_SYN) {
      conn.setClient(flags & TCP_ACK ? 1 - senderSide : senderSide);
      conn.orientationKnown = true;
    } else {
      const senderServer = looksLikeServerPort(sport, this.serverPorts);
      const receiverServer = looksLikeServerPort(dport, this.serverPorts);
      let clientIsSender: boolean;
      if (senderServer !== receiverServer) clientIsSender = receiverServer;
      else clientIsSender = sport >= dport;
      conn.setClient(clientIsSender ? senderSide : 1 - senderSide);
    }
    this.tcp.add(conn);
    return conn;
  }

  /** Try to name the protocol of a connection from the bytes seen so far. */
  detect(conn: TcpConnection, side: number): void {
    // Decode-as first: the user said what this port carries.
    const forced = this.decodeAs.lookup('tcp', conn.ends[0].port, conn.ends[1].port);
    if (forced) {
      if (!conn.orientationKnown) conn.setClient(forced.serverIsA ? 1 : 0);
      this.startParser(conn, forced.dissector);
      return;
    }
    const data = this.sideBytes(conn, side);
    const ports = [conn.ends[0].port, conn.ends[1].port];
    let needMore = false;
    const tryProbe = (d: ProtocolDissector, portMatch: boolean): boolean => {
      let verdict;
      try {
        verdict = d.probe(data, portMatch);
      } catch {
        this.count(`${d.name}.probe_threw`);
        verdict = false;
      }
      if (verdict === 'need-more') needMore = true;
      if (verdict !== 'request' && verdict !== 'response' && verdict !== 'stream') return false;
      if (!conn.orientationKnown && verdict !== 'stream') {
        const client = verdict === 'request' ? side : 1 - side;
        // Caught mid-connection on the dissector's own port, which one end alone has: that end serves. Bytes
        // that read the other way round are a piece of a message out of its context (the text of a Redis
        // reply read as an inline command made thousands of bogus calls), so the port is kept.
        const served = portMatch && d.ports.includes(conn.ends[0].port) !== d.ports.includes(conn.ends[1].port);
        if (!(served && d.ports.includes(conn.ends[client].port))) conn.setClient(client);
        else this.count('tcp.orientation_kept_by_port');
      }
      this.startParser(conn, d);
      return true;
    };
    // Port-registered dissectors first (Wireshark's order), then every heuristic.
    for (const d of this.tcpProbes) {
      if ((ports[0] !== undefined && d.ports.includes(ports[0])) || d.ports.includes(ports[1])) {
        if (tryProbe(d, true)) return;
      }
    }
    for (const d of this.tcpProbes) {
      if (!(d.ports.includes(ports[0]) || d.ports.includes(ports[1]))) {
        if (tryProbe(d, false)) return;
      }
    }
    if (needMore && conn.pendingBytes[side] < this.options.maxProbeBytes) return;
    conn.rejected[side] = true;
    const otherSilent = conn.pendingBytes[1 - side] === 0;
    const total = conn.pendingBytes[0] + conn.pendingBytes[1];
    // Wait for the other side when it has not spoken (server-first protocols), within limits.
    if ((conn.rejected[0] && conn.rejected[1]) || (!otherSilent && conn.rejected[1 - side]) || total >= this.options.maxProbeBytes) {
      this.startFallback(conn);
    }
  }

  private sideBytes(conn: TcpConnection, side: number): Buffer {
    const parts = conn.pending.filter((c) => c.side === side).map((c) => c.data);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private startParser(conn: TcpConnection, d: ProtocolDissector): void {
    let parser: TcpStreamParser;
    try {
      // Buffers the parser creates are charged to this flow.
      const outer = enterMeter(conn.meter);
      try {
        parser = (d.createTcpParser as (ctx: ConnectionContext) => TcpStreamParser)(conn.ctx);
      } finally {
        enterMeter(outer);
      }
    } catch {
      this.count(`${d.name}.create_threw`);
      this.startFallback(conn);
      return;
    }
    conn.start(guarded(parser, d.name, this, conn.meter), d.name);
  }

  private startFallback(conn: TcpConnection): void {
    // Bytes lost while no parser was attached are still the flow's: its entry reports them (conn.start).
    // A hole the peer acknowledged, not yet said as a gap (no later segment yet), is in the interval an interim report covers.
    const lossPending = () => !conn.lite && (conn.halves[0].lossPending || conn.halves[1].lossPending);
    conn.start(createTcpFallback(conn.ctx, () => conn.totals, lossPending), 'tcp');
  }

  private endTcp(conn: TcpConnection, reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (conn.ended) return;
    conn.ended = true;
    this.tcp.delete(conn);
    if (reason === 'fin' || reason === 'rst') {
      if (this.tombstones.size >= MAX_TOMBSTONES) {
        // Forgotten all at once, not oldest first: a Map's iterator walks the
        // slots deleted before its first live one, so deleting from the front
        // one by one is quadratic. A forgotten connection's late packets start
        // a flow seen mid-stream.
        this.count('tcp.tombstones_dropped', this.tombstones.size);
        this.tombstones.clear();
      }
      this.tombstones.set(conn.key, conn.totals.lastTime);
    }
    if (!conn.lite) {
      // What waited for the other side's bytes goes first: they will not come now.
      if (conn.held !== undefined) this.releaseHeld(conn, true, true);
      // A lite connection's halves would hold only the SYN: nothing to flush.
      conn.halves[0].flush();
      conn.halves[1].flush();
      // What the client's bytes lost first: a response read before its cut request would find no request.
      conn.halves[conn.clientSide].gapToFin();
      conn.halves[1 - conn.clientSide].gapToFin();
    }
    if (!conn.parser) this.startFallback(conn);
    (conn.parser as TcpStreamParser).onEnd(reason);
    // Whatever the parser still holds is garbage now.
    conn.meter.close();
    conn.forget();
  }

  // ---- UDP ---------------------------------------------------------------

  private udpDatagram(ip: IpPacket, now: number, frame: number, depth: number): void {
    const d = ip.payload;
    if (d.length < 8) {
      this.count('udp.truncated');
      return;
    }
    const sport = d.readUInt16BE(0);
    const dport = d.readUInt16BE(2);
    const len = d.readUInt16BE(4);
    const end = len >= 8 && len <= d.length ? len : d.length;
    const payload = d.subarray(8, end);
    // What a snap length cut off the datagram (the IP header says; a UDP length past the packet alone is damage, not a cut):
    // its parser reads the rest and says so.
    const cut = ip.cut ?? 0;
    if (depth < MAX_ENCAP_DEPTH && this.decapsulate(udpTunnel(sport, dport, payload), payload, now, frame, depth)) return;
    const { key, senderIsA } = flowKey('u', ip.src, sport, ip.dst, dport);
    // The same datagram captured twice (`-i any`: the veth and the bridge) is one datagram.
    if (this.udpCopies.isCopy(key, senderIsA, payload, now)) {
      this.count('udp.duplicate_copies');
      return;
    }
    let conv = this.udp.get(key);
    const side = senderIsA ? 0 : 1;
    if (!conv) conv = this.openUdp(key, ip, sport, dport, senderIsA, payload, now, frame, cut);
    countPacket(conv.totals, side, payload.length, now, frame);
    this.udp.touch(conv);
    conv.ctx.now = now;
    conv.ctx.frame = frame;
    conv.ctx.touched = frame;
    conv.ctx.cut = cut;
    conv.parser.onDatagram(side === conv.clientSide ? 'c2s' : 's2c', payload);
    conv.ctx.cut = 0;
    if (conv.claimed) this.udpCopies.remember(key, senderIsA, payload, now);
    // A reply that leaves nothing pending ends the conversation now, as the
    // next tick would (below): a resolver's one-query socket is done. Kept
    // until a tick, each of a DNS-heavy capture's thousands of such
    // conversations outlived a young-generation collection, so all of them
    // were promoted and freed by full collections (106 → 67 MB promoted on
    // the bench capture). A later datagram on the same ports starts afresh.
    if (conv.claimed && side !== conv.clientSide && this.answered(conv)) this.endUdp(conv, 'timeout');
  }

  /** A claimed conversation with every request answered: it holds nothing. */
  private answered(conv: UdpConversation): boolean {
    return conv.parser.pendingSince !== undefined && conv.parser.pendingSince() === undefined;
  }

  /** A tunnel's inner traffic is dissected instead of the tunnel (decode/tunnels.ts says which and where). */
  private decapsulate(tunnel: Tunnelled | undefined, payload: Buffer, now: number, frame: number, depth: number): boolean {
    if (tunnel === undefined) return false;
    this.count(`encap.${tunnel.kind}`);
    if (tunnel.linkType === undefined) this.count(`encap.${tunnel.kind}_not_ip`);
    else this.frame(tunnel.linkType, payload.subarray(tunnel.offset), now, frame, depth + 1);
    return true;
  }

  private openUdp(
    key: string,
    ip: IpPacket,
    sport: number,
    dport: number,
    senderIsA: boolean,
    payload: Buffer,
    now: number,
    frame: number,
    cut: number,
  ): UdpConversation {
    if (this.udp.size >= this.options.maxFlows) {
      this.count('udp.flows_evicted');
      this.endUdp(this.udp.oldest() as UdpConversation, 'timeout');
    }
    const ends = flowEnds(ip, sport, dport, senderIsA);
    const conv = new UdpConversation(key, now, frame, this.newMeter());
    const senderSide = senderIsA ? 0 : 1;
    let chosen: ProtocolDissector | undefined;
    let clientIsSender = !(looksLikeServerPort(sport, this.serverPorts) && !looksLikeServerPort(dport, this.serverPorts));
    const forced = this.decodeAs.lookup('udp', sport, dport);
    if (forced) {
      chosen = forced.dissector;
      clientIsSender = !forced.serverIsA;
    }
    const ordered = forced ? [] : [
      ...this.udpProbes.filter((d) => d.ports.includes(sport) || d.ports.includes(dport)),
      ...this.udpProbes.filter((d) => !(d.ports.includes(sport) || d.ports.includes(dport))),
    ];
    for (const d of ordered) {
      let verdict;
      try {
        verdict = d.probe(payload, d.ports.includes(sport) || d.ports.includes(dport), cut);
      } catch {
        verdict = false;
      }
      if (verdict === 'request' || verdict === 'response' || verdict === 'stream') {
        chosen = d;
        if (verdict !== 'stream') clientIsSender = verdict === 'request';
        break;
      }
    }
    conv.clientSide = clientIsSender ? senderSide : 1 - senderSide;
    conv.totals.clientSide = conv.clientSide;
    conv.ctx = this.newContext('udp', ends[conv.clientSide], ends[1 - conv.clientSide]);
    conv.ctx.now = now;
    conv.ctx.frame = frame;
    conv.ctx.touched = frame;
    let parser: UdpDatagramParser | undefined;
    if (chosen) {
      const outer = enterMeter(conv.meter);
      try {
        parser = guarded((chosen.createUdpParser as (c: ConnectionContext) => UdpDatagramParser)(conv.ctx), chosen.name, this, conv.meter);
      } catch {
        this.count(`${chosen.name}.create_threw`);
      } finally {
        enterMeter(outer);
      }
    }
    conv.claimed = parser !== undefined;
    conv.parser = parser ?? createUdpFallback(conv.ctx, () => conv.totals);
    this.udp.add(conv);
    return conv;
  }

  private endUdp(conv: UdpConversation, reason: 'timeout' | 'eof'): void {
    if (!this.udp.delete(conv)) return;
    conv.parser.onEnd(reason);
    conv.meter.close();
  }

  // ---- memory budget -------------------------------------------------------

  /**
   * Bring what the run holds back under the budget: entries held only for
   * ordering go out early when they are most of it; otherwise whole flows
   * end, least recently active first, their pending calls emitted unanswered
   * and marked evicted.
   */
  private enforceBudget(): void {
    const budget = this.budget;
    while (budget.over) {
      // Fragments of datagrams never completed: dropped (counted) before any flow when they hold a quarter of it.
      if (this.fragMeter.bytes > budget.limit / 4 && this.frags.size > 0) {
        this.frags.evictOldest();
        continue;
      }
      const t = this.tcp.oldest();
      const u = this.udp.oldest();
      // SCTP associations go only when no TCP or UDP flow is left to end (they are rare and bounded on their own).
      if (t === undefined && u === undefined && this.reorderMeter.bytes <= budget.limit / 2 && this.sctp.evictOldest()) {
        this.count('engine.flows_evicted');
        continue;
      }
      if ((t === undefined && u === undefined) || this.reorderMeter.bytes > budget.limit / 2) {
        if (this.reorder.size === 0) return;
        this.reorder.releaseOldest();
        this.count('reorder.released_early');
        continue;
      }
      this.count('engine.flows_evicted');
      if (u === undefined || (t !== undefined && t.totals.lastTime <= u.totals.lastTime)) {
        const conn = t as TcpConnection;
        conn.ctx.evicting = true;
        this.endTcp(conn, 'timeout');
      } else {
        u.ctx.evicting = true;
        this.endUdp(u, 'timeout');
      }
    }
  }

  // ---- time ----------------------------------------------------------------

  private tick(now: number): void {
    this.lastTick = now;
    this.sinceTick = 0;
    const timeout = this.options.requestTimeoutMs;
    this.tcp.forEach((conn) => {
      conn.setNow(now);
      if (conn.closing) {
        this.endTcp(conn, 'fin');
        return;
      }
      const idle = now - conn.totals.lastTime;
      // A SYN nobody answered, and no data: a scan or a flood, not a connection to wait for.
      if (idle >= this.options.halfOpenTimeoutMs && isHalfOpen(conn)) {
        this.count('tcp.half_open_expired');
        this.endTcp(conn, 'timeout');
        return;
      }
      // Bytes a held segment waits for that have not come by now were lost (read first: what waited may name the protocol).
      if (conn.held !== undefined && now - (conn.held[0] as HeldSegment).now > HOLD_ACKED_MS) this.releaseHeld(conn, true);
      if (conn.ended) return;
      // Still undecided after a request timeout: it is nothing we know.
      if (!conn.parser && now - conn.totals.firstTime >= timeout) this.startFallback(conn);
      conn.parser?.onTick?.(now, timeout);
      if (idle > this.options.tcpIdleTimeoutMs) this.endTcp(conn, 'timeout');
    });
    this.udp.forEach((conv) => {
      conv.ctx.now = now;
      conv.parser.onTick?.(now, timeout);
      const idle = now - conv.totals.lastTime;
      if (idle > (conv.parser.idleTimeoutMs ?? this.options.udpIdleTimeoutMs)) this.endUdp(conv, 'timeout');
      // A claimed conversation with every request answered holds nothing: a
      // resolver's one-query socket need not be kept for the idle timeout
      // (a later datagram on the same ports starts a fresh conversation).
      else if (conv.claimed && idle >= TICK_MS && this.answered(conv)) this.endUdp(conv, 'timeout');
    });
    this.sctp.tick(now, timeout, this.options.tcpIdleTimeoutMs);
    this.icmp.onTick(now, timeout);
    this.frags.expire(now);
    for (const [key, at] of this.tombstones) {
      if (now - at > TOMBSTONE_MS) this.tombstones.delete(key);
      else break; // insertion order is time order
    }
    this.release(now);
  }

  /**
   * Let out every held entry no flow can still precede: older than the
   * earliest request any parser is still waiting on (or the window, for
   * parsers that cannot say). Entries then wait ~100 ms of capture time, not the window.
   */
  private release(now: number): void {
    this.lastRelease = now;
    this.sinceRelease = 0;
    this.flowsAtRelease = this.tcp.size + this.udp.size;
    this.udpCopies.forget(now);
    if (this.reorder.size === 0) return;
    this.reorder.releaseThrough(this.lowWatermark(now));
  }

  /**
   * The earliest request time an entry this engine has not emitted yet could
   * carry: held for ordering, or still to come from a flow (live workers report it).
   */
  unemittedLow(now: number): number {
    return Math.min(this.reorder.earliest, this.lowWatermark(now));
  }

  /** The earliest request time a call still to be emitted could carry. */
  private lowWatermark(now: number): number {
    const floor = now - this.options.reorderWindowMs;
    return Math.max(floor, Math.min(now, this.horizon, this.pendingLow(now)));
  }

  /**
   * The earliest request time this engine's flows could still emit (`now -
   * window` for parsers that cannot tell, or when one is that old); the low
   * watermark is this bounded by now and the horizon. A parallel worker reports it.
   */
  pendingLow(now: number): number {
    const floor = now - this.options.reorderWindowMs;
    let low = Infinity;
    for (let conn = this.tcp.oldest(); conn; conn = conn.newer) {
      let t: number;
      if (conn.parser) t = pendingTime(conn.parser, floor);
      else {
        // Undecided: the bytes held for probing, or the flow entry a fallback would report.
        t = conn.totals.intervalTime ?? now;
        if (conn.pending.length > 0 && conn.pending[0].now < t) t = conn.pending[0].now;
      }
      // Segments waiting for the other side's bytes are not the parser's yet.
      if (conn.held !== undefined && (conn.held[0] as HeldSegment).now < t) t = (conn.held[0] as HeldSegment).now;
      if (t < low) low = t;
      if (low <= floor) return floor;
    }
    for (let conv = this.udp.oldest(); conv; conv = conv.newer) {
      const t = pendingTime(conv.parser, floor);
      if (t < low) low = t;
      if (low <= floor) return floor;
    }
    return Math.min(low, pendingTime(this.icmp, floor), this.sctp.pendingSince(floor));
  }

  /**
   * ContextOwner: the parser for a tunnel's first bytes (an HTTP CONNECT's),
   * by the same probes as a connection's, the target port's protocols first.
   * It shares the connection's context; it runs inside the connection's
   * parser, so that parser's guard and memory meter cover it.
   */
  tunnelParser(ctx: ConnectionContext, data: Buffer, port: number | undefined, inside?: InnerParser): TcpStreamParser | 'need-more' | undefined {
    let needMore = false;
    for (const portFirst of [true, false]) {
      for (const d of this.tcpProbes) {
        const portMatch = port !== undefined && d.ports.includes(port);
        if (portMatch !== portFirst || !d.createTcpParser) continue;
        let verdict: Probe;
        try {
          verdict = d.probe(data, portMatch);
        } catch {
          this.count(`${d.name}.probe_threw`);
          continue;
        }
        if (verdict === 'need-more') needMore = true;
        if (verdict !== 'request' && verdict !== 'response' && verdict !== 'stream') continue;
        try {
          return d.createTcpParser(ctx, inside);
        } catch {
          this.count(`${d.name}.create_threw`);
          return undefined;
        }
      }
    }
    return needMore ? 'need-more' : undefined;
  }

  // ---- entries -------------------------------------------------------------

  emitCall(call: CallRecord, ctx: ConnectionContext): void {
    if (this.keep && !this.keep.has(call.protocol)) return;
    const client = call.reversed ? ctx.server : ctx.client;
    const server = call.reversed ? ctx.client : ctx.server;
    const requestTime = Number.isFinite(call.requestTime) ? call.requestTime : ctx.now;
    const elapsed = call.responseTime !== undefined && call.response ? Math.max(0, call.responseTime - requestTime) : 0;
    const frame = call.requestFrame ?? ctx.frame;
    const entry: Entry = {
      id: `${frame}-${++this.numbering.seq}`,
      timestamp: requestTime,
      protocol: call.protocol,
      transport: ctx.transport,
      elapsedTime: Math.round(elapsed * 1000) / 1000,
      src: { ...client },
      dst: { ...server },
      request: call.request,
      response: call.response,
      error: call.error,
      requestSize: call.requestSize,
      responseSize: call.responseSize,
      summary: call.summary,
      frames: call.responseFrame !== undefined ? { request: frame, response: call.responseFrame } : { request: frame },
    };
    if (call.warnings && call.warnings.length > 0) entry.warnings = call.warnings;
    if (call.tls) entry.tls = true;
    if ((ctx as MutableContext).evicting) entry.warnings = [...(entry.warnings ?? []), EVICTED_WARNING];
    this.count(entryCounter(call.protocol));
    this.emitRank = EMIT_RANK[ctx.transport];
    this.emitTouch = ctx.transport === 'icmp' ? frame : (ctx as MutableContext).touched;
    this.reorder.add(this.options.hold ? (this.options.hold(entry) as Entry) : entry);
  }
}

/** `entries.<protocol>` once per protocol, not a new string per entry. */
const ENTRY_COUNTERS = new Map<string, string>();
function entryCounter(protocol: string): string {
  let name = ENTRY_COUNTERS.get(protocol);
  if (name === undefined) {
    name = `entries.${protocol}`;
    if (ENTRY_COUNTERS.size < 256) ENTRY_COUNTERS.set(protocol, name); // dissector names: a handful
  }
  return name;
}

/** The two endpoints of a new flow in canonical order (side 0 = the lower ip:port, "A"). */
function flowEnds(ip: IpPacket, sport: number, dport: number, senderIsA: boolean): [Endpoint, Endpoint] {
  const sender = emptyEndpoint(ip.src, sport);
  const receiver = emptyEndpoint(ip.dst, dport);
  return senderIsA ? [sender, receiver] : [receiver, sender];
}

/** A parser's earliest pending request time; `floor` (the whole window) when it cannot tell. */
function pendingTime(parser: { pendingSince?(): number | undefined }, floor: number): number {
  if (!parser.pendingSince) return floor;
  return parser.pendingSince() ?? Infinity;
}


/** How far from the sender's next sequence number a reset may be and still be its own (RFC 5961 takes only in-window resets). */
const MAX_RST_DISTANCE = 1 << 24;
