// MQTT 3.1, 3.1.1 and 5.0 (OASIS: https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html).
// Control packets are read per direction from the fixed header's remaining
// length; only the first bytes of a big PUBLISH are kept, the rest counted.
// Pairing follows the packet identifiers: PUBLISH QoS 1 → PUBACK, QoS 2 →
// PUBREC → PUBREL → PUBCOMP (one entry for the whole flow), SUBSCRIBE →
// SUBACK, UNSUBSCRIBE → UNSUBACK; CONNECT → CONNACK and PINGREQ → PINGRESP in
// order. QoS 0 PUBLISH and DISCONNECT are one-way: one entry, no response.
// The CONNECT password never leaves the dissector ("***").
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { looksLikeText, truncate } from './util/text.js';

export const PACKET_TYPES = ['', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'];
/** Bytes of a packet kept beyond the body limit for its variable header (topic, properties). */
const HEADER_ROOM = 16 * 1024;
/** Packets awaiting their acknowledgement, per connection. */
const MAX_PENDING = 1024;
/** Properties and topic filters kept per packet. */
const MAX_ITEMS = 64;
const MAX_REMAINING = 268_435_455;

const CONNACK_V3 = ['Connection Accepted', 'unacceptable protocol version', 'identifier rejected', 'server unavailable', 'bad user name or password', 'not authorized'];
const REASONS: Record<number, string> = {
  0x00: 'Success', 0x01: 'Granted QoS 1', 0x02: 'Granted QoS 2', 0x04: 'Disconnect with Will Message', 0x10: 'No matching subscribers',
  0x11: 'No subscription existed', 0x18: 'Continue authentication', 0x19: 'Re-authenticate', 0x80: 'Unspecified error', 0x81: 'Malformed Packet',
  0x82: 'Protocol Error', 0x83: 'Implementation specific error', 0x84: 'Unsupported Protocol Version', 0x85: 'Client Identifier not valid',
  0x86: 'Bad User Name or Password', 0x87: 'Not authorized', 0x88: 'Server unavailable', 0x89: 'Server busy', 0x8a: 'Banned',
  0x8b: 'Server shutting down', 0x8c: 'Bad authentication method', 0x8d: 'Keep Alive timeout', 0x8e: 'Session taken over',
  0x8f: 'Topic Filter invalid', 0x90: 'Topic Name invalid', 0x91: 'Packet Identifier in use', 0x92: 'Packet Identifier not found',
  0x93: 'Receive Maximum exceeded', 0x94: 'Topic Alias invalid', 0x95: 'Packet too large', 0x96: 'Message rate too high',
  0x97: 'Quota exceeded', 0x98: 'Administrative action', 0x99: 'Payload format invalid', 0x9a: 'Retain not supported',
  0x9b: 'QoS not supported', 0x9c: 'Use another server', 0x9d: 'Server moved', 0x9e: 'Shared Subscriptions not supported',
  0x9f: 'Connection rate exceeded', 0xa0: 'Maximum connect time', 0xa1: 'Subscription Identifiers not supported',
  0xa2: 'Wildcard Subscriptions not supported',
};

type PropType = 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';
const PROPERTIES: Record<number, [string, PropType]> = {
  0x01: ['payloadFormatIndicator', 'byte'], 0x02: ['messageExpiryInterval', 'u32'], 0x03: ['contentType', 'string'],
  0x08: ['responseTopic', 'string'], 0x09: ['correlationData', 'binary'], 0x0b: ['subscriptionIdentifier', 'varint'],
  0x11: ['sessionExpiryInterval', 'u32'], 0x12: ['assignedClientIdentifier', 'string'], 0x13: ['serverKeepAlive', 'u16'],
  0x15: ['authenticationMethod', 'string'], 0x16: ['authenticationData', 'binary'], 0x17: ['requestProblemInformation', 'byte'],
  0x18: ['willDelayInterval', 'u32'], 0x19: ['requestResponseInformation', 'byte'], 0x1a: ['responseInformation', 'string'],
  0x1c: ['serverReference', 'string'], 0x1f: ['reasonString', 'string'], 0x21: ['receiveMaximum', 'u16'],
  0x22: ['topicAliasMaximum', 'u16'], 0x23: ['topicAlias', 'u16'], 0x24: ['maximumQoS', 'byte'], 0x25: ['retainAvailable', 'byte'],
  0x26: ['userProperty', 'pair'], 0x27: ['maximumPacketSize', 'u32'], 0x28: ['wildcardSubscriptionAvailable', 'byte'],
  0x29: ['subscriptionIdentifierAvailable', 'byte'], 0x2a: ['sharedSubscriptionAvailable', 'byte'],
};

/** The packet as read: type, flags, and its kept bytes (all of them unless `total` says more). */
interface Packet {
  type: number;
  flags: number;
  body: Buffer;
  total: number;
  wireSize: number;
  time: number;
  frame: number;
  /** Lost or malformed bytes its side skipped just before it. */
  warnings?: string[];
}

class Malformed extends Error {}

/** Bounds-checked reader over a packet's kept bytes; running off the end throws Malformed (caught per packet). */
class Reader {
  off = 0;
  constructor(readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.off;
  }
  need(n: number): void {
    if (this.off + n > this.buf.length) throw new Malformed('packet shorter than its fields');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.off++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  varint(): number {
    let v = 0;
    for (let i = 0, mul = 1; i < 4; i++, mul *= 128) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
    }
    throw new Malformed('variable byte integer over 4 bytes');
  }
  bytes(): Buffer {
    const n = this.u16();
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
}

interface Pending {
  request: Record<string, any>;
  time: number;
  frame: number;
  size: number;
  /** Responses so far (QoS 2: PUBREC, PUBREL, PUBCOMP). */
  flow: string[];
  responseSize: number;
  lastResponse: Record<string, any> | null;
  responseTime?: number;
  responseFrame?: number;
  error: boolean;
  /** Lost or malformed bytes touched this flow: in flight when they went, or read first after them. */
  warnings?: string[];
}

export class MqttParser implements TcpStreamParser {
  private readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  /** The packet being read in part: its header and the bytes still to come. */
  private readonly reading: Record<Direction, { type: number; flags: number; remaining: number; kept: Buffer[]; keptBytes: number; keep: number; total: number; headerSize: number; time: number; frame: number } | null> = { c2s: null, s2c: null };
  /** A direction whose framing was lost (gap, garbage): skipped until a packet starts like a control packet. */
  private readonly lost: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Protocol level from CONNECT (3, 4 = 3.1.1, 5); mid-stream captures are read as 3.1.1 until told. */
  private version = 4;
  /** Identified flows: `${sender}:${packetId}` (PUBLISH, SUBSCRIBE, UNSUBSCRIBE). */
  private readonly byId = new Map<string, Pending>();
  /** CONNECT and PINGREQ, answered in order. */
  private readonly ordered: Pending[] = [];
  /** Sides that lost bytes at some point: an acknowledgement with no packet of theirs to answer may answer one the loss took. */
  private readonly everLost: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Lost or malformed bytes each side skipped since its last packet: said on the next one (not on every later call). */
  private readonly carry: Record<Direction, string[]> = { c2s: [], s2c: [] };
  private readonly keep: number;

  constructor(private readonly ctx: ConnectionContext) {
    this.keep = ctx.options.noBodies ? 0 : ctx.options.maxBody;
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.lost[dir]) {
      if (!startsLikePacket(data)) {
        this.ctx.count('mqtt.resync_skipped', data.length);
        return;
      }
      this.lost[dir] = false;
    }
    const q = this.queues[dir];
    q.push(data);
    for (;;) {
      const r = this.reading[dir];
      if (r === null) {
        // A packet may be all header (PINGREQ, DISCONNECT): it completes below without more bytes.
        if (q.length === 0 || !this.readFixedHeader(dir)) return;
        continue;
      }
      const n = Math.min(r.remaining, q.length);
      const room = r.keep - r.keptBytes;
      if (room > 0) {
        const part = q.take(Math.min(room, n));
        r.kept.push(part);
        r.keptBytes += part.length;
        q.consume(n - part.length);
      } else q.consume(n);
      r.remaining -= n;
      if (r.remaining > 0) return;
      this.reading[dir] = null;
      this.packet(dir, {
        type: r.type,
        flags: r.flags,
        body: r.kept.length === 1 ? r.kept[0] : Buffer.concat(r.kept, r.keptBytes),
        total: r.total,
        wireSize: r.headerSize + r.total,
        time: r.time,
        frame: r.frame,
      });
    }
  }

  onGap(dir: Direction, _length: number): void {
    this.ctx.count('mqtt.gap');
    this.everLost[dir] = true;
    this.mark(dir, 'gap');
    this.queues[dir].clear();
    if (this.reading[dir]) this.ctx.count('mqtt.truncated');
    this.reading[dir] = null;
    this.lost[dir] = true;
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const [k, p] of this.byId) if (nowMs - p.time > timeoutMs) {
      this.byId.delete(k);
      this.finish(p);
    }
    while (this.ordered.length > 0 && nowMs - this.ordered[0].time > timeoutMs) this.finish(this.ordered.shift()!);
  }

  pendingSince(): number | undefined {
    let min: number | undefined;
    const see = (t: number | undefined) => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    for (const p of this.byId.values()) see(p.time);
    see(this.ordered[0]?.time);
    see(this.reading.c2s?.time);
    see(this.reading.s2c?.time);
    return min;
  }

  onEnd(): void {
    for (const dir of ['c2s', 's2c'] as const) if (this.reading[dir]) this.ctx.count('mqtt.truncated');
    for (const p of this.byId.values()) this.finish(p);
    this.byId.clear();
    for (const p of this.ordered.splice(0)) this.finish(p);
  }

  private readFixedHeader(dir: Direction): boolean {
    const q = this.queues[dir];
    if (q.length < 2) return false;
    const b0 = q.at(0);
    const type = b0 >> 4;
    if (type === 0 || !flagsValid(b0)) return this.malformed(dir, `bad fixed header 0x${b0.toString(16).padStart(2, '0')}`);
    let len = 0;
    let i = 1;
    for (let mul = 1; ; mul *= 128, i++) {
      if (i > 4) return this.malformed(dir, 'remaining length over 4 bytes');
      if (i >= q.length) return false;
      const b = q.at(i);
      len += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) break;
    }
    if (len > MAX_REMAINING) return this.malformed(dir, 'remaining length too big');
    q.consume(i + 1);
    this.reading[dir] = {
      type,
      flags: b0 & 0x0f,
      remaining: len,
      kept: [],
      keptBytes: 0,
      keep: Math.min(len, HEADER_ROOM + this.keep),
      total: len,
      headerSize: i + 1,
      time: this.ctx.now,
      frame: this.ctx.frame,
    };
    return true;
  }

  private malformed(dir: Direction, why: string): false {
    this.ctx.count('mqtt.malformed');
    this.mark(dir, `malformed: ${why}`);
    this.queues[dir].clear();
    this.lost[dir] = true;
    return false;
  }

  /** Bytes of `dir` were lost or skipped: the flows in flight, and the next packet of that side, say so. */
  private mark(dir: Direction, warning: string): void {
    for (const pend of [...this.byId.values(), ...this.ordered]) addWarning(pend, warning);
    if (this.carry[dir].length < 4 && !this.carry[dir].includes(warning)) this.carry[dir].push(warning);
  }

  private packet(dir: Direction, p: Packet): void {
    if (this.carry[dir].length > 0) p.warnings = this.carry[dir].splice(0);
    let rec: Record<string, any>;
    try {
      rec = this.decode(p);
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      this.ctx.count('mqtt.malformed');
      rec = { type: PACKET_TYPES[p.type], malformed: e.message };
    }
    const name = PACKET_TYPES[p.type];
    const other = dir === 'c2s' ? 's2c' : 'c2s';
    switch (name) {
      case 'CONNECT':
        if (typeof rec.protocolVersion === 'number') this.version = rec.protocolVersion;
        this.push(this.ordered, this.pending(rec, p));
        return;
      case 'PINGREQ':
        this.push(this.ordered, this.pending(rec, p));
        return;
      case 'CONNACK':
      case 'PINGRESP': {
        const want = name === 'CONNACK' ? 'CONNECT' : 'PINGREQ';
        const i = this.ordered.findIndex((o) => o.request.type === want);
        if (i < 0) return this.lone(dir, rec, p);
        const [pend] = this.ordered.splice(i, 1);
        this.answer(pend, rec, p);
        this.finish(pend);
        return;
      }
      case 'PUBLISH': {
        rec.from = dir === 'c2s' ? 'client' : 'server';
        if (rec.qos === 0 || rec.packetId === undefined) {
          this.finish(this.pending(rec, p), true);
          return;
        }
        this.track(`${dir}:${rec.packetId}`, this.pending(rec, p));
        return;
      }
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        this.track(`${dir}:${rec.packetId}`, this.pending(rec, p));
        return;
      case 'PUBACK':
      case 'PUBREC':
      case 'PUBCOMP':
      case 'SUBACK':
      case 'UNSUBACK': {
        // Answers a packet the other side sent with the same identifier.
        const key = `${other}:${rec.packetId}`;
        const pend = this.byId.get(key);
        if (!pend) return this.lone(dir, rec, p);
        this.answer(pend, rec, p);
        if (name !== 'PUBREC' || rec.reasonCode >= 0x80) {
          this.byId.delete(key);
          this.finish(pend);
        }
        return;
      }
      case 'PUBREL': {
        // QoS 2's second step, from the publisher: part of the flow its PUBLISH began.
        const pend = this.byId.get(`${dir}:${rec.packetId}`);
        if (!pend) return this.lone(dir, rec, p);
        pend.flow.push('PUBREL');
        pend.responseSize += p.wireSize;
        for (const w of p.warnings ?? []) addWarning(pend, w);
        if (typeof rec.reasonCode === 'number' && rec.reasonCode >= 0x80) pend.error = true;
        return;
      }
      default:
        // DISCONNECT, AUTH: one-way.
        this.finish(this.pending(rec, p), true);
    }
  }

  private push(list: Pending[], p: Pending): void {
    if (list.length >= MAX_PENDING) {
      this.ctx.count('mqtt.pending_overflow');
      this.finish(list.shift()!);
    }
    list.push(p);
  }

  private track(key: string, p: Pending): void {
    const old = this.byId.get(key);
    if (old) {
      // An identifier reused before its flow ended (a resend, or the answer was lost): report the old one.
      this.byId.delete(key);
      this.finish(old);
    }
    if (this.byId.size >= MAX_PENDING) {
      this.ctx.count('mqtt.pending_overflow');
      const [k, first] = this.byId.entries().next().value as [string, Pending];
      this.byId.delete(k);
      this.finish(first);
    }
    this.byId.set(key, p);
  }

  private pending(rec: Record<string, any>, p: Packet): Pending {
    return { request: rec, time: p.time, frame: p.frame, size: p.wireSize, flow: [], responseSize: 0, lastResponse: null, error: isError(rec), ...(p.warnings ? { warnings: [...p.warnings] } : {}) };
  }

  private answer(pend: Pending, rec: Record<string, any>, p: Packet): void {
    pend.flow.push(rec.type);
    pend.lastResponse = rec;
    pend.responseSize += p.wireSize;
    pend.responseTime = this.ctx.now;
    pend.responseFrame = this.ctx.frame;
    if (isError(rec)) pend.error = true;
    for (const w of p.warnings ?? []) addWarning(pend, w);
  }

  /** Emit a flow; `oneWay` calls are complete without an answer. */
  private finish(p: Pending, oneWay = false): void {
    const type = p.request.type as string;
    const response = p.lastResponse ? { ...p.lastResponse, ...(p.flow.length > 1 ? { flow: p.flow } : {}) } : null;
    const call: CallRecord = {
      protocol: 'mqtt',
      request: p.request,
      response,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: p.responseSize,
      error: p.error || (!oneWay && response === null),
      summary: `${summarize(p.request)} → ${response ? outcome(response) : oneWay ? '(no response)' : 'unanswered'}`,
    };
    if (p.responseTime !== undefined) {
      call.responseTime = p.responseTime;
      call.responseFrame = p.responseFrame;
    }
    const warnings = [...(p.warnings ?? [])];
    if (!oneWay && response === null) warnings.push('unanswered');
    if (type === 'PUBLISH' && p.request.qos === 2 && response && !p.flow.includes('PUBCOMP') && !p.error) warnings.push('QoS 2 flow not completed');
    if (warnings.length > 0) call.warnings = warnings;
    this.ctx.emit(call);
  }

  /** An acknowledgement whose packet the capture did not show (started mid-connection, or lost). */
  private lone(dir: Direction, rec: Record<string, any>, p: Packet): void {
    const call: CallRecord = {
      protocol: 'mqtt',
      request: null,
      response: rec,
      requestTime: p.time,
      requestFrame: p.frame,
      responseTime: this.ctx.now,
      responseFrame: this.ctx.frame,
      requestSize: 0,
      responseSize: p.wireSize,
      error: isError(rec),
      summary: `(no request) → ${outcome(rec)}`,
    };
    // The other side lost bytes: the packet this answers may have been among them (a CONNACK whose CONNECT
    // the capture missed), so the lone answer says gap, as Kafka's and AMQP's do; a capture begun after
    // the request is not a loss and says nothing.
    const warnings = [...(p.warnings ?? [])];
    if (this.everLost[dir === 'c2s' ? 's2c' : 'c2s'] && !warnings.includes('gap')) warnings.push('gap');
    if (warnings.length > 0) call.warnings = warnings;
    this.ctx.emit(call);
  }

  /** The fields of one packet; throws Malformed when they do not fit. */
  private decode(p: Packet): Record<string, any> {
    const name = PACKET_TYPES[p.type];
    const rec: Record<string, any> = { type: name };
    const r = new Reader(p.body);
    const v5 = this.version === 5;
    const truncated = p.total > p.body.length;
    switch (name) {
      case 'CONNECT': {
        rec.protocolName = r.str();
        rec.protocolVersion = r.u8();
        const flags = r.u8();
        rec.cleanSession = (flags & 0x02) !== 0;
        rec.keepAlive = r.u16();
        if (rec.protocolVersion === 5) addProps(rec, 'properties', r);
        rec.clientId = r.str();
        if (flags & 0x04) {
          const will: Record<string, any> = { qos: (flags >> 3) & 3, retain: (flags & 0x20) !== 0 };
          if (rec.protocolVersion === 5) addProps(will, 'properties', r);
          will.topic = r.str();
          will.bodySize = r.bytes().length;
          rec.will = will;
        }
        if (flags & 0x80) rec.username = r.str();
        if (flags & 0x40) {
          r.bytes();
          rec.password = '***';
        }
        return rec;
      }
      case 'CONNACK': {
        rec.sessionPresent = (r.u8() & 1) === 1;
        const code = r.u8();
        if (v5) {
          rec.reasonCode = code;
          rec.reasonName = REASONS[code] ?? 'unknown';
          if (r.left > 0) addProps(rec, 'properties', r);
        } else {
          rec.returnCode = code;
          rec.reasonName = CONNACK_V3[code] ?? 'unknown';
        }
        return rec;
      }
      case 'PUBLISH': {
        rec.qos = (p.flags >> 1) & 3;
        rec.retain = (p.flags & 1) === 1;
        if (p.flags & 8) rec.dup = true;
        if (rec.qos === 3) throw new Malformed('PUBLISH with QoS 3');
        rec.topic = r.str();
        if (rec.qos > 0) rec.packetId = r.u16();
        if (v5) addProps(rec, 'properties', r);
        const payloadSize = p.total - r.off;
        rec.bodySize = payloadSize;
        if (!this.ctx.options.noBodies) {
          const payload = p.body.subarray(r.off, r.off + Math.min(this.keep, payloadSize));
          if (looksLikeText(payload)) rec.body = payload.toString('utf8');
          else {
            rec.body = payload.toString('base64');
            rec.bodyEncoding = 'base64';
          }
          if (payload.length < payloadSize) rec.bodyTruncated = true;
        }
        return rec;
      }
      case 'PUBACK':
      case 'PUBREC':
      case 'PUBREL':
      case 'PUBCOMP':
      case 'UNSUBACK':
      case 'SUBACK': {
        rec.packetId = r.u16();
        if (name === 'SUBACK' || name === 'UNSUBACK') {
          if (v5 && r.left > 0) addProps(rec, 'properties', r);
          const codes: number[] = [];
          while (r.left > 0 && codes.length < MAX_ITEMS) codes.push(r.u8());
          if (codes.length > 0) rec.reasonCodes = codes;
          return rec;
        }
        // MQTT 5 may leave the reason code out when it is 0 (Success).
        if (v5) {
          rec.reasonCode = r.left > 0 ? r.u8() : 0;
          rec.reasonName = REASONS[rec.reasonCode] ?? 'unknown';
          if (r.left > 0) addProps(rec, 'properties', r);
        }
        return rec;
      }
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE': {
        rec.packetId = r.u16();
        if (v5) addProps(rec, 'properties', r);
        const topics: Record<string, any>[] = [];
        let more = 0;
        while (r.left > 0) {
          const topic = r.str();
          const opts = name === 'SUBSCRIBE' ? r.u8() : undefined;
          if (topics.length >= MAX_ITEMS) {
            more++;
            continue;
          }
          topics.push(opts === undefined ? { topic } : { topic, qos: opts & 3 });
        }
        rec.topics = topics;
        if (more > 0) rec.topicsTruncated = topics.length + more;
        if (truncated) rec.topicsTruncated = true;
        return rec;
      }
      case 'DISCONNECT':
      case 'AUTH':
        if (v5 && r.left > 0) {
          rec.reasonCode = r.u8();
          rec.reasonName = REASONS[rec.reasonCode] ?? 'unknown';
          if (r.left > 0) addProps(rec, 'properties', r);
        }
        return rec;
      default:
        return rec;
    }
  }
}

