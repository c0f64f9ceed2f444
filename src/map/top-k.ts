// Space-saving top-k counter (Metwally et al., 2005): the most frequent keys of
// a stream in fixed memory. A key's count is overestimated by at most the
// smallest count held when it entered; keys more frequent than n/capacity are
// always kept. Used for the top paths of each map edge.

export class TopK {
  private readonly counts = new Map<string, number>();

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
    this.counts.set(key, min + n);
  }

  merge(other: TopK): void {
    for (const [k, v] of other.counts) this.add(k, v);
  }

  /** The n largest, most frequent first, ties alphabetically. */
  top(n: number): { key: string; count: number }[] {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, n)
      .map(([key, count]) => ({ key, count }));
  }
}
