// `--service-mesh`: one entry per call, not two. A call through a sidecar is
// seen twice on the node: as an mTLS connection on the pod's interface (a
// `tls` entry: nothing inside can be read) and as a plaintext call on the
// pod's loopback between the sidecar and the app (loopback.ts). This links
// each inner call to the outer connection that carried it, by time alone —
// no keys, no hooks:
//   inbound  (the pod is the outer server): the outer request records arrive
//            just before the inner request starts, the outer response
//            records leave just after the inner response ended;
//   outbound (the pod is the outer client): the outer request leaves just
//            after the inner request started, the outer response arrives
//            just before the inner response ended.
// "Just" is `windowMs`. Outer sizes must be plausible for the inner ones
// (sidecars rewrite headers, so only roughly). Each outer packet serves one
// call at most; an inner call that fits more than one outer exchange is left
// alone (counted `ambiguous`), as is one that fits none (`unlinked`). A
// linked call gets `tls: true`, the outer peer as its peer and both durations
// (`mesh`); the outer `tls` entry is held until its connection ends and then
// dropped when every data packet of it belonged to linked calls, otherwise
// passed on with `mesh.linkedCalls`.
//
// The outer side is read from packets, not from the TLS dissector: after the
// hellos the dissector only counts bytes, and the linker needs when each
// data packet passed and how big it was. Only connections whose first data
// is a ClientHello are followed (one seen mid-stream is not linked). All
// state is bounded and the bounds are counted: connections followed,
// packets remembered per connection, inner calls waiting, outer entries held.

import type { Entry } from '../../model/entry.js';
import { LinkType, packetTimeMs, type Packet } from '../../model/packet.js';
import type { PodTarget } from './capture.js';
import { canonicalIp } from './interfaces.js';

export interface MeshLinkOptions {
  /** Write one entry line (the agent's sink). */
  emit(line: string): void;
  /**
   * How far apart the outer exchange's first request packet and the inner
   * call's start (and its last response packet and the inner call's end) may
   * be. Generous: the agent and each pod's loopback agent stamp packets with
   * their own userspace clocks (`cap` does not pass libpcap's timestamps on),
   * so the two sides disagree by their scheduling delays (ms under load).
   */
  windowMs?: number;
  /** Across connections, the nearest exchange must be nearer than the next by this much (else: ambiguous). */
  marginMs?: number;
  /** Inner calls wait this long after their response for the outer response packets. */
  holdMs?: number;
  /** An outer `tls` entry whose connection is still open goes out after this long anyway. */
  outerHoldMs?: number;
  /** Connections followed at once (oldest forgotten first). */
  maxConnections?: number;
  /** Data packets remembered per connection (oldest forgotten first). */
  maxSegments?: number;
  /** Inner calls waiting for a decision. */
  maxPending?: number;
  /** Wall clock in ms (tests). */
  now?: () => number;
}

export interface MeshLinkCounters {
  /** Inner calls linked to an outer connection. */
  linked: number;
  /** Of the linked calls, those whose exchanges tied in time, linked by order (the earliest tied exchange). */
  byOrder: number;
  /** Inner calls that fit more than one outer exchange: passed on unlinked. */
  ambiguous: number;
  /** Inner calls that fit no outer exchange (a call of the pod to itself, an outer connection not followed …). */
  unlinked: number;
  /** Outer `tls` entries dropped: every data packet belonged to linked calls. */
  outerFolded: number;
  /** Outer `tls` entries passed on (with `mesh.linkedCalls`). */
  outerKept: number;
  /** Connections forgotten because the table was full. */
  connectionsEvicted: number;
  /** Data packets forgotten because a connection's list was full. */
  segmentsEvicted: number;
  /** Inner calls decided early because the waiting list was full. */
  pendingEvicted: number;
}

interface Segment {
  t: number;
  c2s: boolean;
  len: number;
  /** Starts with a plaintext handshake or ChangeCipherSpec record, or is no bigger than an alert: no call's data. */
  handshake: boolean;
  claimed: boolean;
}

interface Addr {
  ip: string;
  port: number;
}