function addProps(into: Record<string, any>, key: string, r: Reader): void {
  const len = r.varint();
  r.need(len);
  const end = r.off + len;
  const props: Record<string, any> = {};
  let n = 0;
  while (r.off < end) {
    const id = r.varint();
    const def = PROPERTIES[id];
    if (!def) throw new Malformed(`unknown property 0x${id.toString(16)}`);
    const [name, type] = def;
    let v: any;
    switch (type) {
      case 'byte':
        v = r.u8();
        break;
      case 'u16':
        v = r.u16();
        break;
      case 'u32':
        v = r.u32();
        break;
      case 'varint':
        v = r.varint();
        break;
      case 'string':
        v = truncate(r.str(), 1024);
        break;
      case 'binary': {
        const b = r.bytes();
        // Authentication data is a credential (SCRAM, tokens): its size only.
        v = name === 'authenticationData' ? `*** (${b.length} bytes)` : b.subarray(0, 256).toString('base64');
        break;
      }
      case 'pair': {
        const k = truncate(r.str(), 256);
        const val = truncate(r.str(), 1024);
        v = undefined;
        if (n < MAX_ITEMS) (props.userProperties ??= []).push([k, val]);
        break;
      }
    }
    if (r.off > end) throw new Malformed('property runs past its length');
    if (v !== undefined && n < MAX_ITEMS) props[name] = v;
    n++;
  }
  if (n > 0) into[key] = props;
}

