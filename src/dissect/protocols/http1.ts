// HTTP/1.0 and HTTP/1.1 (RFC 9112): request/response heads, Content-Length,
// chunked and read-until-close bodies, keep-alive and pipelining (a FIFO of
// requests waiting for their response, as Zeek's HTTP analyzer keeps), 1xx
// interim responses, Upgrade/CONNECT hand-off. One call per request/response.
import { readRequestLine, readStatusLine, type StartLine } from './util/http1-start-line.js';
import { headerName } from './util/header-names.js';
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { BodyCollector, renderBody } from './util/body.js';
import { createHttp2ParserAfterUpgrade } from './http2.js';
import { createWebSocketParserAfterUpgrade } from './websocket.js';
import { TunnelStream } from './util/tunnel-stream.js';
import { applyGraphql, mayBeGraphql } from './graphql.js';
import { applyGrpcWeb, GrpcWebTrailerTap, grpcWebKind, shownBodyBytes } from './grpc-web.js';
import { applyBodyCounts, requestBodyLimit, requestBodyReading, responseBodyReading } from './body-readers.js';
import { printable, truncate } from './util/text.js';
import { statusText } from './util/status-text.js';

/**
 * Bytes of one head held while waiting for its end. A longer head is reported
 * truncated (counted as http.head_truncated) and the rest skipped, so a flow
 * sending a head that never ends holds at most this much.
 */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Characters of a cut request target kept in the entry. */
const MAX_TARGET_KEPT = 4096;
/** Interim (1xx) responses listed on one final response; more are only counted. */
const MAX_INTERIM = 8;
/** Headers kept per message; the rest are counted in a warning. */
const MAX_HEADERS = 200;
/** A chunk-size or trailer line longer than this is garbage. */
const MAX_LINE = 4096;
/** Requests waiting for a response; beyond this the oldest is emitted unanswered. */
const MAX_PENDING = 256;
/** Bytes past a body's counted end searched for the next start line after an inexact gap (Half.slack). */
const MAX_SLACK = 64 * 1024;
/** Why a response's status is null: only a status line that does not read as one leaves it unknown. */
const MALFORMED = 'malformed';

const KNOWN_METHODS = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT',
  'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE',
  'PURGE', 'LINK', 'UNLINK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'MKCALENDAR', 'QUERY',
]);

const TOKEN_CHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +(\S+) +(HTTP)\/(\d)\.(\d) *$/i;

type Headers = Record<string, string | string[]>;

const LF = Buffer.from('\n');
const NON_ASCII = /[\x80-\xff]/;
const LF_CRLF = Buffer.from('\n\r\n');
const LF_LF = Buffer.from('\n\n');

/** A message's head: its start line's parts (`status` null when unknown: a malformed status line, a request) and headers. */
interface Head extends StartLine {
  headers: Headers;
}

/** A message being read in one direction. */
interface Message {
  head: Head;
  startTime: number;
  startFrame: number;
  /** Position in the other direction's stream that the head's first packet acknowledged. */
  ackedPeerOffset?: number;
  /** Its last packet, when that is not the packet being read (a message cut short by lost bytes). */
  endTime?: number;
  endFrame?: number;
  wireSize: number;
  body: BodyCollector;
  /** Only sized: nobody reads this response's body (EngineOptions.bodiesUnread), decided when its head came. */
  bodyUnread?: boolean;
  /**
   * A request sent with Expect: 100-continue whose body has not begun: the client may never send
   * it (RFC 9110 §10.1.1: the server answered with a final status instead of 100) and go on with
   * its next request.
   */
  awaitingContinue?: boolean;
  /** Fields of a chunked body's trailer section (RFC 9112 §7.1.2), and how many there were. */
  trailers?: Headers;
  trailerCount?: number;
  /** A gRPC-Web response's frames followed past the --max-body cut, for the trailer frame that ends it. */
  grpcWebTap?: GrpcWebTrailerTap;
  warnings: string[];
}

interface PendingRequest {
  record: Record<string, any>;
  method: string;
  time: number;
  frame: number;
  size: number;
  warnings: string[];
  serial: number;
  /** Response bytes the client had acknowledged when it sent this request (a stream position), when known. */
  ackedResponseBytes: number | undefined;
}

interface ResponseLoss {
  /** Response-stream position where the lost bytes (or the message they cut) began. */
  start: number;
  /** Response-stream position just after the lost bytes. */
  end: number;
  /** Serial of the request whose response began in the lost bytes, when one did. */
  firstLost: number | undefined;
}

type BodyState = 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close';

/** The start of a status line up to its status, which a cut (a snap length) may end right after. */
const CUT_STATUS_LINE = /^HTTP\/1\.\d +\d{3}(?: |$)/i;

/** A status line at the start of a later line (the capture began inside a response body). */
const LATER_STATUS_LINE = /\nHTTP\/1\.[01] [1-5]\d\d[ \r\n]/i;

/**
 * Probe: a request line `METHOD SP target SP HTTP/1.x` or a status line
 * `HTTP/1.x NNN`; or, when the first bytes are neither (the capture started
 * in the middle of a response), a status line further on.
 */
export function probeHttp1(data: Buffer, portMatch: boolean): Probe {
  const verdict = probeStart(data, portMatch);
  if (verdict !== false) return verdict;
  return LATER_STATUS_LINE.test(data.toString('latin1')) ? 'response' : false;
}

function probeStart(data: Buffer, portMatch: boolean): Probe {
  if (data.length === 0) return 'need-more';
  const lineEnd = data.indexOf(0x0a);
  const line = data.subarray(0, lineEnd < 0 ? Math.min(data.length, 8192) : lineEnd).toString('latin1').replace(/\r$/, '');
  if (/^HTTP\/1\./i.test(line)) {
    if (/^HTTP\/1\.\d \d{3}/i.test(line)) return 'response';
    return lineEnd < 0 && line.length < 12 ? 'need-more' : false;
  }
  if (lineEnd < 0 && 'HTTP/1.'.startsWith(line)) return 'need-more';
  const sp = line.indexOf(' ');
  const method = sp < 0 ? line : line.slice(0, sp);
  if (!TOKEN_CHAR.test(method)) return false;
  if (lineEnd < 0) {
    // Incomplete line: only a known method (or a prefix of one) keeps us interested.
    if (sp < 0) return [...KNOWN_METHODS].some((m) => m.startsWith(method)) && method.length <= 12 ? 'need-more' : false;
    if (!KNOWN_METHODS.has(method) && !portMatch) return false;
    if (line.length < 8192) return 'need-more';
    // A request line longer than any probe window (the parser caps it and says so).
    return KNOWN_METHODS.has(method) && /^[A-Z-]+ (\/|https?:\/\/)/.test(line) ? 'request' : false;
  }
  const m = REQUEST_LINE.exec(line);
  if (!m || m[4] !== '1') return false;
  // Any token is a method in HTTP, but a known one is needed off the HTTP ports.
  return KNOWN_METHODS.has(m[1]) || portMatch ? 'request' : false;
}

export class Http1Parser implements TcpStreamParser {
  /** Set when the connection switched protocols (e.g. 'h2c', 'websocket', 'tunnel'); no more HTTP/1 after that. */
  upgradedTo: string | null = null;
  private readonly halves: Record<Direction, HalfStream>;
  /**
   * Requests waiting for their response, oldest first. Every request gets a
   * serial number; HTTP/1 answers in order, so the next response answers
   * `answerSerial` — which may already have left this queue (emitted
   * unanswered after a timeout), making that response a late one.
   */
  private readonly pending: PendingRequest[] = [];
  private nextSerial = 0;
  private answerSerial = 0;
  /**
   * A final response that came while its request's body was still coming
   * (an upload answered early: 413, 401, an error): it answers that request,
   * and goes out with it when the request ends.
   */
  private early: { msg: Message; response: Record<string, any>; time: number } | null = null;
  /** Response bytes were lost (a gap in the response direction) and the next status line has not been found yet. */
  private responseLoss: ResponseLoss | null = null;
  /**
   * Request bytes were lost with the framing (requests may have been in
   * them), and the responses have not caught up yet: how many of the
   * responses coming answer lost requests is unknown, so every call paired
   * until then says `gap` (see settleRequestLoss).
   */
  private requestLoss = false;
  /** Responses read since request bytes were lost: none yet means a lost request's may still come. */
  private responsesSinceRequestLoss = 0;
  /** True once we learned the engine's client is really the server. */
  private reversed = false;
  private sawFirstLine = false;
  /** After `101 Switching Protocols` to h2c, the HTTP/2 parser that carries on. */
  private next: TcpStreamParser | null = null;

