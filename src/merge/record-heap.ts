// The min-heap behind `merge`'s k-way merge of captures: input indices keyed
// by their current record's time (seconds, nanoseconds). Equal times go to
// the input given last, as mergecap does (its scan for the earliest record
// takes "not later than" as earlier, so the last of equals wins), which keeps
// the output packet-for-packet mergecap's. Keys live in typed arrays indexed by input: no object or
// closure per comparison, and only the top ever changes between steps.

export class RecordHeap {
  private readonly order: Int32Array;
  private readonly sec: Float64Array;
  private readonly nsec: Float64Array;
  size = 0;

  constructor(inputs: number) {
    this.order = new Int32Array(inputs);
    this.sec = new Float64Array(inputs);
    this.nsec = new Float64Array(inputs);
  }

  /** The input whose record comes first. */
  get top(): number {
    return this.order[0];
  }

  push(input: number, sec: number, nsec: number): void {
    this.sec[input] = sec;
    this.nsec[input] = nsec;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(input, this.order[parent])) break;
      this.order[i] = this.order[parent];
      i = parent;
    }
    this.order[i] = input;
  }

  /** The top input moved on to a record at (sec, nsec). */
  replaceTop(sec: number, nsec: number): void {
    const input = this.order[0];
    this.sec[input] = sec;
    this.nsec[input] = nsec;
    this.siftDown(input);
  }

  /** The top input ended. */
  pop(): void {
    this.size--;
    if (this.size > 0) this.siftDown(this.order[this.size]);
  }

  private before(a: number, b: number): boolean {
    const sa = this.sec[a];
    const sb = this.sec[b];
    if (sa !== sb) return sa < sb;
    const na = this.nsec[a];
    const nb = this.nsec[b];
    return na !== nb ? na < nb : a > b;
  }

  /** Place `input` at the root and move it down to where it belongs. */
  private siftDown(input: number): void {
    const order = this.order;
    const n = this.size;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(order[right], order[left]) ? right : left;
      if (!this.before(order[child], input)) break;
      order[i] = order[child];
      i = child;
    }
    order[i] = input;
  }
}
