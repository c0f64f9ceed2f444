// DNS over QUIC (RFC 9250, ALPN "doq"; CoreDNS serves it with `quic://`): each
// query is a client-initiated bidirectional stream carrying one DNS message
// with a 2-byte length prefix, as over TCP, and the answer on the same
// stream. quic.ts hands the decrypted streams here; each stream is read by a
// DNS-over-TCP parser of its own (dns.ts), so a DoQ query is a `dns` entry
// like any other, marked `tls`.

import type { CallRecord, ConnectionContext, Direction, TcpStreamParser } from '../api.js';
import type { StreamSink } from '../quic/stream-table.js';
import { dnsTcp } from './dns.js';

/** Queries followed at once per connection; more are counted. */
const MAX_OPEN_QUERIES = 1024;

export class DoqSession implements StreamSink {
  private queries = new Map<number, TcpStreamParser>();
  /** The connection's context, with every call marked as decrypted. */
  private readonly inner: ConnectionContext;

  constructor(ctx: ConnectionContext) {
    // A view of the connection's context (its time and frame stay live) whose calls carry `tls`.
    const inner = Object.create(ctx) as ConnectionContext & { emit: (r: CallRecord) => void };
    inner.emit = (r) => ctx.emit({ ...r, tls: true });
    this.inner = inner;
  }

  data(id: number, dir: Direction, data: Buffer): void {
    if ((id & 0x03) !== 0) return; // DoQ uses only client-initiated bidirectional streams
    this.query(id)?.onData(dir, data);
  }

  end(id: number, dir: Direction): void {
    if (dir === 's2c') this.close(id);
  }

  reset(id: number, dir: Direction): void {
    if (dir === 's2c') this.close(id);
  }

  hole(id: number, dir: Direction): void {
    this.queries.get(id)?.onGap(dir, 0);
  }

  forgetClientStreams(ids: Set<number>): void {
    for (const id of ids) this.queries.delete(id);
  }

  pendingSince(): number | undefined {
    let min: number | undefined;
    for (const q of this.queries.values()) {
      const t = q.pendingSince?.();
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /** The connection ended: queries still open are written (unanswered). */
  finish(): void {
    for (const id of [...this.queries.keys()]) this.close(id);
  }

  private query(id: number): TcpStreamParser | undefined {
    let q = this.queries.get(id);
    if (!q) {
      if (this.queries.size >= MAX_OPEN_QUERIES) {
        this.inner.count('doq.streams_dropped');
        return undefined;
      }
      q = dnsTcp.createTcpParser!(this.inner);
      this.queries.set(id, q);
    }
    return q;
  }

  private close(id: number): void {
    const q = this.queries.get(id);
    if (!q) return;
    this.queries.delete(id);
    q.onEnd('fin');
  }
}
