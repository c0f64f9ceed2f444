// `tap -i … --workers N` and `agent --workers N`: live packets dissected on N
// worker threads. The capture's thread only routes each packet by flow
// (src/dissect/parallel/route.ts: both directions of a connection, and the
// fragments of a datagram once reassembled, reach the same worker) and posts
// per-worker batches; each worker runs the ordinary live engine; entries come
// back as objects and leave in time order: each worker reports its engine's
// low watermark (no later call of it can be earlier), and entries leave once
// every worker's watermark has passed them. Unlike `dissect --workers` (src/dissect/parallel/),
// live output has no single-thread order to reproduce: calls are complete
// and ids stay unique (frame-sequence, frames numbered by the capture).
//
// Bounded: at most MAX_IN_FLIGHT packets posted and not yet dissected; past
// it the generator stops pulling batches, so the capture's own queue (and
// its loss counter) takes the pressure, as it does with one thread.

import { Worker } from 'node:worker_threads';
import type { Entry } from '../model/entry.js';
import { packetTimeMs, type Packet } from '../model/packet.js';
import type { EngineOptions } from '../dissect/engine.js';
import { workerShare } from '../dissect/memory-budget.js';
import { FragmentReassembler } from '../dissect/decode/fragments.js';
import { route } from '../dissect/parallel/route.js';
import { FlowBalancer, flowIdleMs } from '../dissect/parallel/balance.js';
import { workerEntry } from '../dissect/parallel/worker-entry.js';
import { TimeOrderMerger } from '../merge/time-order.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { applyHeapFlags } from '../cli/heap-flags.js';
import type { LiveWorkerInput, LiveWorkerOutput, LiveWorkerSpec, WirePacket } from './live-worker-wire.js';

/** Packets posted to workers and not yet acknowledged, before the capture is left to wait. */
const MAX_IN_FLIGHT = 50_000;
/** Heap limit per worker (MB) unless SHARK_WORKER_HEAP_MB says otherwise (as dissect's workers). */
const DEFAULT_WORKER_HEAP_MB = 256;
/**
 * Entries leave when every worker's watermark has passed them; a worker that
 * says nothing for this long (wall clock) stops holding the others back.
 */
const MAX_HOLD_MS = 3000;
/** How far behind the latest packet a live engine's tick may be: the engine's longest gap between ticks (10 s), and a minute. */
const LIVE_TICK_LAG_MS = 70_000;

export interface LiveParallelOptions {
  workers: number;
  /** Engine options that can cross a thread (no protoSchema/tlsKeys objects: named by path below). */
  engine: Partial<Omit<EngineOptions, 'protoSchema' | 'tlsKeys'>>;
  /** --proto directory and --tls-keylog file, loaded by each worker. */
  proto?: string;
  tlsKeylog?: string;
  /** The workers' engine counters, summed, once they all finished. */
  onSummary?: (counters: Record<string, number>) => void;
}