interface Conn {
  client: Addr;
  server: Addr;
  segs: Segment[];
  /** Next expected sequence number per direction (retransmissions are not new data). */
  nextSeq: { c2s?: number; s2c?: number };
  /** [start, end] of each linked exchange. */
  spans: [number, number][];
  linked: number;
  /** Data packets forgotten before they were claimed (the outer entry cannot be folded then). */
  lost: number;
  endedAt?: number;
  held?: { entry: Entry; since: number };
  sni?: string;
}

interface Pending {
  entry: Entry;
  podKey: string;
  due: number;
}

/** Per-record TLS overhead is small; headers rewritten by sidecars are not: sizes are only roughly alike. */
function plausible(outer: number, inner: number): boolean {
  return outer >= inner * 0.5 - 1024 && outer <= inner * 2 + 2048;
}

interface Tcp {
  src: Addr;
  dst: Addr;
  seq: number;
  flags: number;
  payload: Buffer;
}

/** The TCP segment of a cooked (SLL/SLL2) IPv4/IPv6 packet; undefined for anything else. */
export function tcpOf(p: Packet): Tcp | undefined {
  const d = p.data;
  let off: number;
  let proto: number;
  if (p.linkType === LinkType.LINUX_SLL && d.length >= 16) {
    proto = d.readUInt16BE(14);
    off = 16;
  } else if (p.linkType === LinkType.LINUX_SLL2 && d.length >= 20) {
    proto = d.readUInt16BE(0);
    off = 20;
  } else return undefined;
  let src: string;
  let dst: string;
  let l4: number;
  let end: number;
  if (proto === 0x0800 && d.length >= off + 20) {
    if (d[off + 9] !== 6 || (d.readUInt16BE(off + 6) & 0x3fff) !== 0) return undefined; // not TCP, or a fragment
    src = `${d[off + 12]}.${d[off + 13]}.${d[off + 14]}.${d[off + 15]}`;
    dst = `${d[off + 16]}.${d[off + 17]}.${d[off + 18]}.${d[off + 19]}`;
    l4 = off + (d[off] & 15) * 4;
    end = Math.min(d.length, off + d.readUInt16BE(off + 2));
  } else if (proto === 0x86dd && d.length >= off + 40) {
    if (d[off + 6] !== 6) return undefined; // extension headers: not followed
    const g = (o: number) => {
      const parts: string[] = [];
      for (let i = 0; i < 16; i += 2) parts.push(d.readUInt16BE(o + i).toString(16));
      return canonicalIp(parts.join(':'));
    };
    src = g(off + 8);
    dst = g(off + 24);
    l4 = off + 40;
    end = Math.min(d.length, l4 + d.readUInt16BE(off + 4));
  } else return undefined;
  if (end < l4 + 20) return undefined;
  const dataAt = l4 + (d[l4 + 12] >> 4) * 4;
  return {
    src: { ip: src, port: d.readUInt16BE(l4) },
    dst: { ip: dst, port: d.readUInt16BE(l4 + 2) },
    seq: d.readUInt32BE(l4 + 4),
    flags: d[l4 + 13],
    payload: d.subarray(Math.min(dataAt, end), end),
  };
}

/**
 * A connection's free exchanges: a run of request (client → server) data
 * packets and the run of response packets after it. Handshake packets are
 * left out; a packet already claimed by a linked call ends a run; response
 * packets before any request (session tickets) and a request run with no
 * response (a close_notify) are no exchange. Packets after `until` are not
 * looked at.
 */
function exchanges(segs: Segment[], until: number): { req: Segment[]; res: Segment[] }[] {
  const out: { req: Segment[]; res: Segment[] }[] = [];
  let cur: { req: Segment[]; res: Segment[] } | undefined;
  for (const s of segs) {
    if (s.t > until) break; // later data is no part of a call that ended before
    if (s.handshake) continue;
    if (s.claimed) cur = undefined;
    else if (s.c2s) {
      if (!cur || cur.res.length) out.push((cur = { req: [], res: [] }));
      cur.req.push(s);
    } else if (cur) cur.res.push(s);
  }
  return out.filter((x) => x.res.length > 0);
}

