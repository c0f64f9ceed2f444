// PostgreSQL frontend/backend protocol v3: startup (user, database), SSL and
// GSS encryption requests (TLS then read as TLS, with the session inside it
// when a key log has its secrets; GSS encryption left alone), simple
// Query, extended query (Parse/Bind/Execute … Sync), COPY. A call runs from
// the client's message(s) to the server's ReadyForQuery; CommandComplete tags
// give row counts and ErrorResponse (SQLSTATE, message) marks the call an error.
// A pipeline (several Parse/Bind … Execute before one Sync: libpq pipeline
// mode, pgx batches, JDBC batches) is one call per Execute, each ended by its
// own outcome, so an error names the statement that failed; the statements
// the server skipped after it are `aborted`. Statements only prepared (several
// Parses before one Sync) are a call each too. A NotificationResponse (LISTEN/
// NOTIFY) is an entry of its own, with no request.
// Spec: https://www.postgresql.org/docs/current/protocol-message-formats.html

import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { decimalInteger, truncate } from './util/text.js';
import { MessageStarts, type Stamp } from './util/message-start.js';
import { TunnelStream } from './util/tunnel-stream.js';
import { currentMeter } from '../memory-budget.js';

const PROTOCOL_V3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** A single message larger than this is skipped unparsed, not buffered. */
const MAX_MESSAGE = 1024 * 1024;
const MAX_PENDING_CALLS = 1000;
/**
 * Pipelined statements waiting for their outcome, each a call of its own; past this a
 * statement joins the call before it (counted, postgresql.pipeline_overflow_folded) until answers
 * come, so a pipeline of thousands holds a bounded number of calls and still pairs right.
 */
const MAX_PIPELINED_CALLS = 256;
const MAX_QUERY_TEXT = 16 * 1024;
const MAX_PARAMS_SHOWN = 32;
/**
 * Prepared statements and portals remembered per connection (by name, for the Bind and Execute
 * that use them). A statement keeps the MAX_QUERY_TEXT its calls show, a name MAX_NAME (the
 * server's own names stop at 63 bytes): they kept whole messages, 1,000 Parses of 1 MB held 1 GB.
 * What they keep is charged to the flow's memory budget; past the count, `postgresql.statements_dropped`.
 */
const MAX_STATEMENTS = 1000;
const MAX_NAME = 256;
/**
 * CommandComplete tags and notices one call lists: a server may send millions for one query (a
 * 22 MB capture made an entry of 1.6M tags). Past it they are counted (`commandTagsNotListed`,
 * `noticesNotListed`; `postgresql.list_truncated`), and `rows` still sums every tag.
 */
const MAX_LISTED = 100;
/** A notice's text kept (its message may be up to MAX_MESSAGE). */
const MAX_NOTICE_TEXT = 1024;

/** Backend messages that can begin the answer to extended-query messages before their Sync. */
const EXTENDED_REPLY_START = new Set(['1', '2', 't', 'n', 'E']);
const FRONTEND_TYPES = new Set('QPBDESHCXpdcfF'.split(''));
/** Frontend messages the server answers (with the Sync or Flush after the extended ones); not Terminate or COPY data. */
const ANSWERED_FRONTEND = new Set('QPBDESHCF'.split(''));
const BACKEND_TYPES = new Set('RSKZTDCEIN12 3ntsGHWdcAVv'.replace(/ /g, '').split(''));

const AUTH_METHODS: Record<number, string> = {
  0: 'ok', 2: 'kerberos', 3: 'cleartext', 5: 'md5', 7: 'gss', 8: 'gss-continue', 9: 'sspi', 10: 'sasl',
  11: 'sasl-continue', 12: 'sasl-final',
};

// ---------------------------------------------------------------- probing

function cstringEnd(buf: Buffer, from: number, end: number): number {
  const i = buf.indexOf(0, from);
  return i < 0 || i >= end ? -1 : i;
}

/** Typed messages that fill `data` (the last may be cut); true when at least one is complete and all are plausible. */
function plausibleTyped(data: Buffer, types: Set<string>): boolean {
  let off = 0;
  let complete = 0;
  while (off + 5 <= data.length) {
    const type = String.fromCharCode(data[off]);
    const len = data.readUInt32BE(off + 1);
    if (!types.has(type) || len < 4 || len > MAX_MESSAGE) return false;
    if (off + 1 + len > data.length) break;
    complete++;
    off += 1 + len;
  }
  return complete > 0;
}

