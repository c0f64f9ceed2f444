// gRPC-Web (grpc/grpc doc/PROTOCOL-WEB.md): gRPC from browsers, over HTTP/1.1
// or HTTP/2, through a proxy (Envoy's grpc_web filter, grpcwebproxy). The
// messages are framed as gRPC's; the trailers travel last in the response body,
// in a frame whose flag byte has its high bit set, as `name:value\r\n` lines;
// `application/grpc-web-text` base64-encodes the body (a stream of base64
// chunks, each padded on its own). tshark reads both forms as gRPC; so does
// this: the call becomes a `grpc` entry with its messages and grpc-status.
import type { CallRecord } from '../api.js';
import type { ProtoSchema } from './proto-schema.js';
import { annotateGrpc } from './grpc.js';

export type GrpcWebKind = 'grpc-web' | 'grpc-web-text';

/** A trailer frame's flag (PROTOCOL-WEB.md: the MSB of the frame's first byte). */
const TRAILER_FLAG = 0x80;
/** Trailer lines kept from a trailer frame (headers are capped alike). */
const MAX_TRAILERS = 200;

/** The gRPC-Web form a content type names (`application/grpc-web`, `+proto`, `+json`, `-text` …). */
export function grpcWebKind(contentType: string | undefined): GrpcWebKind | undefined {
  const m = /^application\/grpc-web(-text)?(?:[+;]|$)/i.exec((contentType ?? '').trim());
  if (!m) return undefined;
  return m[1] ? 'grpc-web-text' : 'grpc-web';
}

/** A `-text` body: base64 chunks, each possibly padded (`AAAA==BBBB`), decoded one by one. */
function fromBase64Chunks(text: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    // A chunk ends after its padding: at the first byte that is not '=' after one that is.
    if (text[i] === 0x3d && (i + 1 === text.length || text[i + 1] !== 0x3d)) {
      parts.push(Buffer.from(text.toString('latin1', start, i + 1), 'base64'));
      start = i + 1;
    }
  }
  if (start < text.length) parts.push(Buffer.from(text.toString('latin1', start), 'base64'));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** A response body's data frames (the gRPC messages) and the trailers its trailer frame carries. */
function splitTrailers(body: Buffer): { data: Buffer; trailers: Record<string, string> | undefined } {
  const data: Buffer[] = [];
  let trailers: Record<string, string> | undefined;
  let off = 0;
  while (off < body.length) {
    if (body.length - off < 5) {
      data.push(body.subarray(off));
      break;
    }
    const end = Math.min(body.length, off + 5 + body.readUInt32BE(off + 1));
    if ((body[off] & TRAILER_FLAG) !== 0) {
      trailers ??= {};
      let count = 0;
      for (const line of body.toString('latin1', off + 5, end).split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0 || ++count > MAX_TRAILERS) continue;
        trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    } else data.push(body.subarray(off, end));
    off = end;
  }
  return { data: data.length === 1 ? data[0] : Buffer.concat(data), trailers };
}

/**
 * Make a finished HTTP call whose content type is gRPC-Web a `grpc` one (as annotateGrpc does for
 * gRPC over HTTP/2): its messages, and its grpc-status from the trailer frame (or, trailers-only,
 * from the headers). `requestBody`/`responseBody` are the bodies as sent (at most what was kept).
 * False when the call is not gRPC-Web.
 */
export function applyGrpcWeb(
  record: CallRecord,
  requestBody: Buffer | null,
  responseBody: Buffer | null,
  opts: { requestTruncated: boolean; responseTruncated: boolean; noBodies: boolean; schema?: ProtoSchema; statusUnknown?: string; shownBody?: number },
): boolean {
  const req = record.request;
  const res = record.response;
  const kind = grpcWebKind(headerText(req?.headers?.['content-type'])) ?? grpcWebKind(headerText(res?.headers?.['content-type']));
  if (kind === undefined) return false;
  const decode = (b: Buffer | null) => (b && kind === 'grpc-web-text' ? fromBase64Chunks(b) : b);
  let responseData = decode(responseBody);
  if (res && responseData) {
    const { data, trailers } = splitTrailers(responseData);
    responseData = data;
    if (trailers) res.trailers = { ...(res.trailers ?? {}), ...trailers };
  }
  const httpError = record.error;
  annotateGrpc(record, decode(requestBody), responseData, {
    requestTruncated: opts.requestTruncated,
    responseTruncated: opts.responseTruncated,
    noBodies: opts.noBodies,
    schema: opts.schema,
    statusUnknown: opts.statusUnknown,
    shownBody: opts.shownBody,
  });
  // An HTTP error (a proxy's 503) stays one whatever the trailers say.
  if (httpError) record.error = true;
  if (req) req.grpcWeb = kind;
  else if (res) res.grpcWeb = kind;
  return true;
}

/** The bytes of a body an HTTP/1 record shows (text or base64), or null when it shows none. */
export function shownBodyBytes(half: Record<string, any> | null): Buffer | null {
  if (!half || typeof half.body !== 'string') return null;
  return Buffer.from(half.body, half.bodyEncoding === 'base64' ? 'base64' : 'utf8');
}

function headerText(v: unknown): string | undefined {
  return Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
}
