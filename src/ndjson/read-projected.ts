// NDJSON entries reduced to the fields a consumer reads (`map`, `stats`):
// lines are split as bytes (line-spans.ts) and each is projected by the byte
// scanner (json-project.ts); a line the scanner declines is parsed in full by
// parseEntryLine, so bad lines are reported exactly as by readNdjson. The
// entries yielded hold only the fields of the spec (and whole entries for
// declined lines): fine for consumers that read nothing else.

import type { Entry } from '../model/entry.js';
import { LineSplitter } from './line-spans.js';
import { makeProjector, type FieldSpec } from './project.js';
import { badLine, checkedEntry, isBlank, parseEntryLine, type NdjsonReadOptions } from './read.js';

export async function* readProjectedNdjson(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  spec: FieldSpec,
  opts: NdjsonReadOptions = {},
): AsyncGenerator<Entry[]> {
  const project = makeProjector(spec);
  const maxLine = opts.maxLineBytes ?? 64 * 1024 * 1024;
  let batch: Entry[] = [];
  const splitter = new LineSplitter(
    (buf, start, end, lineNo) => {
      const projected = project(buf, start, end);
      // The projected fields are type-checked as a whole line would be (entry-shape.ts).
      const e = projected ? checkedEntry(projected, source, lineNo, opts) : parseEntryLine({ text: buf.toString('utf8', start, end), lineNo }, source, opts);
      if (e) batch.push(e as Entry);
    },
    (lineNo) => badLine(source, lineNo, `line longer than ${maxLine} bytes`, opts),
    isBlank,
    maxLine,
  );
  // What a chunk completed is handed on at once (live pipes), as readRawLines does.
  const take = (): Entry[] => {
    const b = batch;
    batch = [];
    return b;
  };
  if (opts.prefix && opts.prefix.length > 0) splitter.feed(opts.prefix);
  if (batch.length > 0) yield take();
  for await (const chunk of stream) {
    splitter.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (batch.length > 0) yield take();
  }
  splitter.end();
  if (batch.length > 0) yield take();
}
