// Message bodies: collect at most maxBody bytes while counting all of them,
// undo Content-Encoding, and render the result for the entry (text when it
// reads as text, base64 otherwise).
import * as zlib from 'node:zlib';
import type { ConnectionContext } from '../../api.js';
import { looksLikeText } from './text.js';
import { snappyDecompress, snappyFramedDecompress } from './snappy.js';
import { zstdDecompressPartial, zstdDecompressSync } from './zstd.js';
import { currentMeter, type Meter } from '../../memory-budget.js';

/** Keeps the first `limit` bytes of a body and counts the rest. */
export class BodyCollector {
  private parts: Buffer[] = [];
  private kept = 0;
  /** Body bytes seen (after transfer decoding, before content decoding). */
  size = 0;
  /** The flow's meter, charged for what is kept past the first limit (raiseLimit); what it holds now. */
  private meter: Meter | undefined;
  private freeUpTo = 0;
  private charged = 0;

  constructor(private limit: number) {}

  /**
   * Keep up to `limit` bytes (a body a reader counts whole, body-readers.ts): what is kept past the
   * first limit is charged to the memory budget of the flow being parsed, until the body is rendered.
   */
  raiseLimit(limit: number): void {
    if (limit <= this.limit) return;
    this.meter = currentMeter();
    this.freeUpTo = this.limit;
    this.limit = limit;
  }

  add(data: Buffer): void {
    this.size += data.length;
    const room = this.limit - this.kept;
    if (room <= 0 || data.length === 0) return;
    const part = data.length <= room ? data : data.subarray(0, room);
    this.parts.push(Buffer.from(part));
    this.kept += part.length;
    if (this.meter && this.kept > this.freeUpTo) {
      const owed = this.kept - this.freeUpTo - this.charged;
      this.meter.add(owed);
      this.charged += owed;
    }
  }

  /** The body was rendered: give back what it charged (its bytes are garbage once the message is). */
  release(): void {
    if (this.charged === 0) return;
    this.meter?.add(-this.charged);
    this.charged = 0;
  }

  /** Nothing more will be kept: later bytes need only be counted (skip). */
  get full(): boolean {
    return this.kept >= this.limit;
  }

  /** Count `n` bytes that are not kept (the collector is full). */
  skip(n: number): void {
    this.size += n;
  }

  get truncated(): boolean {
    return this.size > this.kept;
  }

  bytes(): Buffer {
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.kept);
  }
}

export interface RenderedBody {
  body?: string;
  bodyEncoding?: 'base64';
  bodyTruncated?: true;
  bodySize: number;
  /** Content-Encoding we could not undo, or other body trouble. */
  warning?: string;
}

/** Decoded output is capped too, so a small compressed bomb cannot grow memory. */
const MAX_DECODED = 8 * 1024 * 1024;
/**
 * Counted for every body whose coding could not be undone (damaged, a bomb past MAX_DECODED, a coding
 * shark does not know): the entry's warning says it, and the run's stderr summary counts it.
 */
export const BODY_UNDECODABLE = 'body.undecodable';
/** The compressions decode() undoes; a body in one of them that does not decode is not shown. */
const COMPRESSIONS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd', 'snappy', 'x-snappy-framed']);
/**
 * Names servers put in Content-Encoding (or AMQP's content-encoding) that are
 * charsets or transfer words, not codings: the body is as it came.
 */
const NOT_CODINGS = new Set(['identity', 'none', 'utf-8', 'utf8', 'us-ascii', 'ascii', 'iso-8859-1', 'latin1', 'binary', '7bit', '8bit', 'text', 'plain', 'chunked']);
/** S3's signed-chunk framing (SigV4 streaming uploads); AWS lists it first whatever it frames. */
const AWS_CHUNKED = 'aws-chunked';

/**
 * Render a collected body for the entry. `contentEncoding` is the header value
 * (gzip, deflate, br, zstd, snappy, or a list). A coding shark cannot undo
 * leaves the body as it came when that reads as text; binary bytes in an
 * unknown coding are not shown, since a reader might unpack what the redactor
 * never saw. `inspect` sees the whole decoded body (before the --max-body cut), and whether the
 * capture or --max-body cut it short: what a reader of a protocol inside a body (remote write) counts.
 * A body whose coding is not undone is counted on `ctx` (BODY_UNDECODABLE) besides its warning.
 */
