// Space-saving top-k counter (Metwally et al., 2005): the most frequent keys of
// a stream in fixed memory. A key's count is overestimated by at most the
// smallest count held when it entered; keys more frequent than n/capacity are
// always kept. Used for the top paths of each map edge. Each key also keeps
// that overestimate (the count it inherited), so a reader is told which
// counts are exact and the least each approximate one certainly is.

export class TopK {
  private readonly counts = new Map<string, number>();
  /** Per key: how much of its count it may owe to the key it evicted (0: exact). */
  private readonly errors = new Map<string, number>();

  constructor(private readonly capacity = 20) {}

  add(key: string, n = 1): void {
    const c = this.counts.get(key);
    if (c !== undefined) {
      this.counts.set(key, c + n);
      return;
    }
    if (this.counts.size < this.capacity) {
      this.counts.set(key, n);
      return;
    }
    let minKey = '';
    let min = Infinity;
    for (const [k, v] of this.counts) {
      if (v < min || (v === min && k > minKey)) {
        min = v;
        minKey = k;
      }
    }
    this.counts.delete(minKey);
    this.errors.delete(minKey);
    this.counts.set(key, min + n);
    this.errors.set(key, min);
  }

  merge(other: TopK): void {
    for (const [k, v] of other.counts) {
      this.add(k, v);
      // The other side's overestimate of k carries over.
      const extra = other.errors.get(k) ?? 0;
      if (extra > 0) this.errors.set(k, (this.errors.get(k) ?? 0) + extra);
    }
  }

  /**
   * The n largest, most frequent first; among equal counts the ones more
   * certainly seen first (a key that inherited its count from an evicted one
   * is no match for one seen that often), then alphabetically. `atLeast` is
   * the count certainly seen (count minus the overestimate); equal to count
   * when the key was never evicted into.
   */
  top(n: number): { key: string; count: number; atLeast: number }[] {
    return [...this.counts]
      .map(([key, count]) => ({ key, count, atLeast: Math.max(0, count - (this.errors.get(key) ?? 0)) }))
      .sort((a, b) => b.count - a.count || b.atLeast - a.atLeast || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, n);
  }
}
