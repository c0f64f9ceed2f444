// IP fragment reassembly (IPv4 and IPv6 share it). Bounded: at most
// `maxDatagrams` in progress, each at most 64 KiB, dropped after `timeoutMs`
// of capture time; what is dropped is counted, never thrown.

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

export class FragmentReassembler {
  private pending = new Map<string, Pending>();
  readonly counters: FragmentCounters = { reassembled: 0, dropped: 0, malformed: 0 };

  constructor(
    private readonly maxDatagrams = 4096,
    private readonly timeoutMs = 30_000,
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
    }
    p.pieces.push({ offset, data: Buffer.from(data) });
    p.bytes += data.length;
    if (!more) p.total = offset + data.length;
    if (p.bytes > MAX_DATAGRAM * 2) {
      // Endless overlapping fragments: an attack or garbage.
      this.pending.delete(key);
      this.counters.malformed++;
      return null;
    }
    if (p.total < 0) return null;
    return this.tryAssemble(key, p);
  }

  /** Drop datagrams older than the timeout (call as capture time advances). */
  expire(now: number): void {
    for (const [key, p] of this.pending) {
      if (now - p.firstSeen > this.timeoutMs) {
        this.pending.delete(key);
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
    this.pending.delete(key);
    this.counters.reassembled++;
    return out;
  }

  private evictOldest(): void {
    const first = this.pending.keys().next();
    if (!first.done) {
      this.pending.delete(first.value);
      this.counters.dropped++;
    }
  }
}
