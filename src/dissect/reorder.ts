// Entries leave the engine in order of their request timestamps even though
// calls finish out of order (a slow response, an unanswered request timing
// out). Held entries are released once capture time has moved `windowMs` past
// them; the window is at least the request timeout, so nothing older can still
// arrive. Bounded: past `maxHeld` the oldest is released early (a call that
// finishes later than that many newer ones then passes straight through).
// What it holds is charged to the memory budget (an estimate per entry); the
// engine lets the oldest out early when the buffer alone holds too much.

import type { Entry } from '../model/entry.js';
import type { Meter } from './memory-budget.js';

/** Rough heap bytes of an entry (its objects, strings and kept bodies), to charge the budget. */
export function entryWeight(e: Entry): number {
  // Held as its NDJSON line (EngineOptions.hold): the line is most of it.
  const line = (e as { line?: { readonly length: number } }).line;
  if (line !== undefined) return 256 + line.length;
  const budget = { nodes: 256 };
  return 1024 + approxBytes(e.request, 0, budget) + approxBytes(e.response, 0, budget);
}

/**
 * Bytes of a request/response record, from its strings and fields (not
 * exact: sizes on the wire say nothing of what was kept). Walks a bounded
 * number of nodes: a deep or huge record is counted in part, never slowly.
 */
function approxBytes(v: unknown, depth: number, budget: { nodes: number }): number {
  if (typeof v === 'string') return 16 + v.length;
  if (v === null || typeof v !== 'object' || depth > 4 || --budget.nodes < 0) return 16;
  let n = 64;
  if (Array.isArray(v)) {
    for (const x of v) n += approxBytes(x, depth + 1, budget);
    return n;
  }
  for (const k in v as Record<string, unknown>) n += 16 + k.length + approxBytes((v as Record<string, unknown>)[k], depth + 1, budget);
  return n;
}

export class ReorderBuffer {
  private heap: Entry[] = [];
  private seqs: number[] = [];
  private weights: number[] = [];
  private seq = 0;
  private released = -Infinity;

  constructor(
    private readonly windowMs: number,
    private readonly maxHeld: number,
    private readonly out: (e: Entry) => void,
    private readonly meter?: Meter,
  ) {}

  /** The earliest timestamp held (Infinity when empty). */
  get earliest(): number {
    return this.heap.length > 0 ? this.heap[0].timestamp : Infinity;
  }

  get size(): number {
    return this.heap.length;
  }

  add(e: Entry): void {
    if (e.timestamp <= this.released || this.windowMs <= 0) {
      // Too late to order (or ordering off): pass straight through.
      this.out(e);
      return;
    }
    this.push(e);
    if (this.heap.length > this.maxHeld) this.pop();
  }

  /** Release everything with timestamp <= nowMs - window. */
  advance(nowMs: number): void {
    const limit = nowMs - this.windowMs;
    while (this.heap.length > 0 && this.heap[0].timestamp <= limit) this.pop();
  }

  /** Release everything with timestamp <= limitMs (nothing older can still come). */
  releaseThrough(limitMs: number): void {
    while (this.heap.length > 0 && this.heap[0].timestamp <= limitMs) this.pop();
  }

  flush(): void {
    while (this.heap.length > 0) this.pop();
  }

  /** Let the oldest held entry out now (the memory budget needs its room). */
  releaseOldest(): void {
    if (this.heap.length > 0) this.pop();
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i].timestamp;
    const b = this.heap[j].timestamp;
    return a < b || (a === b && this.seqs[i] < this.seqs[j]);
  }

  private swap(i: number, j: number): void {
    // Plain temporaries: a destructuring swap allocated arrays on this hot path.
    const h = this.heap;
    const s = this.seqs;
    const w = this.weights;
    const e = h[i];
    h[i] = h[j];
    h[j] = e;
    const q = s[i];
    s[i] = s[j];
    s[j] = q;
    const x = w[i];
    w[i] = w[j];
    w[j] = x;
  }

  private push(e: Entry): void {
    this.heap.push(e);
    this.seqs.push(this.seq++);
    if (this.meter) {
      const weight = entryWeight(e);
      this.weights.push(weight);
      this.meter.add(weight);
    } else this.weights.push(0);
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): void {
    const top = this.heap[0];
    this.meter?.add(-this.weights[0]);
    const lastE = this.heap.pop() as Entry;
    const lastS = this.seqs.pop() as number;
    const lastW = this.weights.pop() as number;
    if (this.heap.length > 0) {
      this.heap[0] = lastE;
      this.seqs[0] = lastS;
      this.weights[0] = lastW;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.heap.length && this.less(l, m)) m = l;
        if (r < this.heap.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    if (top.timestamp > this.released) this.released = top.timestamp;
    this.out(top);
  }
}
