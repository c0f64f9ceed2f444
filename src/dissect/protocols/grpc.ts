// gRPC over HTTP/2: the HTTP/2 dissector hands over a finished stream whose
// content-type is application/grpc*; this module renames it `grpc`, splits the
// bodies into length-prefixed messages (schema-less protobuf decoding), and
// reads grpc-status/grpc-message from the trailers.
// Spec: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md

import * as zlib from 'node:zlib';
import type { CallRecord } from '../api.js';
import { decodeProtobuf, type ProtoField } from './protobuf.js';
import { zstdDecompressSync } from './util/zstd.js';
import { looksLikeText } from './util/text.js';
import { statusText } from './util/status-text.js';
import { grpcAnswerReading, grpcBodyReading } from './body-readers.js';
import { decodeWithSchema } from './proto-decode.js';
import type { ProtoSchema } from './proto-schema.js';

export const GRPC_STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

const MAX_MESSAGES = 100;
const MAX_DECOMPRESSED = 1024 * 1024;

export function isGrpcContentType(contentType: string): boolean {
  return /^application\/grpc(?:[+;]|$)/i.test(contentType.trim());
}

export interface GrpcMessage {
  compressed: boolean;
  /** Length from the 5-byte prefix. */
  length: number;
  /** Schema-less protobuf fields; absent when the bytes are not protobuf (or were cut). */
  fields?: ProtoField[];
  /**
   * A message that is not protobuf (JSON over gRPC, text): shown as a body is, text when printable,
   * else base64 (`bodyEncoding`), so the redactor searches it as one. Never compressed bytes: see `undecodable`.
   */
  body?: string;
  bodyEncoding?: 'base64';
  /** A compressed message whose grpc-encoding did not decode: not shown, since a reader could unpack what the redactor never saw. */
  undecodable?: string;
  /** With --proto: the message type and its fields by name. */
  type?: string;
  decoded?: Record<string, unknown>;
  truncated?: true;
  /** Bytes of this message were lost with a gap in the capture. */
  gap?: true;
}

/** Where a body lost bytes to a gap (offsets in the body as kept), and where DATA frames began after it. */
export interface BodyHoles {
  holes: Array<{ at: number; lost?: number }>;
  frameStarts: number[];
}

/** A message larger than gRPC's usual receive limit (4 MB) is not taken as a resync point. */
const MAX_RESYNC_MESSAGE = 4 * 1024 * 1024;

/**
 * Split a gRPC body into its length-prefixed messages. With `holes` (bytes a
 * gap took), a message cut by a hole is marked `gap`, and reading resumes
 * after it: where that message ends when the hole's size is known, else at the
 * first DATA frame start after the hole that holds a well-formed message prefix.
 */
