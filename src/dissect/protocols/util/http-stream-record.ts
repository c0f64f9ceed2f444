// One HTTP/2 or HTTP/3 stream as a call: the request's and response's
// headers, bodies, trailers and interim statuses, gRPC and GraphQL
// annotations, resets and the connection's GOAWAY. HTTP/2 (http2.ts) and
// HTTP/3 (http3.ts) frame streams differently but carry the same HTTP
// semantics, so both fill a Stream and build its entry here.

import type { CallRecord, ConnectionContext } from '../../api.js';
import type { HeaderField } from '../hpack.js';
import { BodyCollector, renderBody } from './body.js';
import { annotateGrpc, isGrpcContentType } from '../grpc.js';
import { applyGrpcWeb, GrpcWebTrailerTap, grpcWebKind } from '../grpc-web.js';
import { applyGraphql } from '../graphql.js';
import { applyBodyCounts, requestBodyReading, responseBodyReading } from '../body-readers.js';
import { printable } from './text.js';
import { statusText } from './status-text.js';

/** What differs between the protocols that share this record. */
export interface StreamProtocol {
  protocol: 'http2' | 'http3';
  httpVersion: 'HTTP/2.0' | 'HTTP/3';
  /** A stream or connection error code's name. */
  errorName(code: number): string;
  /** Word for a stream reset in the summary (HTTP/2: RST_STREAM). */
  resetWord?: string;
  /** A reset that is housekeeping, not a failure (no error, or a cancel after a complete response). */
  routineReset(code: number, responseEnded: boolean): boolean;
  /** The connection's GOAWAY error code, when one came. */
  goawayCode?: number;
  /** The parser learned the engine guessed the client wrongly. */
  flipped?: boolean;
  /** The stream travelled encrypted and was decrypted (HTTP/3 is always inside QUIC's TLS). */
  tls?: boolean;
}

/** Bytes of a DATA body that never reached the capture (a gap inside or between frames). */
export interface BodyHole {
  /** Body offset (bytes seen before the hole). */
  at: number;
  /** Bytes lost, when known exactly (a gap inside one DATA frame); else undefined. */
  lost?: number;
}

export interface Half {
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
  /** Holes in the body, and the body offsets where DATA frames began after the first one. */
  holes?: BodyHole[];
  frameStarts?: number[];
  /** A gRPC-Web body's frames followed past the --max-body cut (null: not gRPC-Web), decided on its first DATA. */
  grpcWebTap?: GrpcWebTrailerTap | null;
}

/**
 * Body bytes of a half: kept up to --max-body, and a gRPC-Web body's frames followed to its end,
 * so the trailer frame that carries the grpc-status is read even when the body shown is cut.
 */
export function addBody(half: Half, data: Buffer): void {
  half.body.add(data);
  if (half.grpcWebTap === undefined) {
    const field = (name: string) => half.headers?.find((f) => f.name === name)?.value;
    const kind = field('content-encoding') === undefined ? grpcWebKind(field('content-type')) : undefined;
    half.grpcWebTap = kind ? new GrpcWebTrailerTap(kind === 'grpc-web-text') : null;
  }
  half.grpcWebTap?.add(data);
}

export interface Stream {
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
  /** Frames of this stream were lost with a gap: emit it even if no header block was seen. */
  lost?: boolean;
  /** Decoded header bytes held (counted against MAX_HELD_HEADER_BYTES). */
  headerBytes: number;
}


