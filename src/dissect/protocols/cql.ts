// Cassandra CQL native protocol v3–v5: 9-byte frame headers (version with the
// response bit, flags, stream id, opcode, length); a response carries its
// request's stream id. Statement text comes from QUERY, PREPARE and BATCH; an
// EXECUTE names a prepared id, resolved to its text when the PREPARE's RESULT
// was seen. v5 wraps frames in CRC-checked segments once STARTUP is answered.
// The compression STARTUP agrees is undone: v3/v4 frames (LZ4 or Snappy) and
// v5 segments (LZ4).
// Credentials of AUTH_RESPONSE are put under `password`/`credentials`, which
// the entry redactor (src/redact) always replaces.
// Spec: https://github.com/apache/cassandra/blob/trunk/doc/native_protocol_v5.spec

import type { ConnectionContext, Direction, Probe, ProtocolDissector } from '../api.js';
import { ByteQueue } from '../byte-queue.js';
import { FramedParser, type FrameLength } from './util/framed.js';
import { lz4BlockDecompress } from './util/lz4.js';
import type { Stamp } from './util/message-start.js';
import { snappyDecompress } from './util/snappy.js';
import { truncate } from './util/text.js';
import { currentMeter } from '../memory-budget.js';

export const OPCODES = [
  'ERROR', 'STARTUP', 'READY', 'AUTHENTICATE', 'CREDENTIALS', 'OPTIONS', 'SUPPORTED', 'QUERY', 'RESULT', 'PREPARE',
  'EXECUTE', 'REGISTER', 'EVENT', 'BATCH', 'AUTH_CHALLENGE', 'AUTH_RESPONSE', 'AUTH_SUCCESS',
];
const REQUEST_OPS = new Set([1, 4, 5, 7, 9, 10, 11, 13, 15]);
const RESPONSE_OPS = new Set([0, 2, 3, 6, 8, 12, 14, 16]);
const RESULT_KINDS = ['', 'Void', 'Rows', 'Set_keyspace', 'Prepared', 'Schema_change'];
const CONSISTENCY = ['ANY', 'ONE', 'TWO', 'THREE', 'QUORUM', 'ALL', 'LOCAL_QUORUM', 'EACH_QUORUM', 'SERIAL', 'LOCAL_SERIAL', 'LOCAL_ONE'];
const BATCH_TYPES = ['LOGGED', 'UNLOGGED', 'COUNTER'];
export const ERROR_NAMES: Record<number, string> = {
  0x0000: 'Server error', 0x000a: 'Protocol error', 0x0100: 'Bad credentials', 0x1000: 'Unavailable exception',
  0x1001: 'Overloaded', 0x1002: 'Is_bootstrapping', 0x1003: 'Truncate_error', 0x1100: 'Write_timeout',
  0x1200: 'Read_timeout', 0x1300: 'Read_failure', 0x1400: 'Function_failure', 0x1500: 'Write_failure',
  0x1600: 'CDC_WRITE_FAILURE', 0x1700: 'CAS_WRITE_UNKNOWN', 0x2000: 'Syntax_error', 0x2100: 'Unauthorized',
  0x2200: 'Invalid', 0x2300: 'Config_error', 0x2400: 'Already_exists', 0x2500: 'Unprepared',
};

const HEADER = 9;
/** Cassandra's default native_transport_max_frame_size is 16 MB; 256 MB is the protocol's hard limit. */
const MAX_PLAUSIBLE = 256 * 1024 * 1024;
const MAX_FRAME_KEPT = 2 * 1024 * 1024;
const MAX_QUERY = 16 * 1024;
const MAX_PREPARED = 1000;
/**
 * Prepared ids longer than this (bytes) are shown cut and not remembered: Cassandra's are MD5s (16
 * bytes), and an id may be 64 KB on the wire (1,000 of them held 131 MB of hex before).
 */