  constructor(private readonly ctx: ConnectionContext) {
    this.halves = {
      c2s: new HalfStream(ctx, 'c2s', this),
      s2c: new HalfStream(ctx, 's2c', this),
    };
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.next) this.next.onData(this.wire(dir), data);
    else this.halves[dir].push(data);
  }

  onGap(dir: Direction, length: number, slack = 0): void {
    if (this.next) this.next.onGap(this.wire(dir), length, slack);
    else this.halves[dir].gap(length, slack);
  }

  onFin(dir: Direction): void {
    if (this.next) this.next.onFin?.(this.wire(dir));
    else this.halves[dir].closed();
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.next?.onTick?.(nowMs, timeoutMs);
    // Its response may still come: answerSerial stays, so that response is reported late, not paired with the next request.
    while (this.pending.length > 0 && nowMs - this.pending[0].time > timeoutMs) this.emitUnanswered(this.pending.shift()!, this.lossUnsettled());
    // Its request still has not ended: the response goes alone rather than wait without bound.
    if (this.early && nowMs - this.early.time > timeoutMs) this.releaseEarly();
  }

  pendingSince(): number | undefined {
    // After an h2c upgrade the HTTP/2 parser holds the calls still to come.
    if (this.next) return this.next.pendingSince ? this.next.pendingSince() : -Infinity;
    return minTime(this.pending[0]?.time, this.early?.msg.startTime, this.halves.c2s.messageStart, this.halves.s2c.messageStart);
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    this.next?.onEnd(reason);
    this.halves.c2s.end();
    this.halves.s2c.end();
    // Its request ended with the connection (and answered it), unless its head was dropped.
    this.releaseEarly();
    const lost = this.lossUnsettled();
    for (const p of this.pending.splice(0)) this.emitUnanswered(p, lost);
  }

  /** Response bytes were lost and no status line came after them: a request still waiting may have had its response there. */
  private lossUnsettled(): string[] {
    return this.responseLoss ? ['gap'] : [];
  }

  /** Bytes held for messages not yet complete (each direction's are capped by MAX_HEAD_BYTES while reading a head). */
  bufferedBytes(): number {
    return this.halves.c2s.buffered + this.halves.s2c.buffered;
  }

  /** Bytes delivered (or reported lost) so far in `dir`: a position in that direction's stream. */
  streamOffset(dir: Direction): number {
    return this.halves[dir].offset;
  }

  /** True once a start line showed which side sends requests. */
  get sidesKnown(): boolean {
    return this.sawFirstLine;
  }

  /** Called by a half when its first start line shows which side is which. */
  noteFirstLine(dir: Direction, kind: 'request' | 'response'): void {
    if (this.sawFirstLine) return;
    this.sawFirstLine = true;
    if ((dir === 'c2s') !== (kind === 'request')) this.reversed = true;
  }

  /** Requests travel the client's way; a half reading requests is the "request side". */
  isRequestSide(dir: Direction): boolean {
    return (dir === 'c2s') !== this.reversed;
  }

  /** The request the next response answers, if it is still waiting. */
  private answering(): PendingRequest | undefined {
    const first = this.pending[0];
    return first !== undefined && first.serial === this.answerSerial ? first : undefined;
  }

  /** The request the next response answers, as rendered (undefined when not seen). */
  answeringRecord(): Record<string, any> | undefined {
    return this.answering()?.record;
  }

  /** Method of the request the next response answers (HEAD and CONNECT change framing). */
  nextRequestMethod(): string | undefined {
    return this.answering()?.method;
  }

  /** Request bytes were lost with the framing (HalfStream.gap): the pairing is in doubt until settleRequestLoss. */
  requestGap(): void {
    this.requestLoss = true;
    this.responsesSinceRequestLoss = 0;
  }

  /**
   * A request read while no request waits and responses came after the
   * loss: when its packet acknowledged every response byte read so far, the
   * client had all the answers before it asked again, so the responses have
   * caught up with the requests (those lost included) and this one's
   * response is its own. Without acknowledgements to go by, an empty queue
   * is taken for the same. A request read before any response came after
   * the loss may have been pipelined behind a lost one, still unanswered.
   */
  private settleRequestLoss(msg: Message): void {
    if (!this.requestLoss || this.responsesSinceRequestLoss === 0 || this.pending.length > 0 || this.early !== null) return;
    if (msg.ackedPeerOffset !== undefined && msg.ackedPeerOffset < this.halves[this.reversed ? 'c2s' : 's2c'].offset) return;
    this.requestLoss = false;
  }

  requestDone(msg: Message, rendered: Record<string, any>): void {
    this.settleRequestLoss(msg);
    if (this.pending.length >= MAX_PENDING) {
      // Its response may still come: like a timeout, the next response is then reported late.
      this.ctx.count('http.pending_evicted');
      this.emitUnanswered(this.pending.shift()!, []);
    }
    this.pending.push({
      record: rendered,
      method: msg.head.method,
      time: msg.startTime,
      frame: msg.startFrame,
      size: msg.wireSize,
      warnings: msg.warnings,
      serial: this.nextSerial++,
      ackedResponseBytes: msg.ackedPeerOffset,
    });
    this.releaseEarly();
  }

  /**
   * Whether a final response completed now answers a request still being
   * read (its head seen, its body not ended): none is waiting or was
   * reported unanswered, and the request side is inside a message.
   */
  answersRequestInProgress(): boolean {
    return this.early === null && this.answerSerial >= this.nextSerial && this.halves[this.reversed ? 's2c' : 'c2s'].readingMessage;
  }

  /** Holds such a response until its request ends (requestDone), the connection ends, or the request timeout passes. */
  holdEarly(msg: Message, response: Record<string, any>): void {
    this.ctx.count('http.early_response');
    // It went out now: its time and frame are this packet's, not those of the packet that ends the request.
    if (msg.endFrame === undefined) {
      msg.endTime = this.ctx.now;
      msg.endFrame = this.ctx.frame;
    }
    this.early = { msg, response, time: this.ctx.now };
  }

  private releaseEarly(): void {
    const early = this.early;
    if (!early) return;
    this.early = null;
    this.responseDone(early.msg, early.response);
  }

  /**
   * Response bytes were lost. `between` is true when no response was being
   * read, so the response that began in the lost bytes is the one answering
   * `answerSerial` (if that request was seen).
   */
  responseGap(start: number, end: number, between: boolean): void {
    if (this.responseLoss) {
      this.responseLoss.end = end;
      return;
    }
    this.responseLoss = { start, end, firstLost: between && this.answerSerial < this.nextSerial ? this.answerSerial : undefined };
  }

  /**
   * The first status line after lost response bytes, at stream offset `at`:
   * decide which requests had their responses in the lost bytes (Zeek keeps
   * the same FIFO and resynchronises on the next status line) and report them
   * unanswered. A request that acknowledged more of the lost bytes than the
   * request before it was sent after a response ended in them (keep-alive
   * without pipelining): that earlier request's response was lost too.
   * Pipelined requests acknowledge the same bytes, so they keep their order.
   */
  responseResync(at: number): void {
    const loss = this.responseLoss;
    if (!loss) return;
    this.responseLoss = null;
    // A request sent after the client had every lost byte cannot have its response in them
    // (the lost bytes answered a request the capture lost too).
    const sentAfterLoss = (p: PendingRequest | undefined) => p?.ackedResponseBytes !== undefined && p.ackedResponseBytes >= loss.end;
    const at0 = (serial: number) => this.pending[serial - (this.pending[0]?.serial ?? this.nextSerial)];
    if (loss.firstLost !== undefined && !sentAfterLoss(at0(loss.firstLost))) this.answerSerial = Math.max(this.answerSerial, loss.firstLost + 1);
    for (;;) {
      const cur = at0(this.answerSerial);
      const after = at0(this.answerSerial + 1);
      if (cur?.ackedResponseBytes === undefined || after?.ackedResponseBytes === undefined || sentAfterLoss(cur)) break;
      const a = cur.ackedResponseBytes;
      const b = after.ackedResponseBytes;
      if (!(b > a && b > loss.start && b <= at)) break;
      this.answerSerial++;
    }
    while (this.pending.length > 0 && this.pending[0].serial < this.answerSerial) {
      this.ctx.count('http.response_lost_in_gap');
      this.emitUnanswered(this.pending.shift()!, ['gap']);
    }
  }

  /** Emit the call a response completes; returns the request it answered. */
  responseDone(msg: Message, response: Record<string, any>): PendingRequest | undefined {
    const req = this.answering();
    if (req) this.pending.shift();
    // Its request was already reported unanswered (it waited longer than the timeout).
    const late = !req && this.answerSerial < this.nextSerial;
    // A response with no request seen (the capture started after it) answers nothing we will see.
    if (this.answerSerial < this.nextSerial) this.answerSerial++;
    const status = msg.head.status;
    const warnings = [...(req?.warnings ?? []), ...msg.warnings];
    // Requests were lost and the responses have not caught up: this one may answer a lost request.
    if (this.requestLoss) {
      warnings.push('gap');
      this.responsesSinceRequestLoss++;
    }
    if (late) warnings.push('late response');
    // No request for it, and the client side lost bytes with no request read since: its request
    // was in them (a lone response is damage to show, not a capture that began after its request).
    else if (!req) {
      const requestHalf = this.halves[this.isRequestSide('c2s') ? 'c2s' : 's2c'];
      if (requestHalf.lostSinceLastMessage) {
        warnings.push('gap');
        requestHalf.lossShown();
      }
    }
    const call: CallRecord = {
      protocol: 'http',
      request: req?.record ?? null,
      response,
      requestTime: req?.time ?? msg.startTime,
      responseTime: msg.endTime ?? this.ctx.now,
      requestFrame: req?.frame ?? msg.startFrame,
      responseFrame: msg.endFrame ?? this.ctx.frame,
      requestSize: req?.size ?? 0,
      responseSize: msg.wireSize,
      error: status !== null && status >= 500,
      summary: `${req ? `${req.method} ${summaryPath(req.record)}` : '(no request)'} → ${statusText(status, MALFORMED)}`,
    };
    if (warnings.length > 0) call.warnings = [...new Set(warnings)];
    if (this.reversed) call.reversed = true;
    // gRPC-Web (a browser's gRPC through Envoy) becomes a grpc entry; a POST /graphql (or GET ?query=) a graphql one.
    if (!this.applyGrpcWeb(call)) applyGraphql(call, MALFORMED, (c) => this.ctx.count(c));
    // A body a reader knows (remote write, a Loki push, an OTLP export) shows what it carried.
    applyBodyCounts(call);
    this.ctx.emit(call);
    return req;
  }

  /**
   * A response head cut short by lost bytes is about to be read while no
   * request waits for it: a request head the client side holds in part was
   * sent whole before the server answered, so the rest of it is missing
   * (the same snap length cut both). It is read first, as cut short, so the
   * response answers it.
   */
  settleCutRequest(): void {
    if (this.answerSerial < this.nextSerial) return;
    this.halves[this.reversed ? 's2c' : 'c2s'].salvageCutHead();
  }

  /** True when the next response answers a request we saw (waiting, or already reported unanswered). */
  requestSeen(): boolean {
    if (this.answerSerial < this.nextSerial) return true;
    // A request whose head was read while its body is still coming (Expect: 100-continue).
    return this.halves[this.reversed ? 's2c' : 'c2s'].readingMessage;
  }

  /**
   * The connection stops being HTTP/1. h2c carries on in the HTTP/2 parser
   * (RFC 9113 §3.2: the upgrade request becomes stream 1) with the bytes
   * already queued behind the upgrade; other protocols are only counted.
   */
  /** A request asking to upgrade waits for its response (cheap: checked before a head is looked at). */
  get upgradeWaiting(): boolean {
    return this.upgradeAsked() !== undefined;
  }

  /**
   * The protocol the request waiting for its response asked to switch to
   * (`Upgrade: h2c` or `websocket`), while no response has answered it.
   */
  private upgradeAsked(): 'h2c' | 'websocket' | undefined {
    const req = this.answering();
    const upgrade = req?.record.headers?.upgrade;
    if (upgrade === undefined) return undefined;
    const value = (Array.isArray(upgrade) ? upgrade.join(',') : typeof upgrade === 'string' ? upgrade : '').toLowerCase();
    if (/(^|,)\s*h2c\s*(,|$)/.test(value)) return 'h2c';
    if (/(^|,)\s*websocket\s*(,|$)/.test(value)) return 'websocket';
    return undefined;
  }

  /**
   * A `101 Switching Protocols` lost from the capture shows in what follows
   * it: after a request asking to upgrade, the client's next bytes are the
   * HTTP/2 preface or a masked WebSocket frame (`dir` the request side), or
   * the server's first bytes after lost ones an HTTP/2 SETTINGS frame or an
   * unmasked WebSocket frame. The connection switches as the 101 would have
   * made it (the upgrade request says `gap`; counted `http.upgrade_inferred`).
   * `head` is the first bytes queued in `dir`; true when it switched.
   */
  inferUpgrade(dir: Direction, head: Buffer, afterGap: boolean): boolean {
    const to = this.upgradeAsked();
    if (to === undefined) return false;
    const requests = this.isRequestSide(dir);
    if (!requests && !afterGap) return false;
    const seen = to === 'h2c' ? (requests ? startsH2Preface(head) : startsH2Settings(head)) : startsWsFrame(head, requests);
    if (!seen) return false;
    this.ctx.count('http.upgrade_inferred');
    // What `dir` holds begins with the new protocol's first frame: handed over as it is.
    this.halves[dir].frameStartsHere();
    const req = this.pending.shift()!;
    this.answerSerial++;
    req.warnings = [...req.warnings, 'gap'];
    // As any response whose head was lost: status unknown, no headers (docs/entry.schema.json).
    const response: Record<string, any> = { status: null, headers: {}, upgrade: to };
    if (to === 'websocket') {
      // The call that switched, its 101 not captured: shown as one with its status unknown.
      const call: CallRecord = {
        protocol: 'http',
        request: req.record,
        response,
        requestTime: req.time,
        requestFrame: req.frame,
        responseTime: req.time,
        responseFrame: req.frame,
        requestSize: req.size,
        responseSize: 0,
        error: false,
        summary: `${req.method} ${summaryPath(req.record)} → ? (switched to websocket)`,
        warnings: [...new Set(req.warnings)],
      };
      if (this.reversed) call.reversed = true;
      this.ctx.emit(call);
    }
    // The extensions the 101 accepted are not known: those the client offered are the best guess (servers
    // accept permessage-deflate as offered); a message that does not inflate then says so.
    this.switchProtocols(to, req, response, headerText(req.record.headers?.['sec-websocket-extensions']));
    return true;
  }

  switchProtocols(to: string, upgradeRequest: PendingRequest | undefined, response?: Record<string, any>, offered?: string): void {
    this.upgradedTo = to;
    this.ctx.count(`http.upgrade.${to}`);
    const leftover = { c2s: this.halves.c2s.drain(), s2c: this.halves.s2c.drain() };
    // Bytes a side held while looking for a start line after lost ones are not where a frame begins.
    const lost = { c2s: this.halves.c2s.resyncing, s2c: this.halves.s2c.resyncing };
    this.halves.c2s.stop();
    this.halves.s2c.stop();
    if (to === 'websocket') {
      // RFC 6455: frames follow the 101 at once (often in the same segment); the extensions the server accepted say how to inflate them.
      // The subprotocol it accepted may be one shark reads inside the messages (MQTT over WebSocket).
      const sub = headerText(response?.headers?.['sec-websocket-protocol']);
      this.next = createWebSocketParserAfterUpgrade(this.ctx, headerText(response?.headers?.['sec-websocket-extensions']) ?? offered, sub?.split(',')[0].trim());
      this.handOver(leftover, lost);
      return;
    }
    if (to === 'tunnel') {
      // A CONNECT the proxy accepted: what the tunnel carries (TLS to :443, most often) is dissected on its own.
      this.next = new TunnelStream(this.ctx, connectPort(upgradeRequest?.record), 'http.tunnel');
      for (const dir of ['c2s', 's2c'] as const) if (leftover[dir].length > 0) this.next.onData(this.wire(dir), leftover[dir]);
      return;
    }
    if (to !== 'h2c') return;
    // Without the upgrade request (not captured), stream 1's method and path are unknown, not a guessed "GET /".
    const r = upgradeRequest?.record;
    this.next = createHttp2ParserAfterUpgrade(
      this.ctx,
      upgradeRequest
        ? {
            method: r?.method,
            path: r?.url,
            headers: r?.headers,
            host: r?.host || undefined,
            time: upgradeRequest.time,
            frame: upgradeRequest.frame,
            size: upgradeRequest.size,
            ...(upgradeRequest.warnings.includes('gap') ? { warnings: ['gap'] } : {}),
          }
        : null,
    );
    this.handOver(leftover, lost);
  }

  /** What the halves held goes to the parser that carries on; a side that was resynchronising says a gap instead. */
  private handOver(leftover: Record<Direction, Buffer>, lost: Record<Direction, boolean>): void {
    const next = this.next as TcpStreamParser;
    for (const dir of ['c2s', 's2c'] as const) {
      if (lost[dir]) next.onGap(this.wire(dir), Math.max(1, leftover[dir].length));
      else if (leftover[dir].length > 0) next.onData(this.wire(dir), leftover[dir]);
    }
  }

  /** Our request side is the client's unless the connection turned out reversed. */
  private wire(dir: Direction): Direction {
    if (!this.reversed) return dir;
    return dir === 'c2s' ? 's2c' : 'c2s';
  }

  private emitUnanswered(p: PendingRequest, extra: string[]): void {
    const call: CallRecord = {
      protocol: 'http',
      request: p.record,
      response: null,
      requestTime: p.time,
      requestFrame: p.frame,
      requestSize: p.size,
      responseSize: 0,
      error: true,
      summary: `${p.method} ${summaryPath(p.record)} → unanswered`,
      warnings: [...new Set([...p.warnings, ...extra, 'unanswered'])],
    };
    if (this.reversed) call.reversed = true;
    this.applyGrpcWeb(call);
    applyBodyCounts(call);
    this.ctx.emit(call);
  }

  /** A gRPC-Web call read from the bodies as shown (cut at --max-body: a trailer frame past it is not read). */
  private applyGrpcWeb(call: CallRecord): boolean {
    const o = this.ctx.options;
    return applyGrpcWeb(call, shownBodyBytes(call.request), shownBodyBytes(call.response), {
      requestTruncated: call.request?.bodyTruncated === true,
      responseTruncated: call.response?.bodyTruncated === true,
      noBodies: o.noBodies,
      schema: o.protoSchema,
      statusUnknown: MALFORMED,
      count: (c, n) => this.ctx.count(c, n),
    });
  }
}

