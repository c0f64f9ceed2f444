// What `shark dissect` does, as a library: inputs → entries (or packet lines)
// → optional enrichment and redaction → NDJSON on a sink, stopping at a count,
// on abort, or when the reader of stdout goes away.

import type { Entry } from '../model/entry.js';
import type { EngineOptions, EntryNumbering } from '../dissect/engine.js';
import { PacketSummarizer } from '../dissect/packet-summary.js';
import { LineSink } from '../output/stdout-sink.js';
import { ArenaLine, LineArena } from '../output/line-arena.js';
import { JsonBytes } from '../output/json-bytes.js';
import { readEntries, openInput, sniff, detectKind, inputName, notCaptureOrEntries } from './entries.js';
import { openCapture } from '../capture/reader.js';
import { UserError } from '../cli/errors.js';
import { STOPPED, unlessStopped } from './unless-stopped.js';
import { Readable } from 'node:stream';
import type { WorkerSpec } from '../dissect/parallel/wire.js';
import type { WorkerPool } from '../dissect/parallel/pool.js';
import { entryJson } from '../ndjson/stringify.js';

export interface DissectRunOptions {
  inputs: string[];
  engine: Partial<EngineOptions>;
  /** Stop after this many entries (or packets with `packets`). */
  count?: number;
  packets?: boolean;
  /** Applied to each entry before output, in order (enrichment, then redaction). */
  transforms?: ((e: Entry) => Entry | void)[];
  sink: LineSink;
  signal: AbortSignal;
  /** Told when each input is opened (progress display). */
  onOpen?: (name: string, stream: import('node:stream').Readable) => void;
  onWarning: (message: string) => void;
  /**
   * Dissect captures on this many worker threads (1: on this thread). Their
   * redaction then happens in the workers, as `parallel` says, and
   * `transforms` must not redact again (see dissect.ts).
   */
  workers?: number;
  parallel?: Omit<WorkerSpec, 'index'>;
  /** Worker threads to reuse (tests running many captures); default: started for this call, ended after it. */
  pool?: WorkerPool;
}

export interface DissectRunResult {
  entries: number;
  packets: number;
  counters: Record<string, number>;
}

export async function runDissect(opts: DissectRunOptions): Promise<DissectRunResult> {
  if (opts.packets) return runPackets(opts);
  // One sequence for the ids of every input: unique in the run, and a lone file's as they were.
  const numbering: EntryNumbering = { seq: 0 };
  if ((opts.workers ?? 1) > 1 && opts.parallel) return runParallel(opts, numbering);
  return runSingle({ ...opts, numbering });
}

/**
 * Captures on worker threads, input by input; anything else (entries) as
 * always. Output and counters are the single thread's (pool.ts says how).
 */
async function runParallel(opts: DissectRunOptions, numbering: EntryNumbering): Promise<DissectRunResult> {
  const result: DissectRunResult = { entries: 0, packets: 0, counters: {} };
  const limit = opts.count ?? Infinity;
  const list = opts.inputs.length === 0 ? ['-'] : opts.inputs;
  const add = (r: DissectRunResult): void => {
    result.entries += r.entries;
    result.packets += r.packets;
    for (const [k, v] of Object.entries(r.counters)) result.counters[k] = (result.counters[k] ?? 0) + v;
  };
  const { dissectParallel, WorkerPool } = await import('../dissect/parallel/pool.js');
  // One pool for every input (workers start once).
  const pool = opts.pool ?? new WorkerPool(opts.workers as number);
  try {
    for (const path of list) {
      if (result.entries >= limit || opts.sink.closed || opts.signal.aborted) break;
      const name = inputName(path);
      const stream = openInput(path);
      const { head, rest } = await sniff(stream, name, opts.signal);
      const kind = detectKind(head);
      if (kind !== 'pcap' && kind !== 'pcapng') {
        // Entries (or garbage, or nothing): the one-thread path says what it says.
        const again = Readable.from(chain(head, rest));
        add(await runSingle({ ...opts, inputs: ['-'], count: limit - result.entries, stdin: path === '-' ? again : undefined, reopen: path === '-' ? undefined : path, numbering }));
        stream.destroy();
        continue;
      }
      opts.onOpen?.(name, stream);
      try {
        const r = await dissectParallel(head, { [Symbol.asyncIterator]: () => rest }, name, {
          workers: opts.workers as number,
          spec: opts.parallel as Omit<WorkerSpec, 'index'>,
          sink: opts.sink,
          limit: limit - result.entries,
          signal: opts.signal,
          onWarning: opts.onWarning,
          onEntry: () => {
            for (const t of opts.transforms ?? []) t(PLACEHOLDER);
          },
          pool,
          numbering,
        });
        add(r);
      } finally {
        stream.destroy();
      }
    }
  } finally {
    if (pool !== opts.pool) await pool.close();
  }
  await opts.sink.flush();
  return result;
}

