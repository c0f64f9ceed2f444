// The machinery the length-prefixed binary protocols share (MongoDB, Cassandra
// CQL, LDAP, Diameter): a bounded byte queue per direction cut into whole
// messages by a protocol's own length rule, messages too big to keep skipped
// after their head, reading resumed after a gap at the first segment that
// starts with a message (answers pair by id, so none is paired with another's
// request), and a table of requests awaiting their answer keyed by the
// protocol's id (requestID, stream id, messageID, hop-by-hop id) with the
// timeout, pendingSince and end-of-capture flushing every dissector needs.
// A protocol file only says how long a message is and what it means.

import type { CallRecord, ConnectionContext, Direction, TcpStreamParser } from '../../api.js';
import { ByteQueue } from '../../byte-queue.js';
import { MessageStarts, type Stamp } from './message-start.js';
import { TunnelStream } from './tunnel-stream.js';

/** Verdict of a protocol's length rule on the head of a direction's queue. */
export type FrameLength = number | 'need-more' | 'bad';

/** One request awaiting its answer. */
export interface PendingCall {
  request: Record<string, any>;
  time: number;
  frame: number;
  size: number;
  warnings: string[];
  /** Protocol state carried until the answer (LDAP search entries, the request's version). */
  state?: any;
}

/** Default bounds; a protocol may pass its own. */
export interface FramedLimits {
  /** Messages above this are read by their first `headBytes` only, the rest skipped and counted. */
  maxMessage: number;
  /** Bytes of a too-big message kept for its header. */
  headBytes: number;
  /** Requests awaiting an answer; the oldest is emitted unanswered past this. */
  maxPending: number;
}

const DEFAULT_LIMITS: FramedLimits = { maxMessage: 4 * 1024 * 1024, headBytes: 4096, maxPending: 1000 };

export abstract class FramedParser implements TcpStreamParser {
  protected readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private readonly skip: Record<Direction, number> = { c2s: 0, s2c: 0 };
  protected readonly dead: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** After a gap: segments are dropped (counted) until one starts with a message. */
  private readonly resync: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** Bytes were lost: an answer whose request is not known may have lost it there (it says `gap`). */
  private lossSeen = false;
  /** The message being handed to onMessage lost bytes (its call says `gap`). */
  private messageLostBytes = false;
  /** Requests awaiting their answer, in arrival order (Map keeps insertion order). */
  protected readonly pending = new Map<string | number, PendingCall>();
  protected readonly starts: MessageStarts;
  private readonly limits: FramedLimits;
  /** After a StartTLS the server accepted: the TLS session, read as TLS (its tls entry, or with --tls-keylog the protocol inside). */
  private tls: TunnelStream | null = null;

  constructor(
    protected readonly ctx: ConnectionContext,
    /** Protocol name: entries' protocol and the counters' prefix. */
    protected readonly name: string,
    limits: Partial<FramedLimits> = {},
  ) {
    this.starts = new MessageStarts(ctx);
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Whole length (header included) of the message at the head of `head`. */
  protected abstract frameLength(dir: Direction, head: Buffer): FrameLength;
  /** Bytes the length rule needs to see. */
  protected abstract readonly headerBytes: number;
  /** One whole message (or, when `cut`, its first bytes). `at`: its first packet. */
  protected abstract onMessage(dir: Direction, msg: Buffer, wireSize: number, cut: boolean, at: Stamp): void;
  /** The one-line summary of a call. */
  protected abstract summarize(req: Record<string, any> | null, res: Record<string, any> | null): string;

  /**
   * Whether reading may resume after a gap in `dir` (a protocol whose messages cannot be told
   * from the middle of others, CQL v5's segments, says no).
   */
  protected canResync(_dir: Direction): boolean {
    return true;
  }

  /**
   * Whether a segment after a gap starts with a message: its length rule reads a message that
   * the segment holds whole, or that continues past it, and a second one where the first ends.
   * A protocol adds what its header must also say.
   */
  protected startsMessage(dir: Direction, data: Buffer): boolean {
    if (data.length < this.headerBytes) return false;
    const size = this.frameLength(dir, data.subarray(0, this.headerBytes));
    if (typeof size !== 'number' || size < this.headerBytes || size > this.limits.maxMessage) return false;
    if (data.length < size + this.headerBytes) return true;
    const next = this.frameLength(dir, data.subarray(size, size + this.headerBytes));
    return typeof next === 'number' && next >= this.headerBytes;
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.tls) {
      this.tls.onData(dir, data);
      return;
    }
    if (this.dead[dir]) return;
    try {
      if (this.resync[dir]) {
        if (!this.startsMessage(dir, data)) {
          this.ctx.count(`${this.name}.gap_dropped`, data.length);
          return;
        }
        this.resync[dir] = false;
      }
      if (this.skip[dir] > 0) {
        const n = Math.min(this.skip[dir], data.length);
        this.skip[dir] -= n;
        data = data.subarray(n);
        if (data.length === 0) return;
      }
      this.starts.push(dir, this.queues[dir].length);
      this.queues[dir].push(data);
      this.drain(dir);
    } catch {
      this.ctx.count(`${this.name}.internal`);
      this.kill(dir);
    }
  }

