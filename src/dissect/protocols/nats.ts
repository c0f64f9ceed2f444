// NATS client protocol (https://docs.nats.io/reference/reference-protocols/nats-protocol).
// Text control lines, some followed by a payload of announced size. Pairing:
//  - request/reply: a PUB/HPUB/MSG/HMSG naming a reply subject (`_INBOX.…`)
//    is answered by the next message published or delivered on that subject,
//    in either direction (a service on this connection answers the server's
//    MSG with a PUB; a requester's PUB is answered by a MSG);
//  - in verbose mode (CONNECT {"verbose":true}) each client operation is
//    acknowledged in order by +OK or -ERR;
//  - PING is answered by the other side's PONG.
// Anything else (a message without a reply subject, SUB without verbose, INFO)
// is one-way: one entry, no response, not an error. The sender is `request.from`.
// CONNECT credentials (pass, auth_token, jwt, sig) are masked here. A client
// that answers INFO with a ClientHello (tls_required) moves the connection to
// TLS: read as TLS from there (with --tls-keylog, the NATS inside it).
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { maskNatsConnect } from '../../redact/commands.js';
import { decimalInteger, looksLikeText, printable, truncate } from './util/text.js';
import { TunnelStream } from './util/tunnel-stream.js';

/** NATS' default max_control_line is 4 KiB; INFO with many URLs can be longer. */
const MAX_LINE = 64 * 1024;
/** NATS' max_payload ceiling (64 MiB): a larger announced size is garbage. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
const MAX_PENDING = 1024;
const MAX_HEADERS = 64;

interface Op {
  op: string;
  rec: Record<string, any>;
  size: number;
  time: number;
  frame: number;
  /** Lost bytes touched it: read first after them, or waiting while they went, or paired in order while answers may be missing. */
  gap?: boolean;
  /** Malformed bytes its side skipped just before it (said on the first operation read after them, not on every later call). */
  malformed?: string[];
}

interface Pending {
  op: Op;
  from: Direction;
  awaitAck: boolean;
  awaitReply: string | null;
  ack: Op | null;
  reply: Op | null;
  /** Only an acknowledgement to swallow (the reply half already belongs to another entry). */
  silent: boolean;
  /** Sent while the connection's mode was not known (its CONNECT not captured): an acknowledgement may or may not come. */
  maybeAck?: boolean;
}

/**
 * With no CONNECT captured, how long a client operation waits for an `+OK`
 * (capture time) before the connection is taken as not verbose: a verbose
 * server acknowledges at once, in a round trip.
 */
const VERBOSE_UNKNOWN_MS = 2000;

