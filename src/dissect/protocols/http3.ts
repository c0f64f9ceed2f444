// HTTP/3 (RFC 9114) on the streams of a decrypted QUIC connection (quic.ts
// hands over each stream's bytes in order). A client-initiated bidirectional
// stream is one request and its response: HEADERS, DATA and trailing HEADERS
// frames, their field sections decoded with QPACK (qpack.ts) fed by each
// side's encoder stream. The control streams give SETTINGS (the QPACK table
// capacity) and GOAWAY. Each request becomes one `http3` entry, built as
// HTTP/2's are (util/http-stream-record.ts), marked `tls`.

import type { ConnectionContext, Direction } from '../api.js';
import { BodyCollector } from './util/body.js';
import { requestBodyLimitOfFields } from './body-readers.js';
import { addBody, buildStreamRecord, type Half, type Stream } from './util/http-stream-record.js';
import { QpackDecoder } from './qpack.js';
import { readVarint } from '../quic/frames.js';
import type { StreamSink } from '../quic/stream-table.js';
import { currentMeter } from '../memory-budget.js';

/** A HEADERS frame larger than this is not decoded (its fields are said to be lost). */
const MAX_HEADER_BLOCK = 64 * 1024;
/** Request streams followed at once; more are counted. */
const MAX_OPEN_STREAMS = 1024;
/** Bytes held behind a field section that waits for the encoder stream, per stream direction. */
const MAX_BLOCKED_BYTES = 256 * 1024;
/** Interim (1xx) statuses kept per response. */
const MAX_INFORMATIONAL = 8;

const FRAME_DATA = 0x00;
const FRAME_HEADERS = 0x01;
const FRAME_SETTINGS = 0x04;
const FRAME_GOAWAY = 0x07;
const SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0x01;

const STREAM_CONTROL = 0x00;
const STREAM_PUSH = 0x01;
const STREAM_ENCODER = 0x02;

const H3_NO_ERROR = 0x100;
const H3_REQUEST_CANCELLED = 0x10c;

const ERROR_NAMES: Record<number, string> = {
  0x100: 'H3_NO_ERROR', 0x101: 'H3_GENERAL_PROTOCOL_ERROR', 0x102: 'H3_INTERNAL_ERROR', 0x103: 'H3_STREAM_CREATION_ERROR',
  0x104: 'H3_CLOSED_CRITICAL_STREAM', 0x105: 'H3_FRAME_UNEXPECTED', 0x106: 'H3_FRAME_ERROR', 0x107: 'H3_EXCESSIVE_LOAD',
  0x108: 'H3_ID_ERROR', 0x109: 'H3_SETTINGS_ERROR', 0x10a: 'H3_MISSING_SETTINGS', 0x10b: 'H3_REQUEST_REJECTED',
  0x10c: 'H3_REQUEST_CANCELLED', 0x10d: 'H3_REQUEST_INCOMPLETE', 0x10e: 'H3_MESSAGE_ERROR', 0x10f: 'H3_CONNECT_ERROR',
  0x110: 'H3_VERSION_FALLBACK', 0x200: 'QPACK_DECOMPRESSION_FAILED', 0x201: 'QPACK_ENCODER_STREAM_ERROR', 0x202: 'QPACK_DECODER_STREAM_ERROR',
};

export function http3ErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

const other = (d: Direction): Direction => (d === 'c2s' ? 's2c' : 'c2s');

/** Reads frames (a type and a length, both varints, then the payload) from a stream direction's bytes. */
class FrameReader {
  /** Header bytes of the frame being started (at most two 8-byte varints). */
  private head: Buffer = Buffer.alloc(0);
  private type = -1;
  private remaining = 0;
  /** The payload of a frame handled whole (HEADERS, SETTINGS), while it arrives. */
  private parts: Buffer[] = [];
  private kept = 0;
  private tooBig = false;
  /** The flow's meter: a frame's payload held until it is whole is charged to it. */
  private readonly meter = currentMeter();

  constructor(
    private readonly onWhole: (type: number, payload: Buffer | null) => void,
    private readonly onData: (data: Buffer) => void,
  ) {}