/** The earliest of some optional times (undefined when none is set). */
function minTime(...times: (number | undefined)[]): number | undefined {
  let min: number | undefined;
  for (const t of times) if (t !== undefined && (min === undefined || t < min)) min = t;
  return min;
}

function summaryPath(req: Record<string, any>): string {
  // A junk request line may have no target at all.
  return truncate(String(req.path || '(no path)'), 120);
}

/** Reads HTTP messages from one direction's byte stream. */
class HalfStream {
  private readonly queue = new ByteQueue();
  private msg: Message | null = null;
  /** Bytes delivered or reported lost in this direction so far. */
  offset = 0;
  /** Time, frame and acknowledged peer position of the first byte of the head being read (undefined until one begins). */
  private headStart: { time: number; frame: number; acked: number | undefined } | undefined;
  /** The packet that last brought bytes in this direction. */
  private lastData: { time: number; frame: number } | undefined;
  /** Interim (1xx) responses read before the final one, kept for it. */
  private interim: { status: number; statusText: string }[] = [];

  /** When the message being read began (undefined between messages). */
  get messageStart(): number | undefined {
    return this.msg?.startTime ?? this.headStart?.time;
  }

  get readingMessage(): boolean {
    return this.msg !== null;
  }

  get buffered(): number {
    return this.queue.length;
  }