/** A data packet this small is an alert or a control record (TLS 1.3 close_notify: 24 bytes, TLS 1.2 GCM: 31), not a call. */
const ALERT_MAX = 40;

const key = (a: Addr, b: Addr) => `${a.ip}|${a.port}|${b.ip}|${b.port}`;
/** Sequence numbers wrap: a is after b. */
const after = (a: number, b: number) => ((a - b) | 0) > 0;

export class MeshLinker {
  readonly counters: MeshLinkCounters = {
    linked: 0, byOrder: 0, ambiguous: 0, unlinked: 0, outerFolded: 0, outerKept: 0, connectionsEvicted: 0, segmentsEvicted: 0, pendingEvicted: 0,
  };
  /** client→server key → connection (insertion order: oldest first). */
  private readonly conns = new Map<string, Conn>();
  private pending: Pending[] = [];
  /**
   * "namespace/name|port" → the direction the calls to that loopback port
   * were linked in (8080: the app, inbound; 15001: the sidecar's outbound
   * listener): learnt from calls whose candidates all had one direction,
   * then required, so that an inbound call is never given to an outbound
   * connection that happened to be nearer in time. Bounded by maxConnections.
   */
  private readonly directions = new Map<string, 'inbound' | 'outbound'>();
  /** "namespace/name" → the pod's IPs. */
  private podIps = new Map<string, Set<string>>();
  private readonly windowMs: number;
  private readonly marginMs: number;
  private readonly holdMs: number;
  private readonly outerHoldMs: number;
  private readonly maxConnections: number;
  private readonly maxSegments: number;
  private readonly maxPending: number;
  private readonly now: () => number;