function isError(rec: Record<string, any>): boolean {
  if (typeof rec.malformed === 'string') return true;
  if (typeof rec.returnCode === 'number' && rec.returnCode !== 0) return true;
  if (typeof rec.reasonCode === 'number' && rec.reasonCode >= 0x80) return true;
  // SUBACK 0x80 (3.1.1 "Failure") and MQTT 5's ≥ 0x80 reason codes.
  return Array.isArray(rec.reasonCodes) && rec.reasonCodes.some((c: number) => c >= 0x80);
}

function summarize(rec: Record<string, any>): string {
  switch (rec.type) {
    case 'CONNECT':
      return `CONNECT ${truncate(String(rec.clientId ?? ''), 60)}`.trim();
    case 'PUBLISH':
      return `PUBLISH ${truncate(String(rec.topic ?? ''), 80)} qos=${rec.qos ?? '?'}`;
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      const topics = Array.isArray(rec.topics) ? rec.topics.map((t: any) => t.topic).join(',') : '';
      return `${rec.type} ${truncate(topics, 80)}`.trim();
    }
    default:
      return rec.type;
  }
}

function outcome(res: Record<string, any>): string {
  if (res.malformed) return `${res.type} malformed`;
  if (typeof res.reasonName === 'string') return `${res.type} ${res.reasonName}`;
  if (Array.isArray(res.reasonCodes)) return `${res.type} [${res.reasonCodes.map((c: number) => (c >= 0x80 ? 'failure' : `qos${c}`)).join(',')}]`;
  return res.type;
}

