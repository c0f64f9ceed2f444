// A call between two tapped pods on different nodes is seen by both nodes'
// agents: the client's node and the server's. Keep one report — same
// protocol, client address and summary, from another node, with a request
// time within `toleranceMs` (the two nodes stamp the same packets a network
// hop apart). Memory: only the last `windowMs` of calls.
//
// Through a Service the two reports differ in their destination: the client's
// node saw the call before kube-proxy's DNAT (dst = the ClusterIP and service
// port), the server's node after it (dst = the backend pod and target port).
// So the destination is not part of the key; two reports match when their
// destinations are equal, or one of them is a Service address whose port
// leads to the other's port. The report kept is the client's view, as a
// node's own per-pod capture does (src/capture/per-pod/once.ts): when the
// server's node reported first, the client's destination is copied into it
// while it still waits in the merge window.

import type { Endpoint, Entry } from '../model/entry.js';
import type { ServiceInfo } from '../model/cluster.js';

/** The Service listening on a ClusterIP and port, if any. */
export type ServiceAt = (ip: string, port: number) => ServiceInfo | undefined;

interface Seen {
  node: string;
  timestamp: number;
  entry: Entry;
}

export class CrossNodeDeduper {
  private readonly recent = new Map<string, Seen[]>();
  private readonly order: { key: string; timestamp: number }[] = [];
  private head = 0;
  dropped = 0;

  constructor(
    private readonly toleranceMs = 250,
    private readonly windowMs = 5000,
    private readonly serviceAt: ServiceAt = () => undefined,
  ) {}

  /** True when `e` is another node's report of a call already passed on. */
  isDuplicate(e: Entry): boolean {
    const node = e.node?.name ?? '';
    const key = `${e.protocol}|${e.src.ip}|${e.src.port}|${e.summary}`;
    this.expire(e.timestamp);
    const seen = this.recent.get(key);
    const same = seen?.find((s) => s.node !== node && Math.abs(s.timestamp - e.timestamp) <= this.toleranceMs && this.sameDestination(s.entry.dst, e.dst));
    if (same) {
      this.dropped++;
      if (e.tapped?.side === 'client' && same.entry.tapped?.side !== 'client') {
        same.entry.dst = e.dst;
        same.entry.tapped = e.tapped;
      }
      return true;
    }
    if (seen) seen.push({ node, timestamp: e.timestamp, entry: e });
    else this.recent.set(key, [{ node, timestamp: e.timestamp, entry: e }]);
    this.order.push({ key, timestamp: e.timestamp });
    return false;
  }

  private sameDestination(a: Endpoint, b: Endpoint): boolean {
    if (a.ip === b.ip && a.port === b.port) return true;
    return this.leadsTo(a, b) || this.leadsTo(b, a);
  }

  /** `front` is a Service address whose port forwards to `back`'s port. */
  private leadsTo(front: Endpoint, back: Endpoint): boolean {
    const svc = this.serviceAt(front.ip, front.port);
    if (!svc) return false;
    const port = svc.ports.find((p) => p.port === front.port);
    if (!port) return svc.ports.length === 0;
    const target = port.targetPort ?? port.port;
    // A named target port is resolved per pod; the pod side's own port is then trusted.
    return typeof target === 'string' || target === back.port;
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
