// Merges entries from several agents into one stream in timestamp order.
// Agents emit a call when it finishes, so a slow call arrives after quicker
// later ones: every entry is held `windowMs` (wall clock) after it arrived and
// released in timestamp order. Bounded: past `maxHeld` the earliest goes out.

import type { Entry } from '../model/entry.js';

interface Held {
  entry: Entry;
  arrived: number;
}

export class TimeOrderMerger {
  private heap: Held[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: (e: Entry) => void,
    private readonly windowMs = 500,
    private readonly maxHeld = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(entry: Entry): void {
    this.heapPush({ entry, arrived: this.now() });
    if (this.heap.length > this.maxHeld) this.out(this.heapPop().entry);
    this.timer ??= setInterval(() => this.release(), Math.max(10, Math.floor(this.windowMs / 4)));
  }

  /** Release everything that has waited its window (called by the timer). */
  release(): void {
    const limit = this.now() - this.windowMs;
    while (this.heap.length > 0 && this.heap[0].arrived <= limit) this.out(this.heapPop().entry);
    if (this.heap.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Release everything now (end of the run). */
  flush(): void {
    while (this.heap.length > 0) this.out(this.heapPop().entry);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private less(a: Held, b: Held): boolean {
    return a.entry.timestamp < b.entry.timestamp;
  }

  private heapPush(h: Held): void {
    const a = this.heap;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  private heapPop(): Held {
    const a = this.heap;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
