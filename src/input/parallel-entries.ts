// A capture dissected on worker threads (src/dissect/parallel/) as a stream
// of entry batches, for the commands that consume entries (filter, stats,
// map, …) under --workers N. The workers hand back NDJSON lines in the
// single thread's order; they are parsed here into the entries one thread
// would have given (as `shark dissect --workers N | shark stats` would read
// them). Bounded: while QUEUED_BATCHES wait unread, the run stops reading.

import type { Entry } from '../model/entry.js';
import type { WorkerSpec } from '../dissect/parallel/wire.js';
import type { LineOut } from '../dissect/parallel/pool.js';
import { dissectionNotes } from './dissect-summary.js';
import type { StatsWire } from '../stats/aggregate.js';
import type { EntryNumbering } from '../dissect/engine.js';

/** Entries per batch handed to the consumer (a one-thread batch is of the same order). */
const BATCH = 1024;
/** Batches parsed but not yet taken before the run is made to wait. */
const QUEUED_BATCHES = 4;

export interface ParallelEntriesOptions {
  workers: number;
  spec: Omit<WorkerSpec, 'index'>;
  signal?: AbortSignal;
  onWarning: (message: string) => void;
  /** With `spec.aggregate`: each worker's table, at the end (no entries are yielded then). */
  onAggregate?: (table: StatsWire) => void;
  /** Entry ids' sequence, shared with the run's other inputs (EngineOptions.numbering). */
  numbering?: EntryNumbering;
}

export async function* parallelEntries(head: Buffer, rest: AsyncIterable<Buffer>, name: string, opts: ParallelEntriesOptions): AsyncGenerator<Entry[]> {
  const queue: Entry[][] = [];
  let batch: Entry[] = [];
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const poke = (): void => {
    wakeReader?.();
    wakeReader = undefined;
  };
  const sink: LineOut = {
    closed: false,
    write(line: string): Promise<void> | undefined {
      batch.push(JSON.parse(line) as Entry);
      if (batch.length < BATCH) return undefined;
      queue.push(batch);
      batch = [];
      poke();
      if (queue.length < QUEUED_BATCHES) return undefined;
      return new Promise<void>((resolve) => (wakeWriter = resolve));
    },
    async flush(): Promise<void> {
      if (batch.length === 0) return;
      queue.push(batch);
      batch = [];
      poke();
    },
  };
  const { dissectParallel } = await import('../dissect/parallel/pool.js');
  const run = dissectParallel(head, rest, name, {
    workers: opts.workers,
    spec: opts.spec,
    sink,
    limit: Infinity,
    signal: opts.signal ?? new AbortController().signal,
    onWarning: opts.onWarning,
    numbering: opts.numbering,
    // The one-thread path's notes (dissect-stream.ts), from the workers' counters.
    onTotals: (r) => {
      // Aggregated on the workers: the entries counted there were never written here.
      for (const table of r.aggregates) {
        r.entries += table.total.entries;
        opts.onAggregate?.(table);
      }
      for (const note of dissectionNotes(name, r, opts.spec.tlsKeylog !== undefined)) opts.onWarning(note);
    },
  }).then(
    () => {
      finished = true;
      poke();
    },
    (err: unknown) => {
      failure = err;
      finished = true;
      poke();
    },
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next) {
        if (queue.length < QUEUED_BATCHES) {
          wakeWriter?.();
          wakeWriter = undefined;
        }
        yield next;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => (wakeReader = resolve));
    }
    if (failure !== undefined) throw failure;
  } finally {
    // The consumer stopped early (filter --first, an error): the run stops at its next batch.
    if (!finished) {
      (sink as { closed: boolean }).closed = true;
      wakeWriter?.();
      await run;
    }
  }
}
