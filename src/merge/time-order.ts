// Merges entries (or packets) from several agents into one stream in time
// order. Agents emit a call when it finishes, so a slow call arrives after
// quicker later ones: every item is held `windowMs` (wall clock) after it
// arrived and released in time order. Bounded: past `maxHeld` the earliest
// goes out at once.

import type { Entry } from '../model/entry.js';

interface Held<T> {
  entry: T;
  arrived: number;
}

export class TimeOrderMerger<T = Entry> {
  private heap: Held<T>[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: (e: T) => void,
    private readonly windowMs = 500,
    private readonly maxHeld = 50_000,
    private readonly now: () => number = Date.now,
    private readonly timeOf: (e: T) => number = (e) => (e as Entry).timestamp,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(entry: T): void {
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

  /** Release, in time order, everything stamped at or before `t` (a watermark: nothing earlier can still come). */
  releaseThrough(t: number): void {
    while (this.heap.length > 0 && this.timeOf(this.heap[0].entry) <= t) this.out(this.heapPop().entry);
  }

  /** Release everything now (end of the run). */
  flush(): void {
    while (this.heap.length > 0) this.out(this.heapPop().entry);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private less(a: Held<T>, b: Held<T>): boolean {
    return this.timeOf(a.entry) < this.timeOf(b.entry);
  }

  private heapPush(h: Held<T>): void {
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

  private heapPop(): Held<T> {
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