/** Same shape as dissectPackets(…, {live: true}): batches of packets in, batches of entries out. */
export async function* dissectLiveParallel(batches: AsyncIterable<Packet[]>, opts: LiveParallelOptions): AsyncGenerator<Entry[]> {
  const n = opts.workers;
  const ready: Entry[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const merger = new TimeOrderMerger<Entry>((e) => {
    ready.push(e);
    poke();
  }, MAX_HOLD_MS);
  // Each worker's low watermark: entries up to the lowest of them can go.
  const lows = new Array<number>(n).fill(-Infinity);
  let inFlight = 0;
  let finished = 0;
  let failure: Error | undefined;
  const totals: Record<string, number> = {};
  const spec: LiveWorkerSpec = {
    engine: { ...opts.engine, memoryBudget: workerShare(opts.engine.memoryBudget, n) },
    proto: opts.proto,
    tlsKeylog: opts.tlsKeylog,
  };
  const workers = Array.from({ length: n }, (_, i) => startWorker(i, spec));

  function startWorker(index: number, workerSpec: LiveWorkerSpec): Worker {
    const entry = workerEntry('tap/live-worker');
    const w = new Worker(entry.url, {
      workerData: workerSpec,
      execArgv: entry.execArgv,
      // A bound per worker: a flood of state ends that worker (exit 70 for the run), not the node.
      resourceLimits: { maxOldGenerationSizeMb: Number(process.env.SHARK_WORKER_HEAP_MB) || DEFAULT_WORKER_HEAP_MB },
    });
    // A worker's start undoes the heap flags for every thread (src/cli/heap-flags.ts).
    w.once('online', applyHeapFlags);
    w.on('message', (m: LiveWorkerOutput) => {
      if (m.kind === 'entries') {
        inFlight -= m.packets;
        for (const e of m.entries) merger.push(e);
        lows[index] = m.low;
        merger.releaseThrough(Math.min(...lows));
        poke();
      } else {
        for (const [k, v] of Object.entries(m.counters)) totals[k] = (totals[k] ?? 0) + v;
        finished++;
        poke();
      }
    });
    w.on('error', (err) => {
      failure ??= new UserError(`dissection worker ${index} failed: ${err.message.split('\n')[0]}`, ExitCode.BUG);
      poke();
    });
    w.on('exit', (code) => {
      if (code !== 0) failure ??= new UserError(`dissection worker ${index} exited with code ${code}`, ExitCode.BUG);
      poke();
    });
    return w;
  }

  const frags = new FragmentReassembler();
  const balancer = new FlowBalancer(n, flowIdleMs(opts.engine));
  let latest = -Infinity;
  const post = (batch: Packet[]) => {
    const per: LiveWorkerInput[] = Array.from({ length: n }, () => ({ kind: 'packets', packets: [] }));
    // Live engines tick on their own clocks, at least every LIVE_TICK_LAG_MS behind the packets: a flow idle
    // past its timeouts by then has ended in its worker, and its bucket may be given to another.
    if (latest > -Infinity) balancer.ticked(latest - LIVE_TICK_LAG_MS);
    for (const p of batch) {
      const now = packetTimeMs(p);
      if (now > latest) latest = now;
      const r = route(p.linkType, p.data, frags, now, balancer);
      if (r === null) continue; // a fragment, held until its datagram is whole
      const out = per[r.worker] as Extract<LiveWorkerInput, { kind: 'packets' }>;
      const wire: WirePacket = r.ip ? { ip: r.ip, now, frame: p.frame } : { packet: p };
      out.packets.push(wire);
    }
    for (let i = 0; i < n; i++) {
      const b = per[i] as Extract<LiveWorkerInput, { kind: 'packets' }>;
      if (b.packets.length === 0) continue;
      inFlight += b.packets.length;
      workers[i].postMessage(b);
    }
  };
  const drain = function* (): Generator<Entry[]> {
    if (ready.length > 0) yield ready.splice(0, ready.length);
  };
  const waitFor = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (cond() || failure) resolve();
        else wake = check;
      };
      check();
    });

  try {
    const it = batches[Symbol.asyncIterator]();
    let next = it.next();
    for (;;) {
      // Entries ready, or the next batch: whichever comes first.
      const got = await Promise.race([next, new Promise<'entries'>((r) => (wake = () => r('entries')))]);
      if (failure) throw failure;
      yield* drain();
      if (got === 'entries') continue;
      if (got.done) break;
      post(got.value);
      // Too much posted and not yet dissected: let the workers catch up before reading more.
      if (inFlight > MAX_IN_FLIGHT) await waitFor(() => inFlight <= MAX_IN_FLIGHT / 2);
      next = it.next();
    }
    for (const w of workers) w.postMessage({ kind: 'finish' } satisfies LiveWorkerInput);
    while (finished < n) {
      await waitFor(() => finished >= n || ready.length > 0);
      if (failure) throw failure;
      yield* drain();
    }
    merger.flush();
    yield* drain();
    opts.onSummary?.(totals);
  } finally {
    merger.flush();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