/** Reserved flag bits of the fixed header (MQTT 5 §2.1.3): only PUBLISH has free flags; PUBREL/SUBSCRIBE/UNSUBSCRIBE carry 0b0010. */
function flagsValid(b0: number): boolean {
  const type = b0 >> 4;
  const flags = b0 & 0x0f;
  if (type === 3) return ((flags >> 1) & 3) !== 3;
  if (type === 6 || type === 8 || type === 10) return flags === 2;
  return type !== 0 && flags === 0;
}

/** A packet begins here: a valid fixed header whose length fits in, or runs past, the bytes. */
function startsLikePacket(data: Buffer): boolean {
  return data.length >= 2 && flagsValid(data[0]) && varintAt(data, 1) !== null;
}

function varintAt(data: Buffer, at: number): { value: number; size: number } | null {
  let v = 0;
  for (let i = 0, mul = 1; i < 4; i++, mul *= 128) {
    if (at + i >= data.length) return null;
    const b = data[at + i];
    v += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return { value: v, size: i + 1 };
  }
  return null;
}

/**
 * A CONNECT (`0x10`, length, "MQTT" level 4/5 or "MQIsdp" level 3) is MQTT on
 * any port. On MQTT's port also any well-formed control packet, so a capture
 * that starts mid-connection is read: client-only types say request,
 * server-only types response, PUBLISH/PUBACK either.
 */