export function splitGrpcMessages(
  body: Buffer,
  encoding: string | undefined,
  cutShort: boolean,
  schema?: { type: string; decode: (payload: Buffer) => Record<string, unknown> | null },
  holes?: BodyHoles,
  reader?: MessageReader,
  shown = body.length,
): GrpcMessage[] {
  const out: GrpcMessage[] = [];
  // Past `shown` (--max-body, when more was kept for a reader) messages are not shown, only read. A body
  // kept no further than that is shown as it always was.
  if (shown >= body.length) shown = Infinity;
  let showing = true;
  /** Messages met past what is shown: they count toward MAX_MESSAGES as shown ones do. */
  let unshown = 0;
  const show = (msg: GrpcMessage): void => {
    if (showing) out.push(msg);
    else unshown++;
  };
  const stopShowing = (msg: GrpcMessage): void => {
    show(msg);
    showing = false;
  };
  const gaps = (holes?.holes ?? []).filter((h) => h.at < body.length);
  let hole = 0; // index of the next hole at or after pos
  let pos = 0;
  const nextHoleAt = (): number => (hole < gaps.length ? gaps[hole].at : body.length);
  // While messages are shown, reading resumes after a hole as it did in a body cut where the showing
  // ends: only what lies before that point is known (the holes met then all lie before it).
  const cutEnd = Math.min(body.length, shown);
  const shownGaps = (): BodyHoles['holes'] => (cutEnd < body.length ? gaps.filter((g) => g.at < cutEnd) : gaps);
  const resume = (): number =>
    showing && cutEnd < body.length
      ? resumeAfter(body.subarray(0, cutEnd), shownGaps(), hole, holes?.frameStarts ?? [])
      : resumeAfter(body, gaps, hole, holes?.frameStarts ?? []);
  while (out.length + unshown < MAX_MESSAGES) {
    const limit = nextHoleAt();
    // A message that starts where what is shown ends is not said at all, as in a body cut there.
    if (showing && pos >= shown) showing = false;
    if (showing && pos + 5 > shown && limit >= shown) {
      // The next message's prefix crosses what is shown: said as the cut body said it.
      if (out.length > 0 && !out[out.length - 1].truncated) out.push({ compressed: body[pos] === 1, length: 0, truncated: true });
      showing = false;
    }
    if (pos + 5 > limit) {
      if (limit === body.length) break;
      if (reader) reader.missed = true;
      // The prefix of the next message was lost: look for a message start after the hole.
      if (pos < limit) show({ compressed: body[pos] === 1, length: 0, truncated: true, gap: true });
      const resumed = resume();
      if (resumed < 0) break;
      pos = resumed;
      while (hole < gaps.length && gaps[hole].at <= pos) hole++;
      continue;
    }
    const compressed = body[pos] === 1;
    const length = body.readUInt32BE(pos + 1);
    const start = pos + 5;
    const end = start + length;
    const msg: GrpcMessage = { compressed, length };
    // A message that runs past what is shown is said as a body cut there says it; it and what follows
    // are read for a reader's counts only.
    // (A hole before that point comes first: the message runs into it, as in the cut body.)
    if (showing && end > shown && limit >= shown) stopShowing({ compressed, length, truncated: true });
    if (end > limit) {
      msg.truncated = true;
      if (reader) reader.missed = true;
      if (limit === body.length) {
        show(msg);
        break;
      }
      msg.gap = true;
      show(msg);
      // The message runs into a hole: where it ends is known when the lost bytes are.
      const next = showing ? endAcrossHoles(end - limit, shownGaps(), hole, cutEnd) : endAcrossHoles(end - limit, gaps, hole, body.length);
      if (next < 0) {
        const resumed = resume();
        if (resumed < 0) break;
        pos = resumed;
      } else pos = next;
      while (hole < gaps.length && gaps[hole].at <= pos) hole++;
      if (pos > (showing ? cutEnd : body.length)) break;
      continue;
    }
    if (!showing) {
      if (reader) {
        const payload = compressed ? decompress(body.subarray(start, end), encoding) : body.subarray(start, end);
        if (payload) reader.inspect(payload);
        else reader.missed = true;
      }
      unshown++;
      pos = end;
      continue;
    }
    let payload: Buffer | null = body.subarray(start, end);
    if (compressed) {
      payload = decompress(payload, encoding);
      if (payload === null) {
        msg.undecodable = encoding ?? 'identity';
        if (reader) reader.missed = true;
        out.push(msg);
        pos = end;
        continue;
      }
    }
    if (payload && reader) reader.inspect(payload);
    const decoded = payload && schema ? schema.decode(payload) : null;
    if (decoded) {
      msg.type = schema!.type;
      msg.decoded = decoded;
    } else {
      const fields = payload ? decodeProtobuf(payload) : null;
      if (fields) msg.fields = fields;
      else {
        // The unpacked bytes: a compressed message that unpacked but is not protobuf is shown unpacked.
        const bytes = payload ?? body.subarray(start, end);
        if (looksLikeText(bytes)) msg.body = bytes.toString('utf8');
        else {
          msg.body = bytes.toString('base64');
          msg.bodyEncoding = 'base64';
        }
      }
    }
    out.push(msg);
    pos = end;
  }
  // Bytes left unread in a body cut short (by the capture, or by what is shown) end the list as a cut message.
  if (showing && pos < cutEnd && out.length > 0 && !out[out.length - 1].truncated && (cutShort || cutEnd < body.length)) {
    out.push({ compressed: body[pos] === 1, length: 0, truncated: true });
  }
  // Bytes kept but not read (past MAX_MESSAGES), or a body cut where nothing more was kept.
  if (reader && (pos < body.length || cutShort)) reader.missed = true;
  return out;
}

