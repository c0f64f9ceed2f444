// WebSocket (RFC 6455) after an HTTP/1.1 `101 Switching Protocols`, with
// permessage-deflate (RFC 7692). The HTTP/1 parser keeps the handshake as an
// `http` entry and hands the connection's bytes to this parser.
//
// Pairing is "message by direction": a data message has no answer, so each
// one is its own entry (`request.from` says which side sent it, `response`
// is null and that is not an error). Only control frames pair: a ping with
// the other side's pong (latency), a close with the other side's close.
//
// A subprotocol the server accepted (`Sec-WebSocket-Protocol`) that shark
// dissects carries its own byte stream in the data messages: MQTT over
// WebSocket (`mqtt`, `mqttv3.1`; OASIS MQTT 3.1.1 §6, 5.0 §6) may put
// several MQTT packets in one message or one packet across several. Their
// payloads, unmasked and inflated, go to that protocol's parser as one
// stream per direction, whose calls are the entries; control frames stay
// `ws` entries. Servers that accept MQTT without echoing the subprotocol
// (or a handshake the capture missed, read with `-d …,ws`) are found by
// content: a client's first data message that is an MQTT CONNECT.
import * as zlib from 'node:zlib';
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { MqttParser, probeMqtt } from './mqtt.js';
import { looksLikeText, truncate } from './util/text.js';

const OPCODES: Record<number, string> = { 0: 'continuation', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
/** Compressed bytes kept per message to inflate it; a bigger message is shown compressed. */
const MAX_COMPRESSED = 1024 * 1024;
/** Inflated output is capped too (a small message can inflate to gigabytes). */
const MAX_INFLATED = 8 * 1024 * 1024;
/** A client's first message is kept up to this to be read for a subprotocol (an MQTT CONNECT is far smaller). */
const MAX_SNIFFED = 64 * 1024;
/** Pings (and closes) awaiting the other side's answer, per direction. */
const MAX_PENDING_CONTROL = 32;

/** The negotiated permessage-deflate parameters, per sending side. */
export interface DeflateParams {
  /** Sender keeps its LZ77 window between messages (no `<side>_no_context_takeover`). */
  takeover: Record<Direction, boolean>;
  windowBits: Record<Direction, number>;
}

/** Read `Sec-WebSocket-Extensions` as the server accepted it; null when permessage-deflate is not in force. */
export function parseDeflate(extensions: string | undefined): DeflateParams | null {
  if (!extensions) return null;
  for (const ext of extensions.split(',')) {
    const [name, ...params] = ext.split(';').map((p) => p.trim().toLowerCase());
    if (name !== 'permessage-deflate') continue;
    const p: DeflateParams = { takeover: { c2s: true, s2c: true }, windowBits: { c2s: 15, s2c: 15 } };
    for (const param of params) {
      const [k, v] = param.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
      const bits = Number(v);
      if (k === 'client_no_context_takeover') p.takeover.c2s = false;
      else if (k === 'server_no_context_takeover') p.takeover.s2c = false;
      else if (k === 'client_max_window_bits' && bits >= 8 && bits <= 15) p.windowBits.c2s = bits;
      else if (k === 'server_max_window_bits' && bits >= 8 && bits <= 15) p.windowBits.s2c = bits;
    }
    return p;
  }
  return null;
}

interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: Buffer | null;
  /** Payload bytes still to read, and how many were read (the mask index). */
  remaining: number;
  read: number;
  length: number;
  headerSize: number;
  /** Control frame payloads (≤ 125 bytes) are kept whole. */
  control: Buffer[];
}

interface Message {
  opcode: number;
  compressed: boolean;
  parts: Buffer[];
  kept: number;
  /** Payload bytes on the wire (compressed size when compressed). */
  size: number;
  wireSize: number;
  frames: number;
  masked: boolean;
  time: number;
  frame: number;
  warnings: string[];
}

interface Control {
  opcode: number;
  payload: Buffer;
  wireSize: number;
  time: number;
  frame: number;
}

