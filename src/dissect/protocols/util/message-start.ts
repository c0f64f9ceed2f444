// A request's time is its first packet's (docs/entry.md), however many TCP
// segments it spans — not the time of the segment that completed it. Parsers
// that queue a direction's bytes until a message is whole ask this which
// packet carried the message's first byte.

import type { ConnectionContext, Direction } from '../../api.js';

/** Capture time (ms) and frame number of a packet. */
export interface Stamp {
  time: number;
  frame: number;
}

export class MessageStarts {
  private readonly at: Record<Direction, Stamp | undefined> = { c2s: undefined, s2c: undefined };
  /**
   * Set while bytes decoded from an inner layer (a compressed frame) are read:
   * they began in that frame's first packet, not in the packet being read.
   */
  origin: Stamp | undefined;

  constructor(private readonly ctx: ConnectionContext) {}

  /** Call before queueing a packet's bytes; `queued`: bytes of `dir` already waiting. */
  push(dir: Direction, queued: number): void {
    if (queued === 0) this.at[dir] = this.now();
  }

  /** The packet that carried the first byte of the message at the head of `dir`'s queue. */
  head(dir: Direction): Stamp {
    return this.at[dir] ?? this.now();
  }

  /**
   * Call after taking a whole message off `dir`'s queue: the `queued` bytes
   * left began in the packet being read (every earlier byte belonged to it).
   */
  taken(dir: Direction, queued: number): void {
    this.at[dir] = queued > 0 ? this.now() : undefined;
  }

  /** Time of the message read in part in `dir` (`queued` bytes waiting), if any. */
  partial(dir: Direction, queued: number): number | undefined {
    return queued > 0 ? this.at[dir]?.time : undefined;
  }

  now(): Stamp {
    return this.origin ?? { time: this.ctx.now, frame: this.ctx.frame };
  }
}