  onGap(dir: Direction, length: number): void {
    if (this.tls) {
      this.tls.onGap(dir, length);
      return;
    }
    this.ctx.count(`${this.name}.gap`, length);
    this.lossSeen = true;
    // The framing survives (SCTP's lengths are estimates: not there): reading goes on at the next message,
    // and only the message the loss cut is in doubt.
    if (!this.dead[dir] && this.ctx.transport !== 'sctp' && this.gapInsideMessage(dir, length)) return;
    if (this.dead[dir]) {
      // already given up on
    } else if (this.ctx.transport !== 'sctp' && !this.canResync(dir)) {
      // Length prefixes are lost with the bytes: this direction cannot be cut into messages any more.
      this.kill(dir);
    } else {
      // SCTP hands over whole user messages: what follows a hole starts a message, so reading
      // resumes there. Over TCP, at the first segment that starts with one.
      const queued = this.queues[dir].length;
      if (queued > 0) this.ctx.count(`${this.name}.gap_dropped`, queued);
      this.queues[dir].clear();
      this.skip[dir] = 0;
      this.starts.taken(dir, 0);
      if (this.ctx.transport !== 'sctp') this.resync[dir] = true;
    }
    for (const p of this.pending.values()) p.warnings.push('gap');
  }

  /**
   * Lost bytes that end inside the message being read (a snap length's cut:
   * `tcpdump -s 96` keeps a segment's first bytes, the rest is a gap right
   * after them): its length, in its header, says where the next one starts.
   * The message is read from what is there (cut, its call says `gap`) and the
   * rest of it skipped. False when the loss runs past its end (or no head is
   * queued): the framing is lost with the bytes.
   */
  private gapInsideMessage(dir: Direction, length: number): boolean {
    if (this.skip[dir] > 0) {
      // Inside a message too big to keep, already read by its head.
      if (length > this.skip[dir]) return false;
      this.skip[dir] -= length;
      return true;
    }
    const q = this.queues[dir];
    if (q.length < this.headerBytes) return false;
    const size = this.frameLength(dir, q.peek(this.headerBytes));
    if (typeof size !== 'number' || size < this.headerBytes || q.length >= size || q.length + length > size) return false;
    const at = this.starts.head(dir);
    const have = q.length;
    const head = Buffer.from(q.peek(Math.min(have, this.limits.headBytes)));
    q.consume(have);
    this.starts.taken(dir, 0);
    this.skip[dir] = size - have - length;
    this.ctx.count(`${this.name}.cut_messages`);
    this.messageLostBytes = true;
    try {
      this.onMessage(dir, head, size, true, at);
    } finally {
      this.messageLostBytes = false;
    }
    return true;
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.tls?.onTick(nowMs, timeoutMs);
    for (const [key, p] of [...this.pending]) {
      if (nowMs - p.time > timeoutMs) {
        this.pending.delete(key);
        this.emitUnanswered(p);
      }
    }
  }

  /** The oldest request awaiting its answer, or a message read in part. */
  pendingSince(): number | undefined {
    let min: number | undefined;
    for (const p of this.pending.values()) {
      min = p.time;
      break;
    }
    for (const dir of ['c2s', 's2c'] as const) {
      const reading = this.dead[dir] ? undefined : this.starts.partial(dir, this.queues[dir].length);
      if (reading !== undefined && (min === undefined || reading < min)) min = reading;
    }
    const inTls = this.tls?.pendingSince();
    if (inTls !== undefined && (min === undefined || inTls < min)) min = inTls;
    return min;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof' = 'eof'): void {
    this.tls?.onEnd(reason);
    // A message cut off by the end of the capture cannot be read: counted, not silently gone.
    for (const dir of ['c2s', 's2c'] as const) if (!this.tls && !this.dead[dir] && this.queues[dir].length > 0) this.ctx.count(`${this.name}.truncated`);
    for (const p of this.pending.values()) this.emitUnanswered(p);
    this.pending.clear();
  }

