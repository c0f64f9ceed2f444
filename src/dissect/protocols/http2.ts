// HTTP/2 (RFC 9113) over cleartext TCP: h2c with prior knowledge, h2c after
// an HTTP/1.1 Upgrade, and captures that start mid-connection. Frames are
// read per direction as their bytes arrive (DATA is passed on, never
// buffered whole), header blocks decoded with one HPACK decoder per
// direction, and each stream becomes one entry (gRPC and GraphQL streams are
// annotated and renamed by their own modules). After a gap the parser loses
// only what the gap took: the frame it cut, or — when whole frames may be
// gone — the search for the next frame header and the HPACK entries in doubt.
// Every buffer a peer fills is capped and counted (docs/entry.md, "Limits").

import type {
  CallRecord,
  ConnectionContext,
  Direction,
  Probe,
  ProtocolDissector,
  TcpStreamParser,
} from '../api.js';
import { HpackDecoder, fieldSize, firstStaticIndex, type HeaderField } from './hpack.js';
import { BodyCollector } from './util/body.js';
import { requestBodyLimitOfFields } from './body-readers.js';
import { addBody, buildStreamRecord, firstValue, type Half, type Stream } from './util/http-stream-record.js';

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

/** Bytes of one header block (HEADERS + CONTINUATIONs) buffered; the rest is skipped and the block marked truncated. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Decoded name + value (+32 each, as RFC 9113 counts) kept per header block, as nghttp2 and Go cap it. */
const MAX_HEADER_LIST = 64 * 1024;
/** Bytes buffered of a frame that is neither DATA nor a header block (SETTINGS, GOAWAY…); only a prefix matters. */
const MAX_CONTROL_FRAME = 16 * 1024;
/** Open streams tracked per connection; beyond that the oldest is emitted early. */
const MAX_OPEN_STREAMS = 1000;
/** Decoded header bytes held by a connection's open streams; beyond that the oldest stream is emitted early. */
const MAX_HELD_HEADER_BYTES = 8 * 1024 * 1024;
/** Interim (1xx) responses kept per stream. */
const MAX_INFORMATIONAL = 16;
/** Where a DATA body resumed after a hole: kept for gRPC message framing, this many per half at most. */
const MAX_BODY_MARKS = 1024;
/** A resync candidate may name a stream this far above the highest one seen (streams opened inside the gap). */
const RESYNC_STREAM_WINDOW = 2000;
/** A resync candidate longer than this is not waited for (the peer's SETTINGS_MAX_FRAME_SIZE, capped). */
const MAX_RESYNC_FRAME = 1 << 20;
const DEFAULT_MAX_FRAME_SIZE = 16384;

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

interface PendingBlock {
  streamId: number;
  parts: Buffer[];
  size: number;
  endStream: boolean;
  /** PUSH_PROMISE blocks open a promised stream instead. */
  promisedId?: number;
  /** Over MAX_HEADER_BLOCK: the prefix was decoded, later fragments are skipped until END_HEADERS. */
  skipping?: boolean;
}

/** The frame whose payload is being read. */
interface FrameInProgress {
  length: number;
  type: number;
  flags: number;
  streamId: number;
  /** Payload bytes still to come. */
  remaining: number;
  /** DATA is passed on as it arrives; other frames are buffered (up to a cap) and handled whole. */
  parts: Buffer[];
  buffered: number;
  cap: number;
  /** DATA: padding length once read (PADDED), and data bytes still to come before the padding. */
  padLength?: number;
  dataLeft: number;
  /** Part of the payload was lost with a gap. */
  damaged: boolean;
}

/** Bytes held after a gap until a frame header that makes sense is found. */
interface Resync {
  chunks: Array<{ data: Buffer; time: number; frame: number }>;
  length: number;
  /** Offsets before this were rejected as frame starts. */
  scanFrom: number;
  /** A candidate waits for this many bytes: no new verdict before. */
  needed: number;
}

interface DirectionState {
  decoder: HpackDecoder;
  /** Bytes read while checking for the connection preface. */
  preface: Buffer[] | null;
  prefaceTime: number;
  prefaceFrame: number;
  /** The 9-byte frame header being read. */
  header: Buffer;
  headerFill: number;
  /** Time and capture frame of the packet that carried the current frame's first byte. */
  startTime: number;
  startFrame: number;
  frame: FrameInProgress | null;
  pending: PendingBlock | null;
  resync: Resync | null;
  /** Largest frame this side may send (the peer's SETTINGS_MAX_FRAME_SIZE): bounds resync candidates. */
  maxFrameSize: number;
  /** A gap took header blocks with it at least once (the table was reset). */
  lostSync: boolean;
  /** A gap happened on this side at least once. */
  hadGap: boolean;
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
  /** Said on stream 1's entry (`gap`: the 101 that switched was not captured). */
  warnings?: string[];
}

function headerListBytes(fields: HeaderField[] | null): number {
  let n = 0;
  for (const f of fields ?? []) n += fieldSize(f);
  return n;
}

