// A call between two tapped pods on different nodes is seen by both nodes'
// agents: the client's node and the server's. Keep the first report and drop
// the other — same protocol, endpoints and summary, from another node, with a
// request time within `toleranceMs` (the two nodes stamp the same packets a
// network hop apart). Memory: only the last `windowMs` of calls.

import type { Entry } from '../model/entry.js';

interface Seen {
  node: string;
  timestamp: number;
}

export class CrossNodeDeduper {
  private readonly recent = new Map<string, Seen[]>();
  private readonly order: { key: string; timestamp: number }[] = [];
  private head = 0;
  dropped = 0;

  constructor(
    private readonly toleranceMs = 250,
    private readonly windowMs = 5000,
  ) {}

  /** True when `e` is another node's report of a call already passed on. */
  isDuplicate(e: Entry): boolean {
    const node = e.node?.name ?? '';
    const key = `${e.protocol}|${e.src.ip}|${e.src.port}|${e.dst.ip}|${e.dst.port}|${e.summary}`;
    this.expire(e.timestamp);
    const seen = this.recent.get(key);
    if (seen?.some((s) => s.node !== node && Math.abs(s.timestamp - e.timestamp) <= this.toleranceMs)) {
      this.dropped++;
      return true;
    }
    if (seen) seen.push({ node, timestamp: e.timestamp });
    else this.recent.set(key, [{ node, timestamp: e.timestamp }]);
    this.order.push({ key, timestamp: e.timestamp });
    return false;
  }

  private expire(now: number): void {
    while (this.head < this.order.length && this.order[this.head].timestamp < now - this.windowMs) {
      const { key } = this.order[this.head++];
      const list = this.recent.get(key);
      list?.shift();
      if (list && list.length === 0) this.recent.delete(key);
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
