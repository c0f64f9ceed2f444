// Which worker a flow goes to, chosen when its first packet is routed: the
// worker with the least recent load, not its hash modulo the worker count.
//
// Why: a capture's traffic is not spread evenly over flows. On the bench
// capture one HTTP keep-alive connection is 27 % of the packets and 62 % of
// the bytes, and the hash put it with two others of the largest: 205k of
// 320k packets on one of 2 workers, 164k on one of 4, so more workers barely
// helped. A flow cannot be split (its reassembly and pairing live in one
// engine), but every flow after it can go where there is room.
//
// Deterministic: the choice depends only on the packets routed before, in
// their order, never on timing, so a file gives the same assignment (and, as
// output never depends on which worker took a flow, the same output) on
// every run.
//
// Bounded: flows are remembered by bucket (their symmetric hash, masked), a
// fixed table. Flows whose hashes share a bucket share a worker, which only
// costs balance. A bucket is free again once every engine has walked its
// flows (a tick) at a time when every flow in it had been idle longer than
// any flow may stay: each has then ended in its engine, exactly when the
// single engine ends it, so its next packet starts a new flow anyway, and
// the choice is made afresh.

import { defaultEngineOptions, TOMBSTONE_MS, type EngineOptions } from '../engine.js';

/** Buckets in the table (a power of two): 256k, 3.5 MB. */
const BUCKETS = 1 << 18;
/** Loads are halved every this many packets, so the choice follows recent load, not the whole run's. */
const DECAY_EVERY = 1 << 14;
/**
 * A packet's cost: one unit, plus one per 4 KB. Packets cost about the same
 * whatever their size: on the bench capture the largest flow (86k packets,
 * 78 MB) takes ~1.8 s of one thread, the other 234k packets (42 MB) ~6 s.
 * Weighing bytes at one unit per 512 left the 2 workers at 4.6 and 3.4 s of
 * CPU; per 2–8 KB, within 10 % of each other.
 */
const BYTES_PER_UNIT = 4096;

export class FlowBalancer {
  /** Worker + 1 per bucket; 0: free. */
  private readonly owner = new Uint16Array(BUCKETS);
  /** The latest capture time (ms) of a packet routed by each bucket. */
  private readonly lastSeen = new Float64Array(BUCKETS);
  /** How many ticks there had been when each bucket last routed a packet. */
  private readonly ticksSeen = new Uint32Array(BUCKETS);
  private readonly load: Float64Array;
  private routed = 0;
  /** Ticks so far (ticked()), and the capture time of the latest: ticks follow the dispatcher's latest time, which never goes back. */
  private ticks = 0;
  private tickedAt = -Infinity;

  /**
   * `idleMs`: the longest a flow may stay idle in an engine before a tick
   * ends it and forgets it (flowIdleMs).
   */
  constructor(
    readonly workers: number,
    private readonly idleMs: number,
  ) {
    if (workers < 1 || workers > 0xfffe) throw new RangeError(`workers: ${workers}`);
    this.load = new Float64Array(workers);
  }

  /** The worker for a packet of the flow whose symmetric hash is `hash`, `bytes` long, at capture time `nowMs`. */
  workerFor(hash: number, bytes: number, nowMs: number): number {
    if (this.workers === 1) return 0;
    const b = hash & (BUCKETS - 1);
    let w = this.owner[b] - 1;
    if (w < 0 || this.ended(b)) {
      w = this.leastLoaded();
      this.owner[b] = w + 1;
      this.lastSeen[b] = -Infinity;
    }
    // The latest, not the last: a capture time that goes backwards never makes a bucket look idle.
    if (nowMs > this.lastSeen[b]) this.lastSeen[b] = nowMs;
    this.ticksSeen[b] = this.ticks;
    this.load[w] += 1 + bytes / BYTES_PER_UNIT;
    if (++this.routed % DECAY_EVERY === 0) for (let i = 0; i < this.workers; i++) this.load[i] /= 2;
    return w;
  }

  /**
   * Every engine walks its flows at capture time `nowMs` after the packets
   * routed so far (a tick), ending those idle past their timeouts. Told
   * before the next packet is routed.
   */
  ticked(nowMs: number): void {
    this.ticks++;
    if (nowMs > this.tickedAt) this.tickedAt = nowMs;
  }

  /**
   * Whether every flow of bucket `b` has ended in its engine: a tick came
   * after its last packet, when even its latest packet was older than any
   * flow may stay idle (the engine compares each flow's own last time, which
   * is no later).
   */
  private ended(b: number): boolean {
    return this.ticks > this.ticksSeen[b] && this.tickedAt - this.lastSeen[b] > this.idleMs;
  }

  /** Packets that belong to no flow (not IP): worker 0, counted in its load. */
  unrouted(bytes: number): number {
    this.load[0] += 1 + bytes / BYTES_PER_UNIT;
    return 0;
  }

  private leastLoaded(): number {
    let best = 0;
    for (let i = 1; i < this.workers; i++) if (this.load[i] < this.load[best]) best = i;
    return best;
  }
}

/**
 * The longest a flow can stay idle in an engine built from `engine` and
 * still be remembered after a tick: the idle and request timeouts, and the
 * time an ended TCP connection is remembered to ignore its late packets.
 */
export function flowIdleMs(engine: Partial<Pick<EngineOptions, 'tcpIdleTimeoutMs' | 'udpIdleTimeoutMs' | 'requestTimeoutMs'>>): number {
  const d = defaultEngineOptions;
  return Math.max(engine.tcpIdleTimeoutMs ?? d.tcpIdleTimeoutMs, engine.udpIdleTimeoutMs ?? d.udpIdleTimeoutMs, engine.requestTimeoutMs ?? d.requestTimeoutMs, TOMBSTONE_MS);
}
