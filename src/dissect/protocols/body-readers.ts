// Protocols that travel inside HTTP request bodies and are worth reading:
// Prometheus remote write, Loki pushes and OTLP/HTTP exports, what every
// cluster's metrics, logs and traces agents send. A reader sees the whole decoded body (before the
// --max-body cut), adds a field of counts to the request, and its counts to
// the summary (`POST /api/v1/write (812 series, 812 samples) → 204`). HTTP/1,
// HTTP/2 and HTTP/3 call the same two functions; gRPC calls of the same
// protocols (OTLP's Export, Loki's Pusher/Push) are read message by message.
import type { CallRecord } from '../api.js';
import { lokiPushReader, readProtobufPush as readLokiProtobuf } from './loki-push.js';
import { otlpReader, readExportResponse, readProtobuf as readOtlpProtobuf, type OtlpResponse } from './otlp-http.js';
import { remoteWriteReader } from './prometheus-remote-write.js';

/** What a reader decides by: the request's path (its query may follow) and its header values (lower-case names). */
export interface RequestHead {
  path: string;
  header(name: string): string | undefined;
}

/** The counts a reader keeps: `incomplete` when the body was cut or malformed where counting stopped. */
export interface BodyCounts {
  incomplete?: true;
}

export interface BodyReader<T extends BodyCounts> {
  /** The request field it fills. */
  field: string;
  /** Whether it reads this request; `coding`: what to undo when the sender names no Content-Encoding (Loki's snappy). */
  match(request: RequestHead): { coding?: string; read(decoded: Buffer): T } | undefined;
  /** The counts for the summary, without parentheses. */
  counts(value: T): string;
  /** A reader of the response too (OTLP's partial success): the same field on the response, and its words after the outcome. */
  answer?: {
    read(decoded: Buffer, request: T): object | undefined;
    counts(answer: any, request: T): string;
  };
}

const READERS: Array<BodyReader<any>> = [remoteWriteReader, lokiPushReader, otlpReader];

/**
 * What a request body a reader counts is kept up to (as sent, compressed), whatever --max-body says:
 * a Prometheus batch of 2,000 samples or a Promtail batch is tens to hundreds of kilobytes, past the
 * 16 KB default, and counted only so far it would be a lower bound. The body shown is still cut at
 * --max-body; the bytes kept are charged to the flow's memory budget.
 */
export const READ_BODY_LIMIT = 1024 * 1024;

/** How much of this request's body to keep: READ_BODY_LIMIT when a reader reads it, else `maxBody`. */
export function requestBodyLimit(request: RequestHead, maxBody: number): number {
  if (maxBody >= READ_BODY_LIMIT) return maxBody;
  for (const reader of READERS) if (reader.match(request)) return READ_BODY_LIMIT;
  // gRPC's OTLP exports and Loki pushes (their messages are shown up to --max-body, read whole).
  if (grpcReader(request.path)) return READ_BODY_LIMIT;
  return maxBody;
}

/** requestBodyLimit for a request given as HTTP/2 or HTTP/3 fields (`:path` and lower-case names). */
export function requestBodyLimitOfFields(fields: ReadonlyArray<{ name: string; value: string }>, maxBody: number): number {
  if (maxBody >= READ_BODY_LIMIT) return maxBody;
  const path = fields.find((f) => f.name === ':path')?.value;
  if (path === undefined) return maxBody;
  return requestBodyLimit({ path, header: (name) => fields.find((f) => f.name === name)?.value }, maxBody);
}

/**
 * How to render a request's body: the content coding to undo (the header's, or the one a reader
 * knows the sender uses without saying) and an inspector that puts the reader's counts in `into`.
 */
export function requestBodyReading(
  request: RequestHead,
  into: Record<string, unknown>,
): { coding: string | undefined; inspect?: (decoded: Buffer, cut: boolean) => void } {
  const declared = request.header('content-encoding');
  for (const reader of READERS) {
    const match = reader.match(request);
    if (!match) continue;
    return {
      coding: declared ?? match.coding,
      inspect: (decoded, cut) => {
        const value = match.read(decoded);
        if (cut) value.incomplete = true;
        into[reader.field] = value;
      },
    };
  }
  return { coding: declared };
}

/**
 * How to read a response's body whose request a reader read and whose answers it reads too (OTLP's
 * partial success): an inspector that puts what the answer says in `into`, or undefined.
 */
