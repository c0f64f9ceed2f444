// A map bounded to its `cap` alphabetically first keys. Which keys a bounded
// table keeps must not depend on the order entries arrive in: `stats
// --workers N` aggregates on each worker and merges the tables, and the
// result must be the one thread's. "The first N keys seen" depends on order;
// "the N smallest keys" does not, and merges exactly: a key among the N
// smallest of all is among the N smallest of any worker that saw it, so no
// worker can have folded it away. Once full, a smaller key displaces the
// largest (kept in a max-heap); a key that is not smaller is refused.

export class FirstKeys<V> {
  readonly map = new Map<string, V>();
  /** Max-heap of the keys in `map`: heap[0] is the largest. */
  private readonly heap: string[] = [];
  /** Times a key was refused or displaced. */
  dropped = 0;

  constructor(readonly cap: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /**
   * The value kept for `key`, made for it when it is among the first `cap`
   * keys; undefined when it is not. A key it displaces is handed to `evicted`.
   */
  admit(key: string, make: () => V, evicted?: (key: string, value: V) => void): V | undefined {
    const got = this.map.get(key);
    if (got !== undefined) return got;
    if (this.map.size >= this.cap) {
      const largest = this.heap[0];
      this.dropped++;
      if (largest === undefined || !(key < largest)) return undefined;
      const value = this.map.get(largest) as V;
      this.map.delete(largest);
      evicted?.(largest, value);
      this.heap[0] = key;
      this.siftDown(0);
    } else this.push(key);
    const value = make();
    this.map.set(key, value);
    return value;
  }

  private push(key: string): void {
    const h = this.heap;
    let i = h.push(key) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!(h[parent] < h[i])) break;
      [h[parent], h[i]] = [h[i], h[parent]];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < h.length && h[l] > h[top]) top = l;
      if (r < h.length && h[r] > h[top]) top = r;
      if (top === i) return;
      [h[top], h[i]] = [h[i], h[top]];
      i = top;
    }
  }
}