/** A reader of whole messages (OTLP's and Loki's counts): `missed` is set when a message could not be read whole. */
export interface MessageReader {
  inspect(payload: Buffer): void;
  missed: boolean;
}

/**
 * A message has `need` bytes left at hole `h`: where it ends in the kept body,
 * or -1 when that is unknown (a hole of unknown size, or the message ended inside a hole).
 */
function endAcrossHoles(need: number, gaps: BodyHoles['holes'], h: number, bodyLength: number): number {
  for (; h < gaps.length; h++) {
    const lost = gaps[h].lost;
    if (lost === undefined || need <= lost) return -1;
    need -= lost;
    const next = h + 1 < gaps.length ? gaps[h + 1].at : bodyLength;
    if (gaps[h].at + need <= next) return gaps[h].at + need;
    if (h + 1 >= gaps.length) return bodyLength + 1; // runs past what was kept
    need -= next - gaps[h].at;
  }
  return -1;
}

/** The first DATA frame start after hole `h` where a plausible message begins, or -1. */
function resumeAfter(body: Buffer, gaps: BodyHoles['holes'], h: number, frameStarts: number[]): number {
  const from = gaps[h].at;
  for (const c of frameStarts) {
    if (c < from) continue;
    const limit = gaps.find((g) => g.at > c)?.at ?? body.length;
    if (plausibleMessageAt(body, c, limit)) return c;
  }
  return -1;
}

/** A flag byte of 0 or 1 and a length that fits before the next hole, ending at the next message or the end. */
function plausibleMessageAt(body: Buffer, at: number, limit: number): boolean {
  if (at + 5 > limit || body[at] > 1) return false;
  const length = body.readUInt32BE(at + 1);
  if (length > MAX_RESYNC_MESSAGE) return false;
  const end = at + 5 + length;
  if (end === limit) return true;
  if (end > limit) return limit < body.length; // runs into the next hole
  return end + 5 <= limit ? body[end] <= 1 : false;
}