  push(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      if (this.type < 0) {
        // The frame header: read where it lies, or gathered when it is split across deliveries.
        const split = this.head.length > 0;
        const take = Math.min(16 - this.head.length, data.length - off);
        const head = split ? Buffer.concat([this.head, data.subarray(off, off + take)]) : data.subarray(off, off + take);
        const t = readVarint(head, 0);
        const l = t && readVarint(head, t.length);
        if (!t || !l) {
          this.head = Buffer.from(head);
          off += take;
          continue;
        }
        off += t.length + l.length - this.head.length;
        if (split) this.head = Buffer.alloc(0);
        this.type = t.value;
        this.remaining = l.value;
        this.parts = [];
        this.kept = 0;
        this.tooBig = this.type !== FRAME_DATA && l.value > MAX_HEADER_BLOCK;
      } else {
        const take = Math.min(this.remaining, data.length - off);
        const piece = data.subarray(off, off + take);
        if (this.type === FRAME_DATA) this.onData(piece);
        else if (!this.tooBig) {
          this.parts.push(Buffer.from(piece));
          this.kept += take;
          this.meter?.add(take);
        }
        this.remaining -= take;
        off += take;
      }
      if (this.type >= 0 && this.remaining === 0) {
        const type = this.type;
        this.type = -1;
        this.meter?.add(-this.kept);
        if (type !== FRAME_DATA) this.onWhole(type, this.tooBig ? null : Buffer.concat(this.parts, this.kept));
      }
    }
  }

  /** Bytes of a frame still expected (the stream ended inside one). */
  get midFrame(): boolean {
    return this.type >= 0 || this.head.length > 0;
  }
}

/** One request stream's state on each side. */
interface RequestStream extends Stream {
  readers: Record<Direction, FrameReader | null>;
  /** A field section waits for encoder-stream inserts: it and the bytes after it are held. */
  blocked: Record<Direction, { section: Buffer; held: Buffer[]; heldBytes: number; ended: boolean } | null>;
  /** A hole in this direction: its frame boundaries are lost, the rest is counted. */
  lostSide: Record<Direction, boolean>;
}

/** A unidirectional stream: its type once read, then what it carries. */
interface UniStream {
  type: number | undefined;
  typeBytes: Buffer;
  reader: FrameReader | null;
}

export class Http3Session implements StreamSink {
  /** Calls written so far. */
  emitted = 0;
  private streams = new Map<number, RequestStream>();
  private uni = new Map<number, UniStream>();
  /** Decoders of the field sections each side sends, fed by that side's encoder stream. */
  private decoders: Record<Direction, QpackDecoder> = { c2s: new QpackDecoder(), s2c: new QpackDecoder() };
  /** The table capacity each decoder allows (the other side's SETTINGS), kept for a decoder made anew. */
  private capacity: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private goawayCode: number | undefined;
  private closed: { code: number; application: boolean } | undefined;
  /** Field sections waiting for the encoder stream, in all streams (none: nothing to try again). */
  private blockedCount = 0;
  /** The flow's meter: what blocked sections hold is charged to it. */
  private readonly meter = currentMeter();

  constructor(private readonly ctx: ConnectionContext) {}

  data(id: number, dir: Direction, data: Buffer): void {
    if ((id & 0x02) !== 0) return this.uniData(id, dir, data);
    if ((id & 0x01) !== 0) {
      // A server-initiated bidirectional stream: not HTTP/3's (WebTransport and other extensions).
      this.ctx.count('http3.server_bidi_stream');
      return;
    }
    const s = this.stream(id);
    if (!s || s.lostSide[dir]) return;
    const half = this.half(s, dir);
    half.wireSize += data.length;
    half.lastTime = this.ctx.now;
    half.lastFrame = this.ctx.frame;
    const blocked = s.blocked[dir];
    if (blocked) {
      if (blocked.heldBytes + data.length > MAX_BLOCKED_BYTES) {
        this.ctx.count('http3.blocked_dropped');
        this.release(s, dir);
        this.loseSide(s, dir, 'qpack: field section blocked too long');
        return;
      }
      blocked.held.push(Buffer.from(data));
      blocked.heldBytes += data.length;
      this.meter?.add(data.length);
      return;
    }
    s.readers[dir]!.push(data);
  }

  /** The stream's direction reached its FIN. */
  end(id: number, dir: Direction): void {
    if ((id & 0x03) !== 0) return;
    const s = this.streams.get(id);
    if (!s) return;
    const blocked = s.blocked[dir];
    if (blocked) {
      // Its fields wait for the encoder stream, which may come after the FIN: the end waits with them.
      blocked.ended = true;
      return;
    }
    if (s.readers[dir]?.midFrame) this.warn(s, 'stream ended inside a frame');
    this.half(s, dir).ended = true;
    if (dir === 's2c') this.write(s, []);
  }

  reset(id: number, dir: Direction, code: number): void {
    if ((id & 0x03) !== 0) return;
    const s = this.streams.get(id);
    if (!s) return;
    s.reset ??= { code, by: dir === 'c2s' ? 'client' : 'server' };
    if (dir === 's2c' || s.response?.ended) this.write(s, []);
  }

