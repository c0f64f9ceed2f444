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
// A decision depends only on the datagram's own flow, never on other flows,
// so every worker count makes the same ones (src/dissect/parallel/): a
// datagram is forgotten only once the capture is KEEP_MS past it, far longer
// than any copy arrives late, and the table holds that span of a busy node's
// DNS (16k datagrams: 32k a second); a flood past it is not remembered
// (counted as udp.duplicate_check_skipped: its copies, if any, stay copies).

/** Copies are microseconds apart; a retransmission is a timeout away. */
export const DUPLICATE_WINDOW_MS = 2;
/** How long (capture time, behind the newest datagram) a datagram is remembered. */
const KEEP_MS = 500;
/** Datagrams, and their bytes, remembered at once; past either, new ones are not remembered (counted). */
const MAX_REMEMBERED = 16_384;
const MAX_REMEMBERED_BYTES = 4 * 1024 * 1024;

interface Seen {
  time: number;
  payload: Buffer;
}

export class UdpDuplicates {
  private readonly seen = new Map<string, Seen>();
  /** Keys in the order they were remembered, with their time, for forgetting. */
  private readonly order: { key: string; time: number }[] = [];
  private head = 0;
  private bytes = 0;
  private newest = -Infinity;
  /** Datagrams not remembered because the table was full (their copies, if any, go unrecognised). */
  full = 0;

  /** Whether this datagram is a copy of the flow's last one in this direction, moments before or after it. */
  isCopy(flow: string, fromA: boolean, payload: Buffer, now: number): boolean {
    this.forget(now);
    const last = this.seen.get(flow + (fromA ? '>' : '<'));
    return last !== undefined && Math.abs(now - last.time) <= DUPLICATE_WINDOW_MS && last.payload.equals(payload);
  }

  /** Remember a datagram a dissector claimed, to know its copies. */
  remember(flow: string, fromA: boolean, payload: Buffer, now: number): void {
    const key = flow + (fromA ? '>' : '<');
    const before = this.seen.get(key);
    if ((!before && this.seen.size >= MAX_REMEMBERED) || this.bytes + payload.length > MAX_REMEMBERED_BYTES || this.order.length - this.head >= 2 * MAX_REMEMBERED) {
      this.full++;
      return;
    }
    if (before) this.bytes -= before.payload.length;
    this.bytes += payload.length;
    this.seen.set(key, { time: now, payload: Buffer.from(payload) });
    this.order.push({ key, time: now });
  }

  private forget(now: number): void {
    if (now > this.newest) this.newest = now;
    const order = this.order;
    while (this.head < order.length && this.newest - order[this.head].time > KEEP_MS) {
      const { key, time } = order[this.head++];
      // Only the entry this record made (a later datagram of the flow replaced it, with its own record).
      const entry = this.seen.get(key);
      if (entry?.time === time) {
        this.bytes -= entry.payload.length;
        this.seen.delete(key);
      }
    }
    if (this.head > 1024 && this.head * 2 > order.length) {
      order.splice(0, this.head);
      this.head = 0;
    }
  }
}