/** Reads one direction's control lines and payloads into operations. */
class OpReader {
  private readonly queue = new ByteQueue();
  /** An operation whose payload (`remaining` bytes + CRLF) is being read. */
  private payload: { op: Op; remaining: number; total: number; parts: Buffer[]; kept: number; headerBytes: number } | null = null;
  private crlfOwed = 0;
  private start: { time: number; frame: number } | null = null;
  lost = false;
  /** The next operation read is the first after lost bytes (its call says `gap`). */
  private afterGap = false;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly keep: number,
    private readonly onOp: (op: Op) => void,
    private readonly onMalformed: (why: string) => void,
  ) {}

  get messageStart(): number | undefined {
    return this.start?.time;
  }

  push(data: Buffer): void {
    if (this.lost) {
      // Resume at the first line that starts with an operation name (the rest of a lost payload goes).
      const at = nextOperationLine(data);
      if (at > 0) this.ctx.count('nats.resync_skipped', at);
      if (at === data.length) return;
      this.lost = false;
      data = data.subarray(at);
    }
    this.queue.push(data);
    while (this.queue.length > 0) {
      // After a malformed line the bytes queued behind it may hold good operations: resume at the next one.
      if (this.lost) {
        if (!this.skipToOperation()) return;
        continue;
      }
      if (this.start === null) this.start = { time: this.ctx.now, frame: this.ctx.frame };
      if (this.payload) {
        if (!this.readPayload()) return;
      } else if (this.crlfOwed > 0) {
        const c = this.queue.at(0);
        if (c === 0x0d || c === 0x0a) {
          this.queue.consume(1);
          if (c === 0x0a) this.crlfOwed = 0;
          if (this.crlfOwed === 0) this.start = null;
          continue;
        }
        // The payload did not end where its size said: the framing is lost.
        this.fail('payload not followed by CRLF');
      } else if (!this.readLine() && !this.lost) return; // more bytes needed (a malformed line: resume after it)
    }
  }

  /**
   * After a malformed line: queued lines are dropped (counted) up to one that starts with an
   * operation, in place, line by line (linear however many bad lines a packet holds). False when
   * none is queued: a line not ended yet goes too, and the next packet resumes as after lost bytes.
   */
  private skipToOperation(): boolean {
    while (this.queue.length > 0) {
      if (OPERATION.test(this.queue.peek(Math.min(8, this.queue.length)).toString('latin1'))) {
        this.lost = false;
        return true;
      }
      const nl = this.queue.indexOfByte(0x0a, MAX_LINE);
      const n = nl < 0 ? this.queue.length : nl + 1;
      this.ctx.count('nats.resync_skipped', n);
      this.queue.consume(n);
    }
    return false;
  }

  /** Bytes lost: the framing is unknown until a line starts with an operation. */
  gap(): void {
    this.drop();
    this.afterGap = true;
  }

  private drop(): void {
    this.queue.clear();
    this.payload = null;
    this.crlfOwed = 0;
    this.start = null;
    this.lost = true;
  }

  /** `resume`: the bytes queued after the malformed line stay, read from the next operation line among them (skipToOperation). */
  private fail(why: string, resume = true): void {
    this.onMalformed(why);
    if (!resume) {
      // A line too long has not ended: nothing after it is queued to resume in.
      this.drop();
      return;
    }
    this.payload = null;
    this.crlfOwed = 0;
    this.start = null;
    this.lost = true;
  }

  /** Hand an operation on, marked when it is the first read after lost bytes. */
  private deliver(o: Op): void {
    if (this.afterGap) {
      o.gap = true;
      this.afterGap = false;
    }
    this.onOp(o);
  }

  private readLine(): boolean {
    const nl = this.queue.indexOfByte(0x0a, MAX_LINE);
    if (nl < 0) {
      if (this.queue.length >= MAX_LINE) this.fail('control line too long', false);
      return false;
    }
    const raw = this.queue.peek(nl + 1);
    const line = raw.toString('utf8', 0, nl > 0 && raw[nl - 1] === 0x0d ? nl - 1 : nl);
    this.queue.consume(nl + 1);
    const start = this.start ?? { time: this.ctx.now, frame: this.ctx.frame };
    if (line.trim() === '') {
      this.start = null;
      return true;
    }
    const sp = line.search(/[ \t]/);
    const op = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
    const args = rest === '' ? [] : rest.split(/[ \t]+/);
    const o: Op = { op, rec: { op }, size: nl + 1, time: start.time, frame: start.frame };
    switch (op) {
      case 'INFO':
      case 'CONNECT': {
        let json: unknown;
        try {
          json = JSON.parse(rest);
        } catch {
          json = undefined;
        }
        if (json === null || typeof json !== 'object' || Array.isArray(json)) {
          this.fail(`${op} without a JSON object`);
          return false;
        }
        o.rec[op === 'INFO' ? 'info' : 'connect'] = op === 'CONNECT' ? maskNatsConnect(json as Record<string, unknown>) : json;
        break;
      }
      case 'PUB':
      case 'HPUB':
      case 'MSG':
      case 'HMSG': {
        // PUB subj [reply] size · HPUB subj [reply] hdr total · MSG subj sid [reply] size · HMSG subj sid [reply] hdr total
        const fixed = (op === 'MSG' || op === 'HMSG' ? 2 : 1) + (op[0] === 'H' ? 2 : 1);
        if (args.length !== fixed && args.length !== fixed + 1) return this.bad(line);
        const sizes = args.slice(op[0] === 'H' ? -2 : -1).map(Number);
        const total = sizes[sizes.length - 1];
        const hdr = op[0] === 'H' ? sizes[0] : 0;
        if (!sizes.every((n) => Number.isSafeInteger(n) && n >= 0) || total > MAX_PAYLOAD || hdr > total) return this.bad(line);
        o.rec.subject = args[0];
        if (op === 'MSG' || op === 'HMSG') o.rec.sid = args[1];
        if (args.length === fixed + 1) o.rec.replyTo = args[op === 'MSG' || op === 'HMSG' ? 2 : 1];
        this.payload = { op: o, remaining: total, total, parts: [], kept: 0, headerBytes: hdr };
        return true;
      }
      case 'SUB':
        if (args.length < 2 || args.length > 3) return this.bad(line);
        o.rec.subject = args[0];
        if (args.length === 3) o.rec.queue = args[1];
        o.rec.sid = args[args.length - 1];
        break;
      case 'UNSUB':
        if (args.length < 1 || args.length > 2) return this.bad(line);
        o.rec.sid = args[0];
        if (args.length === 2) {
          const max = decimalInteger(args[1]);
          if (max === undefined) return this.bad(line);
          o.rec.max = max;
        }
        break;
      case '-ERR':
        o.rec.message = truncate(rest.replace(/^'|'$/g, ''), 1024);
        break;
      case 'PING':
      case 'PONG':
      case '+OK':
        break;
      default:
        return this.bad(line);
    }
    this.start = null;
    this.deliver(o);
    return true;
  }

  private bad(line: string): false {
    this.fail(`bad control line "${printable(Buffer.from(line.slice(0, 40)), 40)}"`);
    return false;
  }

  private readPayload(): boolean {
    const p = this.payload!;
    const n = Math.min(p.remaining, this.queue.length);
    const room = p.headerBytes + this.keep - p.kept;
    if (n > 0) {
      if (room > 0) {
        const part = this.queue.take(Math.min(room, n));
        p.parts.push(part);
        p.kept += part.length;
        this.queue.consume(n - part.length);
      } else this.queue.consume(n);
      p.remaining -= n;
      p.op.size += n;
    }
    if (p.remaining > 0) return false;
    this.payload = null;
    this.crlfOwed = 2;
    p.op.size += 2;
    const data = p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.kept);
    const rec = p.op.rec;
    if (p.headerBytes > 0) parseHeaders(rec, data.subarray(0, p.headerBytes));
    const body = data.subarray(p.headerBytes);
    const bodySize = p.total - p.headerBytes;
    rec.bodySize = bodySize;
    if (!this.ctx.options.noBodies) {
      const shown = body.subarray(0, this.keep);
      if (looksLikeText(shown)) rec.body = shown.toString('utf8');
      else {
        rec.body = shown.toString('base64');
        rec.bodyEncoding = 'base64';
      }
      if (shown.length < bodySize) rec.bodyTruncated = true;
    }
    this.deliver(p.op);
    return true;
  }
}

