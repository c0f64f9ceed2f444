// ICMP (RFC 792) and ICMPv6 (RFC 4443, NDP RFC 4861) are per packet, not
// streams: echo requests pair with replies by (id, seq, addresses); every
// other message is an entry of its own. Errors (unreachable, time exceeded)
// quote the packet that caused them, which tells what failed.
import type { CallRecord } from '../api.js';
import { ipv4Text as ipv4, ipv6Text as ipv6 } from './util/addr.js';

/** Echo requests waiting for a reply; beyond this the oldest is emitted unanswered. */
const MAX_PENDING = 4096;
/**
 * The same echo seen again this soon (capture time) is a copy of it, not a
 * new one: `tcpdump -i any` records a packet on the veth and on the bridge,
 * microseconds apart, while ping numbers each echo anew (a second apart).
 */
const COPY_MS = 200;
/** Echoes answered lately, remembered to tell a reply's copy from a reply with no request. */
const MAX_ANSWERED = 4096;
/**
 * Another ICMP message (an MLD report, a router advertisement, an error)
 * seen again byte for byte this soon is a copy (`-i any`: microseconds
 * apart, either order); a host repeats such messages a second or more apart
 * (MLD's unsolicited report interval, NDP's retransmit timer), and errors
 * quote packets that differ. As UDP datagrams' copies (udp-duplicates.ts).
 */
const ONE_WAY_COPY_MS = 2;
/** One-way messages remembered at once for that; past it the oldest is forgotten. */
const MAX_RECENT = 4096;

const V4_TYPES: Record<number, string> = {
  0: 'echo-reply', 3: 'destination-unreachable', 4: 'source-quench', 5: 'redirect', 8: 'echo-request',
  9: 'router-advertisement', 10: 'router-solicitation', 11: 'time-exceeded', 12: 'parameter-problem',
  13: 'timestamp-request', 14: 'timestamp-reply', 17: 'address-mask-request', 18: 'address-mask-reply',
};

const V6_TYPES: Record<number, string> = {
  1: 'destination-unreachable', 2: 'packet-too-big', 3: 'time-exceeded', 4: 'parameter-problem',
  128: 'echo-request', 129: 'echo-reply', 130: 'mld-query', 131: 'mld-report', 132: 'mld-done',
  133: 'router-solicitation', 134: 'router-advertisement', 135: 'neighbor-solicitation',
  136: 'neighbor-advertisement', 137: 'redirect', 143: 'mldv2-report',
};

const V4_UNREACH: Record<number, string> = {
  0: 'net-unreachable', 1: 'host-unreachable', 2: 'protocol-unreachable', 3: 'port-unreachable',
  4: 'fragmentation-needed', 5: 'source-route-failed', 9: 'net-prohibited', 10: 'host-prohibited', 13: 'admin-prohibited',
};
const V6_UNREACH: Record<number, string> = {
  0: 'no-route', 1: 'admin-prohibited', 2: 'beyond-scope', 3: 'address-unreachable', 4: 'port-unreachable',
  5: 'source-policy-failed', 6: 'reject-route',
};

const IP_PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };

export type IcmpEmit = (call: CallRecord, src: { ip: string }, dst: { ip: string }) => void;

/** One echo message as captured, waiting for the other half of its exchange. */
interface EchoMessage {
  src: string;
  dst: string;
  time: number;
  frame: number;
  size: number;
  /** A snap length cut it: its data is not all in the capture. */
  cut?: boolean;
}

/** An echo reply with no request seen yet: recorded before it (`-i any`: two queues), or its request lost. */
interface EarlyReply extends EchoMessage {
  rec: Record<string, any>;
}

interface PendingEcho extends EchoMessage {
  request: Record<string, any>;
}

export class IcmpTracker {
  private readonly pending = new Map<string, PendingEcho>();
  /** Keys of `pending` by requester, id, sequence and IP version (requesterKey), in `pending`'s order. */
  private readonly byRequester = new Map<string, Set<string>>();
  /** Echoes answered lately (key → the reply's time), oldest first. */
  private readonly answered = new Map<string, number>();
  /**
   * Replies whose request has not been seen, by the request's key, oldest
   * first: a request recorded just after its reply (within COPY_MS) pairs
   * with it; past that the reply is one whose request the capture missed.
   */
  private readonly early = new Map<string, EarlyReply>();
  /** One-way messages of the last ONE_WAY_COPY_MS (addresses, length, hash of the bytes → time), oldest first. */
  private readonly recent = new Map<string, number>();
  /**
   * Echo requests a snap length cut before their id and sequence, by
   * version, requester and target (the last one of each): the reply that
   * comes back next between the two, which names them, answers it.
   */
  private readonly headless = new Map<string, PendingEcho>();