const MAX_PREPARED_ID = 64;
const MAX_LIST = 100;
/** v5 segments carry at most 128 KiB of payload. */
const MAX_SEGMENT_PAYLOAD = 0x1ffff;
/** A v5 segment's header: 3 bytes (length, self-contained flag) + CRC24; with LZ4, 5 bytes (both lengths, flag) + CRC24. */
const SEGMENT_HEADER = 6;
const COMPRESSED_SEGMENT_HEADER = 8;

// ---------------------------------------------------------------- probing

function plausibleFrame(data: Buffer, off: number): 'request' | 'response' | false {
  const v = data[off];
  const version = v & 0x7f;
  if (version < 3 || version > 5) return false;
  const op = data[off + 4];
  if ((data[off + 1] & 0xe0) !== 0) return false;
  const length = data.readInt32BE(off + 5);
  if (length < 0 || length > MAX_PLAUSIBLE) return false;
  const response = (v & 0x80) !== 0;
  if (response ? !RESPONSE_OPS.has(op) : !REQUEST_OPS.has(op)) return false;
  return response ? 'response' : 'request';
}

export function probeCql(data: Buffer, portMatch: boolean): Probe {
  if (data.length < HEADER) return portMatch && data.length > 0 && [3, 4, 5, 0x83, 0x84, 0x85].includes(data[0]) ? 'need-more' : false;
  const verdict = plausibleFrame(data, 0);
  if (!verdict) return false;
  const end = HEADER + data.readInt32BE(5);
  // Away from 9042 only a whole frame (or whole frames) counts, and a request must be one a session starts with.
  if (!portMatch) {
    if (data.length < end || (data.length > end && (data.length < end + HEADER || !plausibleFrame(data, end)))) return false;
    if (verdict === 'request' && data[4] !== 1 && data[4] !== 5) return false;
  }
  return verdict;
}

// ---------------------------------------------------------------- reading

class Short extends Error {}

