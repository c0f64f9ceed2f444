// HTTP/2 (RFC 9113) over cleartext TCP: h2c with prior knowledge, h2c after
// an HTTP/1.1 Upgrade, and captures that start mid-connection. Frames are
// parsed per direction, header blocks decoded with one HPACK decoder per
// direction, and each stream becomes one entry (gRPC and GraphQL streams are
// annotated and renamed by their own modules).

import type {
  CallRecord,
  ConnectionContext,
  Direction,
  Probe,
  ProtocolDissector,
  TcpStreamParser,
} from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { HpackDecoder, firstStaticIndex, type HeaderField } from './hpack.js';
import { BodyCollector, renderBody } from './util/body.js';
import { annotateGrpc, isGrpcContentType } from './grpc.js';
import { applyGraphql } from './graphql.js';

export const CONNECTION_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** RFC 9113 section 7 error codes. */
const ERROR_CODES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

export function http2ErrorName(code: number): string {
  return ERROR_CODES[code] ?? `0x${code.toString(16)}`;
}

/** Frames bigger than this are not buffered: the direction is given up (SETTINGS_MAX_FRAME_SIZE is rarely above 1 MB). */
const MAX_FRAME_BUFFER = 2 * 1024 * 1024;
/** A header block (HEADERS + CONTINUATIONs) larger than this is dropped. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Open streams tracked per connection; beyond that the oldest is emitted early. */
const MAX_OPEN_STREAMS = 1000;

// ---------------------------------------------------------------- probing

/**
 * Checks that a 9-byte frame header is one a real peer would send: a known
 * type, flags that type defines, the stream id rule of the type, a sane length.
 */
function plausibleFrameHeader(buf: Buffer, off: number, maxLength: number): boolean {
  const length = buf.readUIntBE(off, 3);
  const type = buf[off + 3];
  const flags = buf[off + 4];
  const stream = buf.readUInt32BE(off + 5);
  if (stream & 0x80000000) return false; // reserved bit
  if (length > maxLength) return false;
  switch (type) {
    case FrameType.DATA:
      return stream !== 0 && (flags & ~0x09) === 0;
    case FrameType.HEADERS:
      return stream !== 0 && (flags & ~0x2d) === 0 && length > 0;
    case FrameType.PRIORITY:
      return stream !== 0 && flags === 0 && length === 5;
    case FrameType.RST_STREAM:
      return stream !== 0 && flags === 0 && length === 4;
    case FrameType.SETTINGS:
      return stream === 0 && (flags & ~0x01) === 0 && length % 6 === 0 && (flags === 0 || length === 0);
    case FrameType.PUSH_PROMISE:
      return stream !== 0 && (flags & ~0x0c) === 0 && length >= 4;
    case FrameType.PING:
      return stream === 0 && (flags & ~0x01) === 0 && length === 8;
    case FrameType.GOAWAY:
      return stream === 0 && flags === 0 && length >= 8;
    case FrameType.WINDOW_UPDATE:
      return flags === 0 && length === 4;
    case FrameType.CONTINUATION:
      return stream !== 0 && (flags & ~0x04) === 0;
    default:
      return false;
  }
}

/** 'request' or 'response' from the first header block among complete frames, or null. */
function directionFromHeaders(data: Buffer): Probe | null {
  let off = 0;
  while (off + 9 <= data.length) {
    const length = data.readUIntBE(off, 3);
    const type = data[off + 3];
    const flags = data[off + 4];
    if (off + 9 + length > data.length) return null;
    if (type === FrameType.HEADERS) {
      let p = off + 9;
      if (flags & Flag.PADDED) p += 1;
      if (flags & Flag.PRIORITY) p += 5;
      const index = firstStaticIndex(data.subarray(p, off + 9 + length));
      if (index >= 8 && index <= 14) return 'response';
      if (index >= 1 && index <= 7) return 'request';
      return null;
    }
    off += 9 + length;
  }
  return null;
}

/**
 * h2c prior knowledge (the client preface) on any port, or a run of frames
 * that only HTTP/2 would produce (captures that start after the preface).
 */