function decompress(data: Buffer, encoding: string | undefined): Buffer | null {
  try {
    switch ((encoding ?? '').toLowerCase()) {
      case 'gzip':
        return zlib.gunzipSync(data, { maxOutputLength: MAX_DECOMPRESSED });
      case 'deflate':
        return zlib.inflateSync(data, { maxOutputLength: MAX_DECOMPRESSED });
      case 'zstd':
        return zstdDecompressSync(data, { maxOutputLength: MAX_DECOMPRESSED });
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** "/pkg.Service/Method" → service and method; anything else keeps the path as the method. */
export function parseGrpcPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/?]+)$/.exec(path);
  return m ? { service: m[1], method: m[2] } : { service: '', method: path };
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function header(obj: Record<string, any> | undefined, name: string): string | undefined {
  const v = obj?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Turn a finished HTTP/2 record into a gRPC one. `requestBody`/`responseBody`
 * are the raw DATA bytes (at most maxBody of each, or more of a request a
 * reader counts: what is shown stops at `shownBody`).
 */
export function annotateGrpc(
  record: CallRecord,
  requestBody: Buffer | null,
  responseBody: Buffer | null,
  opts: {
    requestTruncated: boolean;
    responseTruncated: boolean;
    noBodies: boolean;
    schema?: ProtoSchema;
    requestHoles?: BodyHoles;
    responseHoles?: BodyHoles;
    /** What of a body is shown as messages (--max-body): more may have been kept for a reader to count. */
    shownBody?: number;
    /** Why the HTTP status is unknown (null), when it is: the summary says so. */
    statusUnknown?: string;
    /** The run's counters: messages whose grpc-encoding does not unpack are counted (`grpc.undecodable`). */
    count?: (counter: string, n?: number) => void;
  },
): void {
  record.protocol = 'grpc';
  const warnings: string[] = [];
  const req = record.request;
  const res = record.response;
  let name = '';
  const rpc = opts.schema?.methods.get(String(req?.path ?? ''));
  const typed = (type: string | undefined) =>
    type && opts.schema?.messages.has(type)
      ? { type, decode: (payload: Buffer) => decodeWithSchema(payload, type, opts.schema!) }
      : undefined;
  if (req) {
    const { service, method } = parseGrpcPath(String(req.path ?? ''));
    req.httpMethod = req.method;
    req.service = service;
    req.method = method;
    name = service ? `${service}/${method}` : method;
    const encoding = header(req.headers, 'grpc-encoding');
    // OTLP exports and Loki pushes are counted as their HTTP forms are (the summary gets the counts with theirs).
    const reading = grpcBodyReading(String(req.path ?? ''), req);
    if (!opts.noBodies && requestBody) {
      const reader = reading && { inspect: reading.inspect, missed: false };
      req.messages = splitGrpcMessages(requestBody, encoding, opts.requestTruncated, typed(rpc?.input), opts.requestHoles, reader, opts.shownBody);
      if (reader) reading.finish(reader.missed);
    }
    dropRawBody(req);
  }
  if (res) {
    // Trailers-only responses carry grpc-status in the headers.
    const status = header(res.trailers, 'grpc-status') ?? header(res.headers, 'grpc-status');
    const message = header(res.trailers, 'grpc-message') ?? header(res.headers, 'grpc-message');
    if (status !== undefined && /^\d+$/.test(status)) {
      res.grpcStatus = Number(status);
      res.grpcStatusName = GRPC_STATUS_NAMES[res.grpcStatus] ?? 'UNKNOWN';
      if (res.grpcStatus !== 0) record.error = true;
    } else if (!record.error) {
      warnings.push('grpc: no grpc-status');
    }
    if (message !== undefined) res.grpcMessage = percentDecode(message);
    const encoding = header(res.headers, 'grpc-encoding');
    // OTLP's answers: how much of the export the receiver rejected (partial success).
    const answer = req ? grpcAnswerReading(String(req.path ?? ''), res) : undefined;
    const answerReader = answer && { inspect: answer.inspect, missed: false };
    if (!opts.noBodies && responseBody) res.messages = splitGrpcMessages(responseBody, encoding, opts.responseTruncated, typed(rpc?.output), opts.responseHoles, answerReader, opts.shownBody);
    dropRawBody(res);
  }
  const outcome = res
    ? res.grpcStatus !== undefined
      ? `${res.grpcStatusName}${res.grpcStatus !== 0 ? ` (${res.grpcStatus})` : ''}`
      : typeof res.status === 'number'
        ? `HTTP ${res.status}`
        : statusText(res.status, opts.statusUnknown)
    : 'unanswered';
  record.summary = `${name || 'grpc'} → ${outcome}`;
  if (warnings.length > 0) record.warnings = [...(record.warnings ?? []), ...warnings];
  // A message not shown because it does not unpack (a bomb, damaged) is a loss the run's summary counts.
  const undecodable = countUndecodable(req?.messages) + countUndecodable(res?.messages);
  if (undecodable > 0) opts.count?.('grpc.undecodable', undecodable);
}

function countUndecodable(messages: GrpcMessage[] | undefined): number {
  let n = 0;
  for (const m of messages ?? []) if (m.undecodable !== undefined) n++;
  return n;
}

/** The messages are the readable form of a gRPC body; the base64 copy would only double it. */
function dropRawBody(half: Record<string, any>): void {
  delete half.body;
  delete half.bodyEncoding;
}
