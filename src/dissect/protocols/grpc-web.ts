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

/** The `name:value` lines of a trailer frame's payload (at most MAX_TRAILERS of them) into `into`. */
function readTrailerLines(payload: Buffer, into: Record<string, string>): void {
  let count = 0;
  for (const line of payload.toString('latin1').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0 || ++count > MAX_TRAILERS) continue;
    into[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
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
      readTrailerLines(body.subarray(off + 5, end), trailers);
    } else data.push(body.subarray(off, end));
    off = end;
  }
  return { data: data.length === 1 ? data[0] : Buffer.concat(data), trailers };
}

/** Bytes of a trailer frame's payload kept by GrpcWebTrailerTap (its lines are few and short). */
const MAX_TRAILER_BYTES = 8 * 1024;

/**
 * Follows the frames of a gRPC-Web response body as all its bytes pass, also those past the
 * --max-body cut (or a body not kept at all), and keeps the payload of its trailer frame: the
 * trailer frame comes last, so a body cut anywhere before it would lose the call's grpc-status.
 * Holds at most 3 base64 characters, a 5-byte frame prefix and MAX_TRAILER_BYTES.
 */
export class GrpcWebTrailerTap {
  /** `-text`: base64 characters short of a whole 4-character quantum. */
  private carry = '';
  private readonly prefix = Buffer.alloc(5);
  private prefixHave = 0;
  /** Payload bytes of the current frame still to come; reading a prefix when null. */
  private left: number | null = null;
  private inTrailer = false;
  private trailer: Buffer[] = [];
  private kept = 0;
  /** The trailer frame ran past MAX_TRAILER_BYTES: its last kept line may be cut. */
  private cut = false;
  private seen = false;

  constructor(private readonly text: boolean) {}

  add(data: Buffer): void {
    if (!this.text) {
      this.frames(data);
      return;
    }
    // Each chunk is padded to whole quanta, so decoding whole quanta never splits one.
    const s = this.carry + data.toString('latin1');
    const whole = s.length - (s.length % 4);
    this.carry = s.slice(whole);
    if (whole > 0) this.frames(fromBase64Chunks(Buffer.from(s.slice(0, whole), 'latin1')));
  }

  private frames(data: Buffer): void {
    let off = 0;
    while (off < data.length) {
      if (this.left === null) {
        const n = Math.min(5 - this.prefixHave, data.length - off);
        data.copy(this.prefix, this.prefixHave, off, off + n);
        this.prefixHave += n;
        off += n;
        if (this.prefixHave < 5) return;
        this.prefixHave = 0;
        this.left = this.prefix.readUInt32BE(1);
        this.inTrailer = (this.prefix[0] & TRAILER_FLAG) !== 0;
        if (this.inTrailer) {
          this.trailer = [];
          this.kept = 0;
          this.cut = false;
          this.seen = true;
        }
      }
      const n = Math.min(this.left, data.length - off);
      if (this.inTrailer && this.kept < MAX_TRAILER_BYTES) {
        const part = data.subarray(off, off + Math.min(n, MAX_TRAILER_BYTES - this.kept));
        this.trailer.push(Buffer.from(part));
        this.kept += part.length;
        if (part.length < n) this.cut = true;
      } else if (this.inTrailer && n > 0) this.cut = true;
      off += n;
      this.left -= n;
      if (this.left === 0) this.left = null;
    }
  }

  /** The trailers of the trailer frame seen (as far as it came), or undefined when none began. */
  trailers(): Record<string, string> | undefined {
    if (!this.seen) return undefined;
    const out: Record<string, string> = {};
    const payload = Buffer.concat(this.trailer, this.kept);
    readTrailerLines(this.cut ? payload.subarray(0, payload.lastIndexOf(0x0a) + 1) : payload, out);
    return out;
  }
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
  opts: {
    requestTruncated: boolean;
    responseTruncated: boolean;
    noBodies: boolean;
    schema?: ProtoSchema;
    statusUnknown?: string;
    shownBody?: number;
    count?: (counter: string, n?: number) => void;
  },
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
    count: opts.count,
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