  constructor(private readonly opts: MeshLinkOptions) {
    this.windowMs = opts.windowMs ?? 250;
    this.marginMs = opts.marginMs ?? 5;
    this.holdMs = opts.holdMs ?? this.windowMs + 900;
    this.outerHoldMs = opts.outerHoldMs ?? 60_000;
    this.maxConnections = opts.maxConnections ?? 4096;
    this.maxSegments = opts.maxSegments ?? 512;
    this.maxPending = opts.maxPending ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  setPods(pods: PodTarget[]): void {
    this.podIps = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, new Set(p.ips.map(canonicalIp))]));
  }

  /** A packet kept at a tapped pod's interface. */
  onPacket(p: Packet): void {
    const s = tcpOf(p);
    if (!s) return;
    const t = packetTimeMs(p);
    let conn = this.conns.get(key(s.src, s.dst));
    let c2s = true;
    if (!conn) {
      conn = this.conns.get(key(s.dst, s.src));
      c2s = false;
    }
    if (!conn) {
      // Followed from its ClientHello on: a handshake record holding handshake type 1.
      const pl = s.payload;
      if (pl.length < 6 || pl[0] !== 0x16 || pl[1] !== 3 || pl[5] !== 1) return;
      if (this.conns.size >= this.maxConnections) this.forget(this.conns.keys().next().value!);
      conn = { client: s.src, server: s.dst, segs: [], nextSeq: {}, spans: [], linked: 0, lost: 0 };
      c2s = true;
      this.conns.set(key(s.src, s.dst), conn);
    }
    if (s.flags & 0x05) conn.endedAt ??= t; // FIN or RST
    const len = s.payload.length;
    if (len === 0) return;
    const dir = c2s ? 'c2s' : 's2c';
    const next = conn.nextSeq[dir];
    if (next !== undefined && !after(s.seq + len, next)) return; // a retransmission
    conn.nextSeq[dir] = (s.seq + len) | 0;
    if (conn.segs.length >= this.maxSegments) {
      const old = conn.segs.shift()!;
      this.counters.segmentsEvicted++;
      if (!old.claimed && !old.handshake) conn.lost++;
    }
    // Alerts (a close_notify is 24-31 bytes) and handshake records carry no call.
    const handshake = s.payload[0] === 0x16 || s.payload[0] === 0x14 || len <= ALERT_MAX;
    conn.segs.push({ t, c2s, len, handshake, claimed: false });
  }

  /**
   * An entry of the pods' interfaces: an outer `tls` entry of a followed
   * connection is taken (held until the connection ends); true when taken.
   */
  takeOuter(e: Entry): boolean {
    if (e.protocol !== 'tls' || e.transport !== 'tcp') return false;
    const a = { ip: canonicalIp(e.src.ip), port: e.src.port };
    const b = { ip: canonicalIp(e.dst.ip), port: e.dst.port };
    const conn = this.conns.get(key(a, b)) ?? this.conns.get(key(b, a));
    if (!conn || conn.held) return false;
    conn.held = { entry: e, since: this.now() };
    if (typeof e.request?.sni === 'string' && e.request.sni) conn.sni = e.request.sni;
    return true;
  }

  /** One entry line of a pod's loopback agent (tagged `tapped`). */
  onInner(line: string): void {
    let e: Entry;
    try {
      e = JSON.parse(line) as Entry;
    } catch {
      this.opts.emit(line);
      return;
    }
    const t = e.tapped;
    if (!t || e.response === null || e.request === null || typeof e.timestamp !== 'number') {
      this.counters.unlinked++;
      this.opts.emit(line);
      return;
    }
    if (this.pending.length >= this.maxPending) {
      this.counters.pendingEvicted++;
      this.decide(this.pending.shift()!);
    }
    this.pending.push({ entry: e, podKey: `${t.namespace}/${t.pod}`, due: e.timestamp + e.elapsedTime + this.holdMs });
  }

  /** Decide the inner calls whose wait is over, release outer entries whose connection is done. */
  tick(): void {
    const now = this.now();
    const due = this.pending.filter((p) => p.due <= now);
    if (due.length) {
      this.pending = this.pending.filter((p) => p.due > now);
      // In call order, so a connection's earlier exchange is claimed first.
      due.sort((x, y) => x.entry.timestamp - y.entry.timestamp);
      for (const p of due) this.decide(p);
    }
    for (const [k, c] of this.conns) {
      const ended = c.endedAt !== undefined && c.endedAt + this.holdMs + this.windowMs <= now;
      if (ended) this.forget(k);
      else if (c.held && c.held.since + this.outerHoldMs <= now) this.release(c);
    }
  }

  /** The end of the run: decide every waiting call, pass on every held outer entry. */
  flush(): void {
    const all = this.pending.sort((x, y) => x.entry.timestamp - y.entry.timestamp);
    this.pending = [];
    for (const p of all) this.decide(p);
    for (const k of [...this.conns.keys()]) this.forget(k, false);
  }

  /** `evicted`: forgotten while open because the table was full (counted), not because it or the run ended. */
  private forget(k: string, evicted = true): void {
    const c = this.conns.get(k);
    if (!c) return;
    this.conns.delete(k);
    if (evicted && c.endedAt === undefined) this.counters.connectionsEvicted++;
    if (c.held) this.release(c);
  }

  /** Pass on, or drop, a held outer entry. */
  private release(c: Conn): void {
    const held = c.held!;
    c.held = undefined;
    if (c.linked > 0 && c.lost === 0 && this.unaccounted(c) === 0) {
      this.counters.outerFolded++;
      return;
    }
    this.counters.outerKept++;
    held.entry.mesh = { linkedCalls: c.linked };
    this.opts.emit(JSON.stringify(held.entry));
  }

  /**
   * Data packets of a connection no linked call explains: after the first
   * exchange began, outside every exchange, bigger than an alert. The
   * handshake's tail and session tickets come before the first exchange.
   */
  private unaccounted(c: Conn): number {
    if (c.spans.length === 0) return c.segs.length;
    const first = Math.min(...c.spans.map((s) => s[0]));
    return c.segs.filter((s) => !s.claimed && !s.handshake && s.t >= first && !c.spans.some(([a, b]) => s.t >= a && s.t <= b)).length;
  }

  private decide(p: Pending): void {
    const e = p.entry;
    const ips = this.podIps.get(p.podKey);
    const tIn = e.timestamp;
    const tOut = e.timestamp + e.elapsedTime;
    const W = this.windowMs;
    const sum = (ss: Segment[]) => ss.reduce((n, s) => n + s.len, 0);
    let found: { conn: Conn; dir: 'inbound' | 'outbound'; req: Segment[]; res: Segment[]; cost: number }[] = [];
    for (const conn of ips ? this.conns.values() : []) {
      // Inbound: the pod served the outer connection; outbound: it opened it.
      const dir = ips!.has(conn.server.ip) ? 'inbound' : ips!.has(conn.client.ip) ? 'outbound' : undefined;
      if (!dir) continue;
      // On one connection exchanges come one after the other, as the inner
      // calls do (decided in their order): the earliest free exchange near
      // the call is its own.
      const x = exchanges(conn.segs, tOut + W).find(
        (x) => Math.abs(x.req[0].t - tIn) <= W && Math.abs(x.res.at(-1)!.t - tOut) <= W && plausible(sum(x.req), e.requestSize) && plausible(sum(x.res), e.responseSize),
      );
      if (x) found.push({ conn, dir, ...x, cost: Math.abs(x.req[0].t - tIn) + Math.abs(x.res.at(-1)!.t - tOut) });
    }
    const portKey = `${p.podKey}|${e.dst.port}`;
    const learnt = this.directions.get(portKey);
    if (learnt) found = found.filter((f) => f.dir === learnt);
    found.sort((a, b) => a.cost - b.cost);
    // Across connections the nearest wins, by a clear margin only.
    let fits = found.length > 1 && found[1].cost - found[0].cost >= this.marginMs ? [found[0]] : found;
    if (fits.length > 1) {
      // A tie in time (a stalled agent stamps several packets at once) is
      // broken by order alone: calls are decided in their order, so of the
      // tied exchanges (one direction) the strictly earliest is this call's —
      // unless an earlier call of the pod is still waiting for its turn.
      // Candidates farther than the margin lose as they would against a single nearest one.
      const tied = fits.filter((f) => f.cost - fits[0].cost < this.marginMs).sort((a, b) => a.req[0].t - b.req[0].t);
      const earlierWaiting = this.pending.some((q) => q.podKey === p.podKey && q.entry.timestamp < tIn);
      if (tied.every((f) => f.dir === tied[0].dir) && tied[1].req[0].t > tied[0].req[0].t && !earlierWaiting) {
        fits = [tied[0]];
        this.counters.byOrder++;
      }
    }
    if (fits.length !== 1) {
      if (fits.length > 1) this.counters.ambiguous++;
      else this.counters.unlinked++;
      this.opts.emit(JSON.stringify(e));
      return;
    }
    const { conn, dir, req, res } = fits[0];
    if (!learnt && found.every((f) => f.dir === dir)) {
      if (this.directions.size >= this.maxConnections) this.directions.clear();
      this.directions.set(portKey, dir);
    }
    for (const s of [...req, ...res]) s.claimed = true;
    const start = req[0].t;
    const end = res.at(-1)!.t;
    conn.spans.push([start, end]);
    conn.linked++;
    this.counters.linked++;
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    const inner = { src: { ip: e.src.ip, port: e.src.port }, dst: { ip: e.dst.ip, port: e.dst.port } };
    // The peer of the call is the outer connection's other end; the local end stays the app's.
    if (dir === 'inbound') e.src = { ...e.src, ip: conn.client.ip, port: conn.client.port };
    else e.dst = { ...e.dst, ip: conn.server.ip, port: conn.server.port };
    e.tls = true;
    e.mesh = {
      direction: dir,
      innerElapsedTime: e.elapsedTime,
      outerElapsedTime: round(end - start),
      outer: { src: { ...conn.client }, dst: { ...conn.server }, ...(conn.sni ? { sni: conn.sni } : {}) },
      inner,
    };
    this.opts.emit(JSON.stringify(e));
  }

  /** Held and waiting state, for the agent's last line. */
  get sizes(): { connections: number; pending: number } {
    return { connections: this.conns.size, pending: this.pending.length };
  }
}