  constructor(
    private readonly emit: IcmpEmit,
    private readonly count: (name: string) => void = () => {},
  ) {}

  /**
   * `icmp` is the ICMP header and body as captured; `cut`, the bytes a snap
   * length cut off after it (the IP header says): what they hid is
   * `truncated`, not `malformed`, and sizes count them.
   */
  onPacket(v6: boolean, srcIp: string, dstIp: string, icmp: Buffer, tsMs: number, frame: number, cut = 0): void {
    const size = icmp.length + cut;
    if (icmp.length < 4) {
      this.emitSingle(v6, srcIp, dstIp, { version: v6 ? 6 : 4, type: -1, code: -1, typeName: 'truncated' }, size, tsMs, frame, [cut > 0 ? 'truncated' : 'malformed: ICMP header truncated'], false);
      return;
    }
    const type = icmp[0];
    const code = icmp[1];
    const typeName = (v6 ? V6_TYPES : V4_TYPES)[type] ?? `type-${type}`;
    const base: Record<string, any> = { version: v6 ? 6 : 4, type, code, typeName };
    const isRequest = v6 ? type === 128 : type === 8;
    const isReply = v6 ? type === 129 : type === 0;
    if (isRequest || isReply) {
      if (icmp.length < 8) {
        if (cut > 0 && isRequest) this.onHeadlessRequest(v6, srcIp, dstIp, base, size, tsMs, frame);
        else this.emitSingle(v6, srcIp, dstIp, base, size, tsMs, frame, [cut > 0 ? 'truncated' : 'malformed: echo header truncated'], false);
        return;
      }
      const id = icmp.readUInt16BE(4);
      const seq = icmp.readUInt16BE(6);
      const rec = { ...base, id, seq, dataSize: size - 8 };
      if (isRequest) this.onEchoRequest(v6, srcIp, dstIp, rec, size, tsMs, frame, cut > 0);
      else this.onEchoReply(v6, srcIp, dstIp, rec, size, tsMs, frame, cut > 0);
      return;
    }
    if (this.isOneWayCopy(v6, srcIp, dstIp, icmp, tsMs)) {
      this.count('icmp.duplicate_copies');
      return;
    }
    const warnings: string[] = [];
    try {
      describe(v6, type, code, icmp, base);
    } catch {
      warnings.push(cut > 0 ? 'truncated' : 'malformed: ICMP body truncated');
    }
    if (cut > 0 && warnings.length === 0) warnings.push('truncated');
    const isError = v6 ? type === 1 || type === 3 : type === 3 || type === 11;
    this.emitSingle(v6, srcIp, dstIp, base, size, tsMs, frame, warnings, isError);
  }

