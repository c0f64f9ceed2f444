// What a tunnel inside a connection carries, dissected as tshark reads it:
// after an HTTP proxy's 2xx to CONNECT or a granted SOCKS CONNECT, the
// target's protocol (TLS to :443, most often); after PostgreSQL's "S" to
// SSLRequest, MySQL's SSLRequest, LDAP's StartTLS or a NATS client's
// ClientHello, TLS (which --tls-keylog then decrypts). The tunnel's first
// bytes are held until the engine's probes name their protocol
// (ConnectionContext.tunnelParser), then replayed into that protocol's
// parser in the order they came; undetected (or cut by a gap first), they
// are counted as lost (`<prefix>.undetected_dropped`, `<prefix>.gap_dropped`,
// the prefix naming the tunnel: `http.tunnel`, `socks.tunnel`, `mysql.tls` …)
// and dropped.

import type { ConnectionContext, Direction, InnerParser, TcpStreamParser } from '../../api.js';
import type { ByteQueue } from '../../byte-queue.js';

/** Bytes held per tunnel while its protocol is unknown (the engine's own probes decide on far fewer). */
const MAX_HELD_BYTES = 16 * 1024;

export class TunnelStream implements TcpStreamParser {
  private inner: TcpStreamParser | null = null;
  /** Given up: what the tunnel carries is not dissected. */
  private dead = false;
  private held: { dir: Direction; data: Buffer }[] = [];
  private readonly heldBytes: Record<Direction, number> = { c2s: 0, s2c: 0 };
  /** Each direction's first bytes in one buffer, what the probes read: appended once, not joined again for every segment. */
  private readonly first: Record<Direction, Buffer | undefined> = { c2s: undefined, s2c: undefined };

  /** `counter`: the prefix of this tunnel's counters (`http.tunnel`); `inside`: what its TLS carries, when the caller knows. */
  constructor(
    private readonly ctx: ConnectionContext,
    private readonly port: number | undefined,
    private readonly counter: string,
    private readonly inside?: InnerParser,
  ) {}

  /**
   * A tunnel taking over a connection from the parser that read it so far:
   * what that parser still holds in `queues` (a ClientHello may have come
   * right behind the reply that opened the tunnel) is fed first, and the
   * queues are left empty.
   */
  static takingOver(ctx: ConnectionContext, counter: string, queues: Record<Direction, ByteQueue>, port?: number, inside?: InnerParser): TunnelStream {
    const tunnel = new TunnelStream(ctx, port, counter, inside);
    for (const dir of ['c2s', 's2c'] as const) {
      const q = queues[dir];
      if (q.length > 0) tunnel.onData(dir, q.take(q.length));
    }
    return tunnel;
  }

  onData(dir: Direction, data: Buffer): void {
    if (this.inner) {
      this.inner.onData(dir, data);
      return;
    }
    if (this.dead || data.length === 0) return;
    this.held.push({ dir, data: Buffer.from(data) });
    const first = (this.first[dir] ??= Buffer.alloc(MAX_HELD_BYTES));
    data.copy(first, this.heldBytes[dir], 0, Math.min(data.length, MAX_HELD_BYTES - this.heldBytes[dir]));
    this.heldBytes[dir] = Math.min(MAX_HELD_BYTES, this.heldBytes[dir] + data.length);
    this.detect(dir);
  }

  onGap(dir: Direction, length: number): void {
    if (this.inner) this.inner.onGap(dir, length);
    else if (!this.dead) this.giveUp('gap_dropped');
  }

  onTick(nowMs: number, timeoutMs: number): void {
    this.inner?.onTick?.(nowMs, timeoutMs);
  }

  pendingSince(): number | undefined {
    if (!this.inner) return undefined;
    return this.inner.pendingSince ? this.inner.pendingSince() : -Infinity;
  }

  onEnd(reason: 'fin' | 'rst' | 'timeout' | 'eof'): void {
    if (this.inner) this.inner.onEnd(reason);
    else if (!this.dead && this.held.length > 0) this.giveUp('undetected_dropped');
  }

  /** Probe what `dir` sent so far; on a verdict, replay everything held into the chosen parser. */
  private detect(dir: Direction): void {
    const found = this.ctx.tunnelParser?.(this.first[dir]!.subarray(0, this.heldBytes[dir]), this.port, this.inside);
    if (found === 'need-more' && this.heldBytes.c2s + this.heldBytes.s2c < MAX_HELD_BYTES) return;
    if (found === undefined || found === 'need-more') {
      // A server-first protocol speaks from the other side: wait for it while within bounds.
      const other: Direction = dir === 'c2s' ? 's2c' : 'c2s';
      if (found === undefined && this.heldBytes[other] === 0 && this.heldBytes[dir] < MAX_HELD_BYTES) return;
      this.giveUp('undetected_dropped');
      return;
    }
    this.inner = found;
    this.ctx.count(`${this.counter}.dissected`);
    const held = this.held;
    this.held = [];
    this.first.c2s = this.first.s2c = undefined;
    for (const h of held) found.onData(h.dir, h.data);
  }

  /** Counted as a loss (dissect-summary.ts reports counters named `…dropped`): the tunnel's traffic is not in the output. */
  private giveUp(why: 'gap_dropped' | 'undetected_dropped'): void {
    this.dead = true;
    this.held = [];
    this.first.c2s = this.first.s2c = undefined;
    this.ctx.count(`${this.counter}.${why}`);
  }
}