class Reader {
  constructor(
    private readonly b: Buffer,
    public pos = 0,
  ) {}
  need(n: number): void {
    if (n < 0 || this.pos + n > this.b.length) throw new Short();
  }
  byte(): number {
    this.need(1);
    return this.b[this.pos++];
  }
  short(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int(): number {
    this.need(4);
    const v = this.b.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  string(): string {
    const n = this.short();
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + Math.min(n, MAX_QUERY));
    this.pos += n;
    return s;
  }
  longString(): string {
    const n = this.int();
    this.need(n);
    const s = this.b.toString('utf8', this.pos, this.pos + Math.min(n, MAX_QUERY));
    this.pos += n;
    return s;
  }
  bytes(): Buffer | null {
    const n = this.int();
    if (n < 0) return null;
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  shortBytes(): Buffer {
    const n = this.short();
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  stringList(): string[] {
    const n = this.short();
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.string();
      if (out.length < MAX_LIST) out.push(s);
    }
    return out;
  }
  stringMap(): Record<string, string> {
    const n = this.short();
    const out: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const k = this.string();
      const v = this.string();
      if (i < MAX_LIST) out[k] = v;
    }
    return out;
  }
  /** A column type ([option]); only walked, the names of types are not needed. */
  option(depth = 0): void {
    if (depth > 16) throw new Short();
    const id = this.short();
    if (id === 0x0000) this.string();
    else if (id === 0x20 || id === 0x22) this.option(depth + 1);
    else if (id === 0x21) {
      this.option(depth + 1);
      this.option(depth + 1);
    } else if (id === 0x30) {
      this.string();
      this.string();
      const n = this.short();
      for (let i = 0; i < n; i++) {
        this.string();
        this.option(depth + 1);
      }
    } else if (id === 0x31) {
      const n = this.short();
      for (let i = 0; i < n; i++) this.option(depth + 1);
    }
  }
  /** Values of a QUERY/EXECUTE/BATCH statement: counted, not kept. */
  values(named: boolean): number {
    const n = this.short();
    for (let i = 0; i < n; i++) {
      if (named) this.string();
      const len = this.int();
      if (len > 0) this.skip(len);
    }
    return n;
  }
}

/** Rows metadata: keyspace, table and column names. */
function readMetadata(r: Reader, out: Record<string, any>, version: number, prepared: boolean): void {
  const flags = r.int();
  const count = r.int();
  if (prepared && version >= 4) {
    const pk = r.int();
    for (let i = 0; i < pk; i++) r.short();
  }
  if (flags & 0x02) r.bytes(); // paging state
  if (flags & 0x08) r.shortBytes(); // new metadata id (v5)
  if (flags & 0x02) out.hasMorePages = true;
  if (flags & 0x04) return; // no metadata
  const global = (flags & 0x01) !== 0;
  if (global) {
    out.keyspace = r.string();
    out.table = r.string();
  }
  const columns: string[] = [];
  for (let i = 0; i < count; i++) {
    if (!global) {
      const ks = r.string();
      const table = r.string();
      out.keyspace ??= ks;
      out.table ??= table;
    }
    const name = r.string();
    r.option();
    if (columns.length < MAX_LIST) columns.push(name);
  }
  out.columns = columns;
}

/** Query parameters after the statement: consistency and how many values it binds. */
function readQueryParams(r: Reader, out: Record<string, any>, version: number): void {
  const c = r.short();
  out.consistency = CONSISTENCY[c] ?? `0x${c.toString(16)}`;
  const flags = version >= 5 ? r.int() : r.byte();
  if (flags & 0x01) out.values = r.values((flags & 0x40) !== 0);
  if (flags & 0x04) out.pageSize = r.int();
}

// ---------------------------------------------------------------- parsing

interface Frame {
  version: number;
  flags: number;
  stream: number;
  opcode: number;
  body: Buffer;
  size: number;
  cut: boolean;
}

/** A prepared id as hex; one over MAX_PREPARED_ID bytes cut there and marked `…` (never remembered). */
function preparedId(b: Buffer): string {
  return b.length <= MAX_PREPARED_ID ? b.toString('hex') : `${b.toString('hex', 0, MAX_PREPARED_ID)}…`;
}

class CqlParser extends FramedParser {
  protected readonly headerBytes = HEADER;
  /** v5 after STARTUP is answered: both directions carry segments. */
  private readonly segmented: Record<Direction, boolean> = { c2s: false, s2c: false };
  private readonly inner: Record<Direction, ByteQueue> = { c2s: new ByteQueue(), s2c: new ByteQueue() };
  private compression = '';
  /** Prepared statement id (hex) → text, filled from PREPARE results; at most MAX_PREPARED, charged to the flow's memory budget. */
  private readonly prepared = new Map<string, string>();
  private readonly meter = currentMeter();
  /** Either side lost bytes: a PREPARE or its RESULT (the id's text) may have been among them. */
  private prepareMayBeLost = false;

  constructor(ctx: ConnectionContext) {
    // A frame over 2 MB (a huge result set) is read by its first 64 KB; the rest is skipped, never buffered.
    super(ctx, 'cql', { maxMessage: MAX_FRAME_KEPT, headBytes: 64 * 1024 });
  }

  override onGap(dir: Direction, length: number): void {
    this.prepareMayBeLost = true;
    super.onGap(dir, length);
  }

  /** A PREPARE's text by its id, for the EXECUTEs and BATCHes that name it; the oldest forgotten past MAX_PREPARED. */
  private remember(id: string, text: string): void {
    if (id.endsWith('…')) {
      this.ctx.count('cql.statements_dropped');
      return;
    }
    const old = this.prepared.get(id);
    if (old !== undefined) this.prepared.delete(id);
    else if (this.prepared.size >= MAX_PREPARED) {
      const [oldestId, oldestText] = this.prepared.entries().next().value as [string, string];
      this.prepared.delete(oldestId);
      this.meter?.add(-(oldestId.length + oldestText.length));
      this.ctx.count('cql.statements_evicted');
    }
    this.meter?.add(text.length - (old === undefined ? -id.length : old.length));
    this.prepared.set(id, text);
  }

