// NDJSON entries in and out. A bad line never kills the stream (split2 would
// turn a JSON.parse exception into a stream error): it is reported with its
// line number and skipped, or made fatal with `strict`.
//
// Two layers: readRawLines splits bytes into numbered lines (decoding each
// chunk once, not each line), and the entry readers parse them. Consumers that
// can decide on a line without parsing all of it (shark filter) use the raw
// layer directly with parseEntryLine.

import { InputError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { entryShapeProblem } from './entry-shape.js';
import { entryJson } from './stringify.js';
import { holdsMoreValues, MAX_JSON_VALUES } from './value-count.js';

/** The longest NDJSON line read (bytes) unless a reader is told otherwise; a longer one is a bad line. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface NdjsonReadOptions {
  /** Throw InputError on the first bad line instead of skipping it. */
  strict?: boolean;
  /** Told about each skipped line (one line of text, already with source and line number). */
  onBadLine?: (message: string) => void;
  /** Longest line accepted (bytes); longer lines are reported and skipped. */
  maxLineBytes?: number;
  /** Most JSON values a line may hold (value-count.ts); a line with more is reported and skipped, unparsed. */
  maxLineValues?: number;
  /** Entries per yielded batch. */
  batchSize?: number;
  /** Bytes already read from the stream (a sniffed prefix) that belong before it. */
  prefix?: Buffer;
  /**
   * readRawLines only: decode as latin1, one character per byte ("binary"
   * strings: cheaper to make and to scan than UTF-8 decoding into two-byte
   * strings). Turn a line into real text with binaryToText().
   */
  binary?: boolean;
}

const NEWLINE = 0x0a;

/** An entry with the exact text of its line, for writers that pass unchanged entries through. */
export interface EntryLine {
  entry: Entry;
  /** The line as read (no newline, no trailing CR); undefined when the entry did not come from a line. */
  line?: string;
}

/** One non-blank input line and its 1-based number. */
export interface RawLine {
  text: string;
  lineNo: number;
}

/** Parse a stream of NDJSON into batches of entries, streaming, with line numbers for errors. */
export async function* readNdjson(stream: AsyncIterable<Buffer | string>, source: string, opts: NdjsonReadOptions = {}): AsyncGenerator<Entry[]> {
  for await (const lines of readRawLines(stream, source, opts)) {
    const batch: Entry[] = [];
    for (const l of lines) {
      const e = parseEntryLine(l, source, opts);
      if (e) batch.push(e);
    }
    if (batch.length > 0) yield batch;
  }
}

/** Like readNdjson, keeping each entry's original line (emitting it costs no JSON.stringify). */
export async function* readNdjsonLines(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  opts: NdjsonReadOptions = {},
): AsyncGenerator<EntryLine[]> {
  for await (const lines of readRawLines(stream, source, opts)) {
    const batch: EntryLine[] = [];
    for (const l of lines) {
      const entry = parseEntryLine(l, source, opts);
      if (entry) batch.push({ entry, line: l.text });
    }
    if (batch.length > 0) yield batch;
  }
}

/** Parse one line as an entry; a bad line is reported (or thrown with `strict`) and gives undefined. */
export function parseEntryLine(l: RawLine, source: string, opts: NdjsonReadOptions = {}): Entry | undefined {
  // JSON.parse cannot be interrupted: a line that would keep it busy for seconds is refused before it starts.
  const maxValues = opts.maxLineValues ?? MAX_JSON_VALUES;
  if (holdsMoreValues(l.text, maxValues)) {
    badLine(source, l.lineNo, `more than ${maxValues} JSON values in one line`, opts);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(l.text);
  } catch (err) {
    badLine(source, l.lineNo, `not JSON (${parseProblem(err as Error)})`, opts);
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    badLine(source, l.lineNo, 'not a JSON object', opts);
    return undefined;
  }
  return checkedEntry(value as Record<string, unknown>, source, l.lineNo, opts);
}

/**
 * JSON.parse's message without the piece of the line V8 quotes in it
 * (`Unexpected token 'B', "{"a": Bearer-…" is not valid JSON`): a line may
 * hold a secret, and warnings are read by others. What went wrong stays.
 */
export function parseProblem(err: Error): string {
  const first = err.message.split('\n')[0];
  if (!first.endsWith(' is not valid JSON')) return first;
  const quoted = [first.indexOf(', "'), first.indexOf(', ..."')].filter((i) => i > 0);
  return quoted.length > 0 ? first.slice(0, Math.min(...quoted)) : first;
}