/** `NATS/1.0[ status description]` then `Name: value` lines (HPUB/HMSG headers). */
function parseHeaders(rec: Record<string, any>, h: Buffer): void {
  const lines = h.toString('utf8').split('\r\n');
  const m = /^NATS\/1\.0(?: (\d{3})(?: (.*))?)?$/.exec(lines[0] ?? '');
  if (!m) {
    rec.headersMalformed = true;
    return;
  }
  if (m[1]) rec.status = Number(m[1]);
  if (m[2]) rec.statusDescription = m[2];
  const headers: Record<string, string | string[]> = {};
  let n = 0;
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0 || n >= MAX_HEADERS) continue;
    const k = line.slice(0, i).trim();
    const v = truncate(line.slice(i + 1).trim(), 1024);
    const prev = headers[k];
    headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    n++;
  }
  rec.headers = headers;
}

export class NatsParser implements TcpStreamParser {
  private readonly readers: Record<Direction, OpReader>;
  private verbose = false;
  /**
   * Whether the connection is in verbose mode is known: its CONNECT was read,
   * or the server's `+OK`, a PONG or the time since a client operation showed
   * it. Until then (captured mid-connection, or its CONNECT lost) client
   * operations wait for an acknowledgement that may not come.
   */
  private modeKnown = false;
  private readonly acks: Pending[] = [];
  private readonly replies = new Map<string, Pending>();
  private readonly pings: Record<Direction, Op[]> = { c2s: [], s2c: [] };
  /** Malformed bytes skipped on each side since its last operation: said on the next one. */
  private readonly badBytes: Record<Direction, string[]> = { c2s: [], s2c: [] };
  /**
   * Lost bytes may have held a PING (by the side named) or its PONG: PONGs
   * answer PINGs in order, so the pairing is in doubt until the side's PINGs
   * have all been answered. The same for the verbose server's +OKs (`acks`).
   */
  private readonly pingLoss: Record<Direction, boolean> = { c2s: false, s2c: false };
  private ackLoss = false;
  /** Bytes of this side lost and none of its operations read since: the one the loss took may explain what the other side sends next. */
  private readonly lossUnread: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** The server's INFO was read and the client has sent nothing yet: a TLS upgrade may start here. */
  private upgradeAllowed = false;
  /** After the upgrade: the TLS session, read as TLS (its tls entry, or with --tls-keylog the NATS inside). */
  private tls: TunnelStream | null = null;