export function probeHttp2(data: Buffer, portMatch: boolean): Probe {
  const n = Math.min(data.length, CONNECTION_PREFACE.length);
  if (n > 0 && data.subarray(0, n).equals(CONNECTION_PREFACE.subarray(0, n))) {
    return n === CONNECTION_PREFACE.length ? 'request' : 'need-more';
  }
  if (data.length < 9) return data.length > 0 && data[0] === 0 ? 'need-more' : false;
  const maxLength = portMatch ? 1 << 24 : 1 << 16;
  let off = 0;
  let complete = 0;
  while (off + 9 <= data.length) {
    if (!plausibleFrameHeader(data, off, maxLength)) return false;
    const end = off + 9 + data.readUIntBE(off, 3);
    if (end > data.length) break;
    complete++;
    off = end;
  }
  const exact = off === data.length;
  const verdict = directionFromHeaders(data) ?? 'request';
  // One complete frame filling the segment, or two in a row, is strong
  // evidence; a frame cut by the segment end needs the port hint or more bytes.
  if (complete >= 2 || (complete === 1 && exact)) return verdict;
  if (complete === 0) return portMatch ? verdict : 'need-more';
  return portMatch ? verdict : 'need-more';
}

// ---------------------------------------------------------------- streams

interface Half {
  headers: HeaderField[] | null;
  trailers: HeaderField[] | null;
  body: BodyCollector;
  /** Frame bytes (headers included) carried for this half. */
  wireSize: number;
  ended: boolean;
  firstTime: number;
  firstFrame: number;
  lastTime: number;
  lastFrame: number;
}

interface Stream {
  id: number;
  request: Half | null;
  response: Half | null;
  /** Interim 1xx responses seen before the final one. */
  informational: number[];
  warnings: string[];
  pushed: boolean;
  reset?: { code: number; by: 'client' | 'server' };
  /** Request metadata known from outside HTTP/2 (an HTTP/1.1 Upgrade request). */
  upgradedFrom?: Record<string, any>;
}

interface PendingBlock {
  streamId: number;
  parts: Buffer[];
  size: number;
  endStream: boolean;
  /** PUSH_PROMISE blocks open a promised stream instead. */
  promisedId?: number;
}

interface DirectionState {
  queue: ByteQueue;
  decoder: HpackDecoder;
  started: boolean;
  dead: boolean;
  pending: PendingBlock | null;
}

const UPGRADE_ONLY_HEADERS = new Set(['connection', 'upgrade', 'http2-settings', 'host', 'keep-alive', 'transfer-encoding']);

export interface UpgradeRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  host?: string;
  /** Time and frame of the HTTP/1.1 request, when known. */
  time?: number;
  frame?: number;
  size?: number;
}

class Http2Parser implements TcpStreamParser {
  private dirs: Record<Direction, DirectionState>;
  private streams = new Map<number, Stream>();
  /** Set when the engine's client is really the server (learned from header blocks or the preface). */
  private flipped = false;
  private roleKnown = false;
  private goaway: { lastStreamId: number; code: number; by: 'client' | 'server' } | null = null;

  constructor(
    private readonly ctx: ConnectionContext,
    midStreamTables: boolean,
  ) {
    const make = (): DirectionState => ({
      queue: new ByteQueue(),
      decoder: new HpackDecoder(midStreamTables),
      started: false,
      dead: false,
      pending: null,
    });
    this.dirs = { c2s: make(), s2c: make() };
  }

  /** Used after an HTTP/1.1 Upgrade: stream 1 carries the upgraded request. */
  seedUpgrade(req: UpgradeRequest): void {
    this.roleKnown = true;
    const headers: HeaderField[] = [
      { name: ':method', value: req.method ?? 'GET' },
      { name: ':path', value: req.path ?? '/' },
      { name: ':scheme', value: 'http' },
    ];
    const host = req.host ?? firstValue(req.headers?.host);
    if (host) headers.push({ name: ':authority', value: host });
    for (const [name, value] of Object.entries(req.headers ?? {})) {
      const lower = name.toLowerCase();
      // Connection-specific headers of the HTTP/1.1 upgrade do not belong to the HTTP/2 request.
      if (UPGRADE_ONLY_HEADERS.has(lower)) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.push({ name: lower, value: v });
    }
    const half = this.newHalf();
    half.headers = headers;
    half.ended = true;
    half.wireSize = req.size ?? 0;
    if (req.time !== undefined) half.firstTime = half.lastTime = req.time;
    if (req.frame !== undefined) half.firstFrame = half.lastFrame = req.frame;
    this.streams.set(1, {
      id: 1,
      request: half,
      response: null,
      informational: [],
      warnings: [],
      pushed: false,
      upgradedFrom: { upgrade: 'h2c' },
    });
  }

