// NDJSON entries in and out. A bad line never kills the stream (split2 would
// turn a JSON.parse exception into a stream error): it is reported with its
// line number and skipped, or made fatal with `strict`.

import { InputError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';

export interface NdjsonReadOptions {
  /** Throw InputError on the first bad line instead of skipping it. */
  strict?: boolean;
  /** Told about each skipped line (one line of text, already with source and line number). */
  onBadLine?: (message: string) => void;
  /** Longest line accepted (bytes); longer lines are reported and skipped. */
  maxLineBytes?: number;
  /** Entries per yielded batch. */
  batchSize?: number;
  /** Bytes already read from the stream (a sniffed prefix) that belong before it. */
  prefix?: Buffer;
}

const NEWLINE = 0x0a;

/** An entry with the exact text of its line, for writers that pass unchanged entries through. */
export interface EntryLine {
  entry: Entry;
  /** The line as read (no newline, no trailing CR); undefined when the entry did not come from a line. */
  line?: string;
}

/** Parse a stream of NDJSON into batches of entries, streaming, with line numbers for errors. */
export function readNdjson(stream: AsyncIterable<Buffer | string>, source: string, opts: NdjsonReadOptions = {}): AsyncGenerator<Entry[]> {
  return readLines(stream, source, opts, (entry) => entry);
}

/** Like readNdjson, keeping each entry's original line (emitting it costs no JSON.stringify). */
export function readNdjsonLines(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  opts: NdjsonReadOptions = {},
): AsyncGenerator<EntryLine[]> {
  return readLines(stream, source, opts, (entry, line) => ({ entry, line }));
}

async function* readLines<T>(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  opts: NdjsonReadOptions,
  wrap: (entry: Entry, line: string) => T,
): AsyncGenerator<T[]> {
  const maxLine = opts.maxLineBytes ?? 64 * 1024 * 1024;
  const batchSize = opts.batchSize ?? 512;
  let lineNo = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false;
  let batch: T[] = [];

  const handleLine = (raw: string): void => {
    lineNo++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      bad(`not JSON (${(err as Error).message.split('\n')[0]})`);
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      bad('not a JSON object');
      return;
    }
    batch.push(wrap(value as Entry, text));
  };
  const bad = (what: string): void => {
    if (opts.strict) throw new InputError(source, `at line ${lineNo}`, what);
    opts.onBadLine?.(`${source}: line ${lineNo}: ${what}; skipped`);
  };

  const feed = function* (chunk: Buffer): Generator<T[]> {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (oversized) {
        lineNo++;
        oversized = false;
        pending = [];
        pendingBytes = 0;
        if (opts.strict) throw new InputError(source, `at line ${lineNo}`, `line longer than ${maxLine} bytes`);
        opts.onBadLine?.(`${source}: line ${lineNo}: longer than ${maxLine} bytes; skipped`);
      } else if (pending.length > 0) {
        pending.push(piece);
        handleLine(Buffer.concat(pending).toString('utf8'));
        pending = [];
        pendingBytes = 0;
      } else {
        handleLine(piece.toString('utf8'));
      }
      start = nl + 1;
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (start < chunk.length && !oversized) {
      const rest = chunk.subarray(start);
      pendingBytes += rest.length;
      if (pendingBytes > maxLine) {
        oversized = true;
        pending = [];
        pendingBytes = 0;
      } else pending.push(Buffer.from(rest));
    }
  };

  // What a chunk completed is handed on at once: on a live pipe (`tap | stats`)
  // the next chunk may be seconds away. Files come in large chunks, so batches stay large.
  const flushPartial = function* (): Generator<T[]> {
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
    bad(`line longer than ${maxLine} bytes`);
  } else if (pending.length > 0) handleLine(Buffer.concat(pending).toString('utf8'));
  if (batch.length > 0) yield batch;
}

/** One entry as one NDJSON line (no newline). */
export function formatEntry(entry: Entry): string {
  return JSON.stringify(entry);
}