  /**
   * TLS from here on (LDAP's StartTLS answered with success): the bytes
   * already queued behind the answer (a ClientHello may have come with it)
   * and all that follow are read as TLS.
   */
  protected startTls(): void {
    this.tls = TunnelStream.takingOver(this.ctx, `${this.name}.tls`, this.queues);
  }

  protected kill(dir: Direction): void {
    this.dead[dir] = true;
    this.queues[dir].clear();
  }

  private drain(dir: Direction): void {
    const q = this.queues[dir];
    while (!this.dead[dir] && q.length >= this.headerBytes) {
      const size = this.frameLength(dir, q.peek(this.headerBytes));
      if (size === 'need-more') return;
      if (size === 'bad' || size < this.headerBytes) {
        this.ctx.count(`${this.name}.malformed`);
        this.kill(dir);
        return;
      }
      if (size > this.limits.maxMessage) {
        // The head is read for the call; the rest is skipped as it arrives.
        if (q.length < this.limits.headBytes) return;
        const at = this.starts.head(dir);
        const head = Buffer.from(q.peek(this.limits.headBytes));
        const have = Math.min(q.length, size);
        q.consume(have);
        this.starts.taken(dir, q.length);
        this.skip[dir] = size - have;
        this.ctx.count(`${this.name}.oversize`);
        this.onMessage(dir, head, size, true, at);
        continue;
      }
      if (q.length < size) return;
      const at = this.starts.head(dir);
      const msg = q.take(size);
      this.starts.taken(dir, q.length);
      this.onMessage(dir, msg, size, false, at);
    }
  }

  /** Remember a request until its answer; a duplicate id or a full table emits the older one unanswered. */
  protected addPending(key: string | number, p: PendingCall): void {
    const previous = this.pending.get(key);
    if (previous) {
      this.pending.delete(key);
      previous.warnings.push('duplicate id');
      this.emitUnanswered(previous);
    }
    if (this.pending.size >= this.limits.maxPending) {
      const [oldestKey, oldest] = this.pending.entries().next().value as [string | number, PendingCall];
      this.pending.delete(oldestKey);
      this.ctx.count(`${this.name}.pending_overflow`);
      this.emitUnanswered(oldest);
    }
    this.pending.set(key, p);
  }

  protected takePending(key: string | number): PendingCall | undefined {
    const p = this.pending.get(key);
    if (p) this.pending.delete(key);
    return p;
  }

  /** A call with its answer (or an answer whose request was not captured, `req` undefined). */
  protected emitCall(
    req: PendingCall | undefined,
    response: Record<string, any>,
    responseSize: number,
    error: boolean,
    start: Stamp,
    warnings: string[] = [],
    /** A message the server sends unasked (an event): no request is missing. */
    unsolicited = false,
    /** When and in which frame the answer completed: the current packet, unless it was held (Diameter over SCTP). */
    answered: Stamp = { time: this.ctx.now, frame: this.ctx.frame },
  ): void {
    const record: CallRecord = {
      protocol: this.name,
      request: req ? req.request : null,
      response,
      requestTime: req ? req.time : start.time,
      requestFrame: req ? req.frame : start.frame,
      responseTime: answered.time,
      responseFrame: answered.frame,
      requestSize: req ? req.size : 0,
      responseSize,
      error,
      summary: this.summarize(req?.request ?? null, response),
    };
    const all = [
      ...(req?.warnings ?? []),
      ...warnings,
      ...(req || unsolicited ? [] : this.lossSeen ? ['request not captured', 'gap'] : ['request not captured']),
      ...(this.messageLostBytes ? ['gap'] : []),
    ];
    if (all.length > 0) record.warnings = [...new Set(all)];
    this.ctx.emit(record);
  }

  /** A request that gets no answer by design (`expected` false) or never got one. */
  protected emitUnanswered(p: PendingCall, expected = true): void {
    const all = expected ? [...p.warnings, 'unanswered'] : p.warnings;
    const record: CallRecord = {
      protocol: this.name,
      request: p.request,
      response: null,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: 0,
      error: expected,
      summary: this.summarize(p.request, null),
    };
    if (all.length > 0) record.warnings = [...new Set(all)];
    this.ctx.emit(record);
  }

  protected pendingCall(request: Record<string, any>, size: number, at: Stamp, warnings: string[] = []): PendingCall {
    return { request, time: at.time, frame: at.frame, size, warnings: this.messageLostBytes && !warnings.includes('gap') ? [...warnings, 'gap'] : warnings };
  }
}
