// IP fragment reassembly (IPv4 and IPv6 share it). Bounded: at most
// `maxDatagrams` in progress, each at most 64 KiB in MAX_PIECES, dropped after `timeoutMs`
// of capture time; what is dropped is counted, never thrown. Held bytes are
// charged to the run's memory budget (the engine drops the oldest datagrams
// when they hold too much of it).

import type { Meter } from '../memory-budget.js';

interface Piece {
  offset: number;
  data: Buffer;
}

interface Pending {
  pieces: Piece[];
  /** Total length, known once the last fragment (MF=0) arrived. */
  total: number;
  firstSeen: number;
  bytes: number;
}

export interface FragmentCounters {
  reassembled: number;
  dropped: number;
  malformed: number;
}

const MAX_DATAGRAM = 65535;
/**
 * Pieces one datagram may be sent in: 64 KiB in IPv4's smallest fragments (68-byte MTU, 48 bytes
 * of data) is 1,365. Each fragment after the last one arrived re-sorts the pieces: 30,000 one-byte
 * fragments of one datagram (1 MB) took 7.8 s of CPU before.
 */
const MAX_PIECES = 2048;
/** Heap bytes of a datagram in progress and of each piece, besides the data (for the memory budget). */
const PENDING_COST = 256;
const PIECE_COST = 96;

export class FragmentReassembler {
  private pending = new Map<string, Pending>();
  readonly counters: FragmentCounters = { reassembled: 0, dropped: 0, malformed: 0 };

  constructor(
    private readonly maxDatagrams = 4096,
    private readonly timeoutMs = 30_000,
    private readonly meter?: Meter,
  ) {}

  /**
   * Add one fragment. Returns the whole datagram payload when this fragment
   * completed it, else null.
   */
  add(key: string, offset: number, more: boolean, data: Buffer, now: number): Buffer | null {
    if (offset + data.length > MAX_DATAGRAM || (more && data.length === 0)) {
      this.counters.malformed++;
      return null;
    }
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= this.maxDatagrams) this.evictOldest();
      p = { pieces: [], total: -1, firstSeen: now, bytes: 0 };
      this.pending.set(key, p);
      this.meter?.add(PENDING_COST);
    }
    p.pieces.push({ offset, data: Buffer.from(data) });
    p.bytes += data.length;
    this.meter?.add(PIECE_COST + data.length);
    if (!more) p.total = offset + data.length;
    if (p.bytes > MAX_DATAGRAM * 2 || p.pieces.length > MAX_PIECES) {
      // Endless overlapping or tiny fragments: an attack or garbage.
      this.forget(key, p);
      this.counters.malformed++;
      return null;
    }
    // Fewer bytes than the datagram holds cannot cover it: no need to sort and look for holes yet.
    if (p.total < 0 || p.bytes < p.total) return null;
    return this.tryAssemble(key, p);
  }

  /** Drop datagrams older than the timeout (call as capture time advances). */
  expire(now: number): void {
    for (const [key, p] of this.pending) {
      if (now - p.firstSeen > this.timeoutMs) {
        this.forget(key, p);
        this.counters.dropped++;
      }
    }
  }

  get size(): number {
    return this.pending.size;
  }

  private tryAssemble(key: string, p: Pending): Buffer | null {
    p.pieces.sort((a, b) => a.offset - b.offset);
    let covered = 0;
    for (const piece of p.pieces) {
      if (piece.offset > covered) return null; // hole
      covered = Math.max(covered, piece.offset + piece.data.length);
    }
    if (covered < p.total) return null;
    const out = Buffer.alloc(p.total);
    for (const piece of p.pieces) {
      // Later copies win on overlap, as Linux does for non-conflicting data.
      const end = Math.min(piece.offset + piece.data.length, p.total);
      if (end > piece.offset) piece.data.copy(out, piece.offset, 0, end - piece.offset);
    }
    this.forget(key, p);
    this.counters.reassembled++;
    return out;
  }

  /** Drop the oldest datagram in progress (counted as dropped). */
  evictOldest(): void {
    const first = this.pending.entries().next();
    if (!first.done) {
      this.forget(first.value[0], first.value[1]);
      this.counters.dropped++;
    }
  }

  private forget(key: string, p: Pending): void {
    this.pending.delete(key);
    this.meter?.add(-(PENDING_COST + p.pieces.length * PIECE_COST + p.bytes));
  }
}
