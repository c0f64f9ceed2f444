// Flows by key, in order of last activity: O(1) lookup, touch, removal and
// "least recently active" — the order idle expiry and memory eviction walk.
// A doubly linked list through the flows themselves, beside a Map for lookup:
// finding the oldest entry of a Map through its iterator skips every deleted
// slot before it, which made evicting the oldest flow quadratic under a flood.

export interface FlowLink<T> {
  readonly key: string;
  older: T | undefined;
  newer: T | undefined;
}

export class FlowTable<T extends FlowLink<T>> {
  private readonly byKey = new Map<string, T>();
  private oldestFlow: T | undefined;
  private newestFlow: T | undefined;

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  /** The least recently active flow. */
  oldest(): T | undefined {
    return this.oldestFlow;
  }

  /** Add a flow as the most recently active (its key must not be present). */
  add(flow: T): void {
    this.byKey.set(flow.key, flow);
    this.append(flow);
  }

  /** Mark a flow as the most recently active. */
  touch(flow: T): void {
    if (this.newestFlow === flow) return;
    this.unlink(flow);
    this.append(flow);
  }

  /** Remove a flow; false when it is not (or no longer) this table's flow for its key. */
  delete(flow: T): boolean {
    if (this.byKey.get(flow.key) !== flow) return false;
    this.byKey.delete(flow.key);
    this.unlink(flow);
    return true;
  }

  /** Oldest to newest; the callback may delete the flow it is given. */
  forEach(fn: (flow: T) => void): void {
    let f = this.oldestFlow;
    while (f) {
      const next: T | undefined = f.newer;
      fn(f);
      f = next;
    }
  }

  private append(flow: T): void {
    flow.older = this.newestFlow;
    flow.newer = undefined;
    if (this.newestFlow) this.newestFlow.newer = flow;
    else this.oldestFlow = flow;
    this.newestFlow = flow;
  }

  private unlink(flow: T): void {
    if (flow.older) flow.older.newer = flow.newer;
    else this.oldestFlow = flow.newer;
    if (flow.newer) flow.newer.older = flow.older;
    else this.newestFlow = flow.older;
    flow.older = undefined;
    flow.newer = undefined;
  }
}
