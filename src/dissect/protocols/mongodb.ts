// MongoDB wire protocol: 16-byte little-endian headers (length, requestID,
// responseTo, opCode); a reply's responseTo names its request. OP_MSG (3.6+)
// carries the command as a BSON document (section kind 0) plus document
// sequences (kind 1) and an optional CRC-32C trailer; legacy OP_QUERY/OP_REPLY
// and the 3.2-era OP_COMMAND/OP_COMMANDREPLY are read too; OP_COMPRESSED is
// undone for snappy, zlib and zstd.
// SASL payloads (SCRAM proofs and nonces) are replaced before anything is kept.
// Spec: https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/

import * as zlib from 'node:zlib';
import type { Direction, Probe, ProtocolDissector } from '../api.js';
import { REDACTED } from '../../redact/urls.js';
import { decodeBson } from './util/bson.js';
import { FramedParser, type FrameLength } from './util/framed.js';
import type { Stamp } from './util/message-start.js';
import { snappyDecompress } from './util/snappy.js';
import { zstdDecompressSync } from './util/zstd.js';
import { truncate } from './util/text.js';

export const OP_NAMES: Record<number, string> = {
  1: 'OP_REPLY', 2001: 'OP_UPDATE', 2002: 'OP_INSERT', 2004: 'OP_QUERY', 2005: 'OP_GET_MORE', 2006: 'OP_DELETE',
  2007: 'OP_KILL_CURSORS', 2010: 'OP_COMMAND', 2011: 'OP_COMMANDREPLY', 2012: 'OP_COMPRESSED', 2013: 'OP_MSG',
};
const REPLY_OPS = new Set([1, 2011]);
/** Legacy writes and kill-cursors get no reply. */
const UNANSWERED_OPS = new Set([2001, 2002, 2006, 2007]);
const COMPRESSORS = ['noop', 'snappy', 'zlib', 'zstd'];
/** MongoDB's own limit on a message is 48 MB. */
const MAX_PLAUSIBLE = 48 * 1024 * 1024;
/** Decompressed messages are capped like any decoded body. */
const MAX_DECOMPRESSED = 16 * 1024 * 1024;

const CHECKSUM_PRESENT = 1;
const MORE_TO_COME = 2;

// ---------------------------------------------------------------- probing

function plausibleHeader(data: Buffer): { len: number; op: number; responseTo: number } | null {
  const len = data.readInt32LE(0);
  const op = data.readInt32LE(12);
  if (len < 16 || len > MAX_PLAUSIBLE || OP_NAMES[op] === undefined) return null;
  return { len, op, responseTo: data.readInt32LE(8) };
}

/** The first bytes after the header agree with the opcode (a BSON length, a collection name, valid flags). */
function plausibleBody(data: Buffer, op: number, len: number): boolean {
  const end = Math.min(data.length, len);
  if (op === 2013) {
    if (end < 21) return end === data.length && len > end;
    const flags = data.readUInt32LE(16);
    if ((flags & ~0x10003) !== 0) return false;
    const kind = data[20];
    if (kind === 0) return end < 25 || (data.readInt32LE(21) >= 5 && data.readInt32LE(21) <= len - 21);
    return kind === 1;
  }
  if (op === 2004) {
    if (end < 21) return end === data.length;
    const z = data.indexOf(0, 20);
    const name = data.subarray(20, z < 0 ? end : z);
    for (const c of name) if (c < 0x20 || c > 0x7e) return false;
    return name.includes(0x2e) || z < 0;
  }
  if (op === 1) return end < 36 || (data.readInt32LE(32) >= 0 && data.readInt32LE(32) < 1e6);
  if (op === 2012) return end < 20 || OP_NAMES[data.readInt32LE(16)] !== undefined;
  return true;
}

export function probeMongo(data: Buffer, portMatch: boolean): Probe {
  if (data.length < 16) {
    const len = data.length >= 4 ? data.readInt32LE(0) : 0;
    return portMatch && len >= 16 && len <= MAX_PLAUSIBLE ? 'need-more' : false;
  }
  const h = plausibleHeader(data);
  if (!h || !plausibleBody(data, h.op, h.len)) return false;
  // Away from 27017 the length must match the bytes: one whole message, or a run of them.
  if (!portMatch && data.length !== h.len && !(data.length > h.len + 16 && plausibleHeader(data.subarray(h.len)))) return false;
  let op = h.op;
  if (op === 2012 && data.length >= 20) op = data.readInt32LE(16);
  if (REPLY_OPS.has(op) || (op === 2013 && h.responseTo !== 0)) return 'response';
  return 'request';
}

// ---------------------------------------------------------------- decoding

