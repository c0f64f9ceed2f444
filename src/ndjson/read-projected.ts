// NDJSON entries reduced to the fields a consumer reads (`map`, `stats`),
// read by LineEntries (line-entries.ts): bad lines are reported exactly as
// by readNdjson. The entries yielded hold only the fields of the spec (and
// whole entries for declined lines): fine for consumers that read nothing else.

import type { Entry } from '../model/entry.js';
import { LineEntries } from './line-entries.js';
import type { FieldSpec } from './project.js';
import type { NdjsonReadOptions } from './read.js';

export async function* readProjectedNdjson(
  stream: AsyncIterable<Buffer | string>,
  source: string,
  spec: FieldSpec,
  opts: NdjsonReadOptions = {},
): AsyncGenerator<Entry[]> {
  let batch: Entry[] = [];
  const lines = new LineEntries(source, spec, (e) => batch.push(e), opts);
  // What a chunk completed is handed on at once (live pipes), as readRawLines does.
  const take = (): Entry[] => {
    const b = batch;
    batch = [];
    return b;
  };
  if (opts.prefix && opts.prefix.length > 0) lines.feed(opts.prefix);
  if (batch.length > 0) yield take();
  for await (const chunk of stream) {
    lines.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (batch.length > 0) yield take();
  }
  lines.end();
  if (batch.length > 0) yield take();
}