  constructor(private readonly ctx: ConnectionContext) {
    const keep = ctx.options.noBodies ? 0 : ctx.options.maxBody;
    this.readers = {
      c2s: new OpReader(ctx, keep, (o) => this.onOp('c2s', o), (w) => this.malformed('c2s', w)),
      s2c: new OpReader(ctx, keep, (o) => this.onOp('s2c', o), (w) => this.malformed('s2c', w)),
    };
  }

  onData(dir: Direction, data: Buffer): void {
    if (!this.tls && dir === 'c2s' && this.upgradeAllowed && isTlsHandshake(data)) {
      // The client answers INFO with a ClientHello (the server asked for tls_required): TLS from here on.
      this.tls = new TunnelStream(this.ctx, undefined, 'nats.tls');
    }
    if (this.tls) {
      this.tls.onData(dir, data);
      return;
    }
    if (dir === 'c2s') this.upgradeAllowed = false;
    this.readers[dir].push(data);
  }

  onGap(dir: Direction, length: number): void {
    if (this.tls) {
      this.tls.onGap(dir, length);
      return;
    }
    this.ctx.count('nats.gap');
    this.readers[dir].gap();
    // What waited for an answer may have had it in the lost bytes; answers paired in order are in doubt.
    for (const p of this.acks) p.op.gap = true;
    for (const p of this.replies.values()) p.op.gap = true;
    for (const d of ['c2s', 's2c'] as const) for (const o of this.pings[d]) o.gap = true;
    // PINGs (and, client side, acknowledged operations) lost in them leave later answers paired one off;
    // answers lost in them, the ones still awaited.
    const other: Direction = dir === 'c2s' ? 's2c' : 'c2s';
    this.pingLoss[dir] = true;
    this.lossUnread[dir] = true;
    if (this.pings[other].length > 0) this.pingLoss[other] = true;
    if (dir === 'c2s' || this.acks.length > 0) this.ackLoss = true;
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.tls?.onTick(nowMs, timeoutMs);
    const old = (p: Pending) => nowMs - p.op.time > timeoutMs;
    if (!this.modeKnown && this.acks.length > 0 && nowMs - this.acks[0].op.time > VERBOSE_UNKNOWN_MS) this.learnMode(false);
    while (this.acks.length > 0 && old(this.acks[0])) this.expire(this.acks.shift()!);
    for (const [k, p] of this.replies) if (old(p)) {
      this.replies.delete(k);
      this.expire(p);
    }
    for (const dir of ['c2s', 's2c'] as const) {
      const pings = this.pings[dir];
      while (pings.length > 0 && nowMs - pings[0].time > timeoutMs) this.emit(dir, pings.shift()!, null, false);
    }
  }