export function renderBody(
  collector: BodyCollector,
  contentEncoding: string | undefined,
  ctx: Pick<ConnectionContext, 'options' | 'count'>,
  inspect?: (decoded: Buffer, cut: boolean) => void,
): RenderedBody {
  const options = ctx.options;
  const out: RenderedBody = { bodySize: collector.size };
  if (options.noBodies || collector.size === 0) return out;
  let data = collector.bytes();
  collector.release();
  let truncated = collector.truncated;
  const encodings = (contentEncoding ?? '')
    .toLowerCase()
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && !NOT_CODINGS.has(e));
  if (encodings.includes(AWS_CHUNKED)) {
    const unframed = awsUnchunk(data, truncated, MAX_DECODED);
    if (unframed === null) {
      ctx.count(BODY_UNDECODABLE);
      out.warning = `body: cannot decode content-encoding ${AWS_CHUNKED} (not shown)`;
      return out;
    }
    data = unframed;
    encodings.splice(encodings.indexOf(AWS_CHUNKED), 1);
  }
  // Encodings are listed in the order applied: undo them from the last.
  for (let i = encodings.length - 1; i >= 0; i--) {
    const decoded = decode(encodings[i], data, truncated);
    if (decoded === null) {
      ctx.count(BODY_UNDECODABLE);
      // Compressed bytes that do not decode (damaged, or past MAX_DECODED: a bomb) are not shown:
      // whoever reads the entry could decode their start, where the redactor could not look.
      // So are binary bytes in a coding shark does not know.
      if (COMPRESSIONS.has(encodings[i]) || !looksLikeText(data)) {
        out.warning = `body: cannot decode content-encoding ${encodings[i]} (not shown)`;
        return out;
      }
      out.warning = `body: cannot decode content-encoding ${encodings[i]}`;
      break;
    }
    data = decoded;
  }
  inspect?.(data, truncated);
  if (data.length > options.maxBody) {
    data = data.subarray(0, options.maxBody);
    truncated = true;
  }
  if (looksLikeText(data)) out.body = data.toString('utf8');
  else {
    out.body = data.toString('base64');
    out.bodyEncoding = 'base64';
  }
  if (truncated) out.bodyTruncated = true;
  return out;
}

function decode(encoding: string, data: Buffer, partial: boolean): Buffer | null {
  // A body cut at maxBody is a truncated stream: flush what can be decoded
  // instead of failing on the missing end.
  try {
    switch (encoding) {
      case 'gzip':
      case 'x-gzip':
        return zlib.gunzipSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED });
      case 'deflate':
        // Servers send both zlib-wrapped and raw deflate under this name.
        try {
          return zlib.inflateSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED });
        } catch {
          return zlib.inflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: MAX_DECODED });
        }
      case 'br':
        return zlib.brotliDecompressSync(data, {
          finishFlush: partial ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.BROTLI_OPERATION_FINISH,
          maxOutputLength: MAX_DECODED,
        });
      case 'zstd':
        return partial ? zstdDecompressPartial(data, MAX_DECODED) : zstdDecompressSync(data, { maxOutputLength: MAX_DECODED });
      case 'snappy': // Prometheus remote write, Loki and Mimir pushes: the raw block format
        return snappyDecompress(data, MAX_DECODED, partial);
      case 'x-snappy-framed':
        return snappyFramedDecompress(data, MAX_DECODED, partial);
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** Longest chunk-size line of an aws-chunked body (a size, `;chunk-signature=` and 64 hex digits). */
const MAX_CHUNK_LINE = 4096;

/**
 * The data of an aws-chunked body (S3 SigV4 streaming: `SIZE;chunk-signature=SIG` lines before each
 * chunk, a zero-size chunk and trailers at the end). The signatures and trailing checksums are dropped:
 * they describe the data, they are not it. `partial`: a body cut at --max-body gives its whole chunks
 * and the start of the cut one. Null when the framing is not there.
 */
function awsUnchunk(data: Buffer, partial: boolean, max: number): Buffer | null {
  const parts: Buffer[] = [];
  let total = 0;
  let p = 0;
  while (p < data.length) {
    const eol = data.indexOf('\r\n', p);
    if (eol < 0 || eol - p > MAX_CHUNK_LINE) return partial && data.length - p <= MAX_CHUNK_LINE ? Buffer.concat(parts, total) : null;
    const line = data.toString('latin1', p, eol);
    const m = /^([0-9a-fA-F]{1,8})(?:;|$)/.exec(line);
    if (!m) return null;
    const size = parseInt(m[1], 16);
    if (size === 0) return Buffer.concat(parts, total); // trailers follow
    const start = eol + 2;
    const end = Math.min(data.length, start + size);
    if (total + (end - start) > max) return null;
    parts.push(data.subarray(start, end));
    total += end - start;
    if (start + size > data.length) return partial ? Buffer.concat(parts, total) : null;
    p = start + size + 2; // the chunk's CRLF
  }
  return partial ? Buffer.concat(parts, total) : null;
}