export class WebSocketParser implements TcpStreamParser {
  private readonly queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private readonly frames: Record<Direction, Frame | null> = { c2s: null, s2c: null };
  private readonly messages: Record<Direction, Message | null> = { c2s: null, s2c: null };
  /** Lost bytes: framing is unknown until a packet starts with a plausible frame. */
  private readonly lost: Record<Direction, boolean> = { c2s: false, s2c: false };
  /** The sliding window permessage-deflate carries between messages; null = not known (after a gap). */
  private readonly windows: Record<Direction, Buffer | null> = { c2s: Buffer.alloc(0), s2c: Buffer.alloc(0) };
  private readonly pings: Record<Direction, Control[]> = { c2s: [], s2c: [] };
  private readonly closes: Record<Direction, Control | null> = { c2s: null, s2c: null };
  private readonly keep: number;
  /** No subprotocol named: the client's first data message may still show one (an MQTT CONNECT). */
  private sniffing: boolean;

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly deflate: DeflateParams | null = null,
    /** The subprotocol's parser, fed the data messages' payloads (null: they are `ws` entries). */
    private inner: TcpStreamParser | null = null,
    /** Found by its frames, its Upgrade not read (a capture started mid-connection): every entry says so. */
    private readonly midConnection = false,
  ) {
    this.keep = ctx.options.noBodies ? 0 : ctx.options.maxBody;
    this.sniffing = inner === null;
  }

  onData(dir: Direction, data: Buffer): void {
    const q = this.queues[dir];
    if (this.lost[dir]) {
      // Resynchronise only where a packet begins with something that reads as a whole frame (or frames).
      if (!plausibleFrames(data, dir)) {
        this.ctx.count('ws.resync_skipped', data.length);
        return;
      }
      this.lost[dir] = false;
    }
    q.push(data);
    // Not `while (q.length > 0)`: a frame whose header ends the packet may have no payload (an
    // empty ping or pong, a close without a code) and is done then, not when more bytes come.
    for (;;) {
      const f = this.frames[dir];
      if (f === null) {
        if (q.length === 0 || !this.readHeader(dir)) return;
        continue;
      }
      const n = Math.min(f.remaining, q.length);
      if (n > 0) {
        const chunk = q.peek(n);
        this.payload(dir, f, chunk);
        q.consume(n);
        f.remaining -= n;
        f.read += n;
      }
      if (f.remaining > 0) return;
      this.frames[dir] = null;
      this.frameDone(dir, f);
    }
  }

  onGap(dir: Direction, length: number): void {
    this.ctx.count('ws.gap');
    this.inner?.onGap(dir, length);
    this.queues[dir].clear();
    this.frames[dir] = null;
    this.lost[dir] = true;
    // A compressed stream with context takeover cannot be inflated past lost bytes.
    this.windows[dir] = null;
    const m = this.messages[dir];
    if (m) {
      m.warnings.push('gap');
      this.messages[dir] = null;
      this.emitMessage(dir, m, false);
    }
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.inner?.onTick?.(nowMs, timeoutMs);
    for (const dir of ['c2s', 's2c'] as const) {
      const pings = this.pings[dir];
      while (pings.length > 0 && nowMs - pings[0].time > timeoutMs) this.emitControl(dir, pings.shift()!, null);
      const c = this.closes[dir];
      if (c && nowMs - c.time > timeoutMs) {
        this.closes[dir] = null;
        this.emitControl(dir, c, null);
      }
    }
  }

  pendingSince(): number | undefined {
    let min: number | undefined;
    const see = (t: number | undefined) => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    for (const dir of ['c2s', 's2c'] as const) {
      see(this.messages[dir]?.time);
      see(this.pings[dir][0]?.time);
      see(this.closes[dir]?.time);
      // A frame header read in part becomes a message stamped now or later; nothing earlier.
    }
    see(this.inner?.pendingSince?.());
    return min;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof' = 'eof'): void {
    for (const dir of ['c2s', 's2c'] as const) {
      if (this.frames[dir] !== null || this.queues[dir].length > 0) this.ctx.count('ws.truncated');
      const m = this.messages[dir];
      if (m) {
        this.messages[dir] = null;
        m.warnings.push('truncated');
        this.emitMessage(dir, m, false);
      }
      for (const p of this.pings[dir].splice(0)) this.emitControl(dir, p, null);
      const c = this.closes[dir];
      if (c) {
        this.closes[dir] = null;
        this.emitControl(dir, c, null);
      }
    }
    this.inner?.onEnd(reason);
  }

  /** Read a frame header when it is all queued; false when more bytes are needed (or the stream died). */
  private readHeader(dir: Direction): boolean {
    const q = this.queues[dir];
    if (q.length < 2) return false;
    const b0 = q.at(0);
    const b1 = q.at(1);
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const headerSize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (q.length < headerSize) return false;
    const h = q.peek(headerSize);
    let length = len7;
    let off = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      off = 4;
    } else if (len7 === 127) {
      const hi = h.readUInt32BE(2);
      if (hi > 0x1fffff) return this.malformed(dir, 'frame length over 2^53');
      length = hi * 0x100000000 + h.readUInt32BE(6);
      off = 10;
    }
    const opcode = b0 & 0x0f;
    if (OPCODES[opcode] === undefined) return this.malformed(dir, `reserved opcode ${opcode}`);
    if ((b0 & 0x30) !== 0) return this.malformed(dir, 'RSV2/RSV3 set');
    if (opcode >= 8 && (length > 125 || (b0 & 0x80) === 0)) return this.malformed(dir, 'fragmented or long control frame');
    q.consume(headerSize);
    this.frames[dir] = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      opcode,
      mask: masked ? Buffer.from(h.subarray(off, off + 4)) : null,
      remaining: length,
      read: 0,
      length,
      headerSize,
      control: [],
    };
    const f = this.frames[dir]!;
    if (opcode < 8) this.frameStart(dir, f);
    return true;
  }

  /** Garbage where a frame header should be: stop reading this direction until a packet looks like a frame again. */
  private malformed(dir: Direction, why: string): boolean {
    this.ctx.count('ws.malformed');
    // The subprotocol's bytes until a frame reads again are lost to it.
    this.inner?.onGap(dir, this.queues[dir].length);
    this.queues[dir].clear();
    this.lost[dir] = true;
    this.windows[dir] = null;
    const m = this.messages[dir];
    if (m) {
      m.warnings.push(`malformed: ${why}`);
      this.messages[dir] = null;
      this.emitMessage(dir, m, false);
    }
    return false;
  }

  private frameStart(dir: Direction, f: Frame): void {
    let m = this.messages[dir];
    if (f.opcode === 0) {
      if (m === null) {
        // The message began before the capture (or a gap): its type is unknown.
        this.ctx.count('ws.orphan_continuation');
        m = this.newMessage(dir, 0, false, f);
        m.warnings.push('message start not captured');
      }
    } else {
      if (m !== null) {
        // A new message while one is unfinished breaks RFC 6455 §5.4: report the old one as it is.
        m.warnings.push('malformed: message not finished');
        this.messages[dir] = null;
        this.emitMessage(dir, m, false);
      }
      m = this.newMessage(dir, f.opcode, f.rsv1, f);
    }
    m.frames++;
    m.wireSize += f.headerSize + f.length;
    m.size += f.length;
    if (f.mask) m.masked = true;
  }

  private newMessage(dir: Direction, opcode: number, compressed: boolean, _f: Frame): Message {
    const m: Message = {
      opcode,
      compressed,
      parts: [],
      kept: 0,
      size: 0,
      wireSize: 0,
      frames: 0,
      masked: false,
      time: this.ctx.now,
      frame: this.ctx.frame,
      warnings: [],
    };
    this.messages[dir] = m;
    return m;
  }

  private payload(dir: Direction, f: Frame, chunk: Buffer): void {
    if (f.opcode >= 8) {
      f.control.push(unmask(chunk, f.mask, f.read));
      return;
    }
    const m = this.messages[dir];
    if (!m) return;
    if (this.inner && !m.compressed) {
      // The subprotocol's stream: passed on as it comes, nothing kept here.
      this.inner.onData(dir, unmask(chunk, f.mask, f.read));
      return;
    }
    // Compressed messages are kept whole (up to a cap) to be inflated; plain ones up to the body limit,
    // and a client's first message whole up to a CONNECT's size, to be read for a subprotocol.
    const sniff = this.sniffing && dir === 'c2s' ? MAX_SNIFFED : 0;
    const limit = m.compressed && this.deflate ? MAX_COMPRESSED : Math.max(this.keep, sniff);
    const room = limit - m.kept;
    if (room <= 0) return;
    const part = unmask(chunk.length <= room ? chunk : chunk.subarray(0, room), f.mask, f.read);
    m.parts.push(part);
    m.kept += part.length;
  }

  private frameDone(dir: Direction, f: Frame): void {
    if (f.opcode >= 8) {
      this.control(dir, f);
      return;
    }
    const m = this.messages[dir];
    if (m && f.fin) {
      this.messages[dir] = null;
      this.emitMessage(dir, m, true);
    }
  }

  private control(dir: Direction, f: Frame): void {
    const name = OPCODES[f.opcode];
    this.ctx.count(`ws.${name}`);
    const c: Control = {
      opcode: f.opcode,
      payload: f.control.length === 1 ? f.control[0] : Buffer.concat(f.control),
      wireSize: f.headerSize + f.length,
      time: this.ctx.now,
      frame: this.ctx.frame,
    };
    const other: Direction = dir === 'c2s' ? 's2c' : 'c2s';
    if (f.opcode === 9) {
      const pings = this.pings[dir];
      if (pings.length >= MAX_PENDING_CONTROL) {
        this.ctx.count('ws.pending_overflow');
        this.emitControl(dir, pings.shift()!, null);
      }
      pings.push(c);
    } else if (f.opcode === 10) {
      // A pong answers the other side's oldest ping; an unsolicited one is a heartbeat (RFC 6455 §5.5.3).
      const ping = this.pings[other].shift();
      if (ping) this.emitControl(other, ping, c);
      else this.ctx.count('ws.pong_unsolicited');
    } else {
      const first = this.closes[other];
      if (first) {
        this.closes[other] = null;
        this.emitControl(other, first, c);
      } else if (this.closes[dir] === null) this.closes[dir] = c;
      else this.ctx.count('ws.close_repeated');
    }
  }

  /** The inflated payload of a compressed message, or a warning saying why not. */
  private inflate(dir: Direction, m: Message): { data?: Buffer; warning?: string } {
    const d = this.deflate!;
    const win = d.takeover[dir] ? this.windows[dir] : Buffer.alloc(0);
    // Each message not inflated is not shown: counted with the ones that fail to inflate.
    if (m.kept < m.size) {
      this.windows[dir] = null;
      this.ctx.count('ws.inflate_failed');
      return { warning: `compressed message over ${MAX_COMPRESSED} bytes not inflated` };
    }
    if (win === null) {
      this.ctx.count('ws.inflate_failed');
      return { warning: 'compressed: context lost after a gap, not inflated' };
    }
    const input = Buffer.concat([...m.parts, Buffer.from([0x00, 0x00, 0xff, 0xff])]);
    try {
      const out = zlib.inflateRawSync(input, {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_INFLATED,
        ...(win.length > 0 ? { dictionary: win } : {}),
      });
      if (d.takeover[dir]) {
        const size = 1 << d.windowBits[dir];
        const joined = win.length + out.length <= size ? Buffer.concat([win, out]) : Buffer.concat([win, out]).subarray(-size);
        this.windows[dir] = Buffer.from(joined);
      }
      return { data: out };
    } catch (e) {
      this.windows[dir] = null;
      this.ctx.count('ws.inflate_failed');
      return { warning: `compressed: ${(e as Error).message}` };
    }
  }

  private emitMessage(dir: Direction, m: Message, complete: boolean): void {
    if (this.inner) return this.passMessage(dir, m, complete);
    const type = OPCODES[m.opcode] === 'continuation' ? 'unknown' : OPCODES[m.opcode];
    const warnings = [...m.warnings];
    let data = m.parts.length === 1 ? m.parts[0] : Buffer.concat(m.parts, m.kept);
    let size = m.size;
    let truncated = m.kept < m.size;
    /** Deflated bytes that were not inflated are not shown: a reader could inflate what the redactor never saw. */
    let hidden = false;
    const inflated = m.compressed && this.deflate && complete ? this.inflate(dir, m) : undefined;
    if (this.sniffing && dir === 'c2s') {
      this.sniffing = false;
      const whole = !complete ? undefined : m.compressed ? inflated?.data : m.kept === m.size ? data : undefined;
      if (whole && type === 'binary' && this.startsSubprotocol(whole)) return;
      // Kept past the body limit only to be read: shown as any message is.
      if (!m.compressed && data.length > this.keep) {
        data = data.subarray(0, this.keep);
        truncated = true;
      }
    }
    if (m.compressed && this.deflate && complete) {
      const r = inflated!;
      if (r.data) {
        size = r.data.length;
        truncated = r.data.length > this.keep;
        data = r.data.subarray(0, this.keep);
        if (r.data.length >= MAX_INFLATED) warnings.push(`truncated: inflated over ${MAX_INFLATED} bytes`);
      } else {
        warnings.push(r.warning!);
        hidden = true;
      }
    } else if (m.compressed && !this.deflate) warnings.push('nonstandard: RSV1 set without permessage-deflate');
    else if (m.compressed) {
      this.windows[dir] = null;
      hidden = true;
    }
    if (m.masked !== (dir === 'c2s')) warnings.push(`nonstandard: ${dir === 'c2s' ? 'client frame not masked' : 'server frame masked'}`);
    if (this.midConnection) warnings.push(HANDSHAKE_NOT_CAPTURED);
    const request: Record<string, any> = { from: dir === 'c2s' ? 'client' : 'server', opcode: type, frames: m.frames, bodySize: size };
    if (m.compressed) request.compressed = true;
    if (!this.ctx.options.noBodies && !hidden) {
      // The summary gives the size only: a message body may carry secrets the summary's redaction cannot recognise.
      if (type !== 'binary' && looksLikeText(data)) request.body = data.toString('utf8');
      else {
        request.body = data.toString('base64');
        request.bodyEncoding = 'base64';
      }
      if (truncated) request.bodyTruncated = true;
    }
    const call: CallRecord = {
      protocol: 'ws',
      request,
      response: null,
      requestTime: m.time,
      requestFrame: m.frame,
      requestSize: m.wireSize,
      responseSize: 0,
      error: false,
      summary: `${request.from} ${type} ${size} bytes`,
    };
    if (warnings.length > 0) call.warnings = [...new Set(warnings)];
    this.ctx.emit(call);
  }

  /**
   * A client's first message that opens a protocol shark reads (an MQTT CONNECT, MQTT 3.1.1 §6 and
   * 5.0 §6 allowing a server to accept MQTT without naming the subprotocol back): the messages from
   * here on are that protocol's stream, as if the 101 had named it. `payload` is the whole message.
   */
  private startsSubprotocol(payload: Buffer): boolean {
    if (probeMqtt(payload, false) !== 'request') return false;
    this.ctx.count('ws.subprotocol.mqtt');
    this.ctx.count('ws.subprotocol_by_content');
    this.inner = new MqttParser(this.ctx);
    this.inner.onData('c2s', payload);
    return true;
  }

  /**
   * A data message of the subprotocol's: its payload went to the inner parser as it came, or,
   * compressed, goes now inflated. One cut short or not inflated leaves the stream with a gap.
   */
  private passMessage(dir: Direction, m: Message, complete: boolean): void {
    if (!m.compressed) {
      if (!complete) this.ctx.count('ws.inner_truncated');
      return;
    }
    const r = complete && this.deflate ? this.inflate(dir, m) : { warning: 'not inflated' };
    if (r.data && r.data.length < MAX_INFLATED) this.inner!.onData(dir, r.data);
    else {
      this.ctx.count('ws.inner_dropped');
      this.inner!.onGap(dir, m.size);
    }
  }

  /** A ping or close from `dir` with the other side's answer (null: none came). */
  private emitControl(dir: Direction, c: Control, answer: Control | null): void {
    const request = controlRecord(dir, c);
    const response = answer ? controlRecord(dir === 'c2s' ? 's2c' : 'c2s', answer) : null;
    const code = request.closeCode as number | undefined;
    const answerCode = response?.closeCode as number | undefined;
    const call: CallRecord = {
      protocol: 'ws',
      request,
      response,
      requestTime: c.time,
      requestFrame: c.frame,
      requestSize: c.wireSize,
      responseSize: answer?.wireSize ?? 0,
      // A close is an error when its code says something went wrong (1002 protocol error, 1011 server error …).
      error: isErrorClose(code) || isErrorClose(answerCode),
      summary:
        c.opcode === 9
          ? `${request.from} ping → ${answer ? 'pong' : 'unanswered'}`
          : `${request.from} close ${code ?? ''}${request.closeReason ? ` ${truncate(request.closeReason, 40)}` : ''} → ${answer ? `close ${answerCode ?? ''}`.trim() : 'unanswered'}`.replace(/ {2,}/g, ' '),
    };
    if (answer) {
      call.responseTime = answer.time;
      call.responseFrame = answer.frame;
    } else call.warnings = ['unanswered'];
    if (this.midConnection) call.warnings = [...(call.warnings ?? []), HANDSHAKE_NOT_CAPTURED];
    this.ctx.emit(call);
  }
}