export function probePostgres(data: Buffer, portMatch: boolean): Probe {
  if (data.length < 8) return data.length > 0 && (data[0] === 0 || (portMatch && FRONTEND_TYPES.has(String.fromCharCode(data[0])))) ? 'need-more' : false;
  const len = data.readUInt32BE(0);
  const code = data.readUInt32BE(4);
  if ((code === SSL_REQUEST || code === GSSENC_REQUEST) && len === 8) return 'request';
  if (code === CANCEL_REQUEST && len === 16) return 'request';
  if (code === PROTOCOL_V3 && len >= 9 && len <= 10000) {
    // Parameter pairs: "user\0name\0…\0".
    const head = data.subarray(8, Math.min(len, data.length));
    const nameEnd = head.indexOf(0);
    return head.length === 0 || (nameEnd > 0 && /^[a-z_]+$/.test(head.toString('latin1', 0, nameEnd))) ? 'request' : false;
  }
  // Mid-connection: a simple query ("Q" + length + text + NUL) or a backend message run.
  if (data[0] === 0x51 /* Q */) {
    const qlen = data.readUInt32BE(1);
    if (qlen >= 5 && qlen <= MAX_MESSAGE && (qlen + 1 > data.length || data[qlen] === 0)) {
      const text = data.subarray(5, Math.min(1 + qlen - 1, data.length, 64)).toString('latin1');
      if (/^[\s(]*[A-Za-z]/.test(text)) return 'request';
    }
  }
  if (!portMatch) return false;
  if (plausibleTyped(data, FRONTEND_TYPES) && 'PBEQ'.includes(String.fromCharCode(data[0]))) return 'request';
  if (plausibleTyped(data, BACKEND_TYPES) && 'RTDCEZ1'.includes(String.fromCharCode(data[0]))) return 'response';
  return false;
}

// ---------------------------------------------------------------- parsing

interface Call {
  kind: 'startup' | 'query' | 'extended' | 'function' | 'cancel';
  request: Record<string, any>;
  requestTime: number;
  requestFrame: number;
  requestSize: number;
  /** Extended queries gather until Sync; startup and simple queries are complete at once. */
  sealed: boolean;
  /**
   * A pipelined statement another one followed before the Sync: its reply ends with its
   * Execute's outcome (CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse),
   * not with ReadyForQuery.
   */
  endsAtOutcome?: boolean;
  /** Outcomes the server sent for this call's Executes (more than one when a long pipeline folded statements into it). */
  outcomes?: number;
  /** An outcome was an error: the server skips the rest of the pipeline. */
  failed?: boolean;
  /** Pipelined statements that joined this call (too many calls were waiting). */
  folded?: number;
  /** Its last statement has been executed: a Parse or Bind from here on starts the next statement. */
  executedLast?: boolean;
  /** Parse, Describe and Close messages it holds, and the replies that end each (ParseComplete, RowDescription or NoData, CloseComplete). */
  prepares?: number;
  prepared?: number;
  /** A Parse is among its messages. */
  parsed?: boolean;
  /** A Bind is among its messages: a Parse after it belongs to it (Parse, Bind, Parse … is not a prepare-only batch). */
  bound?: boolean;
  /**
   * Only prepared (Parse, Describe, Close; no Bind or Execute) and another Parse followed before
   * the Sync (JDBC, psycopg, pgbench -M prepared prepare several statements at once): its reply
   * ends with the answer to its last message, not with ReadyForQuery.
   */
  prepareOnly?: boolean;
  response: Record<string, any> | null;
  responseSize: number;
  responseTime?: number;
  responseFrame?: number;
  warnings: string[];
}

class PostgresParser implements TcpStreamParser {
  private queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  /** Bytes of an oversized message still to skip, per direction. */
  private skip: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private clientStarted = false;
  /** A server byte has been read: its first one may still be the answer to an SSLRequest sent before the capture. */
  private serverStarted = false;
  private awaitingEncryptionReply: Call | null = null;
  /** The server's one-byte answer to `awaitingEncryptionReply` was lost: the client's next bytes tell which it was. */
  private encryptionReplyLost = false;
  private encrypted = false;
  /** After the server accepted an SSLRequest: the TLS session, dissected as a tunnel (its tls entry, or with --tls-keylog the connection inside). */
  private tls: TunnelStream | null = null;
  private dead = false;
  /** After a gap: the server's bytes are dropped (counted) until the client's next query; they answer what the gap hid. */
  private awaitingClient = false;
  /** After a gap in the client's bytes: they are dropped (counted) until a segment starts with a query. */
  private clientResync = false;
  private pending: Call[] = [];
  /** A pipelined statement failed: the server skips the rest until the Sync, whose ReadyForQuery ends their calls. */
  private pipelineAborted = false;
  private statements = new Map<string, string>();
  private portals = new Map<string, string>();
  /** What `statements` and `portals` keep, charged to the flow's memory budget. */
  private readonly meter = currentMeter();
  private session: { user?: string; database?: string } = {};
  private readonly starts: MessageStarts;
  /** First packet of the client message being handled: a call is stamped with its first message's. */
  private clientAt: Stamp | undefined;

  constructor(private readonly ctx: ConnectionContext) {
    this.starts = new MessageStarts(ctx);
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.encryptionReplyLost) this.settleLostEncryptionReply(dir, data);
    if (this.tls) {
      this.tls.onData(dir, data);
      return;
    }
    if (this.dead || this.encrypted) return;
    try {
      if (dir === 'c2s' && (this.clientResync || this.awaitingClient)) {
        const query = probePostgres(data, true) === 'request' || this.answeredMessageStarts(data);
        if (this.clientResync && !query) {
          this.ctx.count('postgresql.gap_dropped', data.length);
          return;
        }
        this.clientResync = false;
        if (query && this.awaitingClient) this.resumeReplies();
      }
      if (dir === 's2c' && this.awaitingClient) {
        this.ctx.count('postgresql.gap_dropped', data.length);
        return;
      }
      if (this.skip[dir] > 0) {
        const n = Math.min(this.skip[dir], data.length);
        this.skip[dir] -= n;
        this.addSize(dir, n);
        data = data.subarray(n);
      }
      this.starts.push(dir, this.queues[dir].length);
      this.queues[dir].push(data);
      if (dir === 'c2s') this.drainClient();
      else this.drainServer();
      // Calls made while the server's bytes are dropped: their answers go with them.
      if (dir === 'c2s' && this.awaitingClient) for (const c of this.pending) if (!c.warnings.includes('gap')) c.warnings.push('gap');
    } catch {
      this.ctx.count('postgresql.internal');
      this.dead = true;
    }
  }

  /**
   * A client message after a gap in the server's bytes starts the replies
   * afresh, unless its packet shows the server sent some of the lost bytes
   * after it (it acknowledges less than they reach): its answers may be among
   * them, so the server's bytes are still dropped, and the calls made
   * meanwhile come out unanswered (`gap`) when a message sent after all of
   * them ends the wait.
   */
  private resumeReplies(): void {
    const ack = this.ctx.ack;
    if (ack !== undefined && ack.from === 'c2s' && ack.ahead < 0) return;
    this.awaitingClient = false;
    this.flush([]);
  }

  /**
   * After a gap in the server's bytes only: the client's stream is whole, so a
   * segment that begins when no message is in part begins one. One the server
   * answers (a Close or Describe and its Sync, not only a query) starts the
   * replies afresh: its answer, read as a gap's leftovers, would leave it
   * waiting and pair the next query's answer with it.
   */
  private answeredMessageStarts(data: Buffer): boolean {
    if (this.clientResync || this.queues.c2s.length > 0 || this.skip.c2s > 0 || !this.clientStarted) return false;
    return ANSWERED_FRONTEND.has(String.fromCharCode(data[0])) && plausibleTyped(data, FRONTEND_TYPES);
  }

  /** The client's bytes lost some: a response with no request read may answer what they held (it says `gap`). */
  private clientLoss = false;

  onGap(dir: Direction, length: number): void {
    if (this.tls) {
      this.tls.onGap(dir, length);
      return;
    }
    this.ctx.count('postgresql.gap', length);
    const encryption = this.awaitingEncryptionReply;
    if (encryption) {
      encryption.warnings.push('gap');
      // Exactly its one-byte answer lost (the server sends nothing else before the client's next message).
      if (dir === 's2c' && length === 1 && this.queues.s2c.length === 0 && !this.encryptionReplyLost) {
        this.encryptionReplyLost = true;
        return;
      }
    }
    if (this.gapInsideMessage(dir, length)) return;
    if (dir === 'c2s') {
      this.clientLoss = true;
      // Every Parse or Bind without a name redefines the unnamed statement or portal: the lost bytes may
      // have held one, so what they named before is no longer known (a Bind after them would show the
      // previous statement's text). Named ones stay: a name is redefined only after a Close.
      this.forget(this.statements, '');
      this.forget(this.portals, '');
    }
    for (const c of this.pending) c.warnings.push('gap');
    this.flush([]);
    if (this.dead || this.encrypted) return;
    if (!this.clientStarted && dir === 'c2s') {
      // Lost before a client message began (the connection's first message, its SSLRequest): what
      // follows is read as a capture that began there (a StartupMessage, or the calls after it).
      if (this.queues.c2s.length === 0) return;
      // The startup cut short: its parameters are gone, the calls after it are not.
      this.clientStarted = true;
    }
    if (!this.clientStarted && !encryption && this.queues.c2s.length === 0 && this.queues.s2c.length === 0) {
      // Server bytes lost before any client message was read (the answer to an SSLRequest lost with it):
      // nothing is cut short, the client's next bytes are its startup or the calls after it.
      return;
    }
    if (!this.clientStarted) {
      this.queues[dir].clear();
      this.dead = true; // the server's side of the startup cut short
      return;
    }
    // Message boundaries are lost in `dir`; the calls waiting were reported above. The server's
    // bytes from here on answer what the gap hid, until the client's next query; after a gap in
    // the client's bytes, reading resumes at the first segment that starts with a query.
    this.dropQueued('s2c');
    this.awaitingClient = true;
    if (dir === 'c2s') {
      this.dropQueued('c2s');
      this.clientResync = true;
    }
  }

  /**
   * Lost bytes that end inside the message being read, whose header gave
   * its length (a snap length cuts each packet's tail: `tcpdump -s 96` keeps
   * 30 bytes of a query; a lost middle segment of a long one): the framing
   * survives. The message is read from the part there is (a query's text cut
   * short, an error's SQLSTATE; a StartupMessage's whole parameters), its call
   * says `gap`, and the rest of it is skipped as it comes. Nothing else was
   * lost, so the calls around it go on pairing.
   */
  private gapInsideMessage(dir: Direction, length: number): boolean {
    if (this.dead || this.encrypted || this.awaitingEncryptionReply) return false;
    const q = this.queues[dir];
    if (this.skip[dir] > 0) {
      // Inside a message over MAX_MESSAGE already being skipped.
      if (q.length > 0 || length > this.skip[dir]) return false;
      this.skip[dir] -= length;
      this.addSize(dir, length);
      this.touched(dir)?.warnings.push('gap');
      return true;
    }
    if (dir === 'c2s' ? this.clientResync : this.awaitingClient) return false;
    if (dir === 'c2s' && !this.clientStarted) {
      if (q.length < 8) return false;
      const len = q.peek(8).readUInt32BE(0);
      if (q.peek(8).readUInt32BE(4) !== PROTOCOL_V3 || len > 10000 || q.length >= len || q.length + length > len) return false;
      this.clientAt = this.starts.head('c2s');
      const have = q.length;
      this.onStartup(PROTOCOL_V3, q.take(have), true);
      this.starts.taken('c2s', 0);
      this.clientStarted = true;
      const call = this.pending.at(-1);
      if (call) {
        // The rest of it is counted as it is skipped.
        call.requestSize = have + length;
        call.warnings.push('gap');
      }
      this.skip.c2s = len - have - length;
      return true;
    }
    if (dir === 's2c' && !this.serverStarted) return false;
    if (q.length < 5) return false;
    const head = q.peek(5);
    const type = String.fromCharCode(head[0]);
    const total = 1 + head.readUInt32BE(1);
    if (!(dir === 'c2s' ? FRONTEND_TYPES : BACKEND_TYPES).has(type) || total < 5 || total > 1 + MAX_MESSAGE) return false;
    if (q.length >= total || q.length + length > total) return false;
    const have = q.length;
    if (dir === 'c2s') this.clientAt = this.starts.head('c2s');
    const part = q.take(have);
    this.starts.taken(dir, 0);
    // Sizes count what is accounted for now; the rest is counted as it is skipped.
    const size = have + length;
    this.skip[dir] = total - size;
    if (dir === 'c2s') {
      // What a query's text keeps is still the query (cut short).
      if (type === 'Q' || type === 'P') this.onFrontend(type, part.subarray(5), size);
      else this.addSize(dir, size);
      this.touched(dir)?.warnings.push('gap');
      return true;
    }
    // Said before the message is read: an error ends a startup call at once.
    this.current(type).warnings.push('gap');
    // The fields there are (an error's severity and SQLSTATE come first) answer the call.
    if (type === 'E' || type === 'C') this.onBackend(type, part.subarray(5), size);
    else this.addSize(dir, size);
    return true;
  }

  /** The call a message of `dir` belongs to: the client's latest, or the one the server answers. */
  private touched(dir: Direction): Call | undefined {
    return dir === 'c2s' ? this.pending.at(-1) : this.answered();
  }

  private dropQueued(dir: Direction): void {
    const n = this.queues[dir].length;
    if (n > 0) this.ctx.count('postgresql.gap_dropped', n);
    this.queues[dir].clear();
    this.skip[dir] = 0;
    this.starts.taken(dir, 0);
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.tls?.onTick(nowMs, timeoutMs);
    while (this.pending.length > 0 && this.pending[0].response === null && nowMs - this.pending[0].requestTime > timeoutMs) {
      this.emit(this.pending.shift()!, ['unanswered']);
    }
  }

  /**
   * Calls are stamped with the first packet of their first message and
   * queued in arrival order, except a reply's orphan call (request not
   * captured), put first with the reply's time while older calls still
   * gather messages: the first two hold the oldest. A startup's SSL/GSS
   * request waits apart, and a client message read in part may be older still.
   */
  pendingSince(): number | undefined {
    let min = this.awaitingEncryptionReply?.requestTime ?? Infinity;
    if (!this.dead) min = Math.min(min, this.starts.partial('c2s', this.queues.c2s.length) ?? Infinity);
    for (let i = 0; i < 2 && i < this.pending.length; i++) min = Math.min(min, this.pending[i].requestTime);
    if (this.tls) min = Math.min(min, this.tls.pendingSince() ?? Infinity);
    return min === Infinity ? undefined : min;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    this.tls?.onEnd(reason);
    // A message cut off by the end of the capture cannot be read: counted, not silently gone.
    if (!this.dead && !this.encrypted) for (const dir of ['c2s', 's2c'] as const) if (this.queues[dir].length > 0) this.ctx.count('postgresql.truncated');
    this.flush([]);
  }

  /**
   * The server's answer to an SSLRequest (GSSENCRequest) was lost: what the
   * client sends next shows it, as what follows a lost 101 shows the upgrade
   * (HTTP). A StartupMessage in the clear: refused; a TLS record: accepted,
   * and TLS is read. The call says `gap`, its `reply` unknown (null), counted
   * `postgresql.encryption_reply_inferred`. Anything else, or server bytes
   * first, cannot be told: it is unanswered and the connection's dissection
   * ends, as after any gap in the startup.
   */
  private settleLostEncryptionReply(dir: Direction, data: Buffer): void {
    const call = this.awaitingEncryptionReply as Call;
    this.encryptionReplyLost = false;
    this.awaitingEncryptionReply = null;
    const startup = dir === 'c2s' && data.length >= 8 && data.readUInt32BE(4) === PROTOCOL_V3;
    const tls = dir === 'c2s' && call.request.type === 'SSLRequest' && data.length >= 3 && data[0] === 0x16 && data[1] === 0x03;
    if (!startup && !tls) {
      this.emit(call, ['unanswered']);
      this.dead = true;
      return;
    }
    this.ctx.count('postgresql.encryption_reply_inferred');
    call.response = { accepted: tls, reply: null };
    call.responseSize = 1;
    this.emit(call, []);
    if (tls) {
      this.encrypted = true;
      this.ctx.count('postgresql.encrypted');
      this.tls = TunnelStream.takingOver(this.ctx, 'postgresql.tls', this.queues);
    }
  }

  private flush(extra: string[]): void {
    for (const c of this.pending.splice(0)) this.emit(c, c.response ? ['truncated', ...extra] : ['unanswered', ...extra]);
    if (this.awaitingEncryptionReply) {
      this.emit(this.awaitingEncryptionReply, ['unanswered']);
      this.awaitingEncryptionReply = null;
    }
  }

  private addSize(dir: Direction, n: number): void {
    if (dir === 'c2s') {
      const c = this.pending.at(-1);
      if (c) c.requestSize += n;
    } else {
      const c = this.answered();
      if (c) c.responseSize += n;
    }
  }

  // -------------------------------------------------------------- client

  private drainClient(): void {
    const q = this.queues.c2s;
    for (;;) {
      if (this.dead || this.encrypted) return;
      if (!this.clientStarted) {
        if (q.length < 8) return;
        const head = q.peek(8);
        const len = head.readUInt32BE(0);
        const code = head.readUInt32BE(4);
        if (code === PROTOCOL_V3 || code === SSL_REQUEST || code === GSSENC_REQUEST || code === CANCEL_REQUEST) {
          if (len < 8 || len > 10000) return this.malformed('c2s', `startup length ${len}`);
          if (q.length < len) return;
          this.clientAt = this.starts.head('c2s');
          const msg = q.take(len);
          this.starts.taken('c2s', q.length);
          this.onStartup(code, msg);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.clientStarted = true;
          continue;
        }
        this.clientStarted = true; // capture began after the startup
      }
      if (q.length < 5) return;
      const head = q.peek(5);
      const type = String.fromCharCode(head[0]);
      const len = head.readUInt32BE(1);
      if (!FRONTEND_TYPES.has(type) || len < 4) return this.malformed('c2s', `message type 0x${head[0].toString(16)}`);
      if (len > MAX_MESSAGE) {
        // A huge COPY chunk or bind value: count it, do not keep it.
        this.ctx.count('postgresql.message_truncated');
        if (type === 'Q') {
          // A query over the limit still gets its call, from the text at hand (truncated, said), so
          // it does not vanish and its reply pairs with it; its bytes are counted as they are skipped.
          this.clientAt = this.starts.head('c2s');
          const text = q.peek(5 + MAX_QUERY_TEXT).subarray(5).toString('utf8');
          const call = this.newCall('query', { type: 'query', query: truncate(text, MAX_QUERY_TEXT), ...this.sessionFields() }, 0, true);
          call.warnings.push(`truncated: message over ${MAX_MESSAGE} bytes`);
        }
        const have = Math.min(q.length, 1 + len);
        this.addSize('c2s', have);
        q.consume(have);
        this.starts.taken('c2s', q.length);
        this.skip.c2s = 1 + len - have;
        continue;
      }
      if (q.length < 1 + len) return;
      this.clientAt = this.starts.head('c2s');
      const msg = q.take(1 + len);
      this.starts.taken('c2s', q.length);
      this.onFrontend(type, msg.subarray(5), msg.length);
    }
  }

  private newCall(kind: Call['kind'], request: Record<string, any>, size: number, sealed: boolean): Call {
    if (this.pending.length >= MAX_PENDING_CALLS) {
      this.ctx.count('postgresql.pending_overflow');
      this.emit(this.pending.shift()!, ['unanswered']);
    }
    const at = this.clientAt ?? this.starts.now();
    const call: Call = {
      kind,
      request,
      requestTime: at.time,
      requestFrame: at.frame,
      requestSize: size,
      sealed,
      response: null,
      responseSize: 0,
      warnings: [],
    };
    this.pending.push(call);
    return call;
  }

  /** `cut`: the message's end was lost (its parameters are those read whole; an absent database is not known, not the user's). */
  private onStartup(code: number, msg: Buffer, cut = false): void {
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      const type = code === SSL_REQUEST ? 'SSLRequest' : 'GSSENCRequest';
      this.awaitingEncryptionReply = {
        kind: 'startup',
        request: { type },
        requestTime: (this.clientAt ?? this.starts.now()).time,
        requestFrame: (this.clientAt ?? this.starts.now()).frame,
        requestSize: msg.length,
        sealed: true,
        response: null,
        responseSize: 0,
        warnings: [],
      };
      return;
    }
    if (code === CANCEL_REQUEST) {
      const call = this.newCall('cancel', { type: 'CancelRequest', processId: msg.readUInt32BE(8), secretKey: msg.readUInt32BE(12) }, msg.length, true);
      // The server answers a cancel by closing the connection; there is no reply message.
      this.pending.splice(this.pending.indexOf(call), 1);
      this.emit(call, []);
      return;
    }
    const params: Record<string, string> = {};
    let pos = 8;
    while (pos < msg.length && msg[pos] !== 0) {
      const kEnd = cstringEnd(msg, pos, msg.length);
      if (kEnd < 0) break;
      const vEnd = cstringEnd(msg, kEnd + 1, msg.length);
      if (vEnd < 0) break;
      params[msg.toString('utf8', pos, kEnd)] = msg.toString('utf8', kEnd + 1, vEnd);
      pos = vEnd + 1;
    }
    const database = params.database ?? (cut ? undefined : params.user);
    this.session = { user: params.user, database };
    const request: Record<string, any> = {
      type: 'startup',
      protocolVersion: '3.0',
      user: params.user ?? '',
      database: database ?? '',
      parameters: params,
    };
    if (database === undefined && cut) delete request.database;
    if (params.application_name) request.applicationName = params.application_name;
    this.newCall('startup', request, msg.length, true);
  }

  private onFrontend(type: string, body: Buffer, size: number): void {
    const open = this.pending.at(-1);
    const extendedOpen = open && open.kind === 'extended' && !open.sealed ? open : null;
    switch (type) {
      case 'Q': {
        const query = cstringCut(body, 0, MAX_QUERY_TEXT).text;
        this.newCall('query', { type: 'query', query, ...this.sessionFields() }, size, true);
        return;
      }
      case 'P': {
        const name = cstringCut(body, 0, MAX_NAME);
        const query = cstringCut(body, name.next, MAX_QUERY_TEXT);
        this.remember(this.statements, name.text, query.text);
        const call = extendedOpen && this.preparedOnly(extendedOpen) ? this.nextPrepare(extendedOpen) : this.statementCall(extendedOpen);
        call.requestSize += size;
        call.prepares = (call.prepares ?? 0) + 1;
        call.parsed = true;
        call.request.query ??= query.text;
        if (name.text) call.request.statement = name.text;
        return;
      }
      case 'B': {
        const portal = cstringCut(body, 0, MAX_NAME);
        const stmt = cstringCut(body, portal.next, MAX_NAME);
        this.remember(this.portals, portal.text, stmt.text);
        const call = this.statementCall(extendedOpen);
        call.requestSize += size;
        call.bound = true;
        const known = this.statements.get(stmt.text);
        if (call.request.query === undefined && known !== undefined) call.request.query = known;
        // Its Parse may have been in bytes the client's side lost: the statement's text is unknown for that reason.
        if (call.request.query === undefined && this.clientLoss && !call.warnings.includes('gap')) call.warnings.push('gap');
        if (stmt.text) call.request.statement = stmt.text;
        if (portal.text) call.request.portal = portal.text;
        const params = bindParameters(body, stmt.next);
        if (params) call.request.parameters = params;
        return;
      }
      case 'E': {
        const portal = cstringCut(body, 0, MAX_NAME);
        const call = extendedOpen ?? this.newCall('extended', { type: 'extended', ...this.sessionFields() }, 0, false);
        call.requestSize += size;
        if (call.request.query === undefined) {
          const stmt = this.portals.get(portal.text);
          if (stmt !== undefined && this.statements.has(stmt)) call.request.query = this.statements.get(stmt);
          if (call.request.query === undefined && this.clientLoss && !call.warnings.includes('gap')) call.warnings.push('gap');
        }
        call.request.executes = (call.request.executes ?? 0) + 1;
        call.executedLast = true;
        return;
      }
      case 'D':
      case 'C':
      case 'H': {
        const call = extendedOpen ?? this.newCall('extended', { type: 'extended', ...this.sessionFields() }, 0, false);
        call.requestSize += size;
        // Describe and Close are each answered by one ending reply; Flush by none.
        if (type !== 'H') call.prepares = (call.prepares ?? 0) + 1;
        if (type === 'C' && call.request.query === undefined && body.length >= 1) {
          // What a call of Close alone closes (JDBC closes a fetched portal, psycopg a statement).
          call.request.close = `${body[0] === 0x50 ? 'portal' : 'statement'} ${truncate(cstring(body, 1).text, 64)}`.trim();
        }
        return;
      }
      case 'S': {
        const call = extendedOpen ?? this.newCall('extended', { type: 'sync', ...this.sessionFields() }, 0, false);
        call.requestSize += size;
        call.sealed = true;
        return;
      }
      case 'F': {
        this.newCall('function', { type: 'function-call', functionOid: body.length >= 4 ? body.readUInt32BE(0) : 0 }, size, true);
        return;
      }
      case 'X':
        return; // Terminate: no reply.
      default: {
        // Password/SASL, COPY data: part of the call in progress.
        const call = this.pending.at(-1);
        if (call) call.requestSize += size;
        // An orphan call (response seen first) has no request object to annotate.
        const req = call?.request as Record<string, any> | null | undefined;
        if (type === 'p' && call?.kind === 'startup' && req) req.authResponse = true;
        if (type === 'd' && req) req.copyBytes = (req.copyBytes ?? 0) + body.length;
      }
    }
  }

  /** The extended call being gathered has only prepared so far (no Bind, no Execute). */
  private preparedOnly(open: Call): boolean {
    return (open.prepares ?? 0) > 0 && !open.bound && !open.request.executes && !open.folded;
  }

  /**
   * A Parse after a call that only prepared: the next statement's call. The one before ends
   * when its last message is answered (or when the server fails one and skips the rest).
   */
  private nextPrepare(open: Call): Call {
    if (this.pending.length >= MAX_PIPELINED_CALLS) {
      this.ctx.count('postgresql.pipeline_overflow_folded');
      open.folded = (open.folded ?? 0) + 1;
      return open;
    }
    open.prepareOnly = true;
    open.endsAtOutcome = true;
    open.sealed = true;
    // Its answers came already (the client sent Flush before this Parse).
    if (open.failed || (open.prepared ?? 0) >= (open.prepares ?? 0)) {
      if (open.failed) this.pipelineAborted = true;
      this.complete(open);
    }
    return this.newCall('extended', { type: 'extended', ...this.sessionFields() }, 0, false);
  }

  /**
   * The call a Parse or Bind belongs to: the extended call being gathered, unless it has
   * executed already. Then the client pipelines (a new statement before the Sync): the next
   * statement is a call of its own, and the one before ends with its Execute's outcome.
   */
  private statementCall(open: Call | null): Call {
    if (open && !open.executedLast) return open;
    if (open && this.pending.length >= MAX_PIPELINED_CALLS) {
      this.ctx.count('postgresql.pipeline_overflow_folded');
      open.folded = (open.folded ?? 0) + 1;
      open.executedLast = false;
      return open;
    }
    if (open) {
      open.endsAtOutcome = true;
      open.sealed = true;
      // Its outcomes came already (the client flushed, or the server's buffer filled, before this statement).
      if (open.failed || (open.outcomes ?? 0) >= open.request.executes) {
        if (open.failed) this.pipelineAborted = true;
        this.complete(open);
      }
    }
    return this.newCall('extended', { type: 'extended', ...this.sessionFields() }, 0, false);
  }

  private sessionFields(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.session.user !== undefined) out.user = this.session.user;
    if (this.session.database !== undefined) out.database = this.session.database;
    return out;
  }

  // -------------------------------------------------------------- server

  /**
   * The server's first bytes are 'N' and then not a length's high byte (a
   * NoticeResponse's is 0), while the client's StartupMessage waits: that 'N'
   * refused encryption. Nothing else comes from a server before it answers
   * a StartupMessage.
   */
  private refusalWithoutRequest(first: Buffer): boolean {
    return first[0] === 0x4e && first[1] !== 0 && this.pending.some((c) => c.kind === 'startup' && c.request.type === 'startup');
  }

  private drainServer(): void {
    const q = this.queues.s2c;
    for (;;) {
      if (this.dead || this.encrypted) return;
      if (this.awaitingEncryptionReply) {
        if (q.length < 1) return;
        const reply = String.fromCharCode(q.take(1)[0]);
        const call = this.awaitingEncryptionReply;
        this.awaitingEncryptionReply = null;
        const accepted = reply === 'S' || reply === 'G';
        call.response = { accepted, reply };
        call.responseSize = 1;
        call.responseTime = this.ctx.now;
        call.responseFrame = this.ctx.frame;
        this.emit(call, reply === 'G' ? ['encrypted: not dissected'] : []);
        if (accepted) {
          this.encrypted = true;
          this.ctx.count('postgresql.encrypted');
          // GSSAPI encryption from here on: nothing more to read. TLS: read as TLS, the session's protocol inside it.
          if (reply === 'S') {
            this.tls = TunnelStream.takingOver(this.ctx, 'postgresql.tls', this.queues);
          }
          return;
        }
        continue;
      }
      if (!this.serverStarted) {
        if (q.length < 2) return;
        this.serverStarted = true;
        if (this.refusalWithoutRequest(q.peek(2))) {
          // The server's 'N' to an SSLRequest (or GSSENCRequest) the capture began after: one byte, then its
          // reply to the StartupMessage. Read as a NoticeResponse, its length would swallow the connection.
          q.consume(1);
          this.starts.taken('s2c', q.length);
          this.ctx.count('postgresql.encryption_refusal_unpaired');
          continue;
        }
      }
      if (q.length < 5) return;
      const head = q.peek(5);
      const type = String.fromCharCode(head[0]);
      const len = head.readUInt32BE(1);
      if (!BACKEND_TYPES.has(type) || len < 4) return this.malformed('s2c', `message type 0x${head[0].toString(16)}`);
      if (len > MAX_MESSAGE) {
        const have = Math.min(q.length, 1 + len);
        this.addSize('s2c', have);
        q.consume(have);
        this.skip.s2c = 1 + len - have;
        continue;
      }
      if (q.length < 1 + len) return;
      const msg = q.take(1 + len);
      this.onBackend(type, msg.subarray(5), msg.length);
    }
  }

  /**
   * The call the server's message of `type` answers: the oldest call complete on the client
   * side, or an extended one still being gathered. The server answers each extended message as
   * it reads it, and sends before the Sync when the client sends Flush (asyncpg does after
   * Parse/Describe) or its output buffer fills during a long pipeline: such a reply starts with
   * what only extended messages get (ParseComplete, BindComplete, ParameterDescription, NoData,
   * or an error). Anything else before the Sync answers a request the capture missed.
   */
  private answered(type?: string): Call | undefined {
    return this.pending.find((c) => c.sealed || (c.kind === 'extended' && (c.response !== null || (type !== undefined && EXTENDED_REPLY_START.has(type)))));
  }

  /** The call a backend message of `type` answers; an orphan (request not captured) when there is none. */
  private current(type: string): Call {
    const call = this.answered(type);
    if (call) return call;
    // Capture started mid-call, or the client's bytes lost it (its StartupMessage lost whole): a response without its request.
    const orphan: Call = {
      kind: 'query',
      request: null as unknown as Record<string, any>,
      requestTime: this.ctx.now,
      requestFrame: this.ctx.frame,
      requestSize: 0,
      sealed: true,
      response: null,
      responseSize: 0,
      warnings: this.clientLoss ? ['gap'] : [],
    };
    this.pending.unshift(orphan);
    return orphan;
  }

  private onBackend(type: string, body: Buffer, size: number): void {
    // Asynchronous messages belong to no call; a notification is an entry of its own.
    if (type === 'A') return this.notification(body, size);
    if (type === 'S' && !this.pending.some((c) => c.kind === 'startup')) return;
    if (type === 'N' && this.pending.length === 0) return;
    if (type === 'Z') this.endAborted();
    const call = this.current(type);
    const res = (call.response ??= {});
    call.responseSize += size;
    call.responseTime = this.ctx.now;
    call.responseFrame = this.ctx.frame;
    switch (type) {
      case 'R': {
        const code = body.length >= 4 ? body.readUInt32BE(0) : -1;
        // The method is the server's first request; SASL and GSS exchanges go on with "continue"/"final" steps of the same method.
        res.authentication ??= AUTH_METHODS[code] ?? String(code);
        if (code === 10) {
          const mechanisms: string[] = [];
          for (let pos = 4; pos < body.length && body[pos] !== 0 && mechanisms.length < 8; ) {
            const m = cstring(body, pos);
            mechanisms.push(truncate(m.text, 64));
            pos = m.next;
          }
          res.saslMechanisms = mechanisms;
        }
        if (code === 0) res.authenticated = true;
        return;
      }
      case 'S': {
        const k = cstring(body, 0);
        const v = cstring(body, k.next);
        if (k.text === 'server_version') res.serverVersion = v.text;
        return;
      }
      case 'K':
        if (body.length >= 8) res.processId = body.readUInt32BE(0);
        return;
      case 'T': {
        const n = body.length >= 2 ? body.readUInt16BE(0) : 0;
        const names: string[] = [];
        let pos = 2;
        for (let i = 0; i < n && pos < body.length; i++) {
          const name = cstring(body, pos);
          names.push(name.text);
          pos = name.next + 18;
        }
        res.columns = names;
        this.prepareAnswered(call);
        return;
      }
      case 'D':
        res.rowsReturned = (res.rowsReturned ?? 0) + 1;
        return;
      case 'C': {
        const tag = cstring(body, 0).text;
        this.listed(res, 'commandTags', tag);
        res.commandTag = tag;
        const m = /(\d+)$/.exec(tag);
        if (m) res.rows = (res.rows ?? 0) + Number(m[1]);
        this.outcome(call, false);
        return;
      }
      case 'E':
      case 'N': {
        const fields = errorFields(body);
        if (type === 'N') {
          const text = fields.M ?? '';
          this.listed(res, 'notices', text.length > MAX_NOTICE_TEXT ? `${text.slice(0, MAX_NOTICE_TEXT)}…` : text);
          return;
        }
        const position = decimalInteger(fields.P, 9);
        res.error = {
          severity: fields.V ?? fields.S ?? '',
          code: fields.C ?? '',
          message: fields.M ?? '',
          ...(fields.D ? { detail: fields.D } : {}),
          ...(fields.H ? { hint: fields.H } : {}),
          ...(position !== undefined ? { position } : {}),
        };
        res.errorCode = fields.C ?? '';
        res.errorMessage = fields.M ?? '';
        // A startup failure ends the connection without ReadyForQuery.
        if (call.kind === 'startup') this.complete(call);
        else this.outcome(call, true);
        return;
      }
      case 'I':
        res.emptyQuery = true;
        this.outcome(call, false);
        return;
      case 's':
        res.portalSuspended = true;
        this.outcome(call, false);
        return;
      case 'G':
      case 'H':
      case 'W':
        res.copy = type === 'G' ? 'in' : type === 'H' ? 'out' : 'both';
        return;
      case 'd':
        res.copyBytes = (res.copyBytes ?? 0) + body.length;
        return;
      case 'Z':
        res.transactionStatus = String.fromCharCode(body[0] ?? 0x3f);
        if (this.pipelineAborted && call.kind === 'extended' && !call.outcomes) res.aborted = true;
        this.pipelineAborted = false;
        this.complete(call);
        return;
      case '1':
      case 'n':
      case '3':
        // ParseComplete, NoData (a Describe's answer when there are no rows), CloseComplete.
        this.prepareAnswered(call);
        return;
      default:
        return; // BindComplete, ParameterDescription, …
    }
  }

  /** A reply that ends the answer to a Parse, Describe or Close; a prepare-only call ends with its last. */
  private prepareAnswered(call: Call): void {
    if (call.kind !== 'extended') return;
    call.prepared = (call.prepared ?? 0) + 1;
    if (call.prepareOnly && call.prepared >= (call.prepares ?? 0)) this.complete(call);
  }

  /** A statement's text or a portal's statement, by its name (cut to MAX_NAME), within MAX_STATEMENTS and charged to the budget. */
  private forget(map: Map<string, string>, key: string): void {
    const old = map.get(key);
    if (old === undefined) return;
    this.meter?.add(-(key.length + old.length));
    map.delete(key);
  }

  private remember(map: Map<string, string>, key: string, value: string): void {
    const old = map.get(key);
    if (old === undefined && map.size >= MAX_STATEMENTS) {
      this.ctx.count('postgresql.statements_dropped');
      return;
    }
    this.meter?.add(value.length - (old === undefined ? -key.length : old.length));
    map.set(key, value);
  }

  /** `value` added to the response's list `key`, or counted past MAX_LISTED (`<key>NotListed`). */
  private listed(res: Record<string, any>, key: 'commandTags' | 'notices', value: string): void {
    const list: string[] = (res[key] ??= []);
    if (list.length < MAX_LISTED) {
      list.push(value);
      return;
    }
    const more = `${key}NotListed`;
    if (res[more] === undefined) this.ctx.count('postgresql.list_truncated');
    res[more] = (res[more] ?? 0) + 1;
  }

  /** An Execute's outcome: a pipelined statement's call ends with it; after an error the server skips to the Sync. */
  private outcome(call: Call, failed: boolean): void {
    if (call.kind !== 'extended') return;
    call.outcomes = (call.outcomes ?? 0) + 1;
    if (failed) call.failed = true;
    if (!call.endsAtOutcome || (!failed && call.outcomes < call.request.executes)) return;
    if (failed) this.pipelineAborted = true;
    this.complete(call);
  }

  /**
   * Before a ReadyForQuery: the pipelined statements still waiting ahead of the Sync's call
   * have no outcome, so the server skipped them (a statement before them failed). They end here.
   */
  private endAborted(): void {
    while (this.pending.length > 1 && this.pending[0].endsAtOutcome && !this.pending[0].outcomes) {
      const call = this.pending.shift()!;
      if (call.prepareOnly && call.response !== null && !call.failed) {
        // Answered in part (a reply not counted as ending): not skipped.
        this.emit(call, []);
        continue;
      }
      call.response = { ...(call.response ?? {}), aborted: true };
      call.responseTime = this.ctx.now;
      call.responseFrame = this.ctx.frame;
      this.emit(call, []);
    }
  }

  /**
   * NotificationResponse: a NOTIFY on a channel this session LISTENs to, sent whenever the
   * server has it (between calls, or inside the reply to the session's own NOTIFY). No
   * request asked for it: `request: null`, like Redis's pub/sub messages.
   */
  private notification(body: Buffer, size: number): void {
    const processId = body.length >= 4 ? body.readUInt32BE(0) : 0;
    const channel = cstring(body, 4);
    const payload = cstring(body, channel.next);
    this.ctx.emit({
      protocol: 'postgresql',
      request: null,
      response: { type: 'notification', processId, channel: truncate(channel.text, 256), payload: truncate(payload.text, MAX_QUERY_TEXT) },
      requestTime: this.ctx.now,
      requestFrame: this.ctx.frame,
      responseTime: this.ctx.now,
      responseFrame: this.ctx.frame,
      requestSize: 0,
      responseSize: size,
      error: false,
      summary: `notification ${truncate(channel.text, 80)}`,
    });
  }

  private complete(call: Call): void {
    const i = this.pending.indexOf(call);
    if (i >= 0) this.pending.splice(i, 1);
    this.emit(call, []);
  }

  private malformed(dir: Direction, what: string): void {
    this.ctx.count('postgresql.malformed');
    for (const c of this.pending) c.warnings.push(`malformed: ${what}`);
    this.flush([]);
    this.queues[dir].clear();
    this.dead = true;
  }

  private emit(call: Call, warnings: string[]): void {
    const res = call.response;
    const error = res?.error !== undefined || res === null || res.aborted === true;
    const all = [...call.warnings, ...warnings];
    if (call.folded) all.push(`folded: ${call.folded} more pipelined statements in this call (over ${MAX_PIPELINED_CALLS} waiting)`);
    const record: CallRecord = {
      protocol: 'postgresql',
      request: call.request,
      response: res,
      requestTime: call.requestTime,
      requestFrame: call.requestFrame,
      requestSize: call.requestSize,
      responseSize: call.responseSize,
      error: error && !(call.kind === 'cancel'),
      summary: summarize(call),
    };
    if (res) {
      record.responseTime = call.responseTime;
      record.responseFrame = call.responseFrame;
    }
    if (all.length > 0) record.warnings = [...new Set(all)];
    this.ctx.emit(record);
  }
}