/** The entry when its fields have their types (entry-shape.ts); else the line is reported and undefined. */
export function checkedEntry(value: Record<string, unknown>, source: string, lineNo: number, opts: NdjsonReadOptions): Entry | undefined {
  const problem = entryShapeProblem(value);
  if (problem === undefined) return value as unknown as Entry;
  badLine(source, lineNo, problem, opts);
  return undefined;
}

/** Report (or with `strict`, throw) a bad line, with its source and number. */
export function badLine(source: string, lineNo: number, what: string, opts: NdjsonReadOptions): void {
  if (opts.strict) throw new InputError(source, `at line ${lineNo}`, what);
  opts.onBadLine?.(`${source}: line ${lineNo}: ${what}; skipped`);
}

/** Split a byte stream into numbered, non-blank lines (CR stripped), in batches; oversized lines are reported. */
export async function* readRawLines(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  opts: NdjsonReadOptions = {},
): AsyncGenerator<RawLine[]> {
  const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
  const batchSize = opts.batchSize ?? 512;
  const encoding: BufferEncoding = opts.binary ? 'latin1' : 'utf8';
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;
  let batch: RawLine[] = [];

  const tooLong = (): void => badLine(source, lineNo, `line longer than ${maxLine} bytes`, opts);
  const push = (raw: string): void => {
    lineNo++;
    const text = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (text.length === 0 || isBlank(text)) return;
    if (text.length > maxLine && Buffer.byteLength(text, encoding) > maxLine) return tooLong();
    batch.push({ text, lineNo });
  };

  const feed = function* (chunk: Buffer): Generator<RawLine[]> {
    const last = chunk.lastIndexOf(NEWLINE);
    if (last < 0) {
      // No line ends here: keep the bytes (or only count them once the line is too long).
      if (!oversized) {
        pendingBytes += chunk.length;
        if (pendingBytes > maxLine) {
          oversized = true;
          pending = [];
          pendingBytes = 0;
        } else pending.push(Buffer.from(chunk));
      }
      return;
    }
    // Everything up to the last newline is whole lines: decode it once and split.
    let text: string;
    let skipFirst = false;
    if (oversized) {
      const first = chunk.indexOf(NEWLINE);
      lineNo++;
      oversized = false;
      tooLong();
      text = chunk.subarray(first + 1, last).toString(encoding);
      skipFirst = first === last;
    } else if (pending.length > 0) {
      pending.push(chunk.subarray(0, last));
      text = Buffer.concat(pending).toString(encoding);
      pending = [];
      pendingBytes = 0;
    } else text = chunk.subarray(0, last).toString(encoding);
    if (!skipFirst) {
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) {
          push(start === 0 ? text : text.slice(start));
          break;
        }
        push(text.slice(start, nl));
        start = nl + 1;
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
    }
    if (last + 1 < chunk.length) {
      const rest = chunk.subarray(last + 1);
      pendingBytes = rest.length;
      if (pendingBytes > maxLine) {
        oversized = true;
        pendingBytes = 0;
      } else pending.push(Buffer.from(rest));
    }
    if (batch.length >= batchSize) {
      yield batch;
      batch = [];
    }
  };

  // What a chunk completed is handed on at once: on a live pipe (`tap | filter | stats`)
  // the next chunk may be seconds away. Files come in large chunks, so batches stay large.
  const flushPartial = function* (): Generator<RawLine[]> {
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  };
  if (opts.prefix && opts.prefix.length > 0) {
    yield* feed(opts.prefix);
    yield* flushPartial();
  }
  for await (const chunk of stream) {
    yield* feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    yield* flushPartial();
  }
  if (oversized) {
    lineNo++;
    tooLong();
  } else if (pending.length > 0) push(Buffer.concat(pending).toString(encoding));
  if (batch.length > 0) yield batch;
}

const NON_ASCII = /[\x80-\xff]/;

/** A binary (latin1-decoded) line as real text: UTF-8 decoded when it holds any non-ASCII byte. */
export function binaryToText(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** Blank as trim() sees it (a line of spaces, tabs, NBSP …): skipped silently. */
export function isBlank(s: string): boolean {
  const c = s.charCodeAt(0);
  // Entries start with '{'; only lines starting with whitespace need the full check.
  if (c !== 32 && c !== 9 && c !== 13) return false;
  return s.trim() === '';
}

/** One entry as one NDJSON line (no newline), however deep it nests. */
export function formatEntry(entry: Entry): string {
  return entryJson(entry);
}