  /** Echoes are keyed in arrival order, so the first one waiting is the oldest. */
  pendingSince(): number | undefined {
    let since: number | undefined;
    for (const p of this.pending.values()) {
      since = p.time;
      break;
    }
    for (const h of this.headless.values()) if (since === undefined || h.time < since) since = h.time;
    for (const r of this.early.values()) return since === undefined || r.time < since ? r.time : since;
    return since;
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const [key, r] of this.early) {
      if (nowMs - r.time <= COPY_MS) break;
      this.early.delete(key);
      this.emitLoneReply(r);
    }
    for (const [key, p] of this.pending) {
      if (nowMs - p.time <= timeoutMs) continue;
      this.deletePending(key);
      this.emitEcho(p, null, 0, 0, 0);
    }
    for (const [key, h] of this.headless) {
      if (nowMs - h.time <= timeoutMs) continue;
      this.headless.delete(key);
      this.emitEcho(h, null, 0, 0, 0);
    }
  }

  end(): void {
    for (const r of this.early.values()) this.emitLoneReply(r);
    this.early.clear();
    for (const p of this.pending.values()) this.emitEcho(p, null, 0, 0, 0);
    this.pending.clear();
    for (const h of this.headless.values()) this.emitEcho(h, null, 0, 0, 0);
    this.headless.clear();
    this.byRequester.clear();
  }

  /**
   * An echo request cut before its id and sequence: it waits for the next
   * reply between the two addresses, which says them (a reply echoes its
   * request's). Only the last one per pair waits: an earlier one is
   * emitted unanswered, so no reply is given to a request it may not answer.
   */
  private onHeadlessRequest(v6: boolean, src: string, dst: string, base: Record<string, any>, size: number, tsMs: number, frame: number): void {
    const key = pairKey(v6, src, dst);
    const previous = this.headless.get(key);
    if (previous) {
      this.headless.delete(key);
      this.emitEcho(previous, null, 0, 0, 0);
    }
    if (this.headless.size >= MAX_PENDING) {
      const [oldestKey, oldest] = this.headless.entries().next().value as [string, PendingEcho];
      this.headless.delete(oldestKey);
      this.emitEcho(oldest, null, 0, 0, 0);
    }
    this.headless.set(key, { request: { ...base, dataSize: size - 8 }, src, dst, time: tsMs, frame, size, cut: true });
  }

  private onEchoRequest(v6: boolean, src: string, dst: string, rec: Record<string, any>, size: number, tsMs: number, frame: number, cut: boolean): void {
    const key = echoKey(v6, src, dst, rec.id, rec.seq);
    const reply = this.early.get(key);
    if (reply && tsMs - reply.time <= COPY_MS) {
      // Its reply was recorded first (the two directions on different queues): they pair all the same.
      this.early.delete(key);
      this.count('icmp.reply_before_request');
      this.remember(key, reply.time);
      this.emitEcho({ request: rec, src, dst, time: tsMs, frame, size, cut }, reply.rec, reply.size, Math.max(tsMs, reply.time), reply.frame, reply.cut);
      return;
    }
    const previous = this.pending.get(key);
    if (previous && tsMs - previous.time <= COPY_MS && previous.size === size) {
      // A copy of the request waiting (its reply answers the first): not a request left unanswered.
      this.count('icmp.duplicate_copies');
      return;
    }
    if (previous) {
      this.deletePending(key);
      this.emitEcho(previous, null, 0, 0, 0);
    }
    if (this.pending.size >= MAX_PENDING) {
      const [oldestKey, oldest] = this.pending.entries().next().value as [string, PendingEcho];
      this.deletePending(oldestKey);
      this.emitEcho(oldest, null, 0, 0, 0);
    }
    const p: PendingEcho = { request: rec, src, dst, time: tsMs, frame, size, cut };
    this.pending.set(key, p);
    const r = requesterKey(p.request.version, src, rec.id, rec.seq);
    let keys = this.byRequester.get(r);
    if (!keys) this.byRequester.set(r, (keys = new Set()));
    keys.add(key);
  }

  private deletePending(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const r = requesterKey(p.request.version, p.src, p.request.id, p.request.seq);
    const keys = this.byRequester.get(r);
    keys?.delete(key);
    if (keys?.size === 0) this.byRequester.delete(r);
  }

  private onEchoReply(v6: boolean, src: string, dst: string, rec: Record<string, any>, size: number, tsMs: number, frame: number, cut: boolean): void {
    // A reply travels back: its source is the request's destination. A reply to a
    // multicast/broadcast ping comes from a unicast address, so fall back to id/seq/requester.
    const key = echoKey(v6, dst, src, rec.id, rec.seq);
    let p = this.pending.get(key);
    let pKey = key;
    if (!p) {
      // The oldest request of that requester, id and sequence, whatever its target (looked up, not
      // searched: a flood of replies answering nothing scanned all 4,096 waiting each, 14 s for 1 MB).
      for (const k of this.byRequester.get(requesterKey(rec.version, dst, rec.id, rec.seq)) ?? []) {
        p = this.pending.get(k);
        pKey = k;
        break;
      }
    }
    if (p) {
      this.deletePending(pKey);
      this.remember(pKey, tsMs);
      this.emitEcho(p, rec, size, tsMs, frame, cut);
      return;
    }
    const headless = this.headless.get(pairKey(v6, dst, src));
    if (headless && tsMs >= headless.time) {
      // The request a snap length cut before its id and sequence: this reply names them.
      this.headless.delete(pairKey(v6, dst, src));
      this.remember(key, tsMs);
      this.emitEcho({ ...headless, request: { ...headless.request, id: rec.id, seq: rec.seq } }, rec, size, tsMs, frame, cut);
      return;
    }
    const at = this.answered.get(key) ?? this.early.get(key)?.time;
    if (at !== undefined && Math.abs(tsMs - at) <= COPY_MS) {
      // A copy of a reply already paired (or waiting for its request): not a reply whose request the capture missed.
      this.count('icmp.duplicate_copies');
      return;
    }
    // Its request may have been recorded after it: it waits a moment (bounded as requests are).
    if (this.early.size >= MAX_PENDING) {
      const [oldestKey, oldest] = this.early.entries().next().value as [string, EarlyReply];
      this.early.delete(oldestKey);
      this.emitLoneReply(oldest);
    }
    this.early.set(key, { rec, src, dst, time: tsMs, frame, size, cut });
  }

  /** A reply whose request the capture does not hold. */
  private emitLoneReply(r: EarlyReply): void {
    const { rec, src, dst, size } = r;
    const tsMs = r.time;
    const frame = r.frame;
    const call: CallRecord = {
      protocol: 'icmp',
      request: null,
      response: rec,
      requestTime: tsMs,
      responseTime: tsMs,
      requestFrame: frame,
      responseFrame: frame,
      requestSize: 0,
      responseSize: size,
      error: false,
      summary: `echo-reply id=${rec.id} seq=${rec.seq} (no request)`,
    };
    if (r.cut) call.warnings = ['truncated'];
    // Shown from the requester's side, like a paired call.
    this.emit(call, { ip: dst }, { ip: src });
  }

  /** Whether this message was just seen, byte for byte, between the same addresses (then remembered for its own copies). */
  private isOneWayCopy(v6: boolean, src: string, dst: string, icmp: Buffer, tsMs: number): boolean {
    const key = `${v6 ? 6 : 4}|${src}|${dst}|${icmp.length}|${fnv1a(icmp)}`;
    const at = this.recent.get(key);
    if (at !== undefined && Math.abs(tsMs - at) <= ONE_WAY_COPY_MS) return true;
    // Oldest first: what is past the window goes (a capture whose time steps back keeps the rest until the bound).
    for (const [k, t] of this.recent) {
      if (tsMs - t <= ONE_WAY_COPY_MS && this.recent.size < MAX_RECENT) break;
      this.recent.delete(k);
    }
    this.recent.delete(key);
    this.recent.set(key, tsMs);
    return false;
  }

  private remember(key: string, tsMs: number): void {
    this.answered.delete(key);
    if (this.answered.size >= MAX_ANSWERED) {
      const oldest = this.answered.keys().next().value as string;
      // Forgotten while a copy of it could still come: that copy would be taken for an orphan reply.
      if (tsMs - (this.answered.get(oldest) as number) <= COPY_MS) this.count('icmp.duplicate_check_skipped');
      this.answered.delete(oldest);
    }
    this.answered.set(key, tsMs);
  }

  private emitEcho(p: PendingEcho, reply: Record<string, any> | null, size: number, tsMs: number, frame: number, replyCut = false): void {
    const call: CallRecord = {
      protocol: 'icmp',
      request: p.request,
      response: reply,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: size,
      error: reply === null,
      summary: `echo ${p.dst}${p.request.id === undefined ? '' : ` id=${p.request.id} seq=${p.request.seq}`} → ${reply ? 'reply' : 'unanswered'}`,
    };
    const warnings: string[] = [];
    if (reply) {
      call.responseTime = tsMs;
      call.responseFrame = frame;
    } else warnings.push('unanswered');
    if (p.cut || replyCut) warnings.push('truncated');
    if (warnings.length > 0) call.warnings = warnings;
    this.emit(call, { ip: p.src }, { ip: p.dst });
  }

  private emitSingle(
    _v6: boolean,
    src: string,
    dst: string,
    rec: Record<string, any>,
    size: number,
    tsMs: number,
    frame: number,
    warnings: string[],
    error: boolean,
  ): void {
    const call: CallRecord = {
      protocol: 'icmp',
      request: rec,
      response: null,
      requestTime: tsMs,
      requestFrame: frame,
      requestSize: size,
      responseSize: 0,
      error,
      summary: singleSummary(rec),
    };
    if (warnings.length > 0) call.warnings = warnings;
    this.emit(call, { ip: src }, { ip: dst });
  }
}