function summarize(call: Call): string {
  const req = call.request;
  const res = call.response;
  let left: string;
  if (!req) left = '(request not captured)';
  else if (req.type === 'startup') left = `startup user=${req.user} db=${req.database ?? '?'}`;
  else if (req.query !== undefined) left = truncate(String(req.query).replace(/\s+/g, ' ').trim(), 80);
  else if (req.close !== undefined) left = `close ${req.close}`;
  else left = String(req.type);
  if (call.kind === 'cancel') return left;
  if (!res) return `${left} → unanswered`;
  if (res.error) return `${left} → ${res.error.severity} ${res.error.code}`;
  if (res.aborted) return `${left} → aborted (an earlier statement of the pipeline failed)`;
  if (res.accepted !== undefined) return `${left} → ${res.accepted ? 'accepted (encrypted)' : 'refused'}`;
  if (req?.type === 'startup') return `${left} → ${res.authenticated ? 'ready' : (res.authentication ?? 'no auth')}`;
  // Parse (and Describe) only: the statement was prepared, not run.
  const preparedOnly = call.kind === 'extended' && call.parsed && !call.bound && !req?.executes;
  // An Execute with a row limit (JDBC fetch size): the portal has more rows to give.
  const suspended = res.portalSuspended && res.commandTag === undefined;
  return `${left} → ${res.commandTag ?? (res.emptyQuery ? 'empty' : preparedOnly ? 'prepared' : suspended ? 'suspended' : 'ok')}`;
}