interface Decoded {
  op: number;
  requestId: number;
  responseTo: number;
  /** What the entry shows. */
  fields: Record<string, any>;
  /** The command or reply document, for the body and the error. */
  doc?: Record<string, any>;
  flags: number;
  warnings: string[];
}

class Short extends Error {}

function cstring(b: Buffer, off: number): { s: string; next: number } {
  const z = b.indexOf(0, off);
  if (z < 0) throw new Short();
  return { s: b.toString('utf8', off, z), next: z + 1 };
}

function bsonAt(b: Buffer, off: number, end = b.length): { doc: Record<string, any>; next: number } {
  if (off + 4 > end) throw new Short();
  const len = b.readInt32LE(off);
  if (len < 5 || off + len > end) throw new Short();
  return { doc: decodeBson(b.subarray(off, off + len)).doc, next: off + len };
}

function decompress(compressor: number, data: Buffer, size: number): Buffer | null {
  const max = Math.min(MAX_DECOMPRESSED, Math.max(size, 0));
  try {
    if (compressor === 0) return data;
    if (compressor === 1) return snappyDecompress(data, max);
    if (compressor === 2) return zlib.inflateSync(data, { maxOutputLength: max });
    if (compressor === 3) return zstdDecompressSync(data, { maxOutputLength: max });
  } catch {
    return null;
  }
  return null;
}

/** Read one message (header included); throws Short/BsonError on malformed bytes. */
function decode(msg: Buffer, count: (c: string) => void, depth = 0): Decoded {
  const out: Decoded = {
    op: msg.readInt32LE(12),
    requestId: msg.readInt32LE(4),
    responseTo: msg.readInt32LE(8),
    fields: {},
    flags: 0,
    warnings: [],
  };
  const f = out.fields;
  f.opCode = OP_NAMES[out.op] ?? `OP_${out.op}`;
  switch (out.op) {
    case 2013: {
      out.flags = msg.readUInt32LE(16);
      const end = msg.length - (out.flags & CHECKSUM_PRESENT ? 4 : 0);
      if (out.flags & CHECKSUM_PRESENT) f.checksum = msg.readUInt32LE(end).toString(16).padStart(8, '0');
      if (out.flags & MORE_TO_COME) f.moreToCome = true;
      let p = 20;
      const sequences: Record<string, number> = {};
      while (p < end) {
        const kind = msg[p++];
        if (kind === 0) {
          const { doc, next } = bsonAt(msg, p, end);
          out.doc ??= doc;
          p = next;
        } else if (kind === 1) {
          if (p + 4 > end) throw new Short();
          const size = msg.readInt32LE(p);
          if (size < 4 || p + size > end) throw new Short();
          const id = cstring(msg, p + 4);
          let q = id.next;
          let n = 0;
          while (q + 4 <= p + size) {
            const len = msg.readInt32LE(q);
            if (len < 5) throw new Short();
            q += len;
            n++;
          }
          sequences[id.s] = (sequences[id.s] ?? 0) + n;
          p += size;
        } else throw new Short();
      }
      if (Object.keys(sequences).length > 0) f.documents = sequences;
      break;
    }
    case 2004: {
      const coll = cstring(msg, 20);
      f.fullCollectionName = coll.s;
      f.numberToSkip = msg.readInt32LE(coll.next);
      f.numberToReturn = msg.readInt32LE(coll.next + 4);
      out.doc = bsonAt(msg, coll.next + 8).doc;
      break;
    }
    case 1: {
      const flags = msg.readInt32LE(16);
      f.cursorId = msg.readBigInt64LE(20).toString();
      f.startingFrom = msg.readInt32LE(28);
      f.numberReturned = msg.readInt32LE(32);
      if (flags & 1) f.cursorNotFound = true;
      if (flags & 2) f.queryFailure = true;
      if (f.numberReturned > 0 && msg.length > 36) out.doc = bsonAt(msg, 36).doc;
      break;
    }
    case 2010: {
      const db = cstring(msg, 16);
      const name = cstring(msg, db.next);
      f.database = db.s;
      f.command = name.s;
      out.doc = bsonAt(msg, name.next).doc;
      break;
    }
    case 2011:
      out.doc = bsonAt(msg, 16).doc;
      break;
    case 2012: {
      const original = msg.readInt32LE(16);
      const size = msg.readInt32LE(20);
      const compressor = msg[24];
      const name = COMPRESSORS[compressor] ?? `compressor ${compressor}`;
      const inner = depth === 0 ? decompress(compressor, msg.subarray(25), size) : null;
      if (!inner || inner.length !== size || OP_NAMES[original] === undefined || original === 2012) {
        count('mongodb.undecodable_compression');
        f.originalOpCode = OP_NAMES[original] ?? `OP_${original}`;
        f.compressor = name;
        out.op = original;
        out.warnings.push(`cannot decompress ${name}`);
        break;
      }
      const header = Buffer.alloc(16);
      msg.copy(header, 0, 0, 12);
      header.writeInt32LE(16 + size, 0);
      header.writeInt32LE(original, 12);
      const d = decode(Buffer.concat([header, inner]), count, depth + 1);
      d.fields = { ...d.fields, compressor: name };
      return d;
    }
    case 2005: {
      const coll = cstring(msg, 20);
      f.fullCollectionName = coll.s;
      f.command = 'getMore';
      break;
    }
    default:
      if (out.op >= 2001 && out.op <= 2007 && msg.length > 20) {
        const coll = out.op === 2007 ? null : cstring(msg, 20);
        if (coll) f.fullCollectionName = coll.s;
      }
  }
  return out;
}

