// One memory budget for everything a dissection run holds: out-of-order
// segments, bytes a parser buffers (an unfinished head, a message read in
// part), bytes held while a connection's protocol is probed, pending queries,
// a fixed cost per tracked flow, and entries waiting in the reorder buffer.
// Every holder charges a meter; a flow's meter is released whole when the flow
// ends, so a parser that forgets to clear its buffers cannot leak accounting.
// The engine brings the total back under the limit after every packet by
// ending whole flows, least recently active first.
//
// Parsers need not know about any of this: a ByteQueue charges the meter that
// was current when it was created (the engine makes a flow's meter current
// around every call into that flow's parser), so every parser that buffers
// through a ByteQueue is accounted whatever it does with it.

/** The default budget: 200k unanswered SYNs stay under 200 MB RSS with it (docs/architecture.md). */
export const DEFAULT_MEMORY_BUDGET = 32 * 1024 * 1024;

/**
 * Each worker's share of a run's budget among `workers` threads. A budget
 * the user gave is divided as it is. The default is divided too (a run's
 * state, not each thread's: with two workers each held 32 MB of a SYN flood,
 * 255 MB peak against 232 MB divided, and slower), but never below
 * MIN_DEFAULT_SHARE: many workers on a big node keep room for a flow's
 * buffers each, and the default total grows with them.
 */
export function workerShare(budget: number | undefined, workers: number): number {
  if (budget !== undefined) return Math.floor(budget / workers);
  return Math.max(MIN_DEFAULT_SHARE, Math.floor(DEFAULT_MEMORY_BUDGET / workers));
}

const MIN_DEFAULT_SHARE = 16 * 1024 * 1024;

export class MemoryBudget {
  /** Bytes charged now. */
  used = 0;
  /** Most bytes held once the budget was enforced after a packet (within one packet it may run over by that packet). */
  peak = 0;

  constructor(readonly limit: number) {}

  get over(): boolean {
    return this.used > this.limit;
  }

  notePeak(): void {
    if (this.used > this.peak) this.peak = this.used;
  }
}

/** What one holder (a flow, the reorder buffer) has charged to the budget. */
export class Meter {
  bytes = 0;
  private closed = false;

  constructor(private readonly budget: MemoryBudget) {}

  add(n: number): void {
    if (this.closed) return;
    this.bytes += n;
    this.budget.used += n;
  }

  /** The holder is gone (its objects are garbage): give back whatever it still held. */
  close(): void {
    if (this.closed) return;
    this.budget.used -= this.bytes;
    this.bytes = 0;
    this.closed = true;
  }
}

let current: Meter | undefined;

/** The meter of the flow whose parser is running now (undefined outside the engine). */
export function currentMeter(): Meter | undefined {
  return current;
}

/** Make `meter` current; returns the previous one to restore. */
export function enterMeter(meter: Meter | undefined): Meter | undefined {
  const previous = current;
  current = meter;
  return previous;
}