  pendingSince(): number | undefined {
    let min: number | undefined;
    const see = (t: number | undefined) => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    for (const p of this.acks) if (!p.silent) see(p.op.time);
    for (const p of this.replies.values()) see(p.op.time);
    see(this.pings.c2s[0]?.time);
    see(this.pings.s2c[0]?.time);
    see(this.readers.c2s.messageStart);
    see(this.readers.s2c.messageStart);
    see(this.tls?.pendingSince());
    return min;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof' = 'eof'): void {
    this.tls?.onEnd(reason);
    for (const dir of ['c2s', 's2c'] as const) if (this.readers[dir].messageStart !== undefined) this.ctx.count('nats.truncated');
    // No +OK came for them: not verbose.
    if (!this.modeKnown) this.learnMode(false);
    const left = new Set<Pending>([...this.acks, ...this.replies.values()]);
    this.acks.length = 0;
    this.replies.clear();
    for (const p of left) this.expire(p);
    for (const dir of ['c2s', 's2c'] as const) for (const p of this.pings[dir].splice(0)) this.emit(dir, p, null, false);
  }

  private malformed(dir: Direction, why: string): void {
    this.ctx.count('nats.malformed');
    const bad = this.badBytes[dir];
    const w = `malformed: ${why}`;
    if (bad.length < 4 && !bad.includes(w)) bad.push(w);
  }

  private onOp(dir: Direction, o: Op): void {
    o.rec.from = dir === 'c2s' ? 'client' : 'server';
    if (this.badBytes[dir].length > 0) o.malformed = this.badBytes[dir].splice(0);
    const other: Direction = dir === 'c2s' ? 's2c' : 'c2s';
    const otherLost = this.lossUnread[other];
    this.lossUnread[dir] = false;
    switch (o.op) {
      case 'PING':
        if (this.pings[dir].length >= MAX_PENDING) this.emit(dir, this.pings[dir].shift()!, null, false);
        if (this.pingLoss[dir]) o.gap = true;
        this.pings[dir].push(o);
        return;
      case 'PONG': {
        // A verbose server acknowledges every operation before it answers a PING sent after them.
        if (dir === 's2c' && !this.modeKnown && this.acks.some((p) => p.maybeAck && p.op.time <= (this.pings.c2s[0]?.time ?? -Infinity))) this.learnMode(false);
        const ping = this.pings[other].shift();
        if (ping) this.emit(other, ping, o, false);
        else this.ctx.count('nats.pong_unsolicited');
        // Every PING of that side answered: the PONGs have caught up.
        if (this.pings[other].length === 0) this.pingLoss[other] = false;
        return;
      }
      case '+OK':
      case '-ERR': {
        // Only a verbose server says +OK: the operations waiting had it coming.
        if (dir === 's2c' && o.op === '+OK' && !this.modeKnown && this.acks.length > 0) this.learnMode(true);
        const p = dir === 's2c' && !this.acks[0]?.maybeAck ? this.acks.shift() : undefined;
        // An acknowledgement of nothing waiting, after lost client bytes: the operation it answers was in them.
        if (!p && dir === 's2c' && o.op === '+OK' && this.ackLoss) o.gap = true;
        if (this.acks.length === 0) this.ackLoss = false;
        if (!p) {
          // Non-verbose servers send -ERR on their own (and close the connection).
          this.emit(dir, o, null, true);
          return;
        }
        p.ack = o;
        p.awaitAck = false;
        this.settle(p);
        return;
      }
      case 'INFO':
        this.emit(dir, o, null, true);
        if (dir === 's2c') this.upgradeAllowed = true;
        return;
    }
    if (o.op === 'CONNECT' && dir === 'c2s') {
      // Operations read before it (a capture whose CONNECT came late, after a gap) are not acknowledged by what follows.
      if (this.acks.some((p) => p.maybeAck)) this.learnMode(false);
      this.modeKnown = true;
      this.verbose = o.rec.connect?.verbose === true;
    }
    const isMessage = o.op === 'PUB' || o.op === 'HPUB' || o.op === 'MSG' || o.op === 'HMSG';
    // The reply to an earlier request?
    const answered = isMessage ? this.replies.get(o.rec.subject) : undefined;
    const maybeAck = dir === 'c2s' && !this.modeKnown && o.op !== 'CONNECT';
    const needsAck = dir === 'c2s' && (this.verbose || maybeAck);
    if (answered) {
      this.replies.delete(o.rec.subject);
      answered.reply = o;
      answered.awaitReply = null;
      this.settle(answered);
      if (needsAck) this.pushAck({ op: o, from: dir, awaitAck: true, awaitReply: null, ack: null, reply: null, silent: true, maybeAck });
      return;
    }
    const echoOf = isMessage && typeof o.rec.replyTo === 'string' ? this.replies.get(o.rec.replyTo) : undefined;
    if (echoOf && echoOf.from !== dir && echoOf.op.rec.subject === o.rec.subject) {
      // Our own request delivered back to us (we subscribe to its subject): a delivery, not a second request.
      this.emit(dir, o, null, true);
      if (needsAck) this.pushAck({ op: o, from: dir, awaitAck: true, awaitReply: null, ack: null, reply: null, silent: true, maybeAck });
      return;
    }
    const p: Pending = { op: o, from: dir, awaitAck: needsAck, awaitReply: isMessage && typeof o.rec.replyTo === 'string' ? o.rec.replyTo : null, ack: null, reply: null, silent: false, maybeAck };
    // A server message naming a reply subject, read right after lost client bytes: it may deliver back the
    // client's own request the loss took (not a request to this client), so what becomes of it says gap.
    if (p.awaitReply !== null && dir === 's2c' && otherLost) o.gap = true;
    if (p.awaitReply !== null) {
      if (this.replies.size >= MAX_PENDING) {
        this.ctx.count('nats.pending_overflow');
        const [k, first] = this.replies.entries().next().value as [string, Pending];
        this.replies.delete(k);
        this.expire(first);
      }
      const prev = this.replies.get(p.awaitReply);
      if (prev) this.expire(prev);
      this.replies.set(p.awaitReply, p);
    }
    if (needsAck) this.pushAck(p);
    this.settle(p);
  }

