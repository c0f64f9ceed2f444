// The engine's driver for a stream of packet batches: pushes each batch's
// packets into one engine, looking one batch ahead so a packet stamped
// earlier than those before it still finds its place, ticks a live capture's
// engine when no packet comes, and yields the entries as they are released.
// The helpers below are shared with the parallel dispatcher (parallel/pool.ts).

import type { Entry } from '../model/entry.js';
import { type Packet } from '../model/packet.js';
import { asBatch, type PacketBatch } from '../model/packet-batch.js';
import { growYoungGeneration } from '../cli/heap-flags.js';
import { STOPPED, unlessStopped } from '../input/unless-stopped.js';
import { CUT_BY_SNAPLEN, DissectionEngine, type EngineOptions } from './engine.js';

/** Timestamps of packets [from, to) never step back, nor past `after` (the next batch's earliest). */
export function inOrder(batch: PacketBatch, from: number, to: number, after: number): boolean {
  let last = -Infinity;
  for (let i = from; i < to; i++) {
    const t = batch.timeMs(i);
    if (t < last) return false;
    last = t;
  }
  return last <= after;
}

export function earliest(batch: PacketBatch): number {
  let min = Infinity;
  for (let i = 0; i < batch.length; i++) min = Math.min(min, batch.timeMs(i));
  return min;
}

/** For each packet of [from, to), the earliest time of the packets after it (`after` past the last). */
export function horizons(batch: PacketBatch, from: number, to: number, after: number): Float64Array {
  const later = new Float64Array(to - from);
  let min = after;
  for (let i = to - 1; i >= from; i--) {
    later[i - from] = min;
    min = Math.min(min, batch.timeMs(i));
  }
  return later;
}

/** Push packets [from, to) of a batch, telling the engine before each packet the earliest time still to come. */
function pushWithHorizon(engine: DissectionEngine, batch: PacketBatch, from: number, to: number, after: number): void {
  if (inOrder(batch, from, to, after)) {
    // The usual case: time only goes forward, which the engine assumes anyway.
    engine.setHorizon(Infinity);
    for (let i = from; i < to; i++) {
      if (batch.cut(i)) engine.count(CUT_BY_SNAPLEN);
      engine.pushFrame(batch.linkType(i), batch.data(i), batch.timeMs(i), batch.frameNumber(i));
    }
    return;
  }
  const later = horizons(batch, from, to, after);
  for (let i = from; i < to; i++) {
    engine.setHorizon(later[i - from]);
    if (batch.cut(i)) engine.count(CUT_BY_SNAPLEN);
    engine.pushFrame(batch.linkType(i), batch.data(i), batch.timeMs(i), batch.frameNumber(i));
  }
}

/** Dissect batches of packets into batches of entries (request-time order). */
export async function* dissectPackets(
  batches: AsyncIterable<Packet[] | PacketBatch>,
  options: Partial<EngineOptions> & { live?: boolean; signal?: AbortSignal; engineRef?: (e: DissectionEngine) => void } = {},
): AsyncGenerator<Entry[]> {
  let out: Entry[] = [];
  const engine = new DissectionEngine(options, (e) => out.push(e));
  options.engineRef?.(engine);
  const it = batches[Symbol.asyncIterator]();
  let next = settle(it.next());
  let packets = 0;
  // A damaged capture throws after its last good packet: finish what was read first.
  let failure: unknown;
  let turnStarted = performance.now();
  for (;;) {
    // A stop does not wait for a silent pipe's next packet (`tcpdump -w fifo` with no traffic).
    const result = options.live ? await within(next, 500) : options.signal ? await unlessStopped(next, options.signal) : await next;
    if (result === STOPPED) break;
    if (result === TICK) {
      engine.advance(Date.now());
    } else if ('error' in result) {
      failure = result.error;
      break;
    } else {
      if (result.done) break;
      next = settle(it.next());
      const batch = asBatch(result.value);
      if (packets < GROW_AFTER_PACKETS && (packets += batch.length) >= GROW_AFTER_PACKETS) growYoungGeneration();
      if (options.live) for (let i = 0; i < batch.length; i++) engine.push(batch.packet(i));
      else {
        // Look one batch ahead (briefly, for a pipe that pauses): a packet
        // stamped earlier than those before it must still find its place.
        const ahead = await within(next, LOOKAHEAD_WAIT_MS);
        const after = ahead === TICK || 'error' in ahead || ahead.done ? Infinity : earliest(asBatch(ahead.value));
        const later = laterMinimum(batch, after);
        let sliceStart = 0;
        for (let i = 0; i < batch.length; ) {
          const end = Math.min(i + CLOCK_EVERY, batch.length);
          pushWithHorizon(engine, batch, i, end, later[end]);
          i = end;
          // A packet may cost milliseconds (a resumed TLS session tried against 2,048 logged master
          // secrets): past TURN_MS the event loop gets a turn, so that a signal is seen mid-batch.
          const turn = performance.now() - turnStarted > TURN_MS;
          if (!turn && i - sliceStart < SLICE) continue;
          sliceStart = i;
          // A chunk of tiny packets (a flood) is tens of thousands: hand their
          // entries on a slice at a time rather than all of them at once.
          if (out.length > 0 && i < batch.length) {
            const ready = out;
            out = [];
            yield ready;
          }
          if (turn) {
            await nextTurn();
            turnStarted = performance.now();
            if (options.signal?.aborted) break;
          }
        }
      }
    }
    if (out.length > 0) {
      const ready = out;
      out = [];
      yield ready;
    }
    if (options.signal?.aborted) break;
  }
  engine.finish();
  if (out.length > 0) yield out;
  if (failure !== undefined) throw failure;
}

/** Packets after which a run is long enough to give this thread a larger young generation (heap-flags.ts). */
const GROW_AFTER_PACKETS = 20_000;

/** Packets pushed between two hand-offs of entries. */
export const SLICE = 2048;
/** Packets pushed between two looks at the clock. */
const CLOCK_EVERY = 16;
/**
 * Work (ms) between two turns of the event loop: a signal (Ctrl-C, SIGTERM) is handled only on a
 * turn, and one 50 KB batch of made-up TLS resumptions held the thread for seconds.
 */
const TURN_MS = 100;

/** A turn of the event loop (signals, I/O), not only of the microtask queue a `yield` gives. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `later[i]`: the earliest time among packets i… of the batch and `after` (later[length] = after). */
export function laterMinimum(batch: PacketBatch, after: number): Float64Array {
  const later = new Float64Array(batch.length + 1);
  let min = after;
  later[batch.length] = min;
  for (let i = batch.length - 1; i >= 0; i--) {
    min = Math.min(min, batch.timeMs(i));
    later[i] = min;
  }
  return later;
}

export const TICK = Symbol('tick');
/** How long a reader waits for the next batch before trusting time to go forward. */
export const LOOKAHEAD_WAIT_MS = 100;

/** `p`, or TICK when it takes longer than `ms` (the timer is cleared either way). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TICK> {
  let timer: NodeJS.Timeout | undefined;
  const tick = new Promise<typeof TICK>((resolve) => (timer = setTimeout(() => resolve(TICK), ms)));
  try {
    return await Promise.race([p, tick]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise that never rejects (a failure is kept for after the batches read before it). */
export function settle<T>(p: Promise<T>): Promise<T | { error: unknown }> {
  return p.catch((error: unknown) => ({ error }));
}
