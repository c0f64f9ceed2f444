// MySQL/MariaDB client/server protocol: the handshake (server version, user,
// database; after an SSLRequest the connection is read as TLS, and with
// --tls-keylog this parser goes on inside it, mid-handshake), commands
// (COM_QUERY text, prepared statements, …) and their replies: OK (affected
// rows), ERR (code, SQLSTATE, message) and result sets (columns, row count).
// The compressed protocol (zlib) is unpacked: agreed in the handshake, or
// recognised by its frames on a connection captured mid-way.
// Spec: https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html

import * as zlib from 'node:zlib';
import type { CallRecord, ConnectionContext, Direction, Probe, ProtocolDissector, TcpStreamParser } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { truncate } from './util/text.js';
import { MessageStarts, type Stamp } from './util/message-start.js';
import { TunnelStream } from './util/tunnel-stream.js';
import { ZSTD_MAGIC, zstdDecompressSync } from './util/zstd.js';

const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_COMPRESS = 0x20;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const CLIENT_PLUGIN_AUTH_LENENC = 0x200000;
const CLIENT_ZSTD_COMPRESSION_ALGORITHM = 0x4000000;
const SERVER_MORE_RESULTS_EXISTS = 0x0008;

const MAX_PACKET_KEPT = 1024 * 1024;
const MAX_QUERY_TEXT = 16 * 1024;
/** Of a packet over MAX_PACKET_KEPT, what is read: any header, and the query text shown. */
const HUGE_HEAD_KEPT = MAX_QUERY_TEXT + 1024;
const MAX_COLUMNS_SHOWN = 64;
const MAX_PENDING = 1000;
const MAX_STATEMENTS = 1000;
/** A compressed frame's header: compressed length (3 bytes), sequence (1), length unpacked (3; 0: sent as is). */
const FRAME_HEADER = 7;
/**
 * The most a compressed frame may hold packed: a frame over it stops the connection
 * (`mysql.huge_packet_dropped`). Unpacked, a frame is bounded by its 3-byte length (16 MB),
 * and only for as long as its packets are read (a huge one by its head).
 */
const MAX_FRAME = MAX_PACKET_KEPT + 64 * 1024;

const COMMANDS: Record<number, string> = {
  0x00: 'COM_SLEEP', 0x01: 'COM_QUIT', 0x02: 'COM_INIT_DB', 0x03: 'COM_QUERY', 0x04: 'COM_FIELD_LIST',
  0x05: 'COM_CREATE_DB', 0x06: 'COM_DROP_DB', 0x07: 'COM_REFRESH', 0x08: 'COM_SHUTDOWN', 0x09: 'COM_STATISTICS',
  0x0a: 'COM_PROCESS_INFO', 0x0c: 'COM_PROCESS_KILL', 0x0d: 'COM_DEBUG', 0x0e: 'COM_PING', 0x11: 'COM_CHANGE_USER',
  0x12: 'COM_BINLOG_DUMP', 0x16: 'COM_STMT_PREPARE', 0x17: 'COM_STMT_EXECUTE', 0x18: 'COM_STMT_SEND_LONG_DATA',
  0x19: 'COM_STMT_CLOSE', 0x1a: 'COM_STMT_RESET', 0x1b: 'COM_SET_OPTION', 0x1c: 'COM_STMT_FETCH',
  0x1f: 'COM_RESET_CONNECTION',
};
/** Commands the server does not answer. */
const NO_REPLY = new Set([0x01, 0x18, 0x19]);

/**
 * A statement's first word, after any comments. A comment is matched the one
 * way it can be (the classic `[^*]*\*+(?:[^/*][^*]*\*+)*`): the lazy `.*?` in a
 * starred group tried every split of `/**\/**\/…` into comments, exponential in
 * their number: 20,000 one-packet connections with that 64-byte COM_QUERY took
 * 21 s to dissect against 3 s for any other text.
 */
export const SQL_START = /^\s*(?:\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\/\s*)*(select|insert|update|delete|replace|set|show|create|drop|alter|begin|commit|rollback|start|use|call|with|explain|describe|desc|grant|truncate|lock|unlock|load|flush|kill|analyze|optimize|savepoint|release|do|prepare|execute|deallocate|handler|help)\b/i;

// ---------------------------------------------------------------- probing

export function probeMysql(data: Buffer, portMatch: boolean): Probe {
  if (data.length < 5) return data.length > 0 && portMatch ? 'need-more' : false;
  const len = data.readUIntLE(0, 3);
  const seq = data[3];
  if (len === 0) return false;
  // Server greeting: protocol 10, a version string like "8.0.36" or "5.5.5-10.11.6-MariaDB".
  if (seq === 0 && data[4] === 0x0a && len >= 20 && len < 1024) {
    const end = data.indexOf(0, 5);
    const version = data.toString('latin1', 5, end < 0 ? Math.min(data.length, 5 + 40) : end);
    if (/^\d+\.\d+/.test(version)) return 'response';
  }
  // The client's login (HandshakeResponse41, sequence 1) after a greeting the capture lost, on the port:
  // capability flags with CLIENT_PROTOCOL_41, then a zero filler (23 bytes; MariaDB keeps its extended
  // capabilities in the last 4), which nothing else sends.
  if (portMatch && seq === 1 && len < 1 << 16 && looksLikeLogin(data.subarray(4))) return 'request';
  // Mid-connection: a command packet (sequence 0) whose text reads as SQL.
  if (seq === 0 && (data[4] === 0x03 || data[4] === 0x16) && len < 1 << 24) {
    const text = data.toString('latin1', 5, Math.min(data.length, 5 + 64));
    if (SQL_START.test(text)) return 'request';
  }
  if (portMatch && seq === 0 && len === 1 && data.length === 5 && (data[4] === 0x0e || data[4] === 0x01)) return 'request';
  // Mid-connection under the compressed protocol: a frame holding such a command.
  const inner = compressedHead(data);
  if (inner && inner.length >= 5 && inner[3] === 0 && (inner[4] === 0x03 || inner[4] === 0x16)) {
    if (SQL_START.test(inner.toString('latin1', 5, Math.min(inner.length, 5 + 64)))) return 'request';
  }
  return false;
}

