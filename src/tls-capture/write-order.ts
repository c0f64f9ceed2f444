// Reads put back after the write they may answer. Events reach the ring when
// a call returns, not when its bytes move: a Go HTTP/2 client writes a
// request on one goroutine and reads the reply on another, and when the
// writer is descheduled between its socket write and its return probe, the
// reply's read comes first. Fed in that order, the parser sees an answer to a
// request not yet made: one call came out as a response-only and a
// request-only entry (about 1 in 20 Go calls on a loaded 2-core machine).
//
// The kernel flags a read that returned while a write on the same
// (process, fd) was still in its call (EVF_WRITE_IN_FLIGHT,
// tls_capture.bpf.c). Such a read, and every later event of that (pid, fd),
// is held until that fd's next write event (then: the write, then what was
// held) or its close, or at most WRITE_WAIT_MS (the write failed: no event
// comes; or its event was lost). Events of other fds pass at once.
//
// A close is put after a write the same way. A Go server closes a connection
// on the goroutine that read the peer's close while another goroutine is
// still returning from the write that sent the last bytes (an HTTP/2
// response's trailers): the kernel flags that close too, and gives the late
// write the closed stream's offsets. Fed in ring order, the connection ended
// before its last bytes: a gRPC call came out without its grpc-status
// (8 of 46 runs of the lab test lost a Go server's last write this way).
//
// Bounded: at most MAX_HELD_EVENTS per fd and MAX_HELD_FDS fds held; past
// either the oldest hold is let go early, counted (`cutShort`).

import type { TlsEvent } from './frames.js';

/**
 * Longest a read waits for the write that was in flight when it returned:
 * a scheduling delay for a small write, but a large upload answered early
 * (its head and body in one call) is in its call until the peer has read it
 * all. The kernel stops flagging after a write has been in flight 1 s.
 */
export const WRITE_WAIT_MS = 1000;
export const MAX_HELD_EVENTS = 256;
export const MAX_HELD_FDS = 1024;

interface Hold {
  events: TlsEvent[];
  /** When the hold ends without its write (the clock's ms). */
  until: number;
}

export class WriteOrder {
  /** By "pid:fd"; Map order is the order holds began, so also the order they expire. */
  private readonly held = new Map<string, Hold>();
  readonly counters = {
    /** Reads that returned with a write in flight on their fd. */
    held: 0,
    /** Closes made while a write on their fd was in flight (held the same way). */
    closesHeld: 0,
    /** ... put after that write when its event came. */
    reordered: 0,
    /** ... let go after WRITE_WAIT_MS with no write event (in their own order). */
    timedOut: 0,
    /** Holds let go early: too many events or fds held. */
    cutShort: 0,
  };

  constructor(
    private readonly waitMs = WRITE_WAIT_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Appends to `out` what may go on now that `ev` came (possibly nothing, possibly events held before). */
  push(ev: TlsEvent, out: TlsEvent[]): void {
    const key = `${ev.pid}:${ev.fd}`;
    const hold = this.held.get(key);
    if (hold) {
      const first = hold.events[0];
      if (ev.kind === 'data' && ev.dir === 'write' && first.kind === 'close' && !sameSocket(first, ev)) {
        // The fd already names another connection: the held close ends the old one first.
        this.release(key, hold, out);
        out.push(ev);
      } else if (ev.kind === 'data' && ev.dir === 'write') {
        out.push(ev);
        this.counters.reordered++;
        this.release(key, hold, out, ev);
      } else if (ev.kind === 'close') {
        this.release(key, hold, out);
        out.push(ev);
      } else {
        hold.events.push(ev);
        if (hold.events.length >= MAX_HELD_EVENTS) {
          this.counters.cutShort++;
          this.release(key, hold, out);
        }
      }
      return;
    }
    const heldRead = ev.kind === 'data' && ev.dir === 'read';
    if (ev.afterWriteInFlight && (heldRead || ev.kind === 'close')) {
      if (this.held.size >= MAX_HELD_FDS) {
        const [oldest, first] = this.held.entries().next().value as [string, Hold];
        this.counters.cutShort++;
        this.release(oldest, first, out);
      }
      if (heldRead) this.counters.held++;
      else this.counters.closesHeld++;
      this.held.set(key, { events: [ev], until: this.now() + this.waitMs });
      return;
    }
    out.push(ev);
  }

  /** Appends the holds whose write did not come in time. */
  expire(out: TlsEvent[]): void {
    const t = this.now();
    for (const [key, hold] of this.held) {
      if (hold.until > t) break;
      this.counters.timedOut++;
      this.release(key, hold, out);
    }
  }

  /** Appends everything held (the event stream ended). */
  flush(out: TlsEvent[]): void {
    for (const [key, hold] of this.held) this.release(key, hold, out);
  }

  get holding(): boolean {
    return this.held.size > 0;
  }

  /**
   * A hold's events, in their order. After `write`: none earlier than it (a
   * read that answers it cannot have come first: its return probe only ran
   * first), so an entry never ends before it began.
   */
  private release(key: string, hold: Hold, out: TlsEvent[], write?: TlsEvent): void {
    this.held.delete(key);
    for (const ev of hold.events) {
      if (write && ev.timeMs < write.timeMs) out.push({ ...ev, timeMs: write.timeMs, tsSec: write.tsSec, tsNsec: write.tsNsec });
      else out.push(ev);
    }
  }
}

function sameSocket(a: TlsEvent, b: TlsEvent): boolean {
  return a.local.port === b.local.port && a.remote.port === b.remote.port && a.local.ip === b.local.ip && a.remote.ip === b.remote.ip;
}
