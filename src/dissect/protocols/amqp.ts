// AMQP 0-9-1 (RabbitMQ): protocol header, frames (method, content header,
// body, heartbeat), methods named by class/method id. Synchronous methods are
// paired with their -Ok reply per channel (either side may start one: the
// server sends connection.start/tune, either side a close); basic.publish,
// deliver, return and get-ok carry their content header and body; ack/nack/
// reject are one-message entries. A close with reply code >= 300 is an error.
// Spec: https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf

import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { BodyCollector, renderBody } from './util/body.js';
import { MessageStarts, type Stamp } from './util/message-start.js';

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');
const FRAME_END = 0xce;
const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;

/** Frames above this are given up on (RabbitMQ's frame_max default is 128 KB). */
const MAX_FRAME = 4 * 1024 * 1024;
const MAX_PENDING_PER_CHANNEL = 100;
/** Replies held per direction while the other side's bytes they acknowledge are awaited. */
const MAX_EARLY = 16;
const MAX_CHANNELS = 2048;

const CLASSES: Record<number, [string, Record<number, string>]> = {
  10: ['connection', { 10: 'start', 11: 'start-ok', 20: 'secure', 21: 'secure-ok', 30: 'tune', 31: 'tune-ok', 40: 'open', 41: 'open-ok', 50: 'close', 51: 'close-ok', 60: 'blocked', 61: 'unblocked', 70: 'update-secret', 71: 'update-secret-ok' }],
  20: ['channel', { 10: 'open', 11: 'open-ok', 20: 'flow', 21: 'flow-ok', 40: 'close', 41: 'close-ok' }],
  40: ['exchange', { 10: 'declare', 11: 'declare-ok', 20: 'delete', 21: 'delete-ok', 30: 'bind', 31: 'bind-ok', 40: 'unbind', 51: 'unbind-ok' }],
  50: ['queue', { 10: 'declare', 11: 'declare-ok', 20: 'bind', 21: 'bind-ok', 30: 'purge', 31: 'purge-ok', 40: 'delete', 41: 'delete-ok', 50: 'unbind', 51: 'unbind-ok' }],
  60: ['basic', { 10: 'qos', 11: 'qos-ok', 20: 'consume', 21: 'consume-ok', 30: 'cancel', 31: 'cancel-ok', 40: 'publish', 50: 'return', 60: 'deliver', 70: 'get', 71: 'get-ok', 72: 'get-empty', 80: 'ack', 90: 'reject', 100: 'recover-async', 110: 'recover', 111: 'recover-ok', 120: 'nack' }],
  85: ['confirm', { 10: 'select', 11: 'select-ok' }],
  90: ['tx', { 10: 'select', 11: 'select-ok', 20: 'commit', 21: 'commit-ok', 30: 'rollback', 31: 'rollback-ok' }],
};

export function amqpMethodName(classId: number, methodId: number): string {
  const cls = CLASSES[classId];
  if (!cls) return `class${classId}.method${methodId}`;
  return `${cls[0]}.${cls[1][methodId] ?? `method${methodId}`}`;
}

/** Reply method ids of each synchronous request (key: "class.method"). */
const REPLIES: Record<string, number[]> = {};
for (const [classId, [, methods]] of Object.entries(CLASSES)) {
  for (const [id, name] of Object.entries(methods)) {
    if (name.endsWith('-ok')) continue;
    const ok = Object.entries(methods).find(([, n]) => n === `${name}-ok`);
    if (ok) REPLIES[`${classId}.${id}`] = [Number(ok[0])];
  }
}
REPLIES['60.70'] = [71, 72]; // basic.get → get-ok | get-empty
/** Methods that carry content (header + body frames follow). */
const WITH_CONTENT = new Set(['60.40', '60.50', '60.60', '60.71']);
/** Methods only a server sends (for the probe's verdict on a mid-connection start). */
const CONNECTION_CLOSE = '10.50';
const CHANNEL_CLOSE = '20.40';
const SERVER_ONLY = new Set(['10.10', '10.20', '10.30', '10.41', '60.50', '60.60', '60.71', '60.72']);

// ---------------------------------------------------------------- reading

class Short extends Error {}