function controlRecord(dir: Direction, c: Control): Record<string, any> {
  const r: Record<string, any> = { from: dir === 'c2s' ? 'client' : 'server', opcode: OPCODES[c.opcode], bodySize: c.payload.length };
  if (c.opcode === 8 && c.payload.length >= 2) {
    r.closeCode = c.payload.readUInt16BE(0);
    if (c.payload.length > 2) r.closeReason = c.payload.toString('utf8', 2);
  }
  return r;
}

/** 1000 normal, 1001 going away, 1005 none given; application codes (3000–4999) are the application's business. */
function isErrorClose(code: number | undefined): boolean {
  return code !== undefined && code !== 1000 && code !== 1001 && code !== 1005 && code < 3000;
}

function unmask(data: Buffer, mask: Buffer | null, offset: number): Buffer {
  const out = Buffer.from(data);
  if (mask) for (let i = 0; i < out.length; i++) out[i] ^= mask[(offset + i) & 3];
  return out;
}

/** Whether a packet's bytes read as a frame header (and the next one, when the frame ends inside). */
function plausibleFrames(data: Buffer, dir: Direction): boolean {
  let off = 0;
  for (let n = 0; n < 2 && off < data.length; n++) {
    if (data.length - off < 2) return false;
    const b0 = data[off];
    const b1 = data[off + 1];
    const opcode = b0 & 0x0f;
    if (OPCODES[opcode] === undefined || opcode === 0 || (b0 & 0x30) !== 0) return false;
    // Clients mask, servers do not: the mask bit must match the direction.
    if (((b1 & 0x80) !== 0) !== (dir === 'c2s')) return false;
    const len7 = b1 & 0x7f;
    if (opcode >= 8 && (len7 > 125 || (b0 & 0x80) === 0)) return false;
    const hs = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
    if (data.length - off < hs) return false;
    const len = len7 === 126 ? data.readUInt16BE(off + 2) : len7 === 127 ? Number(data.readBigUInt64BE(off + 2)) : len7;
    off += hs + len;
    if (off >= data.length) return true;
  }
  return true;
}