/** Transforms left for the main thread under --workers only count (progress): they get this, not an entry. */
const PLACEHOLDER = {} as Entry;

async function* chain(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

async function runSingle(opts: DissectRunOptions & { stdin?: Readable; reopen?: string; numbering: EntryNumbering }): Promise<DissectRunResult> {
  const result: DissectRunResult = { entries: 0, packets: 0, counters: {} };
  const limit = opts.count ?? Infinity;
  const engineOptions: Partial<EngineOptions> & { engineRef?: unknown } = {
    ...opts.engine,
    numbering: opts.numbering,
  };
  const engines: { packets: number; summary(): Record<string, number> }[] = [];
  (engineOptions as any).engineRef = (e: { packets: number; summary(): Record<string, number> }) => engines.push(e);
  const transforms = opts.transforms ?? [];
  // A capture's entries are transformed and serialised as the engine emits them, and wait for their place as
  // lines, each its own size: what the reorder buffer weighs and counts is then what is held. The lines are
  // copied into a LineArena's slabs (line-arena.ts says why and how it stays bounded); a line is written and
  // its room freed when the reorder buffer lets it out. As one-byte strings on V8's heap (round 31) the held
  // lines were the run's largest allocation and most of what its collections copied.
  const json = new JsonBytes();
  const arena = new LineArena();
  engineOptions.hold = (entry: Entry) => {
    let e = entry;
    for (const t of transforms) e = t(e) ?? e;
    const bytes = json.serialise(e) as Buffer;
    return new HeldLine(entry.timestamp, arena.put(bytes, 0, bytes.length));
  };
  try {
    for await (const batch of readEntries(opts.reopen ? [opts.reopen] : opts.inputs, {
      stdin: opts.stdin,
      signal: opts.signal,
      onWarning: opts.onWarning,
      onOpen: opts.onOpen,
      dissect: engineOptions as Record<string, unknown>,
    })) {
      for (let e of batch) {
        let wait: Promise<void> | undefined;
        if (e instanceof HeldLine) {
          const line = e.line;
          wait = opts.sink.writeRange(line.buffer, line.start, line.start + line.length);
          arena.release(line);
        }
        else {
          // Entries read as NDJSON.
          for (const t of transforms) e = t(e) ?? e;
          wait = opts.sink.write(entryJson(e));
        }
        if (wait) await wait;
        if (++result.entries >= limit || opts.sink.closed) break;
      }
      if (result.entries >= limit || opts.sink.closed || opts.signal.aborted) break;
      // A live pipe (`tcpdump -w - | shark dissect`) shows each chunk's calls now.
      await opts.sink.flush();
    }
  } finally {
    await opts.sink.flush();
    for (const e of engines) {
      result.packets += e.packets;
      for (const [k, v] of Object.entries(e.summary())) result.counters[k] = (result.counters[k] ?? 0) + v;
    }
  }
  return result;
}

/** An entry serialised when it was emitted (EngineOptions.hold): its UTF-8 bytes, waiting in the run's LineArena. */
class HeldLine {
  constructor(
    readonly timestamp: number,
    readonly line: ArenaLine,
  ) {}
}

async function runPackets(opts: DissectRunOptions): Promise<DissectRunResult> {
  const result: DissectRunResult = { entries: 0, packets: 0, counters: {} };
  const limit = opts.count ?? Infinity;
  const list = opts.inputs.length === 0 ? ['-'] : opts.inputs;
  try {
    for (const path of list) {
      const name = inputName(path);
      const stream = openInput(path);
      const { head, rest } = await sniff(stream, name, opts.signal);
      const kind = detectKind(head);
      if (kind === 'empty') continue;
      if (kind === 'unknown') throw notCaptureOrEntries(name, head);
      if (kind === 'ndjson') throw new UserError(`${name}: --packets needs a pcap/pcapng capture, not entries`);
      const summarizer = new PacketSummarizer();
      const reader = openCapture(head, { [Symbol.asyncIterator]: () => rest }, name);
      const batches = reader.batches();
      for (;;) {
        // A pipe's writer may stay silent: a stop does not wait for its next packet.
        const next = await unlessStopped(batches.next(), opts.signal);
        if (next === STOPPED || next.done) break;
        const batch = next.value;
        for (const p of batch) {
          const wait = opts.sink.write(JSON.stringify(summarizer.summarize(p)));
          if (wait) await wait;
          if (++result.packets >= limit || opts.sink.closed) break;
        }
        if (result.packets >= limit || opts.sink.closed || opts.signal.aborted) break;
      }
      stream.destroy();
      if (result.packets >= limit || opts.sink.closed || opts.signal.aborted) break;
    }
  } finally {
    await opts.sink.flush();
  }
  return result;
}

// Kept importable from here (commands, tests): they live with the rest of the run's notes.
export { describeLosses, lossCounters } from './dissect-summary.js';
