// Message bodies: collect at most maxBody bytes while counting all of them,
// undo Content-Encoding, and render the result for the entry (text when it
// reads as text, base64 otherwise).
import * as zlib from 'node:zlib';
import type { DissectOptions } from '../../api.js';
import { looksLikeText } from './text.js';
import { zstdDecompressPartial, zstdDecompressSync } from './zstd.js';

/** Keeps the first `limit` bytes of a body and counts the rest. */
export class BodyCollector {
  private parts: Buffer[] = [];
  private kept = 0;
  /** Body bytes seen (after transfer decoding, before content decoding). */
  size = 0;

  constructor(private readonly limit: number) {}

  add(data: Buffer): void {
    this.size += data.length;
    const room = this.limit - this.kept;
    if (room <= 0 || data.length === 0) return;
    const part = data.length <= room ? data : data.subarray(0, room);
    this.parts.push(Buffer.from(part));
    this.kept += part.length;
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
/** The content codings decode() undoes; any other is left as it came. */
const COMPRESSIONS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd']);

/**
 * Render a collected body for the entry. `contentEncoding` is the header value
 * (gzip, deflate, br, or a list); unknown encodings are left as they are.
 */
export function renderBody(collector: BodyCollector, contentEncoding: string | undefined, options: DissectOptions): RenderedBody {
  const out: RenderedBody = { bodySize: collector.size };
  if (options.noBodies || collector.size === 0) return out;
  let data = collector.bytes();
  let truncated = collector.truncated;
  const encodings = (contentEncoding ?? '')
    .toLowerCase()
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e !== 'identity');
  // Encodings are listed in the order applied: undo them from the last.
  for (let i = encodings.length - 1; i >= 0; i--) {
    const decoded = decode(encodings[i], data, truncated);
    if (decoded === null) {
      // Compressed bytes that do not decode (damaged, or past MAX_DECODED: a bomb) are not shown:
      // whoever reads the entry could decode their start, where the redactor could not look.
      if (COMPRESSIONS.has(encodings[i])) {
        out.warning = `body: cannot decode content-encoding ${encodings[i]} (not shown)`;
        return out;
      }
      out.warning = `body: cannot decode content-encoding ${encodings[i]}`;
      break;
    }
    data = decoded;
  }
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
      default:
        return null;
    }
  } catch {
    return null;
  }
}
