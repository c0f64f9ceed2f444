// `shark merge` for entries: NDJSON streams merged by `timestamp` (stable:
// equal timestamps keep input order), written as NDJSON lines; with several
// inputs each id gets its input's number (`2:4-1`) so ids stay unique.

import type { Entry } from '../model/entry.js';
import type { LineSink } from '../output/stdout-sink.js';
import { formatEntry } from '../ndjson/read.js';
import { mergeOrdered } from './merge.js';
import type { Redactor } from '../redact/entry.js';

/** Entries without a numeric timestamp sort first (they cannot be placed, so they are not held back). */
function timeOf(e: Entry): number {
  const t = (e as { timestamp?: unknown }).timestamp;
  return typeof t === 'number' && Number.isFinite(t) ? t : -Infinity;
}

export function compareEntryTime(a: Entry, b: Entry): number {
  const ta = timeOf(a);
  const tb = timeOf(b);
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

export async function mergeEntries(
  inputs: AsyncIterable<Entry[]>[],
  sink: LineSink,
  opts: { signal?: AbortSignal; onSourceError?: (source: number, error: unknown) => void; redact?: Redactor } = {},
): Promise<number> {
  let entries = 0;
  // Entry files come from anywhere (another run's --no-redact, a hand-written line): merged output is redacted like every writer's.
  const redact = opts.redact ?? ((e: Entry) => e);
  // Ids are unique within one run only (frames restart at 1 in every capture): two nodes' streams both
  // hold a "4-1". Prefixing each with its input's number keeps them unique without remembering any.
  const several = inputs.length > 1;
  for await (const { items, sources } of mergeOrdered(inputs, compareEntryTime, opts)) {
    for (let i = 0; i < items.length; i++) {
      const e = items[i];
      if (several) e.id = `${sources[i] + 1}:${String(e.id ?? '')}`;
      const wait = sink.write(formatEntry(redact(e)));
      if (wait) await wait;
    }
    entries += items.length;
    if (sink.closed) break;
  }
  await sink.finish();
  return entries;
}