/** After `101 Switching Protocols` with `Upgrade: websocket`: the parser that carries the connection on. */
export function createWebSocketParserAfterUpgrade(ctx: ConnectionContext, extensions: string | undefined, subprotocol?: string): TcpStreamParser {
  return new WebSocketParser(ctx, parseDeflate(extensions), innerParser(ctx, subprotocol));
}

/** The parser for the subprotocol the server accepted, when shark dissects it (MQTT: `mqtt`, `mqttv3.1`, `mqttv5`…). */
function innerParser(ctx: ConnectionContext, subprotocol: string | undefined): TcpStreamParser | null {
  const name = subprotocol?.split(',')[0].trim().toLowerCase() ?? '';
  if (/^mqtt(v[0-9.]{1,8})?$/.test(name)) {
    ctx.count('ws.subprotocol.mqtt');
    return new MqttParser(ctx);
  }
  return null;
}

const HANDSHAKE_NOT_CAPTURED = 'handshake not captured';

/**
 * A connection caught after its Upgrade (the capture started mid-connection;
 * tshark has no heuristic for it and shows TCP): a client's first bytes that
 * are nothing but whole masked frames, back to back to the segment's end.
 * Clients mask every frame and servers none (RFC 6455 §5.1), so a server
 * speaking first is rejected and its client's bytes decide. Each frame must
 * read as RFC 6455 writes one: a data or control opcode (a message's start,
 * not a continuation), no RSV bits (compressed frames are left alone: whether
 * permessage-deflate was agreed was in the Upgrade), a control frame whole
 * and short, a length in its shortest form, and a text frame's payload,
 * unmasked, valid UTF-8. A frame that runs past the bytes so far asks for
 * more (up to the engine's probe limit).
 */