  hole(id: number, dir: Direction): void {
    if ((id & 0x03) !== 0) {
      if ((id & 0x02) !== 0) this.uniHole(id);
      return;
    }
    const s = this.streams.get(id);
    // The QUIC layer counts the bytes (quic.stream_gap); the call says it.
    if (s) this.loseSide(s, dir, 'gap');
  }

  /**
   * The client's 0-RTT data was refused: its streams will come again from
   * their start. Requests begun in it are forgotten (their answers, if any,
   * came later on the same ids) and the client's QPACK decoder starts over.
   */
  forgetClientStreams(ids: Set<number>): void {
    for (const id of ids) {
      if ((id & 0x02) !== 0) this.uni.delete(id);
      else {
        const s = this.streams.get(id);
        if (s && !s.response) {
          this.release(s, 'c2s');
          this.streams.delete(id);
        }
      }
    }
    this.decoders.c2s = new QpackDecoder(this.capacity.c2s);
  }

  close(code: number, _reason: string, application: boolean): void {
    this.closed ??= { code, application };
  }

  /** The connection ended: every stream still open is written. Returns the calls written in all. */
  finish(): number {
    for (const s of [...this.streams.values()]) this.write(s, []);
    return this.emitted;
  }

  pendingSince(): number | undefined {
    let min: number | undefined;
    for (const s of this.streams.values()) {
      const t = s.request?.firstTime ?? s.response?.firstTime;
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  // ------------------------------------------------------------ request streams

  private stream(id: number): RequestStream | undefined {
    let s = this.streams.get(id);
    if (s) return s;
    if (this.streams.size >= MAX_OPEN_STREAMS) {
      this.ctx.count('http3.streams_dropped');
      return undefined;
    }
    s = {
      id,
      request: null,
      response: null,
      informational: [],
      warnings: [],
      pushed: false,
      headerBytes: 0,
      readers: { c2s: null, s2c: null },
      blocked: { c2s: null, s2c: null },
      lostSide: { c2s: false, s2c: false },
    };
    const made = s;
    for (const dir of ['c2s', 's2c'] as const) {
      made.readers[dir] = new FrameReader(
        (type, payload) => this.wholeFrame(made, dir, type, payload),
        (data) => addBody(this.half(made, dir), data),
      );
    }
    this.streams.set(id, s);
    return s;
  }

  private half(s: RequestStream, dir: Direction): Half {
    const key = dir === 'c2s' ? 'request' : 'response';
    return (s[key] ??= {
      headers: null,
      trailers: null,
      body: new BodyCollector(this.ctx.options.maxBody),
      wireSize: 0,
      ended: false,
      firstTime: this.ctx.now,
      firstFrame: this.ctx.frame,
      lastTime: this.ctx.now,
      lastFrame: this.ctx.frame,
    });
  }

  private wholeFrame(s: RequestStream, dir: Direction, type: number, payload: Buffer | null): void {
    if (type !== FRAME_HEADERS) return; // unknown and reserved frame types are skipped (RFC 9114 §9)
    if (payload === null) {
      this.ctx.count('http3.header_block_truncated');
      this.warn(s, `truncated: field section over ${MAX_HEADER_BLOCK} bytes`);
      return;
    }
    this.fieldSection(s, dir, payload);
  }

  private fieldSection(s: RequestStream, dir: Direction, section: Buffer): void {
    const result = this.decoders[dir].decode(section);
    if ('blocked' in result) {
      s.blocked[dir] = { section: Buffer.from(section), held: [], heldBytes: 0, ended: false };
      this.blockedCount++;
      this.meter?.add(section.length);
      return;
    }
    if ('error' in result) {
      this.ctx.count('http3.qpack_malformed');
      this.warn(s, result.error);
      return;
    }
    const half = this.half(s, dir);
    const fields = result.fields;
    if (dir === 's2c') {
      const status = fields.find((f) => f.name === ':status')?.value;
      if (status !== undefined && /^1[0-9]{2}$/.test(status) && half.headers === null) {
        if (s.informational.length < MAX_INFORMATIONAL) s.informational.push(Number(status));
        return;
      }
    }
    if (half.headers === null) {
      half.headers = fields;
      // A body a reader counts (remote write, Loki, OTLP) is kept whole, up to its own bound.
      if (dir === 'c2s' && !this.ctx.options.noBodies) half.body.raiseLimit(requestBodyLimitOfFields(fields, this.ctx.options.maxBody));
    } else half.trailers = fields;
  }

  /** The encoder stream of `dir` moved on: field sections of `dir` that waited for it are tried again. */
  private unblock(dir: Direction): void {
    if (this.blockedCount === 0) return;
    for (const s of this.streams.values()) {
      const b = s.blocked[dir];
      if (!b) continue;
      this.release(s, dir);
      this.fieldSection(s, dir, b.section);
      const still = s.blocked[dir] as RequestStream['blocked'][Direction];
      if (still) {
        // Still waiting: the held bytes (and the FIN) stay behind it.
        still.held = b.held;
        still.heldBytes = b.heldBytes;
        still.ended = b.ended;
        this.meter?.add(b.heldBytes);
        continue;
      }
      for (const part of b.held) s.readers[dir]!.push(part);
      if (b.ended) this.end(s.id, dir);
    }
  }

  /** A blocked section is let go (read, or given up): what it held is no longer charged. */
  private release(s: RequestStream, dir: Direction): void {
    const b = s.blocked[dir];
    if (!b) return;
    s.blocked[dir] = null;
    this.blockedCount--;
    this.meter?.add(-(b.section.length + b.heldBytes));
  }

  private loseSide(s: RequestStream, dir: Direction, warning: string): void {
    s.lostSide[dir] = true;
    s.lost = true;
    this.warn(s, warning);
  }

  private warn(s: Stream, warning: string): void {
    if (!s.warnings.includes(warning)) s.warnings.push(warning);
  }

  private write(s: RequestStream, warnings: string[]): void {
    if (this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    for (const dir of ['c2s', 's2c'] as const) {
      if (!s.blocked[dir]) continue;
      // The inserts it waited for never came: its fields are lost, the rest is kept.
      this.warn(s, 'qpack: field section never unblocked');
      this.release(s, dir);
    }
    if (!s.request?.headers && !s.response?.headers && !s.lost) {
      this.ctx.count('http3.headerless_stream');
      return;
    }
    const extra = [...warnings];
    if (this.closed && this.closed.code !== 0 && !(this.closed.application && this.closed.code === H3_NO_ERROR) && !s.response?.ended) {
      extra.push(`connection closed: ${this.closed.application ? http3ErrorName(this.closed.code) : `0x${this.closed.code.toString(16)}`}`);
    }
    try {
      this.ctx.emit(
        buildStreamRecord(s, extra, this.ctx, {
          protocol: 'http3',
          httpVersion: 'HTTP/3',
          errorName: http3ErrorName,
          resetWord: 'RESET_STREAM',
          routineReset: (code, responseEnded) => code === H3_NO_ERROR || (responseEnded && code === H3_REQUEST_CANCELLED),
          goawayCode: this.goawayCode,
          tls: true,
        }),
      );
      this.emitted++;
    } catch {
      this.ctx.count('http3.internal_threw');
    }
  }

  // ------------------------------------------------------------ unidirectional streams

  private uniData(id: number, dir: Direction, data: Buffer): void {
    let u = this.uni.get(id);
    if (!u) {
      if (this.uni.size >= MAX_OPEN_STREAMS) return;
      u = { type: undefined, typeBytes: Buffer.alloc(0), reader: null };
      this.uni.set(id, u);
    }
    if (u.type === undefined) {
      const head = Buffer.concat([u.typeBytes, data.subarray(0, 8)]);
      const t = readVarint(head, 0);
      if (!t) {
        u.typeBytes = head;
        return;
      }
      u.type = t.value;
      data = data.subarray(t.length - u.typeBytes.length);
      u.typeBytes = Buffer.alloc(0);
      if (u.type === STREAM_CONTROL) u.reader = new FrameReader((type, payload) => this.controlFrame(dir, type, payload), () => {});
      else if (u.type === STREAM_PUSH) this.ctx.count('http3.push_not_read');
    }
    if (u.type === STREAM_ENCODER) {
      const error = this.decoders[dir].onEncoderStream(data);
      if (error) this.ctx.count('http3.qpack_encoder_malformed');
      this.unblock(dir);
    } else u.reader?.push(data);
  }

  private uniHole(id: number): void {
    const u = this.uni.get(id);
    if (!u) return;
    if (u.type === STREAM_ENCODER) this.ctx.count('http3.qpack_encoder_gap');
    // Frame boundaries are lost with the hole: the stream is read no further.
    u.reader = null;
    u.type = -1;
  }

  private controlFrame(dir: Direction, type: number, payload: Buffer | null): void {
    if (!payload) return;
    if (type === FRAME_SETTINGS) {
      for (let off = 0; off < payload.length; ) {
        const k = readVarint(payload, off);
        const v = k && readVarint(payload, off + k.length);
        if (!k || !v) break;
        off += k.length + v.length;
        // The capacity this side's decoder allows: the table the other side's encoder may fill.
        if (k.value === SETTINGS_QPACK_MAX_TABLE_CAPACITY) {
          this.capacity[other(dir)] = v.value;
          this.decoders[other(dir)].setMaxTableCapacity(v.value);
        }
      }
    } else if (type === FRAME_GOAWAY) {
      this.goawayCode ??= 0;
    }
  }
}