export function responseBodyReading(request: Record<string, any> | null | undefined, into: Record<string, unknown>): ((decoded: Buffer, cut: boolean) => void) | undefined {
  if (!request) return undefined;
  for (const reader of READERS) {
    const value = request[reader.field];
    if (value === undefined || !reader.answer) continue;
    const answer = reader.answer;
    return (decoded, cut) => {
      const read = answer.read(decoded, value) as Record<string, unknown> | undefined;
      if (!read) return;
      if (cut) read.incomplete = true;
      into[reader.field] = read;
    };
  }
  return undefined;
}

/** A reader's counts in the call's summary, before its outcome; what the answer said after it. */
export function applyBodyCounts(record: CallRecord): void {
  const request = record.request;
  if (!request) return;
  for (const reader of READERS) {
    const value = request[reader.field];
    if (value === undefined) continue;
    record.summary = record.summary.replace(' → ', ` (${reader.counts(value)}) → `);
    const answer = record.response?.[reader.field];
    if (answer !== undefined && reader.answer) record.summary += ` (${reader.answer.counts(answer, value)})`;
    return;
  }
}


/** gRPC methods whose messages these readers read: OTLP's Export calls and Loki's push. */
const GRPC_READERS: Record<string, { reader: BodyReader<any>; read(payload: Buffer): BodyCounts; answer?(payload: Buffer): OtlpResponse | undefined }> = {
  '/opentelemetry.proto.collector.trace.v1.TraceService/Export': { reader: otlpReader, read: (p) => readOtlpProtobuf(p, 'traces'), answer: (p) => readExportResponse(p, 'traces', 'protobuf') },
  '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export': { reader: otlpReader, read: (p) => readOtlpProtobuf(p, 'metrics'), answer: (p) => readExportResponse(p, 'metrics', 'protobuf') },
  '/opentelemetry.proto.collector.logs.v1.LogsService/Export': { reader: otlpReader, read: (p) => readOtlpProtobuf(p, 'logs'), answer: (p) => readExportResponse(p, 'logs', 'protobuf') },
  '/logproto.Pusher/Push': { reader: lokiPushReader, read: readLokiProtobuf },
};

/** Lists in counts stay this short when messages are added up. */
const MAX_MERGED_LIST = 50;

/**
 * For a gRPC call whose method a reader knows: an inspector for each whole request message, and a
 * finisher that puts the counts (summed over the messages) in `into`, for applyBodyCounts.
 */
export function grpcBodyReading(path: string, into: Record<string, unknown>): { inspect(payload: Buffer): void; finish(incomplete: boolean): void } | undefined {
  const known = grpcReader(path);
  if (!known) return undefined;
  let total: Record<string, any> | undefined;
  return {
    inspect(payload) {
      const counts = known.read(payload) as Record<string, any>;
      if (!total) total = counts;
      else addCounts(total, counts);
    },
    finish(incomplete) {
      if (!total) return;
      if (incomplete) total.incomplete = true;
      into[known.reader.field] = total;
    },
  };
}

/** The reader of a gRPC method, by its path: own entries only (a path `__proto__` or `constructor` is none). */
function grpcReader(path: string): (typeof GRPC_READERS)[string] | undefined {
  return Object.hasOwn(GRPC_READERS, path) ? GRPC_READERS[path] : undefined;
}

/**
 * For a gRPC call whose answers a reader reads (OTLP's Export): an inspector for each response
 * message; what they say (rejected items added up, the first reason kept) goes in `into`.
 */
export function grpcAnswerReading(path: string, into: Record<string, unknown>): { inspect(payload: Buffer): void } | undefined {
  const known = grpcReader(path);
  const read = known?.answer;
  if (!read) return undefined;
  return {
    inspect(payload) {
      const answer = read(payload);
      if (!answer) return;
      const before = into[known.reader.field] as OtlpResponse | undefined;
      into[known.reader.field] = before ? { ...before, rejected: before.rejected + answer.rejected, ...(answer.incomplete ? { incomplete: true } : {}) } : answer;
    },
  };
}

/** Numbers add up, lists join (distinct, bounded, and marked when the bound is hit), flags stay set. */
function addCounts(total: Record<string, any>, more: Record<string, any>): void {
  for (const [k, v] of Object.entries(more)) {
    if (typeof v === 'number') total[k] = (total[k] ?? 0) + v;
    else if (Array.isArray(v)) {
      for (const x of v) {
        if (total[k].includes(x)) continue;
        if (total[k].length < MAX_MERGED_LIST) total[k].push(x);
        else total[`${k}Truncated`] = true; // as the readers name it: labelsTruncated, servicesTruncated …
      }
    } else if (v === true) total[k] = true;
  }
}