function cstring(buf: Buffer, pos: number): { text: string; next: number } {
  const end = buf.indexOf(0, pos);
  if (end < 0) return { text: buf.toString('utf8', Math.min(pos, buf.length)), next: buf.length };
  return { text: buf.toString('utf8', pos, end), next: end + 1 };
}

/**
 * As cstring, the text cut to `max` characters as truncate() cuts it, decoded from no more bytes
 * than that needs: a cut string is a copy, not a slice of the whole (V8 keeps a slice's parent
 * alive, so a 16 KB statement kept its 1 MB message).
 */
function cstringCut(buf: Buffer, pos: number, max: number): { text: string; next: number } {
  const end = buf.indexOf(0, pos);
  const stop = end < 0 ? buf.length : end;
  const from = Math.min(pos, buf.length);
  const limit = Math.min(stop, from + 4 * max);
  const text = buf.toString('utf8', from, limit);
  const next = end < 0 ? buf.length : end + 1;
  if (limit === stop && text.length <= max) return { text, next };
  return { text: Buffer.from(`${text.slice(0, Math.max(0, max - 1))}…`, 'utf8').toString('utf8'), next };
}

function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const code = String.fromCharCode(body[pos]);
    const v = cstring(body, pos + 1);
    out[code] = v.text;
    pos = v.next;
  }
  return out;
}