  /** What the connection showed of its mode: the operations that waited for an acknowledgement that may not come are settled. */
  private learnMode(verbose: boolean): void {
    this.modeKnown = true;
    this.verbose = verbose;
    if (verbose || this.acks.some((p) => p.maybeAck)) this.ctx.count(verbose ? 'nats.verbose_inferred' : 'nats.quiet_inferred');
    if (verbose) {
      for (const p of this.acks) p.maybeAck = false;
      return;
    }
    const waiting = this.acks.filter((p) => p.maybeAck);
    const kept = this.acks.filter((p) => !p.maybeAck);
    this.acks.length = 0;
    this.acks.push(...kept);
    for (const p of waiting) {
      p.awaitAck = false;
      p.maybeAck = false;
      this.settle(p);
    }
  }

  private pushAck(p: Pending): void {
    if (this.ackLoss) p.op.gap = true;
    if (this.acks.length >= MAX_PENDING) {
      this.ctx.count('nats.pending_overflow');
      const old = this.acks.shift()!;
      old.awaitAck = false;
      this.settle(old);
    }
    this.acks.push(p);
  }

  /** Emit once nothing more is awaited. */
  private settle(p: Pending): void {
    if (p.awaitAck || p.awaitReply !== null || p.silent) return;
    const answer = p.reply ?? p.ack;
    this.emit(p.from, p.op, answer, answer === null, p.reply !== null ? p.ack : null);
  }

  /** Waited too long, or the connection ended: emit what we have. */
  private expire(p: Pending): void {
    if (p.silent) return;
    const unanswered = p.awaitReply !== null || p.awaitAck;
    p.awaitAck = false;
    if (p.awaitReply !== null) this.replies.delete(p.awaitReply);
    p.awaitReply = null;
    const answer = p.reply ?? p.ack;
    this.emit(p.from, p.op, answer, false, p.reply !== null ? p.ack : null, unanswered);
  }