  onData(dir: Direction, data: Buffer): void {
    const state = this.dirs[dir];
    if (state.dead) return;
    state.queue.push(data);
    try {
      this.drain(dir, state);
    } catch {
      // A bug in frame handling must not take the capture down.
      this.ctx.count('http2.internal');
      state.dead = true;
      state.queue.clear();
    }
  }

  onGap(dir: Direction, length: number): void {
    // HPACK state is lost with the missing bytes: later header blocks from
    // this side cannot be trusted, so stop parsing it.
    const state = this.dirs[dir];
    if (state.dead) return;
    this.ctx.count('http2.gap', length);
    state.dead = true;
    state.queue.clear();
    for (const s of this.streams.values()) s.warnings.push('gap');
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const s of [...this.streams.values()]) {
      if (s.response === null && s.request && nowMs - s.request.lastTime > timeoutMs) {
        this.finish(s, ['unanswered']);
      }
    }
  }

  /**
   * A stream is stamped with its request half's first frame (its response
   * half's when it has no request half), and its first half is made with the
   * stream: streams are kept in the order they opened, so the first one holds
   * the earliest time. A frame read in part does not count: its stream gets
   * the time the frame completes.
   */
  pendingSince(): number | undefined {
    for (const s of this.streams.values()) {
      const req = s.request?.firstTime;
      const res = s.response?.firstTime;
      if (req === undefined && res === undefined) continue; // halves made later are stamped later
      if (req === undefined || res === undefined) return req ?? res;
      return Math.min(req, res);
    }
    return undefined;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    for (const s of [...this.streams.values()]) {
      if (s.response === null) this.finish(s, ['unanswered']);
      else this.finish(s, reason === 'eof' ? ['truncated'] : ['truncated', `connection ${reason}`]);
    }
  }

  // -------------------------------------------------------------- framing

  private drain(dir: Direction, state: DirectionState): void {
    const q = state.queue;
    if (!state.started) {
      const n = Math.min(q.length, CONNECTION_PREFACE.length);
      const head = q.peek(n);
      if (head.equals(CONNECTION_PREFACE.subarray(0, n))) {
        if (n < CONNECTION_PREFACE.length) return;
        q.consume(CONNECTION_PREFACE.length);
        this.learnRole(dir, 'client');
      }
      state.started = true;
    }
    while (q.length >= 9) {
      const header = q.peek(9);
      const length = header.readUIntBE(0, 3);
      const type = header[3];
      const flags = header[4];
      const streamId = header.readUInt32BE(5) & 0x7fffffff;
      if (length > MAX_FRAME_BUFFER) {
        this.ctx.count('http2.malformed');
        this.giveUp(dir, `malformed: frame of ${length} bytes`);
        return;
      }
      if (q.length < 9 + length) return;
      const frame = q.peek(9 + length);
      const payload = frame.subarray(9);
      this.onFrame(dir, type, flags, streamId, payload);
      q.consume(9 + length);
      if (state.dead) return;
    }
  }

  private giveUp(dir: Direction, warning: string): void {
    const state = this.dirs[dir];
    state.dead = true;
    state.queue.clear();
    for (const s of this.streams.values()) if (!s.warnings.includes(warning)) s.warnings.push(warning);
  }

  private onFrame(dir: Direction, type: number, flags: number, streamId: number, payload: Buffer): void {
    const state = this.dirs[dir];
    const frameSize = 9 + payload.length;
    if (state.pending && type !== FrameType.CONTINUATION) {
      // A header block must be followed by its CONTINUATIONs only.
      this.ctx.count('http2.malformed');
      this.streamFor(state.pending.streamId)?.warnings.push('malformed: header block interrupted');
      state.pending = null;
    }
    switch (type) {
      case FrameType.DATA: {
        const body = unpad(payload, flags);
        const stream = this.streamFor(streamId);
        if (!stream) return;
        const half = this.halfFor(stream, dir);
        this.touch(half, frameSize);
        if (body === null) stream.warnings.push('malformed: bad padding');
        else half.body.add(body);
        if (flags & Flag.END_STREAM) this.endHalf(stream, dir);
        return;
      }
      case FrameType.HEADERS: {
        let block = unpad(payload, flags);
        if (block !== null && flags & Flag.PRIORITY) block = block.length >= 5 ? block.subarray(5) : null;
        if (block === null || streamId === 0) {
          this.ctx.count('http2.malformed');
          return;
        }
        const pending: PendingBlock = {
          streamId,
          parts: [Buffer.from(block)],
          size: block.length,
          endStream: (flags & Flag.END_STREAM) !== 0,
        };
        this.addFrameSize(streamId, dir, frameSize);
        if (flags & Flag.END_HEADERS) this.onHeaderBlock(dir, pending);
        else state.pending = pending;
        return;
      }
      case FrameType.CONTINUATION: {
        const pending = state.pending;
        if (!pending || pending.streamId !== streamId) {
          this.ctx.count('http2.malformed');
          return;
        }
        pending.size += payload.length;
        if (pending.size > MAX_HEADER_BLOCK) {
          this.ctx.count('http2.header_block_too_large');
          state.pending = null;
          this.giveUp(dir, 'malformed: header block too large');
          return;
        }
        pending.parts.push(Buffer.from(payload));
        this.addFrameSize(pending.promisedId ?? streamId, dir, frameSize);
        if (flags & Flag.END_HEADERS) {
          state.pending = null;
          this.onHeaderBlock(dir, pending);
        }
        return;
      }
      case FrameType.PUSH_PROMISE: {
        const body = unpad(payload, flags);
        if (body === null || body.length < 4) {
          this.ctx.count('http2.malformed');
          return;
        }
        const promisedId = body.readUInt32BE(0) & 0x7fffffff;
        const block = body.subarray(4);
        const pending: PendingBlock = {
          streamId,
          parts: [Buffer.from(block)],
          size: block.length,
          endStream: false,
          promisedId,
        };
        if (flags & Flag.END_HEADERS) this.onHeaderBlock(dir, pending);
        else state.pending = pending;
        return;
      }
      case FrameType.RST_STREAM: {
        if (payload.length !== 4) return;
        const stream = this.streams.get(streamId);
        if (!stream) return;
        stream.reset = { code: payload.readUInt32BE(0), by: this.roleOf(dir) };
        this.finish(stream, []);
        return;
      }
      case FrameType.GOAWAY: {
        if (payload.length < 8) return;
        const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        const code = payload.readUInt32BE(4);
        this.goaway = { lastStreamId, code, by: this.roleOf(dir) };
        // Streams above the last one the sender processed were never handled.
        for (const s of [...this.streams.values()]) {
          if (s.id > lastStreamId && (s.id % 2 === 1) === (this.roleOf(dir) === 'server')) {
            this.finish(s, [`goaway: ${http2ErrorName(code)}`]);
          }
        }
        return;
      }
      default:
        // SETTINGS, PING, PRIORITY, WINDOW_UPDATE and unknown types carry no call data.
        return;
    }
  }

  private onHeaderBlock(dir: Direction, pending: PendingBlock): void {
    const block = pending.parts.length === 1 ? pending.parts[0] : Buffer.concat(pending.parts);
    const decoded = this.dirs[dir].decoder.decode(block);
    const names = new Set(decoded.headers.map((h) => h.name));
    if (pending.promisedId !== undefined) {
      // Server push: the promised request, decoded by the server's decoder.
      const half = this.newHalf();
      half.headers = decoded.headers;
      half.ended = true;
      const stream = this.newStream(pending.promisedId);
      if (!stream) return;
      stream.pushed = true;
      stream.request = half;
      if (decoded.problem) stream.warnings.push(`malformed: hpack ${decoded.problem}`);
      return;
    }
    if (names.has(':status')) this.learnRole(dir, 'server');
    else if (names.has(':method')) this.learnRole(dir, 'client');
    const stream = this.streamFor(pending.streamId);
    if (!stream) return;
    if (decoded.problem) {
      stream.warnings.push(`malformed: hpack ${decoded.problem}`);
      this.ctx.count('http2.malformed');
    }
    if (this.dirs[dir].decoder.incomplete && !stream.warnings.includes('hpack: capture started mid-connection')) {
      if (decoded.headers.some((h) => h.name.startsWith('<unknown'))) {
        stream.warnings.push('hpack: capture started mid-connection');
      }
    }
    const half = this.halfFor(stream, dir);
    this.touch(half, 0);
    const status = decoded.headers.find((h) => h.name === ':status')?.value;
    if (status && /^1\d\d$/.test(status) && !pending.endStream) {
      stream.informational.push(Number(status));
    } else if (half.headers === null) half.headers = decoded.headers;
    else half.trailers = (half.trailers ?? []).concat(decoded.headers);
    if (pending.endStream) this.endHalf(stream, dir);
  }

  // -------------------------------------------------------------- roles

  private learnRole(dir: Direction, role: 'client' | 'server'): void {
    if (this.roleKnown) return;
    this.roleKnown = true;
    this.flipped = (dir === 'c2s') !== (role === 'client');
  }

  private roleOf(dir: Direction): 'client' | 'server' {
    return (dir === 'c2s') !== this.flipped ? 'client' : 'server';
  }

  // -------------------------------------------------------------- bookkeeping

  private newHalf(): Half {
    return {
      headers: null,
      trailers: null,
      body: new BodyCollector(this.ctx.options.maxBody),
      wireSize: 0,
      ended: false,
      firstTime: this.ctx.now,
      firstFrame: this.ctx.frame,
      lastTime: this.ctx.now,
      lastFrame: this.ctx.frame,
    };
  }

  private newStream(id: number): Stream | null {
    if (this.streams.size >= MAX_OPEN_STREAMS) {
      const oldest = this.streams.values().next().value as Stream;
      this.ctx.count('http2.streams_evicted');
      this.finish(oldest, ['evicted: too many open streams']);
    }
    const stream: Stream = { id, request: null, response: null, informational: [], warnings: [], pushed: false };
    // A reused id (a push promise over a stream already seen) goes last, so streams stay in the order they opened.
    this.streams.delete(id);
    this.streams.set(id, stream);
    return stream;
  }

  private streamFor(id: number): Stream | null {
    if (id === 0) return null;
    return this.streams.get(id) ?? this.newStream(id);
  }

  private halfFor(stream: Stream, dir: Direction): Half {
    if (this.roleOf(dir) === 'client') return (stream.request ??= this.newHalf());
    return (stream.response ??= this.newHalf());
  }

  private touch(half: Half, bytes: number): void {
    half.wireSize += bytes;
    half.lastTime = this.ctx.now;
    half.lastFrame = this.ctx.frame;
  }

  private addFrameSize(streamId: number, dir: Direction, bytes: number): void {
    const stream = this.streamFor(streamId);
    if (stream) this.touch(this.halfFor(stream, dir), bytes);
  }

  private endHalf(stream: Stream, dir: Direction): void {
    const half = this.halfFor(stream, dir);
    half.ended = true;
    if (this.roleOf(dir) === 'server') this.finish(stream, []);
  }

  private finish(stream: Stream, warnings: string[]): void {
    if (!this.streams.delete(stream.id)) return;
    if (!stream.request?.headers && !stream.response?.headers && !stream.response?.trailers) {
      // Only DATA (or a reset) of a stream whose headers came before the capture: nothing to name it by.
      this.ctx.count('http2.headerless_stream');
      return;
    }
    try {
      this.ctx.emit(this.buildRecord(stream, warnings));
    } catch {
      this.ctx.count('http2.internal');
    }
  }

  // -------------------------------------------------------------- entries

  private buildRecord(stream: Stream, extraWarnings: string[]): CallRecord {
    const warnings = [...stream.warnings, ...extraWarnings];
    const opts = this.ctx.options;
    const req = stream.request;
    const res = stream.response;
    let request: Record<string, any> | null = null;
    let response: Record<string, any> | null = null;
    if (req && req.headers) {
      const h = splitHeaders(req.headers);
      const path = h.pseudo[':path'] ?? '';
      const authority = h.pseudo[':authority'] ?? firstValue(h.headers.host) ?? '';
      const scheme = h.pseudo[':scheme'] ?? 'http';
      request = {
        method: h.pseudo[':method'] ?? '',
        path,
        url: authority ? `${scheme}://${authority}${path}` : path,
        authority,
        scheme,
        host: authority,
        httpVersion: 'HTTP/2.0',
        streamId: stream.id,
        headers: h.headers,
        query: parseQuery(path),
      };
      if (stream.pushed) request.pushed = true;
      if (stream.upgradedFrom) request.upgrade = 'h2c';
      if (req.trailers) request.trailers = splitHeaders(req.trailers).headers;
      const body = renderBody(req.body, firstValue(h.headers['content-encoding']), opts);
      Object.assign(request, bodyFields(body));
      if (body.warning) warnings.push(body.warning);
    }
    if (res && res.headers) {
      const h = splitHeaders(res.headers);
      const status = Number(h.pseudo[':status'] ?? 0);
      response = {
        status,
        statusText: '',
        httpVersion: 'HTTP/2.0',
        headers: h.headers,
        contentType: firstValue(h.headers['content-type']) ?? '',
      };
      if (stream.informational.length > 0) response.informational = stream.informational;
      if (res.trailers) response.trailers = splitHeaders(res.trailers).headers;
      const body = renderBody(res.body, firstValue(h.headers['content-encoding']), opts);
      Object.assign(response, bodyFields(body));
      if (body.warning) warnings.push(body.warning);
    } else if (res && res.trailers) {
      response = { status: 0, httpVersion: 'HTTP/2.0', headers: {}, trailers: splitHeaders(res.trailers).headers };
    }
    let error = response === null || (typeof response.status === 'number' && response.status >= 500);
    if (stream.reset) {
      const name = http2ErrorName(stream.reset.code);
      const resetInfo = { code: stream.reset.code, name, by: stream.reset.by };
      if (response) response.reset = resetInfo;
      else if (request) request.reset = resetInfo;
      // A reset after a complete response (e.g. a client CANCEL) is housekeeping.
      if (stream.reset.code !== 0 && !(res?.ended && stream.reset.code === 8)) {
        error = true;
        warnings.push(`rst_stream: ${name}`);
      }
    }
    if (this.goaway && this.goaway.code !== 0 && !(res?.ended)) {
      error = true;
      const w = `goaway: ${http2ErrorName(this.goaway.code)}`;
      if (!warnings.includes(w)) warnings.push(w);
    }
    if (response === null && !warnings.includes('unanswered') && !stream.reset) warnings.push('unanswered');
    const record: CallRecord = {
      protocol: 'http2',
      request,
      response,
      requestTime: req?.firstTime ?? res?.firstTime ?? this.ctx.now,
      requestFrame: req?.firstFrame ?? res?.firstFrame,
      requestSize: req?.wireSize ?? 0,
      responseSize: res?.wireSize ?? 0,
      error,
      summary: '',
    };
    if (res) {
      record.responseTime = res.lastTime;
      record.responseFrame = res.lastFrame;
    }
    if (this.flipped) record.reversed = true;
    const contentType = firstValue(request?.headers?.['content-type']) ?? response?.contentType ?? '';
    if (isGrpcContentType(contentType)) {
      annotateGrpc(record, req?.body.bytes() ?? null, res?.body.bytes() ?? null, {
        requestTruncated: req?.body.truncated ?? false,
        responseTruncated: res?.body.truncated ?? false,
        noBodies: opts.noBodies,
        schema: opts.protoSchema,
      });
    } else if (request) {
      applyGraphql(record);
    }
    if (record.summary === '') record.summary = http2Summary(request, response, stream);
    if (warnings.length > 0) record.warnings = [...new Set([...(record.warnings ?? []), ...warnings])];
    return record;
  }
}