class Http2Parser implements TcpStreamParser {
  private dirs: Record<Direction, DirectionState>;
  private streams = new Map<number, Stream>();
  /** Set when the engine's client is really the server (learned from header blocks or the preface). */
  private flipped = false;
  private roleKnown = false;
  private goaway: { lastStreamId: number; code: number; by: 'client' | 'server' } | null = null;
  /** Highest stream id seen in a frame read in step (bounds resync candidates). */
  private maxStreamId = 0;
  private heldHeaderBytes = 0;
  /** The side whose frame is being handled: new halves take that frame's first packet. */
  private reading: DirectionState | null = null;
  /** Streams finished lately: a late frame of one is not a stream whose headers a gap took. */
  private recentlyFinished = new Set<number>();
  /** Time and frame of the packet being read (a resync replays held packets with their own). */
  private time: number;
  private frameNo: number;

  constructor(
    private readonly ctx: ConnectionContext,
    midStreamTables: boolean,
  ) {
    const make = (): DirectionState => ({
      decoder: new HpackDecoder(midStreamTables),
      preface: [],
      prefaceTime: 0,
      prefaceFrame: 0,
      header: Buffer.alloc(9),
      headerFill: 0,
      startTime: 0,
      startFrame: 0,
      frame: null,
      pending: null,
      resync: null,
      maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
      lostSync: false,
      hadGap: false,
    });
    this.dirs = { c2s: make(), s2c: make() };
    this.time = ctx.now;
    this.frameNo = ctx.frame;
  }