export function probeMqtt(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const b0 = data[0];
  if (b0 === 0x10) {
    const len = varintAt(data, 1);
    if (len === null) return data.length < 5 ? 'need-more' : false;
    const at = 1 + len.size;
    // The longer name ("MQIsdp", 8 bytes with its length) and the level after it.
    const name = data.subarray(at, at + 9).toString('latin1');
    const want = ['\x00\x04MQTT', '\x00\x06MQIsdp'];
    for (const w of want) {
      if (name.length < w.length + 1) {
        if (w.startsWith(name)) return 'need-more';
        continue;
      }
      if (!name.startsWith(w)) continue;
      const level = data[at + w.length];
      return level === 3 || level === 4 || level === 5 ? 'request' : false;
    }
    return false;
  }
  if (!portMatch || !flagsValid(b0)) return false;
  const len = varintAt(data, 1);
  if (len === null) return data.length < 5 ? 'need-more' : false;
  const end = 1 + len.size + len.value;
  // Whole packets that end exactly at the data's end or at another valid header.
  if (end < data.length && !flagsValid(data[end])) return false;
  const type = b0 >> 4;
  if ([1, 8, 10, 12, 14].includes(type)) return 'request';
  if ([2, 9, 11, 13].includes(type)) return 'response';
  return 'stream';
}

export const mqtt: ProtocolDissector = {
  name: 'mqtt',
  transport: 'tcp',
  ports: [1883],
  priority: 45,
  reference: 'OASIS MQTT 3.1.1 and 5.0 (https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html)',
  probe(data, portMatch) {
    try {
      return probeMqtt(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new MqttParser(ctx);
  },
};

function addWarning(p: Pending, warning: string): void {
  if (!p.warnings) p.warnings = [warning];
  else if (!p.warnings.includes(warning)) p.warnings.push(warning);
}
