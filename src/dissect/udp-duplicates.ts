// The same UDP datagram captured more than once. `tcpdump -i any` on a node
// sees a pod's datagram on its veth, on the bridge and on the peer's veth:
// one DNS lookup becomes three queries and three answers, which the DNS
// parser can only read as two retransmitted queries, one call and two answers
// without a question. TCP needs nothing of the kind (reassembly drops bytes
// it already has); a datagram has no sequence number, so a copy is told by
// its bytes: the same flow, direction and payload within DUPLICATE_WINDOW_MS
// either way (copies from different interfaces reach the file slightly out
// of order). A sender's own retransmission comes a timeout later (DNS: a
// second or more), far outside the window. Only datagrams a dissector
// claimed are remembered: a metrics client may send the same bytes twice in
// a millisecond, and its flow entry counts packets.
//
// Every worker count makes the same decisions (src/dissect/parallel/): a
// decision reads only the datagram's own flow, and datagrams are forgotten
// only at the engine's releases (`forget`), which fall at the same packets
// with any number of workers (the dispatcher sends them to every worker), at
// the capture's newest time then. Forgetting at each datagram, by the newest
// time its engine had seen, did not: a capture whose time steps back (files
// concatenated, `mergecap -a`) had a worker still holding a datagram that one
// thread had forgotten on another flow's later packet, so a copy after the
// step was a copy to one and a second answer to the other. A datagram is kept
// KEEP_MS past the newest time (to the next release: RELEASE_MS later, or
// more in a flood of flows), far longer than any copy arrives late; the table
// holds that span of a busy node's DNS (16k datagrams: 32k a second); a flood
// past it is not remembered (counted as udp.duplicate_check_skipped: its
// copies, if any, stay copies).

/** Copies are microseconds apart; a retransmission is a timeout away. */
export const DUPLICATE_WINDOW_MS = 2;
/** How long (capture time, behind the newest packet at a release) a datagram is remembered at least. */
const KEEP_MS = 400;
/** Datagrams remembered at once; past it, new ones are not remembered (counted). */
const MAX_REMEMBERED = 16_384;

/**
 * A datagram as remembered: its time, length and a 32-bit hash of its bytes
 * (FNV-1a). Not a copy: kept half a second, copies outlived the young
 * generation and were promoted (4–8 MB more RSS, 5 % more CPU on the bench
 * capture's DNS); two different datagrams of one flow and direction within
 * 2 ms that also agree in length and hash are one in 4 billion.
 */
interface Seen {
  time: number;
  length: number;
  hash: number;
}

export class UdpDuplicates {
  /** By flow key, one map per direction (no key string made per datagram). */
  private readonly seen: [Map<string, Seen>, Map<string, Seen>] = [new Map(), new Map()];
  /** What was remembered, in order, with its time, for forgetting. */
  private readonly order: { flow: string; fromA: boolean; seen: Seen }[] = [];
  private head = 0;
  /**
   * The newest time at any release. The table is in the order datagrams were
   * remembered, not their time order, so one older than a step back in time
   * can outstay its KEEP_MS behind a newer one; `isCopy` then takes it as
   * forgotten all the same, as a worker holding only it would have.
   */
  private releasedAt = -Infinity;
  /** Datagrams not remembered because the table was full (their copies, if any, go unrecognised). */
  full = 0;

  /** Whether this datagram is a copy of the flow's last one in this direction, moments before or after it. */
  isCopy(flow: string, fromA: boolean, payload: Buffer, now: number): boolean {
    const last = this.seen[fromA ? 0 : 1].get(flow);
    return (
      last !== undefined &&
      // Forgotten at the last release even if still in the table (behind a later-remembered but newer one).
      this.releasedAt - last.time <= KEEP_MS &&
      Math.abs(now - last.time) <= DUPLICATE_WINDOW_MS &&
      last.length === payload.length &&
      last.hash === fnv1a(payload)
    );
  }

  /** Remember a datagram a dissector claimed, to know its copies. */
  remember(flow: string, fromA: boolean, payload: Buffer, now: number): void {
    const map = this.seen[fromA ? 0 : 1];
    if ((!map.has(flow) && this.seen[0].size + this.seen[1].size >= MAX_REMEMBERED) || this.order.length - this.head >= 2 * MAX_REMEMBERED) {
      this.full++;
      return;
    }
    const seen: Seen = { time: now, length: payload.length, hash: fnv1a(payload) };
    map.set(flow, seen);
    this.order.push({ flow, fromA, seen });
  }

  /** At a release: forget what is more than KEEP_MS behind `now` (the newest packet's time). */
  forget(now: number): void {
    if (now > this.releasedAt) this.releasedAt = now;
    now = this.releasedAt;
    const order = this.order;
    while (this.head < order.length && now - order[this.head].seen.time > KEEP_MS) {
      const { flow, fromA, seen } = order[this.head++];
      const map = this.seen[fromA ? 0 : 1];
      // Only the entry this record made (a later datagram of the flow replaced it, with its own record).
      if (map.get(flow) === seen) map.delete(flow);
    }
    if (this.head > 1024 && this.head * 2 > order.length) {
      order.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** 32-bit FNV-1a of the bytes. */
function fnv1a(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}