  /**
   * Used after an HTTP/1.1 Upgrade: stream 1 carries the upgraded request.
   * When that request was not captured (lost, or before the capture began),
   * stream 1's method and path are unknown: its response comes without one,
   * as any response whose request was not seen.
   */
  seedUpgrade(req: UpgradeRequest | null): void {
    this.roleKnown = true;
    this.time = this.ctx.now;
    this.frameNo = this.ctx.frame;
    if (req === null) {
      // `lost`: the stream is an entry even if its response header block goes missing too.
      this.streams.set(1, { id: 1, request: null, response: null, informational: [], warnings: ['request not captured'], pushed: false, upgradedFrom: { upgrade: 'h2c' }, lost: true, headerBytes: 0 });
      this.maxStreamId = 1;
      return;
    }
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
      warnings: [...(req.warnings ?? [])],
      pushed: false,
      upgradedFrom: { upgrade: 'h2c' },
      headerBytes: 0,
    });
    this.maxStreamId = 1;
  }

  onData(dir: Direction, data: Buffer): void {
    const state = this.dirs[dir];
    this.time = this.ctx.now;
    this.frameNo = this.ctx.frame;
    this.reading = state;
    try {
      this.feed(dir, state, data);
      if (state.resync) this.tryResync(dir, state, false);
    } catch {
      // A bug in frame handling must not take the capture down: drop what is
      // buffered and look for the next frame header.
      this.ctx.count('http2.internal_threw');
      this.enterResync(state);
    } finally {
      this.reading = null;
    }
  }

  /**
   * `length` bytes are missing. A gap inside the frame being read costs only
   * that frame's lost bytes (a DATA body gets a hole; a header block is lost).
   * A gap past the frame's end may have taken whole frames, header blocks
   * among them: the HPACK table is then in doubt (entries inserted from now on
   * are known again) and the next frame header is searched for.
   */
  onGap(dir: Direction, length: number): void {
    const state = this.dirs[dir];
    this.time = this.ctx.now;
    this.frameNo = this.ctx.frame;
    this.ctx.count('http2.gap', length);
    state.hadGap = true;
    this.reading = state;
    try {
      this.gap(dir, state, length);
    } catch {
      this.ctx.count('http2.internal_threw');
      this.enterResync(state);
    } finally {
      this.reading = null;
    }
  }

  private gap(dir: Direction, state: DirectionState, length: number): void {
    if (state.preface !== null) state.preface = null; // the preface (if any) is gone with the gap
    if (state.resync) {
      // Still searching: what was held before the new hole cannot start a frame that continues after it.
      this.ctx.count('http2.gap_skipped_bytes', state.resync.length);
      state.resync = { chunks: [], length: 0, scanFrom: 0, needed: 9 };
      return;
    }
    const f = state.frame;
    if (f && length <= f.remaining) {
      this.damageFrame(dir, f, length);
      f.remaining -= length;
      if (f.type === FrameType.DATA) f.dataLeft = Math.max(0, f.dataLeft - length);
      if (f.remaining === 0) this.endFrame(dir, state, f);
      return;
    }
    if (f) {
      this.damageFrame(dir, f, f.remaining);
      f.remaining = 0;
      f.dataLeft = 0;
      this.endFrame(dir, state, f);
    }
    // Whole frames may be gone: every stream still sending on this side may have lost some.
    for (const s of this.streams.values()) {
      const half = this.roleOf(dir) === 'client' ? s.request : s.response;
      if (half?.ended) continue;
      this.warn(s, 'gap');
      if (half) this.addHole(half, undefined);
    }
    if (state.pending) this.loseBlock(state, 'gap: header block lost');
    state.decoder.loseSync();
    state.lostSync = true;
    this.enterResync(state);
  }

  private enterResync(state: DirectionState): void {
    state.headerFill = 0;
    state.frame = null;
    state.pending = null;
    state.preface = null;
    state.resync = { chunks: [], length: 0, scanFrom: 0, needed: 9 };
  }

  onTick(nowMs: number, timeoutMs: number): void {
    for (const s of [...this.streams.values()]) {
      if (s.response === null && s.request && nowMs - s.request.lastTime > timeoutMs) {
        this.finish(s, ['unanswered']);
      }
    }
  }

  /**
   * The earliest time an entry still to come can carry: each open stream's
   * first frame, and the first byte of a frame (or of bytes held for a resync)
   * that could still open a stream.
   */
  pendingSince(): number | undefined {
    let low: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (low === undefined || t < low)) low = t;
    };
    for (const s of this.streams.values()) {
      consider(s.request?.firstTime);
      consider(s.response?.firstTime);
    }
    for (const state of Object.values(this.dirs)) {
      if (state.preface !== null && state.preface.length > 0) consider(state.prefaceTime);
      if (state.headerFill > 0) consider(state.startTime);
      if (state.frame && (state.frame.type === FrameType.HEADERS || state.frame.type === FrameType.PUSH_PROMISE)) consider(state.startTime);
      if (state.resync && state.resync.chunks.length > 0) consider(state.resync.chunks[0].time);
    }
    return low;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    for (const dir of ['c2s', 's2c'] as const) {
      const state = this.dirs[dir];
      this.reading = state;
      try {
        // Bytes held for a resync get a last look: a frame that ends with the capture is taken.
        if (state.resync) this.tryResync(dir, state, true);
        const f = state.frame;
        if (f && (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION || f.type === FrameType.PUSH_PROMISE)) {
          f.damaged = true;
          this.loseFrameBlock(dir, state, f, 'truncated headers: header block cut by the end of the capture');
        }
        if (state.pending && !state.pending.skipping) this.salvageBlock(dir, state, 'truncated headers: header block never ended');
      } catch {
        this.ctx.count('http2.internal_threw');
      } finally {
        this.reading = null;
      }
    }
    for (const s of [...this.streams.values()]) {
      if (s.response === null) this.finish(s, ['unanswered']);
      else this.finish(s, reason === 'eof' ? ['truncated'] : ['truncated', `connection ${reason}`]);
    }
  }

  // -------------------------------------------------------------- framing

  /** Read `data` as frames; after a gap it is held for the resync instead. */
  private feed(dir: Direction, state: DirectionState, data: Buffer): void {
    let off = 0;
    if (state.preface !== null) {
      off = this.readPreface(dir, state, data);
      if (state.preface !== null) return;
    }
    while (off < data.length) {
      if (state.resync) {
        const rest = Buffer.from(data.subarray(off));
        state.resync.chunks.push({ data: rest, time: this.time, frame: this.frameNo });
        state.resync.length += rest.length;
        return;
      }
      const f = state.frame;
      if (!f) {
        if (state.headerFill === 0) {
          state.startTime = this.time;
          state.startFrame = this.frameNo;
        }
        const n = Math.min(9 - state.headerFill, data.length - off);
        data.copy(state.header, state.headerFill, off, off + n);
        state.headerFill += n;
        off += n;
        if (state.headerFill === 9) {
          state.headerFill = 0;
          this.beginFrame(dir, state, state.header);
        }
        continue;
      }
      const n = Math.min(f.remaining, data.length - off);
      this.framePayload(dir, f, data.subarray(off, off + n));
      f.remaining -= n;
      off += n;
      if (f.remaining === 0) this.endFrame(dir, state, f);
    }
  }

  /** Consume the client preface when the side starts with it; returns where frames begin in `data`. */
  private readPreface(dir: Direction, state: DirectionState, data: Buffer): number {
    const held = state.preface!;
    const have = held.reduce((n, b) => n + b.length, 0);
    if (have === 0) {
      state.prefaceTime = this.time;
      state.prefaceFrame = this.frameNo;
    }
    const take = Math.min(CONNECTION_PREFACE.length - have, data.length);
    const part = data.subarray(0, take);
    if (part.equals(CONNECTION_PREFACE.subarray(have, have + take))) {
      if (have + take < CONNECTION_PREFACE.length) {
        held.push(Buffer.from(part));
        return data.length;
      }
      state.preface = null;
      this.learnRole(dir, 'client');
      return take;
    }
    // Not a preface: what was held is the start of the frames.
    state.preface = null;
    const time = this.time;
    const frameNo = this.frameNo;
    this.time = state.prefaceTime;
    this.frameNo = state.prefaceFrame;
    for (const b of held) this.feed(dir, state, b);
    this.time = time;
    this.frameNo = frameNo;
    return 0;
  }

  private beginFrame(dir: Direction, state: DirectionState, header: Buffer): void {
    const length = header.readUIntBE(0, 3);
    const type = header[3];
    const flags = header[4];
    const streamId = header.readUInt32BE(5) & 0x7fffffff;
    if (streamId > this.maxStreamId && (type === FrameType.HEADERS || type === FrameType.DATA)) this.maxStreamId = streamId;
    if (state.pending && type !== FrameType.CONTINUATION) {
      // A header block must be followed by its CONTINUATIONs only.
      this.ctx.count('http2.malformed');
      this.salvageBlock(dir, state, 'malformed: header block interrupted');
    }
    const isBlock = type === FrameType.HEADERS || type === FrameType.CONTINUATION || type === FrameType.PUSH_PROMISE;
    const f: FrameInProgress = {
      length,
      type,
      flags,
      streamId,
      remaining: length,
      parts: [],
      buffered: 0,
      // A header fragment may carry up to 255 bytes of padding and 5 of priority beside the block.
      cap: isBlock ? MAX_HEADER_BLOCK + 261 : type === FrameType.DATA ? 0 : MAX_CONTROL_FRAME,
      dataLeft: flags & Flag.PADDED ? 0 : length,
      damaged: false,
    };
    if (type === FrameType.DATA) {
      const stream = this.streamFor(streamId, dir);
      if (stream) {
        const half = this.halfFor(stream, dir);
        this.touch(half, 9);
        if (half.holes && half.frameStarts && half.frameStarts.length < MAX_BODY_MARKS) half.frameStarts.push(half.body.size);
      }
    }
    state.frame = f;
    if (length === 0) this.endFrame(dir, state, f);
  }

  private framePayload(dir: Direction, f: FrameInProgress, bytes: Buffer): void {
    if (f.type !== FrameType.DATA) {
      if (f.damaged) return;
      const room = f.cap - f.buffered;
      if (room > 0) {
        const part = bytes.length <= room ? bytes : bytes.subarray(0, room);
        f.parts.push(Buffer.from(part));
        f.buffered += part.length;
      }
      return;
    }
    const stream = this.streams.get(f.streamId);
    const half = stream ? this.halfFor(stream, dir) : null;
    if (half) this.touch(half, bytes.length);
    let data = bytes;
    if (f.flags & Flag.PADDED && f.padLength === undefined) {
      f.padLength = data[0];
      data = data.subarray(1);
      f.dataLeft = f.length - 1 - f.padLength;
      if (f.dataLeft < 0) {
        f.dataLeft = 0;
        if (stream) this.warn(stream, 'malformed: bad padding');
      }
    }
    const body = data.subarray(0, Math.min(data.length, f.dataLeft));
    f.dataLeft -= body.length;
    if (half && body.length > 0) addBody(half, body);
  }

  /** Part of `f`'s payload (`lost` bytes) never reached the capture. */
  private damageFrame(dir: Direction, f: FrameInProgress, lost: number): void {
    if (lost === 0) return;
    f.damaged = true;
    const stream = this.streams.get(f.streamId);
    if (stream) this.warn(stream, 'gap');
    if (f.type === FrameType.DATA && f.flags & Flag.PADDED && f.padLength === undefined) {
      // The padding length went with the gap: take the rest as data.
      f.padLength = 0;
      f.dataLeft = f.remaining;
    }
    if (f.type === FrameType.DATA && stream) {
      const half = this.halfFor(stream, dir);
      // Bytes lost inside the data are known exactly; with padding they may be padding, so not.
      const exact = !(f.flags & Flag.PADDED);
      this.addHole(half, exact ? Math.min(lost, f.dataLeft) : undefined);
    }
  }

  /** Note a hole in a half's body here; a hole of unknown size after one of known size makes it unknown. */
  private addHole(half: Half, lost: number | undefined): void {
    const holes = (half.holes ??= []);
    half.frameStarts ??= [];
    const last = holes[holes.length - 1];
    if (last && last.at === half.body.size) last.lost = lost === undefined || last.lost === undefined ? undefined : last.lost + lost;
    else if (holes.length < MAX_BODY_MARKS) holes.push({ at: half.body.size, lost });
  }

  private endFrame(dir: Direction, state: DirectionState, f: FrameInProgress): void {
    state.frame = null;
    const payload = f.parts.length === 1 ? f.parts[0] : Buffer.concat(f.parts, f.buffered);
    if (f.type === FrameType.HEADERS || f.type === FrameType.CONTINUATION || f.type === FrameType.PUSH_PROMISE) {
      if (f.damaged) {
        this.loseFrameBlock(dir, state, f, 'gap: header block lost');
        return;
      }
      // One fragment alone over the cap: its prefix is the block (counted where it is salvaged).
      if (f.buffered < f.length && f.type === FrameType.PUSH_PROMISE) this.ctx.count('http2.header_block_truncated');
    } else if (f.damaged && f.type !== FrameType.DATA) return; // a control frame with a hole says nothing reliable
    this.onFrame(dir, f.type, f.flags, f.streamId, payload, f.length + 9, f.buffered < f.length);
  }

  /**
   * A fragment of a header block was lost or cut: the block cannot be decoded
   * and the table may be missing what it inserted. The stream keeps what it
   * had and says why; END_STREAM still ends its half.
   */
  private loseFrameBlock(dir: Direction, state: DirectionState, f: FrameInProgress, warning: string): void {
    const id = f.type === FrameType.CONTINUATION ? (state.pending?.promisedId ?? state.pending?.streamId ?? f.streamId) : f.streamId;
    const endStream = f.type === FrameType.HEADERS ? (f.flags & Flag.END_STREAM) !== 0 : (state.pending?.endStream ?? false);
    const endsBlock = (f.flags & Flag.END_HEADERS) !== 0;
    // The block's later CONTINUATIONs are skipped quietly; END_STREAM applies when it ends.
    state.pending = endsBlock ? null : { streamId: f.type === FrameType.CONTINUATION ? (state.pending?.streamId ?? f.streamId) : f.streamId, parts: [], size: 0, endStream, skipping: true };
    state.decoder.loseSync();
    state.lostSync = true;
    if (f.type === FrameType.PUSH_PROMISE) {
      if (state.pending) state.pending.endStream = false;
      return;
    }
    const stream = this.streamFor(id, dir);
    if (!stream) return;
    stream.lost = true;
    this.warn(stream, warning);
    this.touch(this.halfFor(stream, dir), f.length + 9);
    if (endsBlock && endStream) this.endHalf(stream, dir);
  }

  /** A pending block lost with a gap: its stream says so. */
  private loseBlock(state: DirectionState, warning: string): void {
    const pending = state.pending!;
    state.pending = null;
    const stream = this.streams.get(pending.promisedId ?? pending.streamId);
    if (stream) {
      stream.lost = true;
      this.warn(stream, warning);
    }
  }

  /** A pending block that will not be finished: decode what arrived (its last field may be cut) and say so. */
  private salvageBlock(dir: Direction, state: DirectionState, warning: string): void {
    const pending = state.pending!;
    if (warning.startsWith('truncated')) this.ctx.count('http2.header_block_truncated');
    state.pending = null;
    pending.skipping = true;
    this.onHeaderBlock(dir, pending, warning);
    state.decoder.loseSync();
    state.lostSync = true;
  }

  private onFrame(dir: Direction, type: number, flags: number, streamId: number, payload: Buffer, frameSize: number, cut: boolean): void {
    const state = this.dirs[dir];
    switch (type) {
      case FrameType.DATA: {
        const stream = this.streams.get(streamId);
        if (stream && flags & Flag.END_STREAM) this.endHalf(stream, dir);
        return;
      }
      case FrameType.HEADERS: {
        let block = unpad(payload, flags, cut);
        if (block !== null && flags & Flag.PRIORITY) block = block.length >= 5 ? block.subarray(5) : null;
        if (block === null || streamId === 0) {
          this.ctx.count('http2.malformed');
          return;
        }
        const pending: PendingBlock = {
          streamId,
          parts: [block],
          size: block.length,
          endStream: (flags & Flag.END_STREAM) !== 0,
        };
        this.addFrameSize(streamId, dir, frameSize);
        if (cut) {
          state.pending = pending;
          this.salvageBlock(dir, state, 'truncated headers: header block over 256 KB');
          if (!(flags & Flag.END_HEADERS)) state.pending = { ...pending, parts: [], size: 0, skipping: true };
          else if (pending.endStream) this.endStreamHalf(streamId, dir);
          return;
        }
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
        this.addFrameSize(pending.promisedId ?? streamId, dir, frameSize);
        const ends = (flags & Flag.END_HEADERS) !== 0;
        if (pending.skipping) {
          // The block went over the cap: its fragments are skipped until it ends.
          if (ends) {
            state.pending = null;
            if (pending.endStream) this.endStreamHalf(pending.promisedId ?? streamId, dir);
          }
          return;
        }
        pending.size += payload.length;
        pending.parts.push(payload);
        if (cut || pending.size > MAX_HEADER_BLOCK) {
          this.salvageBlock(dir, state, 'truncated headers: header block over 256 KB');
          if (ends) {
            if (pending.endStream) this.endStreamHalf(pending.promisedId ?? streamId, dir);
          } else state.pending = { ...pending, parts: [], size: 0, skipping: true };
          return;
        }
        if (ends) {
          state.pending = null;
          this.onHeaderBlock(dir, pending);
        }
        return;
      }
      case FrameType.PUSH_PROMISE: {
        const body = unpad(payload, flags, cut);
        if (body === null || body.length < 4) {
          this.ctx.count('http2.malformed');
          return;
        }
        const promisedId = body.readUInt32BE(0) & 0x7fffffff;
        const block = body.subarray(4);
        const pending: PendingBlock = {
          streamId,
          parts: [block],
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
      case FrameType.SETTINGS: {
        if (flags & Flag.ACK) return;
        for (let off = 0; off + 6 <= payload.length; off += 6) {
          // SETTINGS_MAX_FRAME_SIZE bounds the frames the other side may send.
          if (payload.readUInt16BE(off) === 5) {
            const value = payload.readUInt32BE(off + 2);
            if (value >= DEFAULT_MAX_FRAME_SIZE && value < 1 << 24) this.dirs[other(dir)].maxFrameSize = value;
          }
        }
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
        // PING, PRIORITY, WINDOW_UPDATE and unknown types carry no call data.
        return;
    }
  }

  private onHeaderBlock(dir: Direction, pending: PendingBlock, cutWarning?: string): void {
    const state = this.dirs[dir];
    const block = pending.parts.length === 1 ? pending.parts[0] : Buffer.concat(pending.parts);
    const decoded = state.decoder.decode(block, MAX_HEADER_LIST);
    if (state.decoder.forgotten > 0) {
      this.ctx.count('http2.hpack_entries_evicted', state.decoder.forgotten);
      state.decoder.forgotten = 0;
    }
    const warnings: string[] = [];
    if (cutWarning) warnings.push(cutWarning);
    else if (decoded.problem) {
      warnings.push(`malformed: hpack ${decoded.problem}`);
      this.ctx.count('http2.malformed');
    }
    if (decoded.truncated) {
      this.ctx.count('http2.header_list_truncated');
      warnings.push('truncated headers: header list over 64 KB');
    }
    if (decoded.unknown > 0) {
      // Unknown after a gap is loss; unknown because the capture began mid-connection is not.
      this.ctx.count(state.lostSync ? 'http2.gap_unknown_headers' : 'http2.headers_unknown', decoded.unknown);
      warnings.push(state.lostSync ? 'hpack: headers unknown (table entries lost with a gap)' : 'hpack: capture started mid-connection');
    }
    if (pending.promisedId !== undefined) {
      // Server push: the promised request, decoded by the server's decoder.
      const stream = this.newStream(pending.promisedId);
      if (!stream) return;
      const half = this.newHalf();
      half.headers = decoded.headers;
      half.ended = true;
      stream.pushed = true;
      stream.request = half;
      this.holdHeaders(stream, decoded.headers);
      for (const w of warnings) this.warn(stream, w);
      return;
    }
    const names = new Set(decoded.headers.map((h) => h.name));
    if (names.has(':status')) this.learnRole(dir, 'server');
    else if (names.has(':method')) this.learnRole(dir, 'client');
    const stream = this.streamFor(pending.streamId, dir, true);
    if (!stream) return;
    for (const w of warnings) this.warn(stream, w);
    const half = this.halfFor(stream, dir);
    this.touch(half, 0);
    const status = decoded.headers.find((h) => h.name === ':status')?.value;
    if (status && /^1\d\d$/.test(status) && !pending.endStream) {
      if (stream.informational.length < MAX_INFORMATIONAL) stream.informational.push(Number(status));
      else this.ctx.count('http2.informational_dropped');
    } else if (half.headers === null) {
      half.headers = decoded.headers;
      // A body a reader counts (remote write, Loki, OTLP) is kept whole, up to its own bound.
      if (names.has(':method') && !this.ctx.options.noBodies) half.body.raiseLimit(requestBodyLimitOfFields(decoded.headers, this.ctx.options.maxBody));
      this.holdHeaders(stream, decoded.headers);
    } else if (half.trailers === null) {
      half.trailers = decoded.headers;
      this.holdHeaders(stream, decoded.headers);
    } else {
      // Header blocks beyond headers and trailers are not HTTP: counted, not kept.
      this.ctx.count('http2.extra_header_blocks_dropped');
      this.warn(stream, 'malformed: extra header block');
    }
    if (pending.endStream && !pending.skipping) this.endHalf(stream, dir);
  }

  // -------------------------------------------------------------- resync

  /**
   * Find the next frame after a gap: a header a real peer would send (type,
   * flags, length within its frame size, a stream id that fits what is known),
   * confirmed by the header that follows it; a frame that ends where the held
   * bytes end is taken when its stream is one we know (or at the end of the capture).
   */
  private tryResync(dir: Direction, state: DirectionState, final: boolean): void {
    const r = state.resync!;
    if (r.length < r.needed && !final) return;
    const buf = r.chunks.length === 1 ? r.chunks[0].data : Buffer.concat(r.chunks.map((c) => c.data), r.length);
    const maxLength = Math.min(state.maxFrameSize, MAX_RESYNC_FRAME);
    let at = -1;
    let i = r.scanFrom;
    r.needed = 9;
    for (; i + 9 <= buf.length; i++) {
      const verdict = this.candidate(dir, buf, i, maxLength, final);
      if (verdict === 'wait') {
        // Nothing changes until the frame is held whole, then the header after it (offsets from i, kept first).
        const frameEnd = 9 + buf.readUIntBE(i, 3);
        r.needed = i + frameEnd > buf.length ? frameEnd : frameEnd + 9;
        break;
      }
      if (verdict === 'yes') {
        at = i;
        break;
      }
    }
    if (at < 0) {
      // Keep the undecided tail (a candidate still waiting, or the last 8 bytes that cannot hold a header yet).
      const keepFrom = final ? buf.length : i + 9 <= buf.length ? i : Math.max(i, buf.length - 8);
      this.dropResyncBytes(r, buf, keepFrom);
      return;
    }
    this.ctx.count('http2.gap_resync');
    this.dropResyncBytes(r, buf, at);
    const chunks = r.chunks;
    state.resync = null;
    const time = this.time;
    const frameNo = this.frameNo;
    for (const c of chunks) {
      this.time = c.time;
      this.frameNo = c.frame;
      this.feed(dir, state, c.data);
    }
    this.time = time;
    this.frameNo = frameNo;
  }

  private dropResyncBytes(r: Resync, buf: Buffer, from: number): void {
    if (from <= 0) {
      r.scanFrom = 0;
      return;
    }
    this.ctx.count('http2.gap_skipped_bytes', from);
    let skip = from;
    while (skip > 0 && r.chunks.length > 0) {
      const c = r.chunks[0];
      if (c.data.length <= skip) {
        skip -= c.data.length;
        r.chunks.shift();
      } else {
        c.data = c.data.subarray(skip);
        skip = 0;
      }
    }
    r.length = buf.length - from;
    r.scanFrom = 0;
  }

  private candidate(dir: Direction, buf: Buffer, i: number, maxLength: number, final: boolean): 'yes' | 'no' | 'wait' {
    if (!this.plausibleAt(dir, buf, i, maxLength)) return 'no';
    const end = i + 9 + buf.readUIntBE(i, 3);
    if (end + 9 <= buf.length) return this.plausibleAt(dir, buf, end, maxLength) ? 'yes' : 'no';
    const streamId = buf.readUInt32BE(i + 5) & 0x7fffffff;
    const known = streamId !== 0 && this.streams.has(streamId);
    // A frame on a stream we know, or a header block that decodes as this side's, need not wait for the next one.
    if (known || (end <= buf.length && this.selfEvidentHeaders(dir, buf, i, end))) return 'yes';
    if (final) return end === buf.length ? 'yes' : 'no';
    return 'wait';
  }

  /**
   * A complete HEADERS frame whose block decodes cleanly (on a copy of the
   * table) into this side's pseudo-headers: a request's :method or a response's :status.
   */
  private selfEvidentHeaders(dir: Direction, buf: Buffer, i: number, end: number): boolean {
    const flags = buf[i + 4];
    if (buf[i + 3] !== FrameType.HEADERS || !(flags & Flag.END_HEADERS)) return false;
    let block = unpad(buf.subarray(i + 9, end), flags);
    if (block !== null && flags & Flag.PRIORITY) block = block.length >= 5 ? block.subarray(5) : null;
    if (block === null) return false;
    const decoded = this.dirs[dir].decoder.clone().decode(block, MAX_HEADER_LIST);
    if (decoded.problem || decoded.headers.length === 0) return false;
    const first = decoded.headers[0].name;
    if (!this.roleKnown) return first === ':method' || first === ':status';
    return first === (this.roleOf(dir) === 'client' ? ':method' : ':status');
  }

  private plausibleAt(dir: Direction, buf: Buffer, i: number, maxLength: number): boolean {
    if (!plausibleFrameHeader(buf, i, maxLength)) return false;
    const type = buf[i + 3];
    const streamId = buf.readUInt32BE(i + 5) & 0x7fffffff;
    // A CONTINUATION is only ever read after its HEADERS, which the gap took.
    if (type === FrameType.CONTINUATION) return false;
    if (streamId === 0 || this.streams.has(streamId)) return true;
    if (this.maxStreamId > 0 && streamId > this.maxStreamId + RESYNC_STREAM_WINDOW) return false;
    if (!this.roleKnown) return true;
    const clientStream = streamId % 2 === 1;
    // Clients open odd streams; servers answer on them and push on even ones.
    if (this.roleOf(dir) === 'client') return clientStream || type === FrameType.RST_STREAM || type === FrameType.WINDOW_UPDATE || type === FrameType.PRIORITY;
    return true;
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

  /** A half stamped with the first byte of the frame being read (its first packet). */
  private newHalf(): Half {
    const reading = this.reading;
    return {
      headers: null,
      trailers: null,
      body: new BodyCollector(this.ctx.options.maxBody),
      wireSize: 0,
      ended: false,
      firstTime: reading ? reading.startTime : this.time,
      firstFrame: reading ? reading.startFrame : this.frameNo,
      lastTime: this.time,
      lastFrame: this.frameNo,
    };
  }


  private warn(stream: Stream, warning: string): void {
    if (!stream.warnings.includes(warning)) stream.warnings.push(warning);
  }

  private newStream(id: number): Stream | null {
    if (this.streams.size >= MAX_OPEN_STREAMS) this.evictOldest('evicted: too many open streams');
    const stream: Stream = { id, request: null, response: null, informational: [], warnings: [], pushed: false, headerBytes: 0 };
    // A reused id (a push promise over a stream already seen) goes last, so streams stay in the order they opened.
    const old = this.streams.get(id);
    if (old) {
      this.heldHeaderBytes -= old.headerBytes;
      this.streams.delete(id);
    }
    this.streams.set(id, stream);
    return stream;
  }

  private evictOldest(warning: string): void {
    const oldest = this.streams.values().next().value as Stream | undefined;
    if (!oldest) return;
    this.ctx.count('http2.streams_evicted');
    this.finish(oldest, [warning]);
  }

  /** Count a decoded header list against the connection's budget; the oldest streams make room. */
  private holdHeaders(stream: Stream, fields: HeaderField[]): void {
    const bytes = headerListBytes(fields);
    stream.headerBytes += bytes;
    this.heldHeaderBytes += bytes;
    while (this.heldHeaderBytes > MAX_HELD_HEADER_BYTES && this.streams.size > 1) {
      const oldest = this.streams.values().next().value as Stream;
      if (oldest === stream) break;
      this.evictOldest('evicted: header memory of open streams over 8 MB');
    }
  }

  /**
   * The stream a frame from `dir` belongs to, made when new. A stream first
   * seen after this side lost bytes (or whose opener's side did) may have lost
   * its header block: it is emitted with a gap warning, never dropped.
   */
  private streamFor(id: number, dir?: Direction, byHeaders = false): Stream | null {
    if (id === 0) return null;
    const known = this.streams.get(id);
    if (known) return known;
    const stream = this.newStream(id);
    if (stream && dir) {
      const opener: Direction = (id % 2 === 1) === (this.roleOf('c2s') === 'client') ? 'c2s' : 's2c';
      // HEADERS open a client's (odd) stream; a pushed (even) stream is opened by its PUSH_PROMISE, so
      // HEADERS first seen on one mean the promise was not read (a gap on the server's side took it).
      const opening = byHeaders && dir === opener && id % 2 === 1;
      if (!opening && !this.recentlyFinished.has(id) && (this.dirs[dir].hadGap || this.dirs[opener].hadGap)) {
        stream.lost = true;
        stream.warnings.push('gap');
      }
    }
    return stream;
  }

  private halfFor(stream: Stream, dir: Direction): Half {
    if (this.roleOf(dir) === 'client') return (stream.request ??= this.newHalf());
    return (stream.response ??= this.newHalf());
  }

  private touch(half: Half, bytes: number): void {
    half.wireSize += bytes;
    half.lastTime = this.time;
    half.lastFrame = this.frameNo;
  }

  private addFrameSize(streamId: number, dir: Direction, bytes: number): void {
    const stream = this.streamFor(streamId, dir, true);
    if (stream) this.touch(this.halfFor(stream, dir), bytes);
  }

  private endStreamHalf(id: number, dir: Direction): void {
    const stream = this.streams.get(id);
    if (stream) this.endHalf(stream, dir);
  }

  private endHalf(stream: Stream, dir: Direction): void {
    const half = this.halfFor(stream, dir);
    half.ended = true;
    if (this.roleOf(dir) === 'server') this.finish(stream, []);
  }

  private finish(stream: Stream, warnings: string[]): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.heldHeaderBytes -= stream.headerBytes;
    this.recentlyFinished.add(stream.id);
    if (this.recentlyFinished.size > MAX_OPEN_STREAMS) this.recentlyFinished.delete(this.recentlyFinished.values().next().value as number);
    if (!stream.request?.headers && !stream.response?.headers && !stream.response?.trailers && !stream.lost) {
      // Only DATA (or a reset) of a stream whose headers came before the capture: nothing to name it by.
      this.ctx.count('http2.headerless_stream');
      return;
    }
    try {
      this.ctx.emit(this.buildRecord(stream, warnings));
    } catch {
      this.ctx.count('http2.internal_threw');
    }
  }

  // -------------------------------------------------------------- entries

  private buildRecord(stream: Stream, extraWarnings: string[]): CallRecord {
    return buildStreamRecord(stream, extraWarnings, this.ctx, {
      protocol: 'http2',
      httpVersion: 'HTTP/2.0',
      errorName: http2ErrorName,
      // A reset after a complete response (e.g. a client CANCEL) is housekeeping.
      routineReset: (code, responseEnded) => code === 0 || (responseEnded && code === 8),
      goawayCode: this.goaway?.code,
      flipped: this.flipped,
    });
  }
}

/**
 * Payload without padding (PADDED flag), or null when the padding length is
 * impossible. A payload `cut` to its buffered prefix has no padding left at its end.
 */
function unpad(payload: Buffer, flags: number, cut = false): Buffer | null {
  if (!(flags & Flag.PADDED)) return payload;
  if (payload.length < 1) return null;
  const pad = payload[0];
  if (cut) return payload.subarray(1);
  if (pad > payload.length - 1) return null;
  return payload.subarray(1, payload.length - pad);
}

function other(dir: Direction): Direction {
  return dir === 'c2s' ? 's2c' : 'c2s';
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
 * 101 response. The upgrade request becomes stream 1 (RFC 7540 3.2); null
 * when it was not captured (the 101 answered no request seen).
 */
export function createHttp2ParserAfterUpgrade(ctx: ConnectionContext, upgradeRequest: UpgradeRequest | null): TcpStreamParser {
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
