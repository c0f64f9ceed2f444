// k-way merge of already-ordered streams (one cursor per input in a binary
// min-heap), the way mergecap merges: at each step the earliest head wins,
// and on equal keys the input given first wins, so the merge is stable.
// Only one batch per input is held at a time, so memory does not depend on
// file sizes. An input that fails (damaged capture) is reported through
// `onSourceError` and simply ends; the others carry on.

export interface MergeOptions {
  /** Items per yielded batch. */
  batchSize?: number;
  /** Called once per input that threw; that input contributes what it yielded before. */
  onSourceError?: (source: number, error: unknown) => void;
  /** Stop at the next batch boundary when aborted. */
  signal?: AbortSignal;
}

/** One yielded batch: items in merged order and, parallel to them, the index of the input each came from. */
export interface MergedBatch<T> {
  items: T[];
  sources: number[];
}

interface Cursor<T> {
  source: number;
  iterator: AsyncIterator<T[]>;
  batch: T[];
  pos: number;
}

/** Merge `inputs` (each yielding batches in ascending order of `compare`). */
export async function* mergeOrdered<T>(
  inputs: AsyncIterable<T[]>[],
  compare: (a: T, b: T) => number,
  opts: MergeOptions = {},
): AsyncGenerator<MergedBatch<T>> {
  const batchSize = opts.batchSize ?? 4096;
  const cursors = inputs.map((input, source) => ({ source, iterator: input[Symbol.asyncIterator](), batch: [], pos: 0 }) as Cursor<T>);
  const live = await Promise.all(cursors.map((c) => refill(c, opts)));
  const heap = new CursorHeap<T>(compare);
  cursors.forEach((c, i) => {
    if (live[i]) heap.push(c);
  });

  let items: T[] = [];
  let sources: number[] = [];
  try {
    while (heap.size > 0) {
      const top = heap.top;
      items.push(top.batch[top.pos]);
      sources.push(top.source);
      top.pos++;
      if (top.pos < top.batch.length) heap.topChanged();
      else if (await refill(top, opts)) heap.topChanged();
      else heap.popTop();
      if (items.length >= batchSize) {
        yield { items, sources };
        items = [];
        sources = [];
        if (opts.signal?.aborted) return;
      }
    }
    if (items.length > 0) yield { items, sources };
  } finally {
    // Stopped early (EPIPE, Ctrl-C, a consumer's break): let every input close its file.
    await Promise.all(cursors.map((c) => c.iterator.return?.().catch(() => undefined)));
  }
}

/** Load the cursor's next non-empty batch; false when its input is done (or failed). */
async function refill<T>(cursor: Cursor<T>, opts: MergeOptions): Promise<boolean> {
  for (;;) {
    let next: IteratorResult<T[]>;
    try {
      next = await cursor.iterator.next();
    } catch (err) {
      opts.onSourceError?.(cursor.source, err);
      return false;
    }
    if (next.done) return false;
    if (next.value.length > 0) {
      cursor.batch = next.value;
      cursor.pos = 0;
      return true;
    }
  }
}

/** Binary min-heap of cursors ordered by their head item, then by input order. */
class CursorHeap<T> {
  private readonly heap: Cursor<T>[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.heap.length;
  }

  get top(): Cursor<T> {
    return this.heap[0];
  }

  push(cursor: Cursor<T>): void {
    const heap = this.heap;
    heap.push(cursor);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  /** The top cursor's head moved on: restore the heap order. */
  topChanged(): void {
    this.siftDown(0);
  }

  popTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
  }

  private before(a: Cursor<T>, b: Cursor<T>): boolean {
    const c = this.compare(a.batch[a.pos], b.batch[b.pos]);
    return c < 0 || (c === 0 && a.source < b.source);
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i];
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.before(heap[right], heap[left]) ? right : left;
      if (!this.before(heap[child], item)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = item;
  }
}