/** Command name, database and collection of a request document. */
function describeRequest(d: Decoded): void {
  const f = d.fields;
  let doc = d.doc;
  if (d.op === 2004 && doc) {
    const full = String(f.fullCollectionName ?? '');
    const dot = full.indexOf('.');
    f.database = dot < 0 ? full : full.slice(0, dot);
    if (full.endsWith('.$cmd')) {
      // Wrapped commands ({$query: {...}, $readPreference: ...}) put the command inside.
      if (doc.$query && typeof doc.$query === 'object') doc = doc.$query as Record<string, any>;
      f.command = Object.keys(doc)[0] ?? '';
    } else {
      f.command = 'find';
      f.collection = full.slice(dot + 1);
    }
  } else if (d.op === 2013 && doc) {
    f.command = Object.keys(doc)[0] ?? '';
    if (typeof doc.$db === 'string') f.database = doc.$db;
  } else if (d.fields.fullCollectionName !== undefined && f.collection === undefined) {
    const full = String(f.fullCollectionName);
    const dot = full.indexOf('.');
    f.database = dot < 0 ? full : full.slice(0, dot);
    f.collection = full.slice(dot + 1);
    f.command ??= d.op === 2001 ? 'update' : d.op === 2002 ? 'insert' : d.op === 2006 ? 'delete' : OP_NAMES[d.op];
  }
  if (doc && f.collection === undefined && typeof f.command === 'string') {
    const target = doc[f.command];
    if (typeof target === 'string' && target !== '' && COLLECTION_COMMANDS.has(f.command)) f.collection = target;
    if (f.command === 'getMore' && typeof doc.collection === 'string') f.collection = doc.collection;
  }
  if (d.op === 2007) f.command = 'killCursors';
}

/** Keys that mark an object as a SASL step (also nested in isMaster/hello's speculativeAuthenticate). */
const SASL_MARKS = ['saslStart', 'saslContinue', 'conversationId', 'mechanism'];

/** SASL conversations carry proofs and nonces: their payloads are never kept, at any depth. */
function redactSasl(doc: Record<string, any>, depth = 0): Record<string, any> {
  let copy: Record<string, any> | undefined;
  if ('payload' in doc && SASL_MARKS.some((k) => k in doc)) copy = { ...doc, payload: REDACTED };
  if (depth < 4) {
    for (const [k, v] of Object.entries(doc)) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
      const r = redactSasl(v as Record<string, any>, depth + 1);
      if (r !== v) (copy ??= { ...doc })[k] = r;
    }
  }
  return copy ?? doc;
}

/** Commands whose value is the collection they act on. */
const COLLECTION_COMMANDS = new Set([
  'find', 'insert', 'update', 'delete', 'aggregate', 'count', 'distinct', 'findAndModify', 'findandmodify', 'create',
  'drop', 'createIndexes', 'dropIndexes', 'listIndexes', 'mapReduce', 'collStats', 'validate', 'collMod', 'compact',
]);

function body(doc: Record<string, any> | undefined, options: { maxBody: number; noBodies: boolean }, out: Record<string, any>): void {
  if (!doc || options.noBodies) return;
  const text = JSON.stringify(doc);
  out.body = text.length > options.maxBody ? text.slice(0, options.maxBody) : text;
  if (text.length > options.maxBody) out.bodyTruncated = true;
}

// ---------------------------------------------------------------- parsing

class MongoParser extends FramedParser {
  protected readonly headerBytes = 16;
  /** Requests that expect no reply (legacy writes, moreToCome). */
  private readonly noReply = new WeakSet<object>();

  constructor(ctx: import('../api.js').ConnectionContext) {
    super(ctx, 'mongodb', { maxMessage: MAX_DECOMPRESSED, headBytes: 64 * 1024 });
  }