  private emit(dir: Direction, o: Op, answer: Op | null, oneWay: boolean, ack: Op | null = null, unanswered = !oneWay && answer === null): void {
    const response = answer ? { ...answer.rec } : null;
    if (response && ack) response.ack = ack.op;
    const err = o.op === '-ERR' || answer?.op === '-ERR' || ack?.op === '-ERR' || (typeof answer?.rec.status === 'number' && answer.rec.status >= 500) || unanswered;
    const call: CallRecord = {
      protocol: 'nats',
      request: o.rec,
      response,
      requestTime: o.time,
      requestFrame: o.frame,
      requestSize: o.size,
      responseSize: (answer?.size ?? 0) + (ack?.size ?? 0),
      error: err,
      // A request acknowledged (+OK) whose reply never came: the ack alone would read as a success.
      summary: `${describe(o)} → ${answer ? describe(answer) + (unanswered ? ', no reply' : '') : unanswered ? 'unanswered' : '(no response)'}`,
    };
    if (answer) {
      call.responseTime = answer.time;
      call.responseFrame = answer.frame;
    }
    void dir;
    const warnings = [...new Set([...(o.malformed ?? []), ...(answer?.malformed ?? []), ...(ack?.malformed ?? [])])];
    if (o.gap || answer?.gap || ack?.gap) warnings.push('gap');
    if (unanswered) warnings.push('unanswered');
    if (warnings.length > 0) call.warnings = warnings;
    this.ctx.emit(call);
  }
}

function describe(o: Op): string {
  const r = o.rec;
  switch (o.op) {
    case 'INFO':
      return `INFO ${truncate(String(r.info?.server_name ?? r.info?.server_id ?? ''), 40)} ${truncate(String(r.info?.version ?? ''), 20)}`.trim();
    case '-ERR':
      return `-ERR ${truncate(String(r.message ?? ''), 80)}`;
    case 'SUB':
      return `SUB ${truncate(String(r.subject), 80)}`;
    case 'UNSUB':
      return `UNSUB ${String(r.sid)}`;
    case 'PUB':
    case 'HPUB':
    case 'MSG':
    case 'HMSG':
      return `${o.op} ${truncate(String(r.subject), 80)}${typeof r.status === 'number' ? ` ${r.status}` : ''}`;
    default:
      return o.op;
  }
}

const OPERATION = /^(INFO|CONNECT|PUB|HPUB|SUB|UNSUB|MSG|HMSG|PING|PONG|\+OK|-ERR)[ \t\r\n]/i;

/** Offset of the first line of `data` (its start, or just after a LF) that begins with an operation name; `data.length` when none does. */
function nextOperationLine(data: Buffer): number {
  for (let at = 0; at < data.length; ) {
    if (OPERATION.test(data.subarray(at, at + 8).toString('latin1'))) return at;
    const nl = data.indexOf(0x0a, at);
    if (nl < 0) break;
    at = nl + 1;
  }
  return data.length;
}

const CLIENT_OPS = /^(CONNECT \{|PUB |HPUB |SUB |UNSUB )/i;
/** Either side pings (a server checks on idle clients): they say nothing of which side is the client. */
const EITHER_OPS = /^(PING|PONG)\r?\n/i;
const SERVER_OPS = /^(INFO \{|MSG |HMSG |\+OK\r?\n|-ERR )/i;

/** `INFO {` (server greeting) and `CONNECT {` are NATS on any port; on 4222 any operation is. */
export function probeNats(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const head = data.subarray(0, 10).toString('latin1');
  if (head.length < 9 && ('INFO {'.startsWith(head) || 'CONNECT {'.startsWith(head))) return 'need-more';
  if (head.startsWith('INFO {')) return 'response';
  if (head.startsWith('CONNECT {')) return 'request';
  if (!portMatch) return false;
  if (CLIENT_OPS.test(head)) return 'request';
  if (SERVER_OPS.test(head)) return 'response';
  if (EITHER_OPS.test(head)) return 'stream';
  return head.length < 6 && /^[A-Z+-]*$/i.test(head) ? 'need-more' : false;
}

export const nats: ProtocolDissector = {
  name: 'nats',
  transport: 'tcp',
  ports: [4222],
  priority: 45,
  reference: 'https://docs.nats.io/reference/reference-protocols/nats-protocol',
  probe(data, portMatch) {
    try {
      return probeNats(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new NatsParser(ctx);
  },
};

/** A TLS handshake record (a ClientHello starts 0x16 0x03 0x01–0x04): never how a NATS operation starts. */
function isTlsHandshake(data: Buffer): boolean {
  return data.length >= 3 && data[0] === 0x16 && data[1] === 0x03 && data[2] <= 0x04;
}