/** FNV-1a over the message's bytes: copies agree, different messages of one length almost never do. */
function fnv1a(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/** What pairs a reply from another address than the request's target (a broadcast ping's). */
function requesterKey(version: unknown, requester: string, id: number, seq: number): string {
  return `${String(version)}|${requester}|${id}|${seq}`;
}

/** A requester and its target, for echoes that do not say their id and sequence. */
function pairKey(v6: boolean, requester: string, target: string): string {
  return `${v6 ? 6 : 4}|${requester}|${target}`;
}

function echoKey(v6: boolean, requester: string, target: string, id: number, seq: number): string {
  return `${v6 ? 6 : 4}|${requester}|${target}|${id}|${seq}`;
}

function singleSummary(rec: Record<string, any>): string {
  let s = rec.typeName as string;
  if (rec.reason) s += ` ${rec.reason}`;
  if (rec.target) s += ` ${rec.target}`;
  if (rec.original) {
    const o = rec.original;
    s += ` (${o.protocol} ${o.dst}${o.dstPort !== undefined ? ':' + o.dstPort : ''})`;
  }
  return s;
}

/** Add type-specific fields to `rec`; throws RangeError on truncated bodies (caught by the caller). */
function describe(v6: boolean, type: number, code: number, icmp: Buffer, rec: Record<string, any>): void {
  if (!v6) {
    if (type === 3) rec.reason = V4_UNREACH[code] ?? `code-${code}`;
    if (type === 11) rec.reason = code === 0 ? 'ttl-exceeded' : 'reassembly-timeout';
    if (type === 3 && code === 4) rec.mtu = icmp.readUInt16BE(6);
    if (type === 5) rec.gateway = ipv4(icmp, 4);
    if (type === 3 || type === 11 || type === 12 || type === 5 || type === 4) rec.original = quoted(icmp.subarray(8));
    return;
  }
  switch (type) {
    case 1:
      rec.reason = V6_UNREACH[code] ?? `code-${code}`;
      rec.original = quoted(icmp.subarray(8));
      return;
    case 2:
      rec.mtu = icmp.readUInt32BE(4);
      rec.original = quoted(icmp.subarray(8));
      return;
    case 3:
      rec.reason = code === 0 ? 'hop-limit-exceeded' : 'reassembly-timeout';
      rec.original = quoted(icmp.subarray(8));
      return;
    case 4:
      rec.pointer = icmp.readUInt32BE(4);
      rec.original = quoted(icmp.subarray(8));
      return;
    case 134: {
      rec.hopLimit = icmp[4];
      rec.managed = (icmp[5] & 0x80) !== 0;
      rec.other = (icmp[5] & 0x40) !== 0;
      rec.routerLifetime = icmp.readUInt16BE(6);
      if (icmp.length < 16) throw new RangeError('RA truncated');
      readNdpOptions(icmp, 16, rec);
      return;
    }
    case 135:
    case 136: {
      rec.target = ipv6(icmp, 8);
      if (type === 136) {
        rec.router = (icmp[4] & 0x80) !== 0;
        rec.solicited = (icmp[4] & 0x40) !== 0;
        rec.override = (icmp[4] & 0x20) !== 0;
      }
      readNdpOptions(icmp, 24, rec);
      return;
    }
    case 133:
      readNdpOptions(icmp, 8, rec);
      return;
    case 137:
      rec.target = ipv6(icmp, 8);
      rec.destination = ipv6(icmp, 24);
      return;
  }
}

function readNdpOptions(b: Buffer, off: number, rec: Record<string, any>): void {
  let o = off;
  let n = 0;
  while (o + 2 <= b.length && n++ < 32) {
    const type = b[o];
    const len = b[o + 1] * 8;
    if (len === 0 || o + len > b.length) throw new RangeError('NDP option truncated');
    if (type === 1) rec.sourceLinkAddress = mac(b, o + 2);
    else if (type === 2) rec.targetLinkAddress = mac(b, o + 2);
    else if (type === 3 && len >= 32) (rec.prefixes ??= []).push(`${ipv6(b, o + 16)}/${b[o + 2]}`);
    else if (type === 5 && len >= 8) rec.mtu = b.readUInt32BE(o + 4);
    o += len;
  }
}

/** The IP header (and ports) of the packet an ICMP error quotes. */
function quoted(b: Buffer): Record<string, any> | undefined {
  if (b.length < 1) return undefined;
  const version = b[0] >> 4;
  let proto: number;
  let l4: number;
  const out: Record<string, any> = {};
  if (version === 4) {
    if (b.length < 20) return undefined;
    proto = b[9];
    l4 = (b[0] & 0x0f) * 4;
    out.src = ipv4(b, 12);
    out.dst = ipv4(b, 16);
  } else if (version === 6) {
    if (b.length < 40) return undefined;
    proto = b[6];
    l4 = 40;
    out.src = ipv6(b, 8);
    out.dst = ipv6(b, 24);
  } else return undefined;
  out.protocol = IP_PROTOCOLS[proto] ?? `ip-${proto}`;
  if ((proto === 6 || proto === 17 || proto === 132) && b.length >= l4 + 4) {
    out.srcPort = b.readUInt16BE(l4);
    out.dstPort = b.readUInt16BE(l4 + 2);
  }
  return out;
}

function mac(b: Buffer, o: number): string {
  if (o + 6 > b.length) throw new RangeError('address truncated');
  return [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