  /** After a gap, a message's length is not enough to go on: its opCode must be one too. */
  protected override startsMessage(dir: Direction, data: Buffer): boolean {
    return data.length >= 16 && OP_NAMES[data.readInt32LE(12)] !== undefined && super.startsMessage(dir, data);
  }

  protected frameLength(_dir: Direction, head: Buffer): FrameLength {
    const len = head.readInt32LE(0);
    return len < 16 || len > MAX_PLAUSIBLE ? 'bad' : len;
  }

  protected onMessage(dir: Direction, msg: Buffer, wireSize: number, cut: boolean, at: Stamp): void {
    let d: Decoded;
    try {
      d = decode(msg, (c) => this.ctx.count(c));
    } catch {
      this.ctx.count('mongodb.malformed');
      d = { op: msg.readInt32LE(12), requestId: msg.readInt32LE(4), responseTo: msg.readInt32LE(8), fields: { opCode: OP_NAMES[msg.readInt32LE(12)] ?? 'unknown' }, flags: 0, warnings: [cut ? 'truncated' : 'malformed'] };
    }
    const isReply = REPLY_OPS.has(d.op) || (d.op === 2013 && dir === 's2c');
    if (!isReply) this.onRequest(d, wireSize, at);
    else this.onReply(d, wireSize, at);
  }

  private onRequest(d: Decoded, size: number, at: Stamp): void {
    describeRequest(d);
    const f = d.fields;
    f.requestId = d.requestId;
    body(d.doc ? redactSasl(d.doc) : d.doc, this.ctx.options, f);
    const p = this.pendingCall(f, size, at, d.warnings);
    if (UNANSWERED_OPS.has(d.op) || d.flags & MORE_TO_COME) {
      this.noReply.add(f);
      this.emitUnanswered(p, false);
    }
    else this.addPending(d.requestId, p);
  }

  private onReply(d: Decoded, size: number, at: Stamp): void {
    const req = this.takePending(d.responseTo);
    const f = d.fields;
    f.responseTo = d.responseTo;
    const doc = d.doc ?? {};
    let error = f.queryFailure === true;
    if ('ok' in doc) {
      // A double, an int or a boolean on the wire; anything else (damage) is not ok, and never NaN.
      const ok = Number(doc.ok);
      f.ok = Number.isFinite(ok) ? ok : 0;
      if (f.ok !== 1) error = true;
    }
    if (typeof doc.$err === 'string') {
      f.errmsg = doc.$err;
      error = true;
    }
    if (typeof doc.errmsg === 'string') f.errmsg = truncate(doc.errmsg, 1024);
    if (typeof doc.code === 'number') f.code = doc.code;
    if (typeof doc.codeName === 'string') f.codeName = doc.codeName;
    if (Array.isArray(doc.writeErrors) && doc.writeErrors.length > 0) {
      error = true;
      f.writeErrors = doc.writeErrors.length;
      const first = doc.writeErrors[0] as Record<string, any>;
      if (f.code === undefined && typeof first?.code === 'number') f.code = first.code;
      if (f.errmsg === undefined && typeof first?.errmsg === 'string') f.errmsg = truncate(first.errmsg, 1024);
    }
    body(d.doc ? redactSasl(d.doc) : d.doc, this.ctx.options, f);
    this.emitCall(req, f, size, error, at, d.warnings);
  }

  protected summarize(req: Record<string, any> | null, res: Record<string, any> | null): string {
    const target = req ? [req.database, req.collection].filter((x) => x).join('.') : '';
    const left = req ? `${req.command ?? req.opCode}${target ? ` ${target}` : ''}` : `reply to #${res?.responseTo}`;
    if (!res) return req && this.noReply.has(req) ? left : `${left} → unanswered`;
    if (res.errmsg !== undefined || res.ok === 0 || res.queryFailure) return `${left} → error${res.code !== undefined ? ` ${res.code}` : ''}${res.codeName ? ` ${res.codeName}` : ''}${res.errmsg ? `: ${truncate(res.errmsg, 80)}` : ''}`;
    return `${left} → ${res.ok === 1 ? 'ok' : res.numberReturned !== undefined ? `${res.numberReturned} docs` : 'reply'}`;
  }
}

export const mongodb: ProtocolDissector = {
  name: 'mongodb',
  transport: 'tcp',
  ports: [27017, 27018, 27019],
  priority: 45,
  reference: 'https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/',
  probe: (data, portMatch) => {
    try {
      return probeMongo(data, portMatch);
    } catch {
      return false;
    }
  },
  createTcpParser: (ctx) => new MongoParser(ctx),
};