/** Bind parameter values in text format (binary ones shown by size), or null when unreadable. */
function bindParameters(body: Buffer, pos: number): Array<string | null> | null {
  try {
    const nFormats = body.readUInt16BE(pos);
    const formats: number[] = [];
    pos += 2;
    for (let i = 0; i < nFormats; i++, pos += 2) formats.push(body.readUInt16BE(pos));
    const n = body.readUInt16BE(pos);
    pos += 2;
    const values: Array<string | null> = [];
    for (let i = 0; i < n; i++) {
      const len = body.readInt32BE(pos);
      pos += 4;
      if (len < 0) {
        if (values.length < MAX_PARAMS_SHOWN) values.push(null);
        continue;
      }
      if (pos + len > body.length) return values.length > 0 ? values : null;
      const format = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] : (formats[i] ?? 0);
      if (values.length < MAX_PARAMS_SHOWN) {
        values.push(format === 0 ? truncate(body.toString('utf8', pos, pos + len), 256) : `<binary ${len} bytes>`);
      }
      pos += len;
    }
    return values;
  } catch {
    return null;
  }
}

export const postgresql: ProtocolDissector = {
  name: 'postgresql',
  transport: 'tcp',
  ports: [5432],
  priority: 30,
  reference: 'https://www.postgresql.org/docs/current/protocol.html',
  probe: (data, portMatch) => {
    try {
      return probePostgres(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new PostgresParser(ctx),
};