function http2Summary(request: Record<string, any> | null, response: Record<string, any> | null, stream: Stream): string {
  const left = request ? `${request.method} ${request.path}` : `stream ${stream.id}`;
  if (response) return `${left} → ${response.status}`;
  if (stream.reset) return `${left} → RST_STREAM ${http2ErrorName(stream.reset.code)}`;
  return `${left} → (no response)`;
}

function bodyFields(body: ReturnType<typeof renderBody>): Record<string, unknown> {
  const out: Record<string, unknown> = { bodySize: body.bodySize };
  if (body.body !== undefined) out.body = body.body;
  if (body.bodyEncoding) out.bodyEncoding = body.bodyEncoding;
  if (body.bodyTruncated) out.bodyTruncated = true;
  return out;
}

/** Pseudo-headers apart; regular headers as an object (repeats joined with ", ", set-cookie kept as a list). */
export function splitHeaders(fields: HeaderField[]): {
  pseudo: Record<string, string>;
  headers: Record<string, string | string[]>;
} {
  const pseudo: Record<string, string> = {};
  const headers: Record<string, string | string[]> = {};
  for (const { name, value } of fields) {
    if (name.startsWith(':')) {
      pseudo[name] ??= value;
      continue;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = name === 'cookie' ? `${prev}; ${value}` : `${prev}, ${value}`;
  }
  return { pseudo, headers };
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function parseQuery(path: string): Record<string, string | string[]> {
  const q = path.indexOf('?');
  const out: Record<string, string | string[]> = {};
  if (q < 0) return out;
  try {
    for (const [k, v] of new URLSearchParams(path.slice(q + 1))) {
      const prev = out[k];
      if (prev === undefined) out[k] = v;
      else if (Array.isArray(prev)) prev.push(v);
      else out[k] = [prev, v];
    }
  } catch {
    // An undecodable query string is left out; the path still holds it.
  }
  return out;
}

/** Payload without padding (PADDED flag), or null when the padding length is impossible. */
function unpad(payload: Buffer, flags: number): Buffer | null {
  if (!(flags & Flag.PADDED)) return payload;
  if (payload.length < 1) return null;
  const pad = payload[0];
  if (pad > payload.length - 1) return null;
  return payload.subarray(1, payload.length - pad);
}

// ---------------------------------------------------------------- exports

/** Parser for a connection whose first bytes are HTTP/2 (preface or mid-connection frames). */
export function createHttp2Parser(ctx: ConnectionContext): TcpStreamParser {
  return new Http2Parser(ctx, true);
}

/**
 * Continue a connection as HTTP/2 after `HTTP/1.1 101 Switching Protocols`
 * with `Upgrade: h2c`. Feed it the client's bytes that follow the upgrade
 * request (the preface comes first) and the server's bytes that follow the
 * 101 response. The upgrade request becomes stream 1 (RFC 7540 3.2).
 */
export function createHttp2ParserAfterUpgrade(ctx: ConnectionContext, upgradeRequest: UpgradeRequest): TcpStreamParser {
  const parser = new Http2Parser(ctx, false);
  parser.seedUpgrade(upgradeRequest);
  return parser;
}

export const http2: ProtocolDissector = {
  name: 'http2',
  transport: 'tcp',
  // h2c has no port of its own; gRPC's customary one is listed so such
  // connections are probed with HTTP/2 first.
  ports: [50051],
  // Ahead of HTTP/1: "PRI * HTTP/2.0" is also a well-formed HTTP/1 request line.
  priority: 5,
  reference: 'https://www.rfc-editor.org/rfc/rfc9113 (HPACK: RFC 7541)',
  probe: (data, portMatch) => {
    try {
      return probeHttp2(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: createHttp2Parser,
};