class Args {
  pos = 0;
  private bitByte = 0;
  private bitIndex = 8;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new Short();
  }
  octet(): number {
    this.bitIndex = 8;
    this.need(1);
    return this.b[this.pos++];
  }
  short(): number {
    this.bitIndex = 8;
    this.need(2);
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  long(): number {
    this.bitIndex = 8;
    this.need(4);
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  longlong(): number | string {
    this.bitIndex = 8;
    this.need(8);
    const v = this.b.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  shortstr(): string {
    const n = this.octet();
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  longstr(max = 1024): string {
    const n = this.long();
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + Math.min(n, max));
    this.pos += n;
    return s;
  }
  /** Consecutive bits share octets (AMQP packs them). */
  bit(): boolean {
    if (this.bitIndex >= 8) {
      this.need(1);
      this.bitByte = this.b[this.pos++];
      this.bitIndex = 0;
    }
    return ((this.bitByte >> this.bitIndex++) & 1) === 1;
  }
  table(depth = 0): Record<string, unknown> {
    const size = this.long();
    this.need(size);
    const end = this.pos + size;
    const out: Record<string, unknown> = {};
    while (this.pos < end) {
      const key = this.shortstr();
      out[key] = this.fieldValue(depth);
    }
    this.pos = end;
    return out;
  }
  private fieldValue(depth: number): unknown {
    if (depth > 8) throw new Short();
    const type = String.fromCharCode(this.octet());
    this.need(0);
    const b = this.b;
    const take = (n: number): number => {
      this.need(n);
      const p = this.pos;
      this.pos += n;
      return p;
    };
    switch (type) {
      case 't': return b[take(1)] !== 0;
      case 'b': return b.readInt8(take(1));
      case 'B': return b[take(1)];
      case 's': return b.readInt16BE(take(2));
      case 'u': return b.readUInt16BE(take(2));
      case 'I': return b.readInt32BE(take(4));
      case 'i': return b.readUInt32BE(take(4));
      case 'l': return Number(b.readBigInt64BE(take(8)));
      case 'f': return b.readFloatBE(take(4));
      case 'd': return b.readDoubleBE(take(8));
      case 'D': { const scale = b[take(1)]; return b.readInt32BE(take(4)) / 10 ** scale; }
      case 'S': return this.longstr();
      case 'x': { const n = this.long(); take(n); return `<${n} bytes>`; }
      case 'T': return Number(b.readBigUInt64BE(take(8)));
      case 'F': return this.table(depth + 1);
      case 'A': {
        const size = this.long();
        this.need(size);
        const end = this.pos + size;
        const arr: unknown[] = [];
        while (this.pos < end) arr.push(this.fieldValue(depth + 1));
        this.pos = end;
        return arr;
      }
      case 'V': return null;
      default: throw new Short();
    }
  }
}

/** Arguments of the methods users look at; others keep only their name. */
function readArguments(key: string, a: Args): Record<string, any> {
  const out: Record<string, any> = {};
  switch (key) {
    case '10.10': {
      out.versionMajor = a.octet();
      out.versionMinor = a.octet();
      const props = a.table();
      for (const k of ['product', 'version', 'platform', 'cluster_name']) if (typeof props[k] === 'string') out[k === 'cluster_name' ? 'clusterName' : k] = props[k];
      out.mechanisms = a.longstr();
      break;
    }
    case '10.11': {
      const props = a.table();
      for (const k of ['product', 'version', 'platform', 'connection_name']) if (typeof props[k] === 'string') out[k === 'connection_name' ? 'connectionName' : k] = props[k];
      out.mechanism = a.shortstr();
      break;
    }
    case '10.30':
    case '10.31':
      out.channelMax = a.short();
      out.frameMax = a.long();
      out.heartbeat = a.short();
      break;
    case '10.40':
      out.virtualHost = a.shortstr();
      break;
    case '10.50':
    case '20.40':
      out.replyCode = a.short();
      out.replyText = a.shortstr();
      out.classId = a.short();
      out.methodId = a.short();
      if (out.classId) out.failedMethod = amqpMethodName(out.classId, out.methodId);
      break;
    case '40.10':
      a.short();
      out.exchange = a.shortstr();
      out.type = a.shortstr();
      out.passive = a.bit();
      out.durable = a.bit();
      break;
    case '40.20':
      a.short();
      out.exchange = a.shortstr();
      break;
    case '40.30':
    case '40.40':
      a.short();
      out.destination = a.shortstr();
      out.source = a.shortstr();
      out.routingKey = a.shortstr();
      break;
    case '50.10':
      a.short();
      out.queue = a.shortstr();
      out.passive = a.bit();
      out.durable = a.bit();
      out.exclusive = a.bit();
      out.autoDelete = a.bit();
      break;
    case '50.11':
      out.queue = a.shortstr();
      out.messageCount = a.long();
      out.consumerCount = a.long();
      break;
    case '50.20':
    case '50.50':
      a.short();
      out.queue = a.shortstr();
      out.exchange = a.shortstr();
      out.routingKey = a.shortstr();
      break;
    case '50.30':
    case '50.40':
      a.short();
      out.queue = a.shortstr();
      break;
    case '50.31':
    case '50.41':
      out.messageCount = a.long();
      break;
    case '60.10':
      out.prefetchSize = a.long();
      out.prefetchCount = a.short();
      out.global = a.bit();
      break;
    case '60.20':
      a.short();
      out.queue = a.shortstr();
      out.consumerTag = a.shortstr();
      out.noLocal = a.bit();
      out.noAck = a.bit();
      break;
    case '60.21':
    case '60.30':
    case '60.31':
      out.consumerTag = a.shortstr();
      break;
    case '60.40':
      a.short();
      out.exchange = a.shortstr();
      out.routingKey = a.shortstr();
      out.mandatory = a.bit();
      out.immediate = a.bit();
      break;
    case '60.50':
      out.replyCode = a.short();
      out.replyText = a.shortstr();
      out.exchange = a.shortstr();
      out.routingKey = a.shortstr();
      break;
    case '60.60':
      out.consumerTag = a.shortstr();
      out.deliveryTag = a.longlong();
      out.redelivered = a.bit();
      out.exchange = a.shortstr();
      out.routingKey = a.shortstr();
      break;
    case '60.70':
      a.short();
      out.queue = a.shortstr();
      out.noAck = a.bit();
      break;
    case '60.71':
      out.deliveryTag = a.longlong();
      out.redelivered = a.bit();
      out.exchange = a.shortstr();
      out.routingKey = a.shortstr();
      out.messageCount = a.long();
      break;
    case '60.80':
    case '60.90':
    case '60.120':
      out.deliveryTag = a.longlong();
      if (key === '60.90') out.requeue = a.bit();
      else out.multiple = a.bit();
      if (key === '60.120') out.requeue = a.bit();
      break;
    default:
  }
  return out;
}

const PROPERTY_NAMES: Array<[string, 'shortstr' | 'table' | 'octet' | 'longlong']> = [
  ['contentType', 'shortstr'], ['contentEncoding', 'shortstr'], ['headers', 'table'], ['deliveryMode', 'octet'],
  ['priority', 'octet'], ['correlationId', 'shortstr'], ['replyTo', 'shortstr'], ['expiration', 'shortstr'],
  ['messageId', 'shortstr'], ['timestamp', 'longlong'], ['type', 'shortstr'], ['userId', 'shortstr'],
  ['appId', 'shortstr'], ['clusterId', 'shortstr'],
];

function readContentHeader(payload: Buffer): { bodySize: number; properties: Record<string, unknown> } {
  const a = new Args(payload);
  a.short(); // class id
  a.short(); // weight
  const size = a.longlong();
  const flags = a.short();
  const properties: Record<string, unknown> = {};
  try {
    PROPERTY_NAMES.forEach(([name, type], i) => {
      if (!(flags & (1 << (15 - i)))) return;
      properties[name] = type === 'shortstr' ? a.shortstr() : type === 'table' ? a.table() : type === 'octet' ? a.octet() : a.longlong();
    });
  } catch {
    // Properties past a bad one are left out; the size is what matters for framing.
  }
  return { bodySize: typeof size === 'number' ? size : Number.MAX_SAFE_INTEGER, properties };
}

// ---------------------------------------------------------------- probing

export function probeAmqp(data: Buffer, portMatch: boolean): Probe {
  const n = Math.min(data.length, 4);
  if (n > 0 && data.subarray(0, n).equals(PROTOCOL_HEADER.subarray(0, n))) return data.length >= 8 ? 'request' : 'need-more';
  if (data.length < 7) return false;
  const type = data[0];
  const size = data.readUInt32BE(3);
  if (![FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT].includes(type) || size > MAX_FRAME) return false;
  if (data.length < 8 + size) return portMatch ? 'need-more' : false;
  if (data[7 + size] !== FRAME_END) return false;
  if (type !== FRAME_METHOD || size < 4) return portMatch ? 'request' : false;
  const key = `${data.readUInt16BE(7)}.${data.readUInt16BE(9)}`;
  if (!CLASSES[data.readUInt16BE(7)]) return false;
  return SERVER_ONLY.has(key) || /-ok$/.test(amqpMethodName(data.readUInt16BE(7), data.readUInt16BE(9))) ? 'response' : 'request';
}

/**
 * Whether a segment after a gap starts with a frame: a known type, a length
 * within bounds, and, for a frame the segment holds whole, its frame-end byte
 * (a method frame also a known class). Only a body or content header frame
 * may go on past its segment.
 */
function startsFrame(data: Buffer): boolean {
  if (data.length < 7) return false;
  const type = data[0];
  const size = data.readUInt32BE(3);
  if (![FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT].includes(type) || size > MAX_FRAME) return false;
  if (data.length < 8 + size) return type === FRAME_BODY || type === FRAME_HEADER;
  if (data[7 + size] !== FRAME_END) return false;
  if (type === FRAME_METHOD) return size >= 4 && CLASSES[data.readUInt16BE(7)] !== undefined;
  return type !== FRAME_HEARTBEAT || size === 0;
}

// ---------------------------------------------------------------- parsing

function other(dir: Direction): Direction {
  return dir === 'c2s' ? 's2c' : 'c2s';
}

/** A synchronous method's reply (`-ok`, basic.get-empty): a response, not a request. */
function isReply(m: Message): boolean {
  return /-ok$|get-empty$/.test(m.method);
}

interface Message {
  method: string;
  key: string;
  channel: number;
  dir: Direction;
  args: Record<string, any>;
  time: number;
  frame: number;
  size: number;
  lastTime: number;
  lastFrame: number;
}

/**
 * A reply with no request waiting, whose packet acknowledged bytes of the
 * other side not read yet: the request it answers is probably in them (the
 * capture recorded the two directions' packets out of order). `until`: the
 * other direction's stream offset those bytes end at.
 */
interface EarlyReply {
  reply: Message;
  until: number;
}

interface Content {
  message: Message;
  bodySize: number;
  properties: Record<string, unknown>;
  body: BodyCollector;
  received: number;
}

class AmqpParser implements TcpStreamParser {
  private queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private dead: Record<Direction, boolean> = { c2s: false, s2c: false };
  /**
   * After a gap a direction is read again from its next segment that starts
   * with a frame, and is on probation until a whole frame is read there: a
   * false start (a segment that began inside a body) is dropped, not taken
   * for a malformed stream.
   */
  private resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  private probation: Record<Direction, boolean> = { c2s: false, s2c: false };
  private headerChecked = false;
  /** Synchronous methods waiting for their reply, per channel. */
  private pending = new Map<number, Message[]>();
  /** Content being assembled, per direction and channel. */
  private content: Record<Direction, Map<number, Content>> = { c2s: new Map(), s2c: new Map() };
  /** First packet of the frame being read: a method is stamped with it. */
  private readonly starts: MessageStarts;
  /** Bytes given (or reported lost) per direction: a position in its stream. */
  private received: Record<Direction, number> = { c2s: 0, s2c: 0 };
  /** Replies waiting for the request their packet showed was sent (EarlyReply), per the reply's direction. */
  private early: Record<Direction, EarlyReply[]> = { c2s: [], s2c: [] };
  /** Bytes of the direction were lost: a reply read later that answers none seen may answer a method they held. */
  private lost: Record<Direction, boolean> = { c2s: false, s2c: false };

  constructor(private readonly ctx: ConnectionContext) {
    this.starts = new MessageStarts(ctx);
  }

  onData(dir: Direction, data: Buffer): void {
    this.received[dir] += data.length;
    if (this.dead[dir]) return;
    if (this.resync[dir]) {
      if (!startsFrame(data)) {
        this.ctx.count('amqp.gap_dropped', data.length);
        return;
      }
      this.resync[dir] = false;
      this.probation[dir] = true;
    }
    try {
      this.starts.push(dir, this.queues[dir].length);
      this.queues[dir].push(data);
      this.drain(dir);
      this.releaseEarly(other(dir), this.received[dir]);
    } catch {
      this.ctx.count('amqp.internal');
      this.dead[dir] = true;
    }
  }

  /** Replies from `dir` whose acknowledged bytes have all been read (by `upTo`) without their request: they answer none seen. */
  private releaseEarly(dir: Direction, upTo: number): void {
    const early = this.early[dir];
    while (early.length > 0 && early[0].until <= upTo) this.emitOrphan(early.shift()!.reply);
  }

  /**
   * Frame boundaries are lost with the bytes: what is queued is dropped, and
   * reading resumes at the direction's first segment that starts with a frame.
   * Content being assembled may have lost a body frame: it is reported now
   * (`gap`), and the rest of its body frames find no content to join. Replies
   * pair by channel and method, so a lost reply leaves its request waiting:
   * every request waiting is marked, since the next reply of its kind may
   * close it in the lost one's place.
   */
  onGap(dir: Direction, length: number): void {
    this.ctx.count('amqp.gap', length);
    this.lost[dir] = true;
    this.received[dir] += length;
    this.releaseEarly(other(dir), this.received[dir]);
    for (const list of this.pending.values()) for (const m of list) m.args.gap = true;
    if (this.dead[dir]) return;
    this.dropQueued(dir);
    for (const c of this.content[dir].values()) this.emitContent(c, ['gap']);
    this.content[dir].clear();
    this.resync[dir] = true;
    this.probation[dir] = false;
  }

  private dropQueued(dir: Direction): void {
    const q = this.queues[dir];
    if (q.length > 0) this.ctx.count('amqp.gap_dropped', q.length);
    q.clear();
    this.starts.taken(dir, 0);
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const dir of ['c2s', 's2c'] as const) {
      const early = this.early[dir];
      while (early.length > 0 && nowMs - early[0].reply.time > timeoutMs) this.emitOrphan(early.shift()!.reply);
    }
    for (const [channel, list] of this.pending) {
      while (list.length > 0 && nowMs - list[0].time > timeoutMs) this.emitCall(list.shift()!, null, ['unanswered']);
      if (list.length === 0) this.pending.delete(channel);
    }
  }

  /**
   * Methods are stamped with the first packet of their frame. Still to be
   * emitted: synchronous methods awaiting a reply (each channel's list is in
   * arrival order, so its first is its oldest), content being assembled
   * (stamped with its method, or with the request a basic.get-ok answers),
   * and a frame read in part. A handful of channels at most, so they are
   * simply scanned.
   */
  pendingSince(): number | undefined {
    let min = Infinity;
    for (const list of this.pending.values()) if (list.length > 0 && list[0].time < min) min = list[0].time;
    for (const dir of ['c2s', 's2c'] as const) if (this.early[dir].length > 0 && this.early[dir][0].reply.time < min) min = this.early[dir][0].reply.time;
    for (const map of [this.content.c2s, this.content.s2c]) {
      for (const c of map.values()) {
        const request = c.message.args.request as Message | undefined;
        const t = request ? request.time : c.message.time;
        if (t < min) min = t;
      }
    }
    for (const dir of ['c2s', 's2c'] as const) {
      const t = this.dead[dir] ? undefined : this.starts.partial(dir, this.queues[dir].length);
      if (t !== undefined && t < min) min = t;
    }
    return min === Infinity ? undefined : min;
  }

  onEnd(): void {
    for (const dir of ['c2s', 's2c'] as const) this.releaseEarly(dir, Infinity);
    // A frame cut off by the end of the capture cannot be read: counted, not silently gone.
    for (const dir of ['c2s', 's2c'] as const) if (!this.dead[dir] && this.queues[dir].length > 0) this.ctx.count('amqp.truncated');
    for (const dir of ['c2s', 's2c'] as const) {
      for (const c of this.content[dir].values()) this.emitContent(c, ['truncated']);
      this.content[dir].clear();
    }
    for (const list of this.pending.values()) for (const m of list) this.emitCall(m, null, ['unanswered']);
    this.pending.clear();
  }

  private drain(dir: Direction): void {
    const q = this.queues[dir];
    if (dir === 'c2s' && !this.headerChecked) {
      const n = Math.min(q.length, 8);
      if (q.peek(n).equals(PROTOCOL_HEADER.subarray(0, n))) {
        if (n < 8) return;
        q.consume(8);
        this.starts.taken(dir, q.length);
      }
      this.headerChecked = true;
    }
    while (q.length >= 7) {
      const head = q.peek(7);
      const type = head[0];
      const channel = head.readUInt16BE(1);
      const size = head.readUInt32BE(3);
      if (size > MAX_FRAME) return this.giveUp(dir, `frame of ${size} bytes`);
      if (q.length < 8 + size) return;
      const frame = q.peek(8 + size);
      if (frame[7 + size] !== FRAME_END) return this.giveUp(dir, 'missing frame end');
      const payload = frame.subarray(7, 7 + size);
      this.probation[dir] = false;
      this.onFrame(dir, type, channel, payload, 8 + size, this.starts.head(dir));
      q.consume(8 + size);
      this.starts.taken(dir, q.length);
      if (this.dead[dir]) return;
    }
  }

  private giveUp(dir: Direction, what: string): void {
    if (this.probation[dir]) {
      // Read again after a gap from a segment that began inside a body: try the next one.
      this.dropQueued(dir);
      this.probation[dir] = false;
      this.resync[dir] = true;
      return;
    }
    this.ctx.count('amqp.malformed');
    this.dead[dir] = true;
    this.queues[dir].clear();
    for (const c of this.content[dir].values()) this.emitContent(c, [`malformed: ${what}`]);
    this.content[dir].clear();
  }

  private onFrame(dir: Direction, type: number, channel: number, payload: Buffer, wire: number, at: Stamp): void {
    switch (type) {
      case FRAME_METHOD:
        return this.onMethod(dir, channel, payload, wire, at);
      case FRAME_HEADER: {
        const c = this.content[dir].get(channel);
        if (!c) return;
        const h = readContentHeader(payload);
        c.bodySize = h.bodySize;
        c.properties = h.properties;
        c.message.size += wire;
        this.touch(c.message);
        if (c.bodySize === 0) this.finishContent(dir, channel, c);
        return;
      }
      case FRAME_BODY: {
        const c = this.content[dir].get(channel);
        if (!c) return;
        c.body.add(payload);
        c.received += payload.length;
        c.message.size += wire;
        this.touch(c.message);
        if (c.received >= c.bodySize) this.finishContent(dir, channel, c);
        return;
      }
      default:
        return; // heartbeat
    }
  }

  private touch(m: Message): void {
    m.lastTime = this.ctx.now;
    m.lastFrame = this.ctx.frame;
  }

  private onMethod(dir: Direction, channel: number, payload: Buffer, wire: number, at: Stamp): void {
    if (payload.length < 4) {
      this.ctx.count('amqp.malformed');
      return;
    }
    const classId = payload.readUInt16BE(0);
    const methodId = payload.readUInt16BE(2);
    const key = `${classId}.${methodId}`;
    const m: Message = {
      method: amqpMethodName(classId, methodId),
      key,
      channel,
      dir,
      args: {},
      time: at.time,
      frame: at.frame,
      size: wire,
      lastTime: this.ctx.now,
      lastFrame: this.ctx.frame,
    };
    try {
      m.args = readArguments(key, new Args(payload.subarray(4)));
    } catch {
      m.args = { malformed: true };
      this.ctx.count('amqp.malformed');
    }
    // A reply closes the oldest matching request from the other side on this channel.
    const list = this.pending.get(channel);
    if (list) {
      const i = list.findIndex((p) => p.dir !== dir && (REPLIES[p.key] ?? []).includes(methodId) && p.key.startsWith(`${classId}.`));
      if (i >= 0) {
        const [request] = list.splice(i, 1);
        if (list.length === 0) this.pending.delete(channel);
        if (WITH_CONTENT.has(key)) this.startContent(dir, channel, m, request);
        else this.emitCall(request, m, []);
        return;
      }
    }
    if (key === CONNECTION_CLOSE || key === CHANNEL_CLOSE) this.answerWithClose(m);
    if (WITH_CONTENT.has(key)) return this.startContent(dir, channel, m, null);
    if (REPLIES[key]) {
      const early = this.earlyReplyTo(m);
      if (early) return this.emitCall(m, early, []);
      let l = this.pending.get(channel);
      if (!l) {
        if (this.pending.size >= MAX_CHANNELS) {
          this.ctx.count('amqp.channels_overflow');
          return this.emitCall(m, null, ['unanswered']);
        }
        l = [];
        this.pending.set(channel, l);
      }
      if (l.length >= MAX_PENDING_PER_CHANNEL) this.emitCall(l.shift()!, null, ['unanswered']);
      l.push(m);
      return;
    }
    if (!isReply(m)) return this.emitCall(m, null, []); // ack, nack, reject, … are whole by themselves
    const ack = this.ctx.ack;
    if (ack && ack.from === dir && ack.ahead > 0) {
      // Its packet acknowledged bytes of the other side not read yet: its request may be in them.
      const early = this.early[dir];
      if (early.length >= MAX_EARLY) this.emitOrphan(early.shift()!.reply);
      early.push({ reply: m, until: this.received[other(dir)] + ack.ahead });
      return;
    }
    this.emitOrphan(m);
  }

  /** A reply whose request predates the capture, or was lost: then it says `gap` (the capture missed it, it was sent). */
  private emitOrphan(m: Message): void {
    this.emitCall(m, null, this.lost[other(m.dir)] ? ['request not captured', 'gap'] : ['request not captured'], true);
  }

  /** The reply read before `request` (EarlyReply) that answers it, taken from those waiting. */
  private earlyReplyTo(request: Message): Message | undefined {
    const early = this.early[other(request.dir)];
    const classId = request.key.split('.')[0];
    const i = early.findIndex(({ reply }) => reply.channel === request.channel && reply.key.startsWith(`${classId}.`) && (REPLIES[request.key] ?? []).includes(Number(reply.key.split('.')[1])));
    return i >= 0 ? early.splice(i, 1)[0].reply : undefined;
  }

  /**
   * The server refuses a client's synchronous method by closing instead of
   * replying (connection.open → connection.close 530, exchange.declare →
   * channel.close 406): the close is that request's response, and its code
   * makes it an error. A channel.close answers what the client still awaits on
   * its channel, a connection.close what it awaits on any channel; a close that
   * names the method it refuses answers only that method. The close stays a
   * request of its own too, answered by its close-ok. A close refuses nothing
   * when it is the client's (it ends the client's own session: a server method
   * waiting then lost its reply, it was not refused) or its code is not an
   * error (a normal shutdown answers no request).
   */
  private answerWithClose(close: Message): void {
    if (close.dir !== 's2c' || (close.args.replyCode ?? 0) < 300) return;
    const named = close.args.classId ? `${close.args.classId}.${close.args.methodId}` : undefined;
    for (const [channel, list] of this.pending) {
      if (close.key === CHANNEL_CLOSE && channel !== close.channel) continue;
      const refused = list.filter((p) => p.dir === 'c2s' && p.key !== CONNECTION_CLOSE && p.key !== CHANNEL_CLOSE && (named === undefined || p.key === named));
      if (refused.length === 0) continue;
      const rest = list.filter((p) => !refused.includes(p));
      if (rest.length > 0) this.pending.set(channel, rest);
      else this.pending.delete(channel);
      for (const request of refused) this.emitCall(request, close, []);
    }
  }

  /** `request` is set for basic.get-ok, whose request (basic.get) came earlier. */
  private startContent(dir: Direction, channel: number, m: Message, request: Message | null): void {
    const map = this.content[dir];
    const previous = map.get(channel);
    if (previous) this.emitContent(previous, ['truncated']);
    if (request) m.args.request = request;
    map.set(channel, { message: m, bodySize: -1, properties: {}, body: new BodyCollector(this.ctx.options.maxBody), received: 0 });
  }

  private finishContent(dir: Direction, channel: number, c: Content): void {
    this.content[dir].delete(channel);
    this.emitContent(c, []);
  }

  private emitContent(c: Content, warnings: string[]): void {
    const m = c.message;
    const request = m.args.request as Message | undefined;
    delete m.args.request;
    const props = c.properties;
    const rendered = renderBody(c.body, typeof props.contentEncoding === 'string' ? props.contentEncoding : undefined, this.ctx);
    const content: Record<string, any> = { properties: props, bodySize: c.bodySize < 0 ? c.received : c.bodySize };
    if (rendered.body !== undefined) content.body = rendered.body;
    if (rendered.bodyEncoding) content.bodyEncoding = rendered.bodyEncoding;
    if (rendered.bodyTruncated || c.received < c.bodySize) content.bodyTruncated = true;
    if (c.bodySize < 0) warnings = [...warnings, 'content header missing'];
    // A body whose content-encoding does not decode is not shown: the entry says why, as HTTP's does.
    if (rendered.warning) warnings = [...warnings, rendered.warning];
    Object.assign(m.args, content);
    if (request) this.emitCall(request, m, warnings);
    else this.emitCall(m, null, warnings);
  }

  private emitCall(req: Message, res: Message | null, warnings: string[], responseOnly = false): void {
    const asObj = (m: Message): Record<string, any> => ({ method: m.method, channel: m.channel, ...m.args });
    // A server-initiated exchange (connection.start, a server's close) has the server's method as the request.
    const reversed = req.dir === 's2c' && !responseOnly;
    const closeCode = (m: Message | null): number => (m && (m.key === CONNECTION_CLOSE || m.key === CHANNEL_CLOSE) ? (m.args.replyCode ?? 0) : 0);
    const code = Math.max(closeCode(req), closeCode(res));
    const synchronous = REPLIES[req.key] !== undefined;
    const record: CallRecord = {
      protocol: 'amqp',
      request: responseOnly ? null : asObj(req),
      response: responseOnly ? asObj(req) : res ? asObj(res) : null,
      requestTime: req.time,
      requestFrame: req.frame,
      requestSize: responseOnly ? 0 : req.size,
      responseSize: responseOnly ? req.size : (res?.size ?? 0),
      error: code >= 300 || (synchronous && res === null && warnings.includes('unanswered')) || req.key === '60.50' || req.key === '60.120',
      summary: '',
    };
    if (res) {
      record.responseTime = res.lastTime;
      record.responseFrame = res.lastFrame;
    } else if (responseOnly) {
      // A content message alone (publish, deliver) has no response: its body frame is not one.
      record.responseTime = req.lastTime;
      record.responseFrame = req.lastFrame;
    }
    if (reversed) record.request!.sender = 'server';
    record.summary = summarize(req, res, code);
    const all = [...warnings];
    if (req.args.gap) all.push('gap');
    delete req.args.gap;
    if (all.length > 0) record.warnings = [...new Set(all)];
    // Asynchronous one-way methods are complete without a response: not "unanswered".
    this.ctx.emit(record);
  }
}

function summarize(req: Message, res: Message | null, code: number): string {
  const a = req.args;
  let left = req.method;
  if (req.key === '60.40' || req.key === '60.60' || req.key === '60.50') left += ` ${a.exchange || '(default)'} ${a.routingKey}`;
  else if (a.queue !== undefined) left += ` ${a.queue}`;
  else if (a.exchange !== undefined) left += ` ${a.exchange}`;
  if (code) left += ` ${code} ${a.replyText ?? res?.args.replyText ?? ''}`.trimEnd();
  return res ? `${left} → ${res.method}` : left;
}

export const amqp: ProtocolDissector = {
  name: 'amqp',
  transport: 'tcp',
  ports: [5672],
  priority: 40,
  reference: 'https://www.rabbitmq.com/resources/specs/amqp0-9-1.pdf',
  probe: (data, portMatch) => {
    try {
      return probeAmqp(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new AmqpParser(ctx),
};