/** A HandshakeResponse41's payload: CLIENT_PROTOCOL_41 among its capabilities, then max packet size, charset and a zero filler (its first 19 bytes). */
function looksLikeLogin(p: Buffer): boolean {
  return p.length >= 28 && (p[1] & 0x02) !== 0 && p.subarray(9, 28).every((b) => b === 0);
}

/**
 * If `data` starts with a whole compressed frame sent as is whose packets fill
 * it exactly, or with a frame whose zlib stream unpacks: the first bytes
 * inside it. An uncompressed packet cannot read so: its payload would begin
 * with three zero bytes (a COM_SLEEP, which clients never send, or an OK
 * whose packets would have to tile it) or with a valid zlib stream.
 */
export function compressedHead(data: Buffer): Buffer | null {
  if (data.length < FRAME_HEADER + 4) return null;
  const length = data.readUIntLE(0, 3);
  const unpacked = data.readUIntLE(4, 3);
  if (unpacked === 0) {
    if (length < 4 || data.length < FRAME_HEADER + length) return null;
    let pos = 0;
    while (pos + 4 <= length) pos += 4 + data.readUIntLE(FRAME_HEADER + pos, 3);
    return pos === length ? data.subarray(FRAME_HEADER, FRAME_HEADER + Math.min(length, 128)) : null;
  }
  if (data.readUInt32LE(FRAME_HEADER) === ZSTD_MAGIC) {
    // A zstd frame unpacks only whole: recognised when the segment holds all of a small one.
    if (length > 64 * 1024 || data.length < FRAME_HEADER + length || unpacked > MAX_FRAME) return null;
    try {
      const head = zstdDecompressSync(data.subarray(FRAME_HEADER, FRAME_HEADER + length), { maxOutputLength: unpacked });
      return head.length === unpacked && head.length >= 4 ? head.subarray(0, 128) : null;
    } catch {
      return null;
    }
  }
  if (data[7] !== 0x78 || (data[7] * 256 + data[8]) % 31 !== 0) return null;
  try {
    // The first bytes unpack on their own (a sync flush); 256 packed bytes unpack to at most ~260 KB.
    const head = zlib.inflateSync(data.subarray(FRAME_HEADER, Math.min(data.length, FRAME_HEADER + length, FRAME_HEADER + 256)), {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    });
    return head.length >= 4 ? head.subarray(0, 128) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- parsing

interface Call {
  request: Record<string, any> | null;
  command: number;
  requestTime: number;
  requestFrame: number;
  requestSize: number;
  response: Record<string, any> | null;
  responseSize: number;
  responseTime?: number;
  responseFrame?: number;
  warnings: string[];
  /** Result-set reading state. */
  phase: 'first' | 'columns' | 'afterColumns' | 'rows' | 'prepareParams' | 'prepareColumns' | 'auth';
  remaining: number;
  prepare?: { columns: number; params: number };
}

class MysqlParser implements TcpStreamParser {
  private queues: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private pending: Call[] = [];
  private handshake: Call | null = null;
  private serverVersion = '';
  private connectionId = 0;
  private serverCaps = 0;
  private clientCaps = 0;
  private sawGreeting = false;
  private swallowEof = false;
  private encrypted = false;
  private dead = false;
  private statements = new Map<number, string>();
  private session: { user?: string; database?: string } = {};
  /** A message split into 16 MB packets: the head of its first packet, and the bytes of all of them. */
  private partial: Record<Direction, { head: Buffer; size: number; seq: number } | null> = { c2s: null, s2c: null };
  /** Bytes of a huge packet still to come, skipped as they do (its head was read). */
  private skip: Record<Direction, number> = { c2s: 0, s2c: 0 };
  private readonly starts: MessageStarts;
  /** First packet of a packet sequence split at 16 MB. */
  private partialAt: Record<Direction, Stamp | undefined> = { c2s: undefined, s2c: undefined };

  /** After the SSLRequest: the TLS session (its tls entry, or with --tls-keylog this protocol inside it). */
  private tls: TunnelStream | null = null;

  /** The compressed protocol, agreed by the login's OK: it takes effect after that packet. */
  private compressionAgreed = false;
  /** Under the compressed protocol: each direction's frames, unpacked into `queues`. */
  private frames: Record<Direction, ByteQueue> | null = null;
  private readonly frameStarts: MessageStarts;
  /** Server bytes are dropped (counted) until the client's next command: mid-way they began inside a frame, or a gap cut them. */
  private awaitingCommand = false;
  /** After a gap in the client's bytes: they are dropped (counted) until a segment starts with a command. */
  private clientResync = false;
  /** What bytes dropped while resynchronising are counted as: mid-way or after a gap. */
  private dropCounter = 'mysql.midway_dropped';
  /** Whether each direction's first bytes were checked for compressed frames (a connection captured mid-way). */
  private sniffed: Record<Direction, boolean> = { c2s: false, s2c: false };

  /** `afterSsl`: the greeting read before TLS began, for the parser that goes on inside the session. */
  constructor(
    private readonly ctx: ConnectionContext,
    afterSsl?: { serverVersion: string; serverCaps: number; connectionId: number },
  ) {
    this.starts = new MessageStarts(ctx);
    this.frameStarts = new MessageStarts(ctx);
    if (afterSsl) {
      // Inside TLS the client's full handshake response comes first (sequence 2), then the server's OK or ERR.
      this.sawGreeting = true;
      this.serverVersion = afterSsl.serverVersion;
      this.serverCaps = afterSsl.serverCaps;
      this.connectionId = afterSsl.connectionId;
      this.awaitHandshakeResponse(0);
    }
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.tls) {
      this.tls.onData(dir, data);
      return;
    }
    if (this.dead || this.encrypted) return;
    try {
      if (!this.sniffed[dir]) this.sniff(dir, data);
      if (dir === 'c2s' && this.clientResync) {
        if (!this.startsCommand(data)) {
          this.ctx.count(this.dropCounter, data.length);
          return;
        }
        this.clientResync = false;
      }
      if (dir === 's2c' && this.awaitingCommand) {
        this.ctx.count(this.dropCounter, data.length);
        return;
      }
      if (this.frames) this.unframe(dir, data);
      else {
        this.starts.push(dir, this.queues[dir].length);
        this.queues[dir].push(data);
        this.drain(dir);
      }
      if (this.compressionAgreed) this.beginCompression();
    } catch {
      this.ctx.count('mysql.internal');
      this.dead = true;
    }
  }

  onGap(dir: Direction, length: number): void {
    if (this.tls) {
      this.tls.onGap(dir, length);
      return;
    }
    this.ctx.count('mysql.gap', length);
    for (const c of this.pending) c.warnings.push('gap');
    this.flush();
    if (this.dead || this.encrypted) return;
    if (this.compressionAgreed) {
      this.dead = true; // compressed frames cut: what follows cannot be told apart
      return;
    }
    // A login cut short (its response or the server's OK lost) was reported above; the commands after it
    // are read as on a connection met mid-way, from the client's next command (they were all dropped).
    this.handshake = null;
    // Packet boundaries are lost in `dir`; the calls waiting were reported above. The server's
    // bytes from here on answer what the gap hid, until the client's next command; after a
    // gap in the client's bytes, that command is the first segment that starts with one.
    this.dropCounter = 'mysql.gap_dropped';
    this.skipQueued('s2c');
    this.awaitingCommand = true;
    if (dir === 'c2s') {
      this.skipQueued('c2s');
      this.clientResync = true;
    }
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.tls?.onTick(nowMs, timeoutMs);
    while (this.pending.length > 0 && this.pending[0].response === null && nowMs - this.pending[0].requestTime > timeoutMs) {
      this.emit(this.pending.shift()!, ['unanswered']);
    }
  }

  /**
   * Commands are stamped with their first packet and queued in arrival order
   * (a reply without its command only when none waits), so the first is the
   * oldest — except the handshake, first in line, whose time moves on to the
   * client's response when that comes: the first two hold the oldest. A
   * command read in part may be older still.
   */
  pendingSince(): number | undefined {
    const [first, second] = this.pending;
    const reading = this.dead
      ? undefined
      : (this.starts.partial('c2s', this.queues.c2s.length) ?? (this.frames ? this.frameStarts.partial('c2s', this.frames.c2s.length) : undefined));
    const min = Math.min(first?.requestTime ?? Infinity, second?.requestTime ?? Infinity, reading ?? Infinity, this.tls?.pendingSince() ?? Infinity);
    return min === Infinity ? undefined : min;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof' = 'eof'): void {
    this.tls?.onEnd(reason);
    // A packet cut off by the end of the capture cannot be read: counted, not silently gone.
    if (!this.dead && !this.encrypted) {
      for (const dir of ['c2s', 's2c'] as const) if (this.queues[dir].length > 0 || (this.frames?.[dir].length ?? 0) > 0) this.ctx.count('mysql.truncated');
    }
    this.flush();
  }

  private flush(): void {
    for (const c of this.pending.splice(0)) this.emit(c, [c.response ? 'truncated' : 'unanswered']);
  }

  // -------------------------------------------------------------- compressed protocol

  /**
   * A connection met mid-way (no greeting, no command read yet) whose first
   * bytes in a direction are a compressed frame: both directions are read as
   * frames from here on. What was read before as plain packets (a server's
   * bytes that began mid-frame) is dropped, counted.
   */
  private sniff(dir: Direction, data: Buffer): void {
    this.sniffed[dir] = true;
    if (this.frames || this.sawGreeting || this.handshake || this.pending.some((c) => c.request !== null)) return;
    if (dir === 's2c' && data[3] === 0 && data[4] === 0x0a) return; // a greeting
    if (compressedHead(data) === null) return;
    this.ctx.count('mysql.compressed_midway');
    this.frames = { c2s: new ByteQueue(), s2c: new ByteQueue() };
    this.pending = [];
    for (const d of ['c2s', 's2c'] as const) this.skipQueued(d);
  }

  /**
   * On a connection met mid-way, a server's frames that do not read (the
   * capture began inside one) answer a command the capture missed: they are
   * dropped, counted, until the next command, whose reply starts afresh. True
   * when that is the case; elsewhere the framing is lost for good.
   */
  private unsynced(dir: Direction): boolean {
    if (dir !== 's2c' || this.sawGreeting || this.pending.some((c) => c.request !== null)) return false;
    this.skipQueued('s2c');
    this.awaitingCommand = true;
    return true;
  }

  /** Whether a segment starts with a client command: where reading resumes after a gap. */
  private startsCommand(data: Buffer): boolean {
    if (this.frames) return compressedHead(data) !== null;
    if (probeMysql(data, true) === 'request') return true;
    // A prepared statement's EXECUTE, CLOSE or RESET names a statement this connection prepared.
    return data.length >= 9 && data[3] === 0 && (data[4] === 0x17 || data[4] === 0x19 || data[4] === 0x1a) && this.statements.has(data.readUInt32LE(5));
  }

  /** Drop what `dir` has queued (counted): bytes of a reply whose command the capture missed. */
  private skipQueued(dir: Direction): void {
    const skipped = this.queues[dir].length + (this.frames?.[dir].length ?? 0);
    if (skipped === 0 && !this.partial[dir] && this.skip[dir] === 0) return;
    this.ctx.count(this.dropCounter, skipped);
    this.queues[dir].clear();
    this.frames?.[dir].clear();
    this.partial[dir] = null;
    this.partialAt[dir] = undefined;
    this.skip[dir] = 0;
    this.starts.taken(dir, 0);
    this.frameStarts.taken(dir, 0);
  }

  /** After the login's OK, every packet travels in compressed frames: what is queued already is frames. */
  private beginCompression(): void {
    this.compressionAgreed = false;
    this.frames = { c2s: new ByteQueue(), s2c: new ByteQueue() };
    for (const dir of ['c2s', 's2c'] as const) {
      const q = this.queues[dir];
      const rest = q.length > 0 ? q.take(q.length) : null;
      this.starts.taken(dir, 0);
      if (rest) this.unframe(dir, rest);
    }
  }

  /** Queue `data` as frames; unpack each whole frame into the packet queue and read its packets. */
  private unframe(dir: Direction, data: Buffer): void {
    const frames = this.frames![dir];
    const q = this.queues[dir];
    this.frameStarts.push(dir, frames.length);
    frames.push(data);
    while (!this.dead && frames.length >= FRAME_HEADER) {
      const head = frames.peek(FRAME_HEADER);
      const length = head.readUIntLE(0, 3);
      const unpacked = head.readUIntLE(4, 3);
      if (length > MAX_FRAME) {
        if (this.unsynced(dir)) return;
        this.ctx.count('mysql.huge_packet_dropped');
        this.dead = true;
        return;
      }
      if (frames.length < FRAME_HEADER + length) return;
      const origin = this.frameStarts.head(dir);
      const body = frames.take(FRAME_HEADER + length).subarray(FRAME_HEADER);
      this.frameStarts.taken(dir, frames.length);
      const payload = unpacked === 0 ? body : this.inflate(body, unpacked);
      if (payload === null) {
        if (!this.unsynced(dir)) this.dead = true;
        return;
      }
      // The packets inside began in the frame's first packet.
      this.starts.origin = origin;
      try {
        this.starts.push(dir, q.length);
        q.push(payload);
        this.drain(dir);
      } finally {
        this.starts.origin = undefined;
      }
    }
  }

  /** A frame's zlib (or zstd) stream, unpacked to the length its header gives; null (counted) if it does not unpack. */
  private inflate(body: Buffer, unpacked: number): Buffer | null {
    // zstd: MySQL 8.0.18+ (--compression-algorithms=zstd).
    const zstd = body.length >= 4 && body.readUInt32LE(0) === ZSTD_MAGIC;
    try {
      const options = { maxOutputLength: unpacked };
      const out = zstd ? zstdDecompressSync(body, options) : zlib.inflateSync(body, options);
      if (out.length === unpacked) return out;
    } catch {
      // counted below
    }
    this.ctx.count('mysql.compressed_malformed');
    return null;
  }

  // -------------------------------------------------------------- packets

  private drain(dir: Direction): void {
    const q = this.queues[dir];
    while (!this.dead && !this.encrypted && !this.compressionAgreed && q.length > 0) {
      if (this.skip[dir] > 0) {
        const n = Math.min(this.skip[dir], q.length);
        q.consume(n);
        this.skip[dir] -= n;
        this.starts.taken(dir, q.length);
        continue;
      }
      if (q.length < 4) return;
      const head = q.peek(4);
      const len = head.readUIntLE(0, 3);
      let seq = head[3];
      let payload: Buffer;
      let at = this.starts.head(dir);
      if (len > MAX_PACKET_KEPT) {
        // A huge packet (a bulk INSERT, a row with a large BLOB): its head is read and the
        // rest skipped as it comes, never held; the connection goes on after it.
        if (q.length < 4 + HUGE_HEAD_KEPT) return;
        payload = q.take(4 + HUGE_HEAD_KEPT).subarray(4);
        const rest = len - HUGE_HEAD_KEPT;
        const now = Math.min(rest, q.length);
        q.consume(now);
        this.skip[dir] = rest - now;
        this.ctx.count('mysql.huge_packets_cut');
      } else {
        if (q.length < 4 + len) return;
        payload = q.take(4 + len).subarray(4);
      }
      this.starts.taken(dir, q.length);
      let size = len + 4;
      // Packets of exactly 0xffffff bytes continue in the next packet: the first one's head stands for the message.
      if (len === 0xffffff) {
        const partial = (this.partial[dir] ??= { head: payload, size: 0, seq });
        partial.size += size;
        this.partialAt[dir] ??= at;
        continue;
      }
      const partial = this.partial[dir];
      if (partial) {
        payload = partial.head;
        size += partial.size;
        seq = partial.seq;
        this.partial[dir] = null;
        at = this.partialAt[dir] ?? at;
        this.partialAt[dir] = undefined;
      }
      if (dir === 'c2s') this.onClientPacket(seq, payload, size, at);
      else this.onServerPacket(seq, payload, size);
    }
  }

  // -------------------------------------------------------------- client

  private onClientPacket(seq: number, p: Buffer, size: number, at: Stamp): void {
    if (this.handshake && this.handshake.phase === 'auth' && seq !== 0) {
      if (this.handshake.request === null) this.onHandshakeResponse(this.handshake, p, size, at);
      else this.handshake.requestSize += size; // auth switch / more data replies
      return;
    }
    if (seq === 1 && !this.sawGreeting && this.pending.length === 0 && looksLikeLogin(p)) {
      // The login of a connection whose greeting the capture lost (or began after): its call, as after a
      // greeting. After lost server bytes it is the command their reading resumes at (its OK follows), and
      // says gap: the greeting was in them.
      const afterGap = this.awaitingCommand;
      if (afterGap && !this.sentBeforeLostEnd()) this.settleMidway();
      // A client asks only for what the server offered: its capabilities are the agreed ones (compression).
      this.serverCaps = 0xffffffff;
      this.awaitHandshakeResponse(0);
      if (afterGap) this.handshake!.warnings.push('gap');
      this.onHandshakeResponse(this.handshake!, p, size, at);
      return;
    }
    if (seq !== 0 || p.length === 0) {
      const c = this.pending.at(-1);
      if (c) c.requestSize += size; // e.g. LOCAL INFILE data
      return;
    }
    if (!this.sawGreeting || (this.awaitingCommand && !this.sentBeforeLostEnd())) this.settleMidway();
    const command = p[0];
    const name = COMMANDS[command] ?? `COM_0x${command.toString(16)}`;
    const request: Record<string, any> = { command: name, ...this.sessionFields() };
    switch (command) {
      case 0x03:
      case 0x16:
        request.query = truncate(p.toString('utf8', 1, Math.min(p.length, 1 + MAX_QUERY_TEXT + 1)), MAX_QUERY_TEXT);
        break;
      case 0x02:
        request.database = p.toString('utf8', 1);
        this.session.database = request.database;
        break;
      case 0x17:
      case 0x19:
      case 0x1a:
      case 0x18: {
        if (p.length >= 5) {
          const id = p.readUInt32LE(1);
          request.statementId = id;
          const q = this.statements.get(id);
          if (q !== undefined) request.query = q;
          if (command === 0x19) this.statements.delete(id);
        }
        break;
      }
      case 0x04:
        request.table = p.toString('utf8', 1, Math.max(1, p.indexOf(0, 1)));
        break;
      default:
    }
    const call = this.newCall(command, request, size, at);
    // Still dropping the server's bytes: its reply goes with them.
    if (this.awaitingCommand && !NO_REPLY.has(command)) call.warnings.push('gap');
    if (NO_REPLY.has(command)) {
      this.pending.splice(this.pending.indexOf(call), 1);
      this.emit(call, []);
    }
  }

  /**
   * A command on a connection met mid-way, or the first after a gap: replies
   * read so far answered commands the capture missed, so they end here, and
   * server bytes still queued (a reply that began before the capture or the
   * gap) are dropped, counted, as are server bytes from then on until now:
   * this command's reply comes after it, and must not be read from the
   * middle of another.
   */
  private settleMidway(): void {
    this.awaitingCommand = false;
    // Commands sent while the server's bytes were dropped (sentBeforeLostEnd): their replies went with them.
    while (this.pending.length > 0 && this.pending[0].request !== null && this.pending[0].response === null && this.pending[0].warnings.includes('gap')) {
      this.emit(this.pending.shift()!, ['unanswered']);
    }
    while (this.pending.length > 0 && this.pending[0].request === null && this.pending[0].command === -1) {
      const orphan = this.pending.shift()!;
      this.emit(orphan, orphan.response ? ['truncated'] : []);
    }
    if (this.pending.length === 0) this.skipQueued('s2c');
  }

  /**
   * After a gap in the server's bytes: the command's packet acknowledges less
   * than the lost bytes reach, so the server sent some of them after it (a
   * client sends its next command once it has the last reply): its reply may
   * be among them, and reading it from the next bytes would pair the reply
   * after it. The server's bytes are still dropped until a command sent
   * after them all.
   */
  private sentBeforeLostEnd(): boolean {
    const ack = this.ctx.ack;
    return this.dropCounter === 'mysql.gap_dropped' && ack !== undefined && ack.from === 'c2s' && ack.ahead < 0;
  }

  private newCall(command: number, request: Record<string, any> | null, size: number, at: Stamp = this.starts.now()): Call {
    if (this.pending.length >= MAX_PENDING) {
      this.ctx.count('mysql.pending_overflow');
      this.emit(this.pending.shift()!, ['unanswered']);
    }
    const call: Call = {
      request,
      command,
      requestTime: at.time,
      requestFrame: at.frame,
      requestSize: size,
      response: null,
      responseSize: 0,
      warnings: [],
      phase: 'first',
      remaining: 0,
    };
    this.pending.push(call);
    return call;
  }

  private onHandshakeResponse(call: Call, p: Buffer, size: number, at: Stamp): void {
    call.requestSize += size;
    call.requestTime = at.time;
    call.requestFrame = at.frame;
    const request: Record<string, any> = { command: 'handshake', serverVersion: this.serverVersion };
    call.request = request;
    if (p.length < 32) {
      call.warnings.push('malformed: short handshake response');
      return;
    }
    const caps = p.readUInt32LE(0);
    this.clientCaps = caps;
    if (!(caps & CLIENT_PROTOCOL_41)) {
      request.protocol = '3.20';
      return;
    }
    if (p.length === 32 && caps & CLIENT_SSL) {
      // SSLRequest: TLS follows at once, read as TLS; inside it, a parser that knows the greeting goes on.
      request.ssl = true;
      call.response = { ssl: true };
      call.responseTime = this.ctx.now;
      call.responseFrame = this.ctx.frame;
      this.pending.splice(this.pending.indexOf(call), 1);
      this.handshake = null;
      this.emit(call, []);
      this.encrypted = true;
      this.ctx.count('mysql.encrypted');
      const greeting = { serverVersion: this.serverVersion, serverCaps: this.serverCaps, connectionId: this.connectionId };
      this.tls = TunnelStream.takingOver(this.ctx, 'mysql.tls', this.queues, undefined, (inner) => new MysqlParser(inner, greeting));
      return;
    }
    let pos = 32;
    const user = cstring(p, pos);
    request.user = user.text;
    pos = user.next;
    if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
      const n = lenenc(p, pos);
      pos = n ? n.next + Number(n.value) : p.length;
    } else if (caps & CLIENT_SECURE_CONNECTION) pos += 1 + (p[pos] ?? 0);
    else pos = cstring(p, pos).next;
    if (caps & CLIENT_CONNECT_WITH_DB && pos < p.length) {
      const db = cstring(p, pos);
      request.database = db.text;
      pos = db.next;
    }
    if (caps & CLIENT_PLUGIN_AUTH && pos < p.length) request.authPlugin = cstring(p, pos).text;
    this.session = { user: request.user, database: request.database };
  }

  private sessionFields(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.session.user !== undefined) out.user = this.session.user;
    if (this.session.database !== undefined) out.database = this.session.database;
    return out;
  }

  // -------------------------------------------------------------- server

  private onServerPacket(seq: number, p: Buffer, size: number): void {
    if (!this.sawGreeting && seq === 0 && p[0] === 0x0a && this.pending.length === 0) {
      this.sawGreeting = true;
      this.onGreeting(p, size);
      return;
    }
    if (this.swallowEof) {
      this.swallowEof = false;
      // A reply to the next command starts at sequence 1; the trailing EOF continues the old one.
      if (p[0] === 0xfe && p.length < 9 && seq !== 1) return;
    }
    const call = this.pending[0] ?? this.orphan();
    call.responseSize += size;
    call.responseTime = this.ctx.now;
    call.responseFrame = this.ctx.frame;
    const res = (call.response ??= {});
    const first = p[0];
    if (call.phase === 'auth') {
      if (first === 0x00) {
        const agreed = this.serverCaps & this.clientCaps;
        if (agreed & (CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM) && !this.frames) {
          this.compressionAgreed = true;
          res.compression = agreed & CLIENT_COMPRESS ? 'zlib' : 'zstd';
        }
        this.done(call, { ...res, type: 'ok', ...okPacket(p) });
      }
      else if (first === 0xff) this.done(call, { ...res, type: 'error', ...errPacket(p) });
      else if (first === 0xfe) res.authSwitch = cstring(p, 1).text || true;
      return;
    }
    switch (call.phase) {
      case 'first': {
        if (first === 0x00 && call.command === 0x16 && p.length >= 12) {
          const columns = p.readUInt16LE(5);
          const params = p.readUInt16LE(7);
          const id = p.readUInt32LE(1);
          res.type = 'prepared';
          res.statementId = id;
          res.columnCount = columns;
          res.paramCount = params;
          if (call.request?.query !== undefined && (this.statements.size < MAX_STATEMENTS || this.statements.has(id))) {
            this.statements.set(id, call.request.query);
          }
          call.prepare = { columns, params };
          if (params > 0) this.enter(call, 'prepareParams', params);
          else if (columns > 0) this.enter(call, 'prepareColumns', columns);
          else this.done(call, res);
          return;
        }
        if (first === 0x00) return this.done(call, { ...res, type: 'ok', ...okPacket(p) }, okPacket(p).statusFlags);
        if (first === 0xff) return this.done(call, { ...res, type: 'error', ...errPacket(p) });
        if (first === 0xfe && p.length < 9) return this.done(call, { ...res, type: 'eof' });
        if (first === 0xfb) {
          res.type = 'local-infile';
          res.file = p.toString('utf8', 1);
          return;
        }
        if (call.command === 0x09) return this.done(call, { ...res, type: 'statistics', text: p.toString('utf8') });
        const n = lenenc(p, 0);
        if (!n || n.value === 0n || n.value > 4096n) {
          call.warnings.push('malformed: unexpected reply');
          return this.done(call, res);
        }
        res.type = 'resultset';
        res.columnCount = (res.columnCount ?? 0) + Number(n.value);
        res.columns ??= [];
        this.enter(call, 'columns', Number(n.value));
        return;
      }
      case 'columns': {
        const name = columnName(p);
        if (name !== null && res.columns.length < MAX_COLUMNS_SHOWN) res.columns.push(name);
        if (--call.remaining === 0) call.phase = 'afterColumns';
        return;
      }
      case 'afterColumns':
        // Without CLIENT_DEPRECATE_EOF an EOF separates column definitions from rows.
        call.phase = 'rows';
        if (first === 0xfe && p.length < 9) return;
        return this.onRow(call, res, p);
      case 'rows':
        return this.onRow(call, res, p);
      case 'prepareParams':
        if (first === 0xfe && p.length < 9) return;
        if (--call.remaining === 0) {
          if (call.prepare!.columns > 0) this.enter(call, 'prepareColumns', call.prepare!.columns);
          else this.doneBeforeEof(call, res);
        }
        return;
      case 'prepareColumns':
        if (first === 0xfe && p.length < 9) return;
        if (--call.remaining === 0) this.doneBeforeEof(call, res);
        return;
    }
  }

  private onRow(call: Call, res: Record<string, any>, p: Buffer): void {
    const first = p[0];
    if (call.command === 0x16 && first === 0xfe) return this.done(call, res); // EOF after prepare params
    if (first === 0xfe && p.length < 0xffffff) {
      // EOF or (CLIENT_DEPRECATE_EOF) an OK with a 0xfe header ends the result set.
      const status = p.length >= 5 && p.length < 9 ? p.readUInt16LE(3) : (okPacket(p).statusFlags ?? 0);
      return this.finishResultSet(call, res, status);
    }
    if (first === 0xff) return this.done(call, { ...res, type: 'error', ...errPacket(p) });
    res.rows = (res.rows ?? 0) + 1;
  }

  private finishResultSet(call: Call, res: Record<string, any>, status: number): void {
    res.rows ??= 0;
    if (status & SERVER_MORE_RESULTS_EXISTS) {
      res.resultSets = (res.resultSets ?? 1) + 1;
      call.phase = 'first';
      return;
    }
    this.done(call, res);
  }

  /**
   * The last definition of a PREPARE reply is followed by an EOF unless
   * CLIENT_DEPRECATE_EOF was agreed: finish now, and drop that EOF if it comes.
   */
  private doneBeforeEof(call: Call, res: Record<string, any>): void {
    this.swallowEof = true;
    this.done(call, res);
  }

  private enter(call: Call, phase: Call['phase'], remaining: number): void {
    call.phase = phase;
    call.remaining = remaining;
  }

  private done(call: Call, res: Record<string, any>, statusFlags?: number): void {
    call.response = res;
    if (statusFlags !== undefined && statusFlags & SERVER_MORE_RESULTS_EXISTS && call.phase === 'first' && res.type === 'ok') {
      res.resultSets = (res.resultSets ?? 1) + 1;
      return; // another result follows
    }
    const i = this.pending.indexOf(call);
    if (i >= 0) this.pending.splice(i, 1);
    if (call === this.handshake) this.handshake = null;
    this.emit(call, []);
  }

  private orphan(): Call {
    // A reply whose command came before the capture started.
    const call = this.newCall(-1, null, 0);
    call.requestTime = this.ctx.now;
    return call;
  }

  private onGreeting(p: Buffer, size: number): void {
    const version = cstring(p, 1);
    this.serverVersion = version.text;
    let pos = version.next;
    const connectionId = p.length >= pos + 4 ? p.readUInt32LE(pos) : 0;
    pos += 4 + 8 + 1;
    let caps = p.length >= pos + 2 ? p.readUInt16LE(pos) : 0;
    pos += 2 + 1 + 2;
    if (p.length >= pos + 2) caps |= p.readUInt16LE(pos) << 16;
    this.serverCaps = caps >>> 0;
    this.connectionId = connectionId;
    this.awaitHandshakeResponse(size);
  }

  /** The handshake call: greeting (server) → response (client) → OK/ERR (server). */
  private awaitHandshakeResponse(greetingSize: number): void {
    const call = this.newCall(-2, null, 0);
    call.phase = 'auth';
    call.response = { serverVersion: this.serverVersion, connectionId: this.connectionId };
    call.responseSize = greetingSize;
    this.handshake = call;
  }

  private emit(call: Call, warnings: string[]): void {
    const res = call.response;
    const all = [...call.warnings, ...warnings];
    const record: CallRecord = {
      protocol: 'mysql',
      request: call.request,
      response: res,
      requestTime: call.requestTime,
      requestFrame: call.requestFrame,
      requestSize: call.requestSize,
      responseSize: call.responseSize,
      error: res === null ? !NO_REPLY.has(call.command) : res.type === 'error',
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
  if (!req) left = call.command === -2 ? 'handshake' : '(request not captured)';
  else if (req.command === 'handshake') left = req.ssl ? 'SSLRequest' : `login user=${req.user ?? ''}${req.database ? ` db=${req.database}` : ''}`;
  else if (req.query !== undefined) left = truncate(String(req.query).replace(/\s+/g, ' ').trim(), 80);
  else left = req.command;
  if (!res) return NO_REPLY.has(call.command) ? left : `${left} → unanswered`;
  // A multi-result reply (a CALL, several statements): its result sets' rows; a CALL's closing OK is no set.
  const sets = res.type === 'ok' && res.rows !== undefined ? (res.resultSets ?? 1) - 1 : res.type === 'resultset' ? (res.resultSets ?? 1) : 0;
  if (sets > 1 || (sets === 1 && res.type === 'ok')) return `${left} → ${res.rows} rows in ${sets} result set${sets === 1 ? '' : 's'}`;
  switch (res.type) {
    case 'ok':
      return `${left} → OK${res.affectedRows ? ` (${res.affectedRows} rows)` : ''}`;
    case 'error':
      return `${left} → ERR ${res.errorCode} (${res.sqlState})`;
    case 'resultset':
      return `${left} → ${res.rows ?? 0} rows`;
    case 'prepared':
      return `${left} → prepared #${res.statementId}`;
    default:
      return res.ssl ? `${left} → TLS` : `${left} → ${res.type ?? 'reply'}`;
  }
}

function cstring(buf: Buffer, pos: number): { text: string; next: number } {
  const end = buf.indexOf(0, pos);
  if (end < 0) return { text: buf.toString('utf8', Math.min(pos, buf.length)), next: buf.length };
  return { text: buf.toString('utf8', pos, end), next: end + 1 };
}

function lenenc(buf: Buffer, pos: number): { value: bigint; next: number } | null {
  if (pos >= buf.length) return null;
  const b = buf[pos];
  if (b < 0xfb) return { value: BigInt(b), next: pos + 1 };
  if (b === 0xfc && pos + 3 <= buf.length) return { value: BigInt(buf.readUInt16LE(pos + 1)), next: pos + 3 };
  if (b === 0xfd && pos + 4 <= buf.length) return { value: BigInt(buf.readUIntLE(pos + 1, 3)), next: pos + 4 };
  if (b === 0xfe && pos + 9 <= buf.length) return { value: buf.readBigUInt64LE(pos + 1), next: pos + 9 };
  return null;
}

function num(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function okPacket(p: Buffer): { affectedRows?: number | string; lastInsertId?: number | string; statusFlags?: number; warnings?: number; info?: string } {
  const rows = lenenc(p, 1);
  if (!rows) return {};
  const id = lenenc(p, rows.next);
  if (!id) return { affectedRows: num(rows.value) };
  const out: ReturnType<typeof okPacket> = { affectedRows: num(rows.value), lastInsertId: num(id.value) };
  if (id.next + 4 <= p.length) {
    out.statusFlags = p.readUInt16LE(id.next);
    out.warnings = p.readUInt16LE(id.next + 2);
    if (id.next + 4 < p.length) {
      // Session-state info may start with a length byte: drop leading control bytes.
      let start = id.next + 4;
      while (start < p.length && p[start] < 0x20) start++;
      const info = p.toString('utf8', start);
      if (info) out.info = truncate(info, 256);
    }
  }
  return out;
}

function errPacket(p: Buffer): { errorCode: number; sqlState: string; errorMessage: string } {
  const code = p.length >= 3 ? p.readUInt16LE(1) : 0;
  let pos = 3;
  let sqlState = '';
  if (p[pos] === 0x23 /* # */) {
    sqlState = p.toString('latin1', pos + 1, pos + 6);
    pos += 6;
  }
  return { errorCode: code, sqlState, errorMessage: truncate(p.toString('utf8', pos), 1024) };
}

/** Column definition 41: catalog, schema, table, org_table, name … (all lenenc strings). */
function columnName(p: Buffer): string | null {
  let pos = 0;
  for (let i = 0; i < 5; i++) {
    const n = lenenc(p, pos);
    if (!n || n.next + Number(n.value) > p.length) return null;
    if (i === 4) return p.toString('utf8', n.next, n.next + Number(n.value));
    pos = n.next + Number(n.value);
  }
  return null;
}

export const mysql: ProtocolDissector = {
  name: 'mysql',
  transport: 'tcp',
  ports: [3306],
  priority: 30,
  reference: 'https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html',
  probe: (data, portMatch) => {
    try {
      return probeMysql(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new MysqlParser(ctx),
};