export function probeWebSocket(data: Buffer): Probe {
  let off = 0;
  let frames = 0;
  while (off < data.length) {
    if (data.length - off < 2) return 'need-more';
    const b0 = data[off];
    const b1 = data[off + 1];
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0 || (b1 & 0x80) === 0) return false;
    if (OPCODES[opcode] === undefined || (opcode === 0 && frames === 0)) return false;
    const len7 = b1 & 0x7f;
    if (opcode >= 8 && (len7 > 125 || (b0 & 0x80) === 0)) return false;
    const hs = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
    if (data.length - off < hs) return 'need-more';
    let len = len7;
    if (len7 === 126) {
      len = data.readUInt16BE(off + 2);
      if (len < 126) return false;
    } else if (len7 === 127) {
      const big = data.readBigUInt64BE(off + 2);
      if (big < 65536n || big > BigInt(Number.MAX_SAFE_INTEGER)) return false;
      len = Number(big);
    }
    if (data.length - off - hs < len) return frames === 0 && len <= MAX_PROBED_FRAME ? 'need-more' : false;
    if (opcode === 1 && (b0 & 0x80) !== 0 && !validUtf8(unmask(data.subarray(off + hs, off + hs + len), data.subarray(off + hs - 4, off + hs), 0))) return false;
    off += hs + len;
    frames++;
  }
  return frames > 0 ? 'request' : false;
}