  /** v5 segments carry no header a segment could be recognised by: after a gap, that direction is given up. */
  protected override canResync(dir: Direction): boolean {
    return !this.segmented[dir];
  }

  protected frameLength(dir: Direction, head: Buffer): FrameLength {
    if (this.segmented[dir]) {
      if (this.compression === 'lz4') return COMPRESSED_SEGMENT_HEADER + (head.readUIntLE(0, 5) % 2 ** 17) + 4;
      if (this.compression !== '') return 'bad'; // v5 compresses with LZ4 only
      const len = head.readUIntLE(0, 3) & MAX_SEGMENT_PAYLOAD;
      return SEGMENT_HEADER + len + 4;
    }
    if (!plausibleFrame(head, 0)) return 'bad';
    return HEADER + head.readInt32BE(5);
  }

  protected onMessage(dir: Direction, msg: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    if (!this.segmented[dir]) {
      this.onFrame(dir, { version: msg[0] & 0x7f, flags: msg[1], stream: msg.readInt16BE(2), opcode: msg[4], body: msg.subarray(HEADER), size: wireSize, cut }, at);
      return;
    }
    // A segment: one or more whole frames (self-contained) or a piece of a large one.
    const payload = this.compression === 'lz4' ? this.unpackSegment(msg) : msg.subarray(SEGMENT_HEADER, msg.length - 4);
    if (payload === null) {
      this.kill(dir);
      return;
    }
    const q = this.inner[dir];
    q.push(payload);
    while (q.length >= HEADER) {
      const head = q.peek(HEADER);
      if (!plausibleFrame(head, 0)) {
        this.ctx.count('cql.malformed');
        this.kill(dir);
        q.clear();
        return;
      }
      const size = HEADER + head.readInt32BE(5);
      if (size > MAX_FRAME_KEPT) {
        this.ctx.count('cql.oversize');
        this.kill(dir);
        q.clear();
        return;
      }
      if (q.length < size) return;
      const frame = q.take(size);
      this.onFrame(dir, { version: frame[0] & 0x7f, flags: frame[1], stream: frame.readInt16BE(2), opcode: frame[4], body: frame.subarray(HEADER), size, cut: false }, at);
    }
  }

  private onFrame(dir: Direction, f: Frame, at: Stamp): void {
    const isResponse = dir === 's2c';
    const fields: Record<string, any> = { version: f.version, streamId: f.stream, opcode: OPCODES[f.opcode] ?? `0x${f.opcode.toString(16)}` };
    const warnings: string[] = f.cut ? ['truncated'] : [];
    let error = false;
    let body: Buffer | null = f.body;
    if (f.flags & 0x01) {
      // Frame-level compression (v3/v4): LZ4 or Snappy, as STARTUP said.
      fields.compressed = true;
      body = f.cut ? null : this.unpackFrame(f.body);
      if (body === null) {
        this.ctx.count('cql.compressed_frames_not_read');
        warnings.push(`body not read: ${f.cut ? 'cut' : 'does not unpack'}`);
      }
    }
    if (body !== null) {
      try {
        const r = new Reader(body);
        if (isResponse) {
          if (f.flags & 0x02) {
            r.need(16);
            fields.tracingId = body.toString('hex', 0, 16);
            r.skip(16);
          }
          if (f.flags & 0x08) fields.serverWarnings = r.stringList();
          if (f.flags & 0x04) this.skipBytesMap(r);
          error = this.readResponse(r, f, fields);
        } else {
          if (f.flags & 0x04) this.skipBytesMap(r);
          this.readRequest(r, f, fields);
        }
      } catch {
        if (!f.cut) {
          warnings.push(`malformed: ${fields.opcode} body`);
          this.ctx.count('cql.malformed');
        }
      }
    }
    if (!isResponse) {
      // An EXECUTE of a statement whose text is unknown after lost bytes: its PREPARE may have been in them
      // (a capture that began after it says nothing).
      if (fields.preparedId !== undefined && fields.query === undefined && this.prepareMayBeLost && !warnings.includes('gap')) warnings.push('gap');
      this.addPending(f.stream, this.pendingCall(fields, f.size, at, warnings));
      return;
    }
    // Server events use stream -1 and answer nothing.
    if (f.stream < 0 || f.opcode === 12) {
      this.emitCall(undefined, fields, f.size, false, at, warnings, true);
      return;
    }
    const req = this.takePending(f.stream);
    if ((f.opcode === 2 || f.opcode === 3) && f.version === 5 && req?.request.opcode === 'STARTUP') {
      // The framing switches to segments after this frame, in both directions (spec v5 §2).
      this.segmented.c2s = true;
      this.segmented.s2c = true;
    }
    this.emitCall(req, fields, f.size, error, at, warnings);
  }