export function buildStreamRecord(stream: Stream, extraWarnings: string[], ctx: ConnectionContext, kind: StreamProtocol): CallRecord {
  const warnings = [...stream.warnings, ...extraWarnings];
  const opts = ctx.options;
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
      httpVersion: kind.httpVersion,
      streamId: stream.id,
      headers: h.headers,
      query: parseQuery(path),
    };
    if (stream.pushed) request.pushed = true;
    if (stream.upgradedFrom) request.upgrade = 'h2c';
    if (req.trailers) request.trailers = splitHeaders(req.trailers).headers;
    const reading = requestBodyReading({ path, header: (name) => firstValue(h.headers[name]) }, request);
    const body = renderBody(req.body, reading.coding, ctx, reading.inspect);
    Object.assign(request, bodyFields(body));
    if (body.warning) warnings.push(body.warning);
  }
  // Why the response's status is unknown (null), for the summary.
  let statusUnknown: string | undefined;
  if (res && (res.headers || !res.trailers)) {
    // A response whose header block a gap took still has its data: its status is null, unknown.
    const h = splitHeaders(res.headers ?? []);
    const read = readStatus(res.headers, h, stream);
    statusUnknown = read.unknown;
    if (read.warning) warnings.push(read.warning);
    response = {
      status: read.status,
      statusText: '',
      httpVersion: kind.httpVersion,
      headers: h.headers,
      contentType: firstValue(h.headers['content-type']) ?? '',
    };
    if (stream.informational.length > 0) response.informational = stream.informational;
    if (res.trailers) response.trailers = splitHeaders(res.trailers).headers;
    const body = renderBody(res.body, firstValue(h.headers['content-encoding']), ctx, responseBodyReading(request, response));
    Object.assign(response, bodyFields(body));
    if (body.warning) warnings.push(body.warning);
  } else if (res && res.trailers) {
    const read = readStatus(null, { pseudo: {}, headers: {} }, stream);
    statusUnknown = read.unknown;
    if (read.warning) warnings.push(read.warning);
    response = { status: read.status, httpVersion: kind.httpVersion, headers: {}, trailers: splitHeaders(res.trailers).headers };
  }
  // Without a request (its header block lost or before the capture), the response names the stream.
  if (request === null && response !== null) response.streamId = stream.id;
  let error = response === null || (typeof response.status === 'number' && response.status >= 500);
  if (stream.reset) {
    const name = kind.errorName(stream.reset.code);
    const resetInfo = { code: stream.reset.code, name, by: stream.reset.by };
    if (response) response.reset = resetInfo;
    else if (request) request.reset = resetInfo;
    if (!kind.routineReset(stream.reset.code, res?.ended === true)) {
      error = true;
      warnings.push(`rst_stream: ${name}`);
    }
  }
  if (kind.goawayCode !== undefined && kind.goawayCode !== 0 && !(res?.ended)) {
    error = true;
    const w = `goaway: ${kind.errorName(kind.goawayCode)}`;
    if (!warnings.includes(w)) warnings.push(w);
  }
  if (response === null && !warnings.includes('unanswered') && !stream.reset) warnings.push('unanswered');
  const record: CallRecord = {
    protocol: kind.protocol,
    request,
    response,
    requestTime: req?.firstTime ?? res?.firstTime ?? ctx.now,
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
  if (kind.flipped) record.reversed = true;
if (kind.tls) record.tls = true;
  const contentType = firstValue(request?.headers?.['content-type']) ?? response?.contentType ?? '';
  if (isGrpcContentType(contentType)) {
    annotateGrpc(record, req?.body.bytes() ?? null, res?.body.bytes() ?? null, {
      requestTruncated: req?.body.truncated ?? false,
      responseTruncated: res?.body.truncated ?? false,
      shownBody: opts.maxBody,
      requestHoles: req?.holes && { holes: req.holes, frameStarts: req.frameStarts ?? [] },
      responseHoles: res?.holes && { holes: res.holes, frameStarts: res.frameStarts ?? [] },
      noBodies: opts.noBodies,
      schema: opts.protoSchema,
      statusUnknown,
      count: (c, n) => ctx.count(c, n),
    });
  } else if (grpcWebKind(contentType)) {
    // A body cut at --max-body lost its trailer frame from what is kept: the tap read it.
    const tapped = res?.body.truncated ? res.grpcWebTap?.trailers() : undefined;
    if (tapped && response) response.trailers = { ...tapped, ...(response.trailers ?? {}) };
    applyGrpcWeb(record, req?.body.bytes() ?? null, res?.body.bytes() ?? null, {
      requestTruncated: req?.body.truncated ?? false,
      responseTruncated: res?.body.truncated ?? false,
      shownBody: opts.maxBody,
      noBodies: opts.noBodies,
      schema: opts.protoSchema,
      statusUnknown,
      count: (c, n) => ctx.count(c, n),
    });
  } else if (request) {
    applyGraphql(record, statusUnknown, (c) => ctx.count(c));
  }
  if (record.summary === '') record.summary = streamSummary(request, response, stream, kind, statusUnknown);
  applyBodyCounts(record);
  if (warnings.length > 0) record.warnings = [...new Set([...(record.warnings ?? []), ...warnings])];
  // What a reader's body kept past --max-body was charged to the budget: the call is made, give it back.
  req?.body.release();
  res?.body.release();
  return record;
}

/**
 * The response's status: three digits (RFC 9110 §15), else null with why
 * (for the summary) and the warning that says so. A block that never came
 * is lost when a gap may have taken it (else the peer sent DATA without
 * HEADERS); one without `:status` lost it to an HPACK reference a gap made
 * unknown (its own warning says so), or never had it.
 */
function readStatus(
  fields: HeaderField[] | null,
  h: ReturnType<typeof splitHeaders>,
  stream: Stream,
): { status: number | null; unknown?: string; warning?: string } {
  if (fields === null) {
    const lost = stream.lost === true || stream.warnings.some((w) => w === 'gap' || w.startsWith('gap:'));
    return lost ? { status: null, unknown: 'headers lost', warning: 'gap: response headers lost' } : { status: null, unknown: 'no headers', warning: 'malformed: response without HEADERS' };
  }
  const given = h.pseudo[':status'];
  if (given !== undefined && /^[0-9]{3}$/.test(given)) return { status: Number(given) };
  if (given !== undefined) return { status: null, unknown: 'malformed', warning: `malformed: :status "${printable(Buffer.from(given, 'latin1'), 32)}"` };
  if (Object.keys(h.headers).some((name) => name.startsWith('<unknown'))) return { status: null, unknown: 'headers unknown' };
  return { status: null, unknown: 'malformed', warning: 'malformed: no :status' };
}

function streamSummary(request: Record<string, any> | null, response: Record<string, any> | null, stream: Stream, kind: StreamProtocol, statusUnknown: string | undefined): string {
  const left = request ? `${request.method} ${request.path}` : `stream ${stream.id}`;
  if (response) return `${left} → ${statusText(response.status, statusUnknown)}`;
  if (stream.reset) return `${left} → ${kind.resetWord ?? 'RST_STREAM'} ${kind.errorName(stream.reset.code)}`;
  // No response and no reset: an unanswered error, said as HTTP/1 says it ('(no response)' is the one-way wording).
  return `${left} → unanswered`;
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
    if (name.startsWith('<unknown')) {
      // Unknown table references carry no value to join.
      headers[name] = '';
      continue;
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = name === 'cookie' ? `${prev}; ${value}` : `${prev}, ${value}`;
  }
  return { pseudo, headers };
}

export function firstValue(v: string | string[] | undefined): string | undefined {
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

