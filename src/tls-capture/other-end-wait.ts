// When both ends of a connection are hooked on one node, the entry names the
// client's process and the server's as its peer (tap.ts annotate). Which end's
// events arrive first is a matter of scheduling: a client descheduled between
// its send and the probe on its TLS call's return lets the server read,
// answer and be reported first (or a Go server's events trail curl's), and
// the call would come out named after one end alone, the other end's events
// following a few milliseconds later. So an entry waits a little until both
// its ends are known (and the entries after it wait too, keeping their
// order); one whose other end is off the node waits the whole time for
// nothing, and then goes.

import type { Entry } from '../model/entry.js';
import { endpointKey, type ConnectionTable } from './connections.js';

/** How long an entry waits for its other end's events. */
export const OTHER_END_WAIT_MS = 300;
/** Entries held at once; past it the oldest goes without waiting longer (counted). */
export const MAX_WAITING = 10_000;

export class OtherEndWait {
  private held: { e: Entry; at: number }[] = [];
  private next = 0;
  /** Entries that went before their wait was over because too many waited. */
  cutShort = 0;

  constructor(
    private readonly table: ConnectionTable,
    private readonly waitMs = OTHER_END_WAIT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.held.length - this.next;
  }

  add(e: Entry): void {
    this.held.push({ e, at: this.now() });
  }

  /** The entries that may go now, in order (`all`: every one, at the end of the run). */
  ready(all = false): Entry[] {
    const out: Entry[] = [];
    const now = this.now();
    while (this.next < this.held.length) {
      const h = this.held[this.next];
      const waits = !all && !this.bothKnown(h.e) && now - h.at < this.waitMs;
      if (waits && this.size <= MAX_WAITING) break;
      if (waits) this.cutShort++;
      out.push(h.e);
      this.next++;
    }
    if (this.next === this.held.length) {
      this.held = [];
      this.next = 0;
    } else if (this.next > 1024 && 2 * this.next > this.held.length) {
      this.held = this.held.slice(this.next);
      this.next = 0;
    }
    return out;
  }

  /** Both ends' processes are known, or there is nothing to wait for (no hooked end at all). */
  private bothKnown(e: Entry): boolean {
    const procs = this.table.processes(e.src, e.dst);
    return !procs || procs.ends.size === 0 || (procs.ends.has(endpointKey(e.src)) && procs.ends.has(endpointKey(e.dst)));
  }
}