  /**
   * A compressed v3/v4 frame body: LZ4 (the length unpacked, then a raw
   * block) or Snappy. Mid-connection, with no STARTUP seen, LZ4 is tried first.
   */
  private unpackFrame(body: Buffer): Buffer | null {
    const lz4 = (): Buffer => {
      const size = body.readInt32BE(0);
      if (size < 0 || size > MAX_FRAME_KEPT) throw new Error('size');
      return lz4BlockDecompress(body.subarray(4), size);
    };
    const snappy = (): Buffer => snappyDecompress(body, MAX_FRAME_KEPT);
    const order = this.compression === 'snappy' ? [snappy] : this.compression === 'lz4' ? [lz4] : [lz4, snappy];
    for (const unpack of order) {
      try {
        return unpack();
      } catch {
        // the next, or null
      }
    }
    return null;
  }

  /** A v5 segment's payload under LZ4 (sent as is when its uncompressed length is 0); null (counted) if it does not unpack. */
  private unpackSegment(msg: Buffer): Buffer | null {
    const header = msg.readUIntLE(0, 5);
    const unpacked = Math.floor(header / 2 ** 17) % 2 ** 17;
    const payload = msg.subarray(COMPRESSED_SEGMENT_HEADER, msg.length - 4);
    if (unpacked === 0) return payload;
    try {
      return lz4BlockDecompress(payload, unpacked);
    } catch {
      this.ctx.count('cql.compressed_malformed');
      return null;
    }
  }

  private skipBytesMap(r: Reader): void {
    const n = r.short();
    for (let i = 0; i < n; i++) {
      r.string();
      r.bytes();
    }
  }

  private readRequest(r: Reader, f: Frame, out: Record<string, any>): void {
    switch (f.opcode) {
      case 1: {
        out.options = r.stringMap();
        this.compression = (out.options.COMPRESSION ?? '').toLowerCase();
        break;
      }
      case 7:
        out.query = truncate(r.longString(), MAX_QUERY);
        readQueryParams(r, out, f.version);
        break;
      case 9:
        out.query = truncate(r.longString(), MAX_QUERY);
        break;
      case 10: {
        const id = preparedId(r.shortBytes());
        out.preparedId = id;
        const text = this.prepared.get(id);
        if (text !== undefined) out.query = text;
        if (f.version >= 5) r.shortBytes(); // result metadata id
        readQueryParams(r, out, f.version);
        break;
      }
      case 11:
        out.events = r.stringList();
        break;
      case 13: {
        const type = r.byte();
        out.batchType = BATCH_TYPES[type] ?? String(type);
        const n = r.short();
        const queries: string[] = [];
        for (let i = 0; i < n; i++) {
          const kind = r.byte();
          let text: string;
          if (kind === 0) text = truncate(r.longString(), MAX_QUERY);
          else {
            const id = preparedId(r.shortBytes());
            text = this.prepared.get(id) ?? `<prepared ${id}>`;
          }
          r.values(false);
          if (queries.length < MAX_LIST) queries.push(text);
        }
        out.statements = n;
        out.queries = queries;
        if (queries.length > 0) out.query = queries[0];
        const c = r.short();
        out.consistency = CONSISTENCY[c] ?? `0x${c.toString(16)}`;
        break;
      }
      case 4:
        out.credentials = r.stringMap();
        break;
      case 15: {
        const token = r.bytes();
        if (token) this.readAuthToken(token, out);
        break;
      }
      default:
    }
  }