  private bodyState: BodyState = 'length';
  private remaining = 0;
  /** Where the search for the end of the head resumes (bytes before it were searched). */
  private scanFrom = 0;
  /** Ignore everything (gave up, or the protocol switched). */
  private stopped = false;
  /** After a gap in a head: drop bytes until a line looks like a start line. */
  private resync = false;
  /**
   * After a gap counted as an upper bound (onGap's `slack`): a body of known
   * size may really end up to this many bytes after where it was counted to
   * end, so the next start line is looked for at any byte within them, not
   * only at a line's start (a body's last line has no newline of its own).
   */
  private slack = 0;
  private pendingGapWarning = false;
  /**
   * A lone response already said the loss (its request was in the lost bytes): the next request
   * read whole after it is not touched by the gap (keep-alive: it was sent after that response).
   */
  private lossSaid = false;
  /** Bytes were lost since the last message this side read began (the next one will say `gap`). */
  get lostSinceLastMessage(): boolean {
    return this.pendingGapWarning;
  }

  /** A response with no request read says this side's loss (lostSinceLastMessage). */
  lossShown(): void {
    this.lossSaid = true;
  }
  /** The first bytes have not been looked at yet (a capture may start in the middle of a message). */
  private first = true;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly dir: Direction,
    private readonly conn: Http1Parser,
  ) {}

  push(data: Buffer): void {
    if (this.stopped) return;
    this.offset += data.length;
    this.lastData = { time: this.ctx.now, frame: this.ctx.frame };
    // `data` is valid only during this call: parsed in place, what is left is copied (settle).
    this.queue.pushBorrowed(data);
    try {
      this.pump();
    } finally {
      this.queue.settle();
    }
  }

  /** Bytes queued but not parsed (what follows a protocol switch). */
  drain(): Buffer {
    return this.stopped ? Buffer.alloc(0) : Buffer.from(this.queue.peek());
  }

  /** Looking for the next start line after lost bytes (what is queued may begin anywhere). */
  get resyncing(): boolean {
    return this.resync;
  }

  /** What is queued was found to begin a message (of the protocol the connection switches to). */
  frameStartsHere(): void {
    this.resync = false;
  }

  stop(): void {
    this.stopped = true;
    this.queue.clear();
    this.msg = null;
  }

  gap(length: number, slack = 0): void {
    if (this.stopped) return;
    const start = this.offset;
    this.offset += length;
    this.ctx.count('http.gap');
    this.first = false;
    this.slack = Math.min(this.slack + slack, MAX_SLACK);
    if (this.msg === null && !this.conn.isRequestSide(this.dir) && this.salvageable()) this.conn.settleCutRequest();
    if (this.msg && this.bodyState === 'length' && this.queue.length === 0 && length <= this.remaining) {
      // Lost bytes inside a body of known size: the framing survives (sizes count the lost bytes),
      // unless the count was only an upper bound: then the body's end is looked for (readBody).
      this.msg.warnings.push('gap');
      this.msg.body.size += length;
      this.msg.wireSize += length;
      this.remaining -= length;
      if (this.remaining === 0) this.finishBodyAfterGap();
      return;
    }
    if (this.msg && this.bodyState === 'close') {
      this.msg.warnings.push('gap');
      this.msg.body.size += length;
      this.msg.wireSize += length;
      return;
    }
    let between = this.msg === null && !this.salvageable();
    let lossStart = start - this.queue.length;
    if (this.msg && this.bodyState === 'length' && this.queue.length === 0) {
      // The body's end is known and lies in the lost bytes: what was lost after it began the next message.
      const rest = this.remaining;
      this.msg.warnings.push('gap');
      this.msg.body.size += rest;
      this.msg.wireSize += rest;
      this.remaining = 0;
      this.finishCutShort();
      between = true;
      lossStart = start + rest;
    }
    // Framing is lost: finish what we have (marked) and look for the next start line.
    if (!this.conn.isRequestSide(this.dir)) this.conn.responseGap(lossStart, this.offset, between);
    else this.conn.requestGap();
    if (this.msg) {
      this.msg.warnings.push('gap');
      // Its last packet is the last one we saw, not the one that showed bytes were lost.
      this.finishCutShort();
    } else if (!this.resync) this.salvagePartialHead('gap');
    this.dropQueued();
    this.headStart = undefined;
    this.scanFrom = 0;
    this.resync = true;
    this.pendingGapWarning = true;
    this.lossSaid = false;
  }

  /** Its sender's FIN: a body read until the close is whole now, its last packet the FIN's (tshark's response frame). */
  closed(): void {
    if (this.stopped || this.msg === null) return;
    // A request sent with Expect: 100-continue whose client closed without a byte of its body
    // did not send it (it had a final answer instead of 100): not a body the capture cut short.
    if (this.msg.awaitingContinue && this.queue.length === 0) {
      this.msg.awaitingContinue = false;
      this.ctx.count('http.expect_body_not_sent');
      this.remaining = 0;
      this.bodyState = 'length';
      this.finishMessage();
      return;
    }
    if (this.bodyState !== 'close') return;
    this.finishMessage();
  }

  end(): void {
    if (this.stopped) return;
    if (this.msg) {
      // A body read until the connection closes ends with the connection; any other is cut short.
      if (this.bodyState === 'close') this.finishMessage();
      else {
        this.msg.warnings.push('truncated');
        this.finishCutShort();
      }
    } else if (!this.resync) this.salvagePartialHead('truncated');
    this.flushInterim();
    this.queue.clear();
  }

  /** The head this side holds in part is cut short (its rest is missing): read what it has, then look for the next start line. */
  salvageCutHead(): void {
    if (this.stopped || this.msg !== null || !this.salvageable()) return;
    this.salvagePartialHead('truncated');
    this.dropQueued();
    this.headStart = undefined;
    this.scanFrom = 0;
    this.resync = true;
  }

  /** Whether the bytes queued between messages hold part of a head (a complete line, or a status line's status). */
  private salvageable(): boolean {
    return !this.resync && (this.queue.indexOfByte(0x0a, MAX_HEAD_BYTES) > 0 || this.cutStatusLine());
  }

  /**
   * Whether the queued bytes are a status line cut before its end that still
   * holds the status: a snap length keeps a packet's first bytes only (96 less
   * the headers leaves 30 of payload, "HTTP/1.1 500 Internal Server E"), and
   * what the capture kept is read.
   */
  private cutStatusLine(): boolean {
    if (this.conn.isRequestSide(this.dir) || this.queue.length < 12) return false;
    return CUT_STATUS_LINE.test(this.queue.peek(Math.min(this.queue.length, 16)).toString('latin1'));
  }

  /** A head cut short (by a gap or the end of the capture): keep what its complete lines say, or its cut status line. */
  private salvagePartialHead(warning: string): void {
    if (this.queue.length === 0) return;
    const raw = this.queue.peek(Math.min(this.queue.length, MAX_HEAD_BYTES));
    const lastNl = raw.lastIndexOf(0x0a);
    if (lastNl > 0) this.startMessage(raw.subarray(0, lastNl + 1), raw.length, [warning]);
    else if (this.cutStatusLine()) this.startMessage(raw, raw.length, [warning], true);
    else return;
    if (this.msg) this.finishCutShort();
  }

  /** A body of known size ends where lost bytes were counted to: if they were counted high, the next start line is searched for. */
  private finishBodyAfterGap(): void {
    this.finishCutShort();
    if (this.slack > 0) this.resync = true;
  }

  /** Finish a message cut short: its last packet is the last one that brought its bytes. */
  private finishCutShort(): void {
    this.msg!.endTime = this.lastData?.time;
    this.msg!.endFrame = this.lastData?.frame;
    this.finishMessage();
  }

  /** Interim responses with no final response after them (the capture ended): each is a call of its own. */
  private flushInterim(): void {
    for (const i of this.interim.splice(0)) {
      const head: Head = { kind: 'response', method: '', target: '', status: i.status, statusText: i.statusText, version: 'HTTP/1.1', headers: {}, warnings: [] };
      const msg: Message = { head, startTime: this.ctx.now, startFrame: this.ctx.frame, wireSize: 0, body: new BodyCollector(0), warnings: ['truncated'] };
      this.conn.responseDone(msg, responseRecord(head, { bodySize: 0 }));
    }
  }

  /** Bytes thrown away unread are counted, never dropped silently. */
  private dropQueued(n = this.queue.length): void {
    if (n > 0) this.ctx.count('http.bytes_dropped', n);
    this.queue.consume(n);
  }

  private pump(): void {
    // Each pass consumes bytes or returns, so the loop ends.
    while (!this.stopped && this.queue.length > 0) {
      if (this.first && !this.checkFirstBytes()) return;
      if (this.resync && !this.findStartLine()) return;
      if (this.msg === null) {
        // A lost 101: the client goes on in the protocol it asked for (HTTP/2 preface, WebSocket frames).
        // (Looked at only while an upgrade request waits: a head's hot path peeks at nothing.)
        if (this.conn.upgradeWaiting && this.conn.isRequestSide(this.dir) && this.queue.length >= 2 && this.conn.inferUpgrade(this.dir, this.queue.peek(Math.min(16, this.queue.length)), false)) return;
        if (!this.readHead()) return;
      } else if (!this.readBody()) return;
    }
  }

  /**
   * A capture that starts in the middle of a response (its start line missed)
   * shows body bytes first: skip to the next status line rather than read the
   * body as a head. False until the first line is complete.
   */
  private checkFirstBytes(): boolean {
    const nl = this.queue.indexOfByte(0x0a, 8192);
    if (nl < 0 && this.queue.length < 8192) {
      // A first line split over packets: the message is stamped with the packet that began it (readHead keeps this).
      this.headStart ??= { time: this.ctx.now, frame: this.ctx.frame, acked: this.ackedPeerOffset() };
      return false;
    }
    this.first = false;
    if (this.conn.isRequestSide(this.dir)) return true;
    const line = this.queue.peek(nl < 0 ? 16 : Math.min(nl, 16));
    if (!looksLikeStartLine(line)) {
      this.ctx.count('http.midstream');
      this.resync = true;
      this.headStart = undefined;
    }
    return true;
  }

  /** Drop bytes up to the next line that starts like an HTTP start line. */
  private findStartLine(): boolean {
    // Once the sides are known, a body line that reads like the other kind ("GET /x HTTP/1.1" in a response body) is not a start.
    const want = this.conn.sidesKnown ? (this.conn.isRequestSide(this.dir) ? 'request' : 'response') : undefined;
    const buf = this.queue.peek();
    // The first bytes after the loss: frames of the protocol a lost 101 switched to, not a status line.
    if (this.queue.length >= 2 && this.conn.inferUpgrade(this.dir, buf.subarray(0, 16), true)) return false;
    if (this.slack > 0) {
      // Bytes counted lost that were not: the previous body's last bytes, then (at any byte) the next start.
      const window = Math.min(buf.length, this.slack + 1);
      for (let i = 0; i < window; i++) {
        if (looksLikeStartLine(buf.subarray(i, i + 16), want)) return this.startLineAt(i);
      }
      if (buf.length < this.slack + 16) return false;
      this.slack = 0;
    }
    let i = 0;
    while (i < buf.length) {
      if (looksLikeStartLine(buf.subarray(i, i + 16), want)) return this.startLineAt(i);
      const nl = buf.indexOf(0x0a, i);
      if (nl < 0) break;
      i = nl + 1;
    }
    // Keep a short partial last line: it may become a start line with more bytes.
    const lastNl = buf.lastIndexOf(0x0a);
    const partial = buf.length - (lastNl + 1);
    this.dropQueued(partial > 16 ? buf.length : lastNl + 1);
    return false;
  }

  /** The next message starts `i` bytes into the queue: what is before it goes (counted). */
  private startLineAt(i: number): true {
    this.dropQueued(i);
    this.resync = false;
    this.slack = 0;
    if (!this.conn.isRequestSide(this.dir)) this.conn.responseResync(this.offset - this.queue.length);
    return true;
  }

  private readHead(): boolean {
    // Blank lines between messages are allowed (RFC 9112 §2.2).
    while (this.queue.length > 0 && (this.queue.at(0) === 0x0d || this.queue.at(0) === 0x0a)) this.queue.consume(1);
    if (this.queue.length === 0) return false;
    // The head's first byte: its packet's time is the message's time.
    if (!this.headStart) this.headStart = { time: this.ctx.now, frame: this.ctx.frame, acked: this.ackedPeerOffset() };
    const from = Math.max(0, this.scanFrom - 3);
    // In place: a head arriving in many packets is searched once per packet, never copied whole.
    const crlf = this.queue.indexOfInPlace(LF_CRLF, from, MAX_HEAD_BYTES);
    // A bare-LF end only matters before the CRLF one: not searched for through the body after it.
    const lf = this.queue.indexOfInPlace(LF_LF, from, crlf < 0 ? MAX_HEAD_BYTES : crlf + 3);
    if (crlf < 0 && lf < 0) {
      this.scanFrom = this.queue.length;
      if (this.queue.length >= MAX_HEAD_BYTES) this.headOverCap();
      return false;
    }
    // The earlier of the two ends (LF CR LF ends at +3, LF LF at +2).
    const headLen = crlf < 0 ? lf + 2 : lf < 0 ? crlf + 3 : Math.min(crlf + 3, lf + 2);
    this.scanFrom = 0;
    const raw = this.queue.peek(headLen);
    this.startMessage(raw, headLen, []);
    this.queue.consume(headLen);
    if (this.msg && this.bodyState === 'length' && this.remaining === 0) this.finishMessage();
    return true;
  }

  /**
   * A head longer than the cap: report what its first MAX_HEAD_BYTES say
   * (start line, complete header lines) as a truncated message, drop the rest
   * and look for the next start line, so one flow never holds more than the
   * cap however long its head.
   */
  private headOverCap(): void {
    this.ctx.count('http.head_truncated');
    const raw = this.queue.peek(MAX_HEAD_BYTES);
    const lastNl = raw.lastIndexOf(0x0a);
    const warning = `truncated: head over ${MAX_HEAD_BYTES} bytes`;
    // Without a complete line, the start line itself is cut: keep its beginning.
    this.startMessage(lastNl > 0 ? raw.subarray(0, lastNl + 1) : raw, raw.length, [warning], lastNl <= 0);
    this.queue.consume(MAX_HEAD_BYTES);
    // The body's framing is in the part of the head we did not read.
    if (this.msg) this.finishMessage();
    this.scanFrom = 0;
    this.resync = true;
  }

  /** Where the packet being read says the peer's stream was acknowledged (undefined when it does not say). */
  private ackedPeerOffset(): number | undefined {
    const ack = this.ctx.ack;
    if (!ack || ack.from !== this.dir) return undefined;
    return this.conn.streamOffset(this.dir === 'c2s' ? 's2c' : 'c2s') + ack.ahead;
  }

  /** Parse a head and set up body framing; `raw` is only valid during this call. */
  private startMessage(raw: Buffer, wireSize: number, warnings: string[], cutStartLine = false): void {
    const expectRequest = this.conn.isRequestSide(this.dir);
    const head = cutStartLine ? parseCutStartLine(raw, expectRequest) : parseHead(raw, expectRequest);
    this.conn.noteFirstLine(this.dir, head.kind);
    if (head.warnings.some((w) => w.startsWith('malformed'))) this.ctx.count('http.malformed');
    const msgWarnings = [...warnings, ...head.warnings];
    if (this.pendingGapWarning) {
      // Found after resynchronising on its start line, it is whole; only the pairing around it is in doubt, unless a lone response took the loss.
      if (!this.lossSaid) msgWarnings.push('gap');
      this.pendingGapWarning = false;
      this.lossSaid = false;
    }
    const start = this.headStart ?? { time: this.ctx.now, frame: this.ctx.frame, acked: this.ackedPeerOffset() };
    this.headStart = undefined;
    // A body nobody reads (EngineOptions.bodiesUnread) is only sized, unless a GraphQL answer's errors may be in it
    // (or its request is not known yet, so that cannot be told).
    const answering = head.kind === 'response' && this.ctx.options.bodiesUnread === true ? this.conn.answeringRecord() : undefined;
    const bodyUnread = answering !== undefined && !mayBeGraphql(answering);
    this.msg = {
      head,
      startTime: start.time,
      startFrame: start.frame,
      ackedPeerOffset: start.acked,
      wireSize,
      body: new BodyCollector(this.ctx.options.noBodies || bodyUnread ? 0 : this.ctx.options.maxBody),
      bodyUnread,
      warnings: msgWarnings,
    };
    // A body a reader counts (remote write, Loki, OTLP) is kept whole, up to its own bound.
    if (head.kind === 'request' && !this.ctx.options.noBodies) {
      this.msg.body.raiseLimit(requestBodyLimit({ path: head.target, header: (name) => headerValue(head.headers, name) }, this.ctx.options.maxBody));
    }
    this.setFraming(head);
    if (head.kind === 'response' && headerValue(head.headers, 'content-encoding') === undefined) {
      const kind = grpcWebKind(headerValue(head.headers, 'content-type'));
      if (kind) this.msg.grpcWebTap = new GrpcWebTrailerTap(kind === 'grpc-web-text');
    }
    if (head.kind === 'request' && (this.remaining > 0 || this.bodyState === 'chunk-size') && /100-continue/i.test(headerValue(head.headers, 'expect') ?? '')) {
      this.msg.awaitingContinue = true;
    }
  }

  private setFraming(head: Head): void {
    const te = headerValue(head.headers, 'transfer-encoding')?.toLowerCase();
    const cl = headerValue(head.headers, 'content-length');
    this.bodyState = 'length';
    this.remaining = 0;
    if (head.kind === 'response') {
      const method = this.conn.nextRequestMethod();
      // An unknown status (malformed line) is framed as any final response is.
      const s = head.status ?? 0;
      if ((s >= 100 && s < 200) || s === 204 || s === 304 || method === 'HEAD') return;
      if (method === 'CONNECT' && s >= 200 && s < 300) return;
    }
    if (te !== undefined && /(^|,)\s*chunked\s*$/.test(te)) {
      this.bodyState = 'chunk-size';
      return;
    }
    if (cl !== undefined) {
      const n = /^\s*\d{1,15}\s*$/.test(cl) ? Number(cl) : NaN;
      if (Number.isFinite(n)) {
        this.remaining = n;
        return;
      }
      this.msg!.warnings.push('malformed: content-length');
      this.ctx.count('http.malformed');
    }
    // A response without length reads until the connection closes; a request has no body.
    if (head.kind === 'response') this.bodyState = 'close';
  }

  /** `n` queued body bytes into the message's collector: copied only as far as it keeps them (it copies what it keeps). */
  private moveBody(msg: Message, n: number): void {
    msg.grpcWebTap?.add(this.queue.peek(n));
    if (msg.body.full) msg.body.skip(n);
    else msg.body.add(this.queue.peek(n));
    this.queue.consume(n);
  }

  /** Consume body bytes; false when more input is needed. */
  private readBody(): boolean {
    const msg = this.msg!;
    if (msg.awaitingContinue) {
      // Its first line (or 16 bytes, or the whole body) tells a body from the client's next request.
      const enough = this.queue.length >= 16 || this.queue.indexOfByte(0x0a) >= 0 || (this.bodyState === 'length' && this.queue.length >= this.remaining);
      if (!enough) return false;
      msg.awaitingContinue = false;
      if (looksLikeStartLine(this.queue.peek(Math.min(16, this.queue.length)), 'request')) {
        this.ctx.count('http.expect_body_not_sent');
        this.remaining = 0;
        this.bodyState = 'length';
        this.finishMessage();
        return true;
      }
    }
    switch (this.bodyState) {
      case 'length': {
        const n = Math.min(this.remaining, this.queue.length);
        this.moveBody(msg, n);
        msg.wireSize += n;
        this.remaining -= n;
        if (this.remaining > 0) return false;
        this.finishMessage();
        if (this.slack > 0) this.resync = true;
        return true;
      }
      case 'close': {
        const n = this.queue.length;
        this.moveBody(msg, n);
        msg.wireSize += n;
        return false;
      }
      case 'chunk-size': {
        const line = this.takeLine();
        if (line === null) return false;
        const m = /^\s*([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (!m) {
          msg.warnings.push('malformed: chunk size');
          this.ctx.count('http.malformed');
          this.finishMessage();
          this.resync = true;
          return true;
        }
        this.remaining = parseInt(m[1], 16);
        this.bodyState = this.remaining === 0 ? 'trailers' : 'chunk-data';
        return true;
      }
      case 'chunk-data': {
        const n = Math.min(this.remaining, this.queue.length);
        this.moveBody(msg, n);
        msg.wireSize += n;
        this.remaining -= n;
        if (this.remaining > 0) return false;
        this.bodyState = 'chunk-crlf';
        return true;
      }
      case 'chunk-crlf': {
        const line = this.takeLine();
        if (line === null) return false;
        if (line !== '') msg.warnings.push('malformed: chunk end');
        this.bodyState = 'chunk-size';
        return true;
      }
      case 'trailers': {
        const line = this.takeLine();
        if (line === null) return false;
        const colon = line.indexOf(':');
        if (line === '') this.finishMessage();
        else if (colon <= 0) {
          if (!msg.warnings.includes('malformed: trailer line')) {
            msg.warnings.push('malformed: trailer line');
            this.ctx.count('http.malformed');
          }
        } else if ((msg.trailerCount = (msg.trailerCount ?? 0) + 1) <= MAX_HEADERS) {
          // Kept as tshark shows them (its trailer-part): a checksum, a gRPC-style status, a signature.
          const raw = line.slice(colon + 1).trim();
          addHeader((msg.trailers ??= {}), line.slice(0, colon).trim().toLowerCase(), NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw);
        }
        return true;
      }
    }
  }

  /** One CRLF- or LF-terminated line (without the terminator), or null when incomplete. */
  private takeLine(): string | null {
    let nl = this.queue.indexOf(LF, 0, 256);
    if (nl < 0 && this.queue.length > 256) nl = this.queue.indexOf(LF, 0, MAX_LINE);
    if (nl < 0) {
      if (this.queue.length >= MAX_LINE) {
        this.msg!.warnings.push('malformed: line too long');
        this.ctx.count('http.malformed');
        this.finishMessage();
        // The framing is lost: the bytes up to the next start line are dropped (and counted).
        this.resync = true;
      }
      return null;
    }
    const line = this.queue.peek(nl + 1).toString('latin1');
    this.queue.consume(nl + 1);
    this.msg!.wireSize += nl + 1;
    return line.replace(/\r?\n$/, '');
  }

  private finishMessage(): void {
    const msg = this.msg!;
    this.msg = null;
    this.bodyState = 'length';
    this.remaining = 0;
    const head = msg.head;
    const bodyFields: Record<string, any> = {};
    // A body a reader knows (remote write, Loki, OTLP) is counted whole, before the --max-body cut.
    const reading =
      head.kind === 'request'
        ? requestBodyReading({ path: head.target, header: (name) => headerValue(head.headers, name) }, bodyFields)
        : { coding: headerValue(head.headers, 'content-encoding'), inspect: responseBodyReading(this.conn.answeringRecord(), bodyFields) };
    // Transfer codings other than chunked (`Transfer-Encoding: gzip, chunked`) were applied after the content coding.
    const coding = withTransferCodings(reading.coding, headerValue(head.headers, 'transfer-encoding'));
    const rendered = msg.bodyUnread ? { bodySize: msg.body.size } : renderBody(msg.body, coding, this.ctx, reading.inspect);
    if (rendered.warning) msg.warnings.push(rendered.warning);
    bodyFields.bodySize = rendered.bodySize;
    if (rendered.body !== undefined) bodyFields.body = rendered.body;
    if (rendered.bodyEncoding) bodyFields.bodyEncoding = rendered.bodyEncoding;
    if (rendered.bodyTruncated) bodyFields.bodyTruncated = true;
    if (msg.trailers) bodyFields.trailers = msg.trailers;
    // A gRPC-Web body cut at --max-body (or not kept) lost its trailer frame from what is shown: the tap read it.
    const grpcWebTrailers = msg.body.truncated ? msg.grpcWebTap?.trailers() : undefined;
    if (grpcWebTrailers) bodyFields.trailers = { ...grpcWebTrailers, ...(msg.trailers ?? {}) };
    if ((msg.trailerCount ?? 0) > MAX_HEADERS) msg.warnings.push(`truncated: ${msg.trailerCount! - MAX_HEADERS} trailer fields dropped`);
    if (head.kind === 'request') {
      this.conn.requestDone(msg, requestRecord(head, bodyFields));
      return;
    }
    if (head.status !== null && head.status >= 100 && head.status < 200 && head.status !== 101) {
      // Interim (100 Continue, 103 Early Hints): the final response follows and lists it.
      this.ctx.count('http.interim');
      if (this.conn.requestSeen()) {
        if (this.interim.length < MAX_INTERIM) this.interim.push({ status: head.status, statusText: head.statusText });
        return;
      }
      // No request seen (the capture started after it): a call of its own, as a lone final response is.
      this.conn.responseDone(msg, responseRecord(head, bodyFields));
      return;
    }
    const response = responseRecord(head, bodyFields);
    if (this.interim.length > 0) response.interim = this.interim.splice(0);
    const method = this.conn.nextRequestMethod();
    let switchTo: string | null = null;
    if (head.status === 101) {
      switchTo = (headerValue(head.headers, 'upgrade') ?? 'unknown').toLowerCase().split(',')[0].trim() || 'unknown';
      response.upgrade = switchTo;
    } else if (method === 'CONNECT' && head.status !== null && head.status >= 200 && head.status < 300) {
      switchTo = 'tunnel';
      response.upgrade = 'tunnel';
    }
    if (switchTo === null && this.conn.answersRequestInProgress()) {
      this.conn.holdEarly(msg, response);
      return;
    }
    const answered = this.conn.responseDone(msg, response);
    if (switchTo !== null) this.conn.switchProtocols(switchTo, answered, response);
  }
}

/**
 * The codings to undo, in the order applied: the content coding, then the transfer codings
 * (RFC 9112 §6.1: `chunked` last, framing only, which renderBody skips).
 */
function withTransferCodings(contentCoding: string | undefined, transferEncoding: string | undefined): string | undefined {
  if (transferEncoding === undefined || /^\s*chunked\s*$/i.test(transferEncoding)) return contentCoding;
  return contentCoding === undefined ? transferEncoding : `${contentCoding}, ${transferEncoding}`;
}

/** A header's value as one string (repeated fields joined), undefined when absent. */
function headerText(v: unknown): string | undefined {
  return Array.isArray(v) ? v.join(', ') : typeof v === 'string' ? v : undefined;
}

const H2_PREFACE_LINE = Buffer.from('PRI * HTTP/2.0\r\n', 'latin1');

/** The HTTP/2 client preface's first line (RFC 9113 §3.4). */
function startsH2Preface(b: Buffer): boolean {
  return b.length >= H2_PREFACE_LINE.length && b.subarray(0, H2_PREFACE_LINE.length).equals(H2_PREFACE_LINE);
}

/** An HTTP/2 SETTINGS frame header (the server's first frame): type 4, stream 0, a length of whole settings. */
function startsH2Settings(b: Buffer): boolean {
  if (b.length < 9) return false;
  const length = b.readUIntBE(0, 3);
  return b[3] === 4 && (b[4] & ~1) === 0 && b.readUInt32BE(5) === 0 && length % 6 === 0 && length <= 16384;
}

/**
 * A WebSocket frame header (RFC 6455 §5.2) as `client` (masked) or server
 * (unmasked) send it: a known opcode, RSV2/RSV3 clear, control frames final
 * and short. A request or status line's first two bytes are ASCII letters,
 * never this with the mask bit set; a server frame is told from a status
 * line by its first byte (0x81, 0x82, 0x88 …, never a letter).
 */
function startsWsFrame(b: Buffer, client: boolean): boolean {
  if (b.length < 2) return false;
  const op = b[0] & 0x0f;
  if ((b[0] & 0x30) !== 0 || ![0, 1, 2, 8, 9, 10].includes(op)) return false;
  if ((b[1] & 0x80) !== (client ? 0x80 : 0)) return false;
  if (op >= 8 && ((b[0] & 0x80) === 0 || (b[1] & 0x7f) > 125)) return false;
  return (b[0] & 0x80) !== 0 || op === 0 || op === 1 || op === 2;
}

/** Whether `b` starts like a start line: of either kind, or only of `kind`. */
function looksLikeStartLine(b: Buffer, kind?: 'request' | 'response'): boolean {
  const s = b.toString('latin1');
  if (/^HTTP\/1\./i.test(s)) return kind !== 'request';
  if (kind === 'response') return false;
  const sp = s.indexOf(' ');
  return sp > 0 && KNOWN_METHODS.has(s.slice(0, sp));
}

/** Parse a head (start line + header fields) leniently: problems become warnings. */
export function parseHead(raw: Buffer, expectRequest: boolean): Head {
  const text = raw.toString('latin1');
  // Lines end at LF, less one CR (the lines of /\r?\n/); walked by index, so a header costs its name and value
  // strings and nothing else (splitting into lines, then slicing and trimming each, was most of a head's garbage).
  const firstLf = text.indexOf('\n');
  const startEnd = firstLf < 0 ? text.length : firstLf;
  const start = text.slice(0, startEnd > 0 && text.charCodeAt(startEnd - 1) === 13 ? startEnd - 1 : startEnd);
  const head: Head = { kind: expectRequest ? 'request' : 'response', method: '', target: '', status: null, statusText: '', version: '', headers: {}, warnings: [] };
  if (readStatusLine(start, head) || readRequestLine(start, head)) {
    // Read (util/http1-start-line.ts).
  } else if (expectRequest) {
    // Junk request line (scanners send "OPTIONS", "OPTIONSHTTP/1.1" …): keep what is there.
    const parts = start.trim().split(/ +/);
    head.method = printable(Buffer.from(parts[0] ?? '', 'latin1'), 32);
    head.target = parts.length >= 2 ? printable(Buffer.from(parts[1], 'latin1'), 2048) : '';
    const v = /HTTP\/\d\.\d$/.exec(start);
    head.version = v ? v[0] : '';
    head.warnings.push(`malformed: request line "${printable(Buffer.from(start, 'latin1'), 64)}"`);
  } else {
    head.warnings.push(`malformed: status line "${printable(Buffer.from(start, 'latin1'), 64)}"`);
  }
  let count = 0;
  // The first ':' at or after the line being read, found once and reused by the lines before it (text.length:
  // none left). A search per line from its start would run on through every later colon-less line: quadratic.
  let colonAt = -1;
  for (let pos = firstLf + 1; firstLf >= 0 && pos <= text.length; ) {
    const lf = text.indexOf('\n', pos);
    const next = lf < 0 ? text.length : lf;
    const begin = pos;
    const end = next > begin && text.charCodeAt(next - 1) === 13 ? next - 1 : next;
    pos = next + 1;
    if (end === begin) continue;
    const first = text.charCodeAt(begin);
    if ((first === 32 || first === 9) && count > 0) continue; // obsolete folding: ignored
    if (colonAt < begin) {
      colonAt = text.indexOf(':', begin);
      if (colonAt < 0) colonAt = text.length;
    }
    const colon = colonAt;
    if (colon <= begin || colon >= end) {
      if (!head.warnings.some((w) => w.startsWith('malformed: header'))) head.warnings.push('malformed: header line');
      continue;
    }
    if (++count > MAX_HEADERS) continue;
    let nameStart = begin;
    let nameEnd = colon;
    while (nameStart < nameEnd && isSpace(text.charCodeAt(nameStart))) nameStart++;
    while (nameEnd > nameStart && isSpace(text.charCodeAt(nameEnd - 1))) nameEnd--;
    const name = headerName(text, nameStart, nameEnd);
    // Header values are bytes; most are ASCII, UTF-8 is the common non-ASCII case.
    const raw = trimmedSlice(text, colon + 1, end);
    const value = NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
    addHeader(head.headers, name, value);
  }
  if (count > MAX_HEADERS) head.warnings.push(`truncated: ${count - MAX_HEADERS} headers dropped`);
  return head;
}

/** `text.slice(from, to).trim()` for latin1 text, without the untrimmed slice (JavaScript's whitespace below 256: TAB to CR, space, NBSP). */
function trimmedSlice(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && isSpace(text.charCodeAt(a))) a++;
  while (b > a && isSpace(text.charCodeAt(b - 1))) b--;
  return text.slice(a, b);
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/**
 * The start of a start line cut off by the head cap (a 10 MB request line):
 * method and the beginning of the target, or the status; the cut is a
 * warning the caller adds, not a malformation.
 */
export function parseCutStartLine(raw: Buffer, expectRequest: boolean): Head {
  const start = raw.subarray(0, MAX_TARGET_KEPT + 64).toString('latin1');
  const head: Head = { kind: expectRequest ? 'request' : 'response', method: '', target: '', status: null, statusText: '', version: '', headers: {}, warnings: [] };
  const sm = /^HTTP\/(\d)\.(\d) +(\d{3})/i.exec(start);
  const rm = sm ? null : /^([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}) +(\S*)/.exec(start);
  if (sm) {
    head.kind = 'response';
    head.version = `HTTP/${sm[1]}.${sm[2]}`;
    head.status = Number(sm[3]);
  } else if (rm) {
    head.kind = 'request';
    head.method = rm[1];
    head.target = truncate(rm[2], MAX_TARGET_KEPT);
  } else {
    head.warnings.push(`malformed: ${expectRequest ? 'request' : 'status'} line "${printable(raw.subarray(0, 64), 64)}"`);
  }
  return head;
}

function addHeader(headers: Headers, name: string, value: string): void {
  const prev = headers[name];
  if (name === 'set-cookie') {
    headers[name] = Array.isArray(prev) ? [...prev, value] : [value];
  } else if (prev === undefined) {
    headers[name] = value;
  } else {
    headers[name] = `${prev as string}, ${value}`;
  }
}

function headerValue(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function requestRecord(head: Head, body: Record<string, any>): Record<string, any> {
  const { path, query } = splitTarget(head.target);
  const rec: Record<string, any> = {
    method: head.method,
    path,
    url: head.target,
    httpVersion: head.version,
    headers: head.headers,
    query,
    host: headerValue(head.headers, 'host') ?? '',
    ...body,
  };
  return rec;
}

function responseRecord(head: Head, body: Record<string, any>): Record<string, any> {
  return {
    status: head.status,
    statusText: head.statusText,
    httpVersion: head.version,
    headers: head.headers,
    contentType: headerValue(head.headers, 'content-type') ?? '',
    ...body,
  };
}

/** Path and query parameters of a request target (origin-form or absolute-form). */
export function splitTarget(target: string): { path: string; query: Record<string, string | string[]> } {
  let rest = target;
  const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
  if (abs) rest = rest.slice(abs[0].length) || '/';
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    let count = 0;
    for (const part of rest.slice(q + 1).split('&')) {
      if (part === '' || ++count > MAX_HEADERS) continue;
      const eq = part.indexOf('=');
      const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? '' : safeDecode(part.slice(eq + 1));
      const prev = query[key];
      if (prev === undefined) query[key] = value;
      else query[key] = Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
  }
  return { path, query };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export const http1: ProtocolDissector = {
  name: 'http',
  transport: 'tcp',
  ports: [80, 8080, 8000, 8008, 8081, 8888, 3000, 5000, 9080],
  priority: 10,
  reference: 'https://www.rfc-editor.org/rfc/rfc9112',
  probe(data, portMatch) {
    try {
      return probeHttp1(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser(ctx) {
    return new Http1Parser(ctx);
  },
};

/** The port a CONNECT request names (`host:port`, `[v6]:port`), if it names one. */
function connectPort(record: Record<string, any> | undefined): number | undefined {
  const target = typeof record?.url === 'string' ? record.url : undefined;
  const m = target === undefined ? null : /:(\d{1,5})$/.exec(target);
  const port = m ? Number(m[1]) : NaN;
  return port > 0 && port < 65536 ? port : undefined;
}