/** A first frame larger than this is not waited for: the probe gives up rather than buffer it. */
const MAX_PROBED_FRAME = 8 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });
function validUtf8(b: Buffer): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

export const websocket: ProtocolDissector = {
  name: 'ws',
  transport: 'tcp',
  // Reached through HTTP/1's Upgrade (or `-d tcp.port==N,ws`), or, caught mid-connection, by a client's masked frames.
  ports: [],
  priority: 90,
  reference: 'RFC 6455 (https://www.rfc-editor.org/rfc/rfc6455), RFC 7692 permessage-deflate',
  probe(data) {
    return probeWebSocket(data);
  },
  createTcpParser(ctx) {
    return new WebSocketParser(ctx, null, null, true);
  },
};

/**
 * `-d tcp.port==N,mqttws`: WebSocket frames carrying MQTT on a connection whose handshake (and
 * CONNECT) the capture does not hold, read as the subprotocol `mqtt` would be. Never probed.
 */
export const mqttOverWebSocket: ProtocolDissector = {
  name: 'mqttws',
  transport: 'tcp',
  ports: [],
  priority: 90,
  reference: 'OASIS MQTT 3.1.1 §6 and 5.0 §6 (MQTT over WebSocket), RFC 6455; by -d only',
  probe() {
    return false;
  },
  createTcpParser(ctx) {
    ctx.count('ws.subprotocol.mqtt');
    return new WebSocketParser(ctx, null, new MqttParser(ctx));
  },
};