  /** SASL PLAIN ("authzid\0user\0password") is split so the user stays readable; anything else is credentials. */
  private readAuthToken(token: Buffer, out: Record<string, any>): void {
    const first = token.indexOf(0);
    const second = first < 0 ? -1 : token.indexOf(0, first + 1);
    if (first >= 0 && second > first) {
      out.user = token.toString('utf8', first + 1, second);
      out.password = token.toString('utf8', second + 1);
    } else out.credentials = token.toString('base64');
  }

  /** Returns whether the response is an error. */
  private readResponse(r: Reader, f: Frame, out: Record<string, any>): boolean {
    switch (f.opcode) {
      case 0: {
        const code = r.int();
        out.errorCode = code;
        out.errorName = ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
        out.errorMessage = truncate(r.string(), 1024);
        return true;
      }
      case 3:
        out.authenticator = r.string();
        return false;
      case 8: {
        const kind = r.int();
        out.resultKind = RESULT_KINDS[kind] ?? String(kind);
        if (kind === 2) {
          readMetadata(r, out, f.version, false);
          if (out.columns !== undefined || out.keyspace === undefined) out.rows = r.int();
        } else if (kind === 3) out.keyspace = r.string();
        else if (kind === 4) {
          const id = preparedId(r.shortBytes());
          out.preparedId = id;
          const req = this.pending.get(f.stream);
          if (req?.request.query !== undefined) this.remember(id, req.request.query as string);
        } else if (kind === 5) {
          out.change = r.string();
          out.target = r.string();
          out.keyspace = r.string();
        }
        return false;
      }
      case 12:
        out.event = r.string();
        return false;
      default:
        return false;
    }
  }

  protected summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
    let left = req ? String(req.opcode) : `stream ${res?.streamId}`;
    if (req?.query !== undefined) left += ` ${truncate(String(req.query).replace(/\s+/g, ' ').trim(), 120)}`;
    else if (req?.preparedId !== undefined) left += ` <prepared ${req.preparedId}>`;
    if (req?.statements !== undefined) left += ` (${req.statements} statements)`;
    if (!res) return `${left} → unanswered`;
    if (res.opcode === 'EVENT') return `EVENT ${res.event ?? ''}`.trim();
    if (res.errorCode !== undefined) return `${left} → ERROR ${res.errorName}: ${truncate(String(res.errorMessage ?? ''), 80)}`;
    if (res.resultKind === 'Rows') return `${left} → ${res.rows ?? '?'} rows`;
    if (res.resultKind !== undefined) return `${left} → ${res.resultKind}${res.resultKind === 'Set_keyspace' ? ` ${res.keyspace}` : ''}`;
    return `${left} → ${res.opcode}`;
  }
}

export const cql: ProtocolDissector = {
  name: 'cql',
  transport: 'tcp',
  ports: [9042],
  priority: 45,
  reference: 'https://github.com/apache/cassandra/tree/trunk/doc (native_protocol_v3/v4/v5.spec)',
  probe: (data, portMatch) => {
    try {
      return probeCql(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new CqlParser(ctx),
};
