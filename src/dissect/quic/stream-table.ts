// The streams of one decrypted QUIC connection: each direction of each stream
// put back in order (stream-assembler.ts) and handed to the application
// protocol (HTTP/3) as in-order bytes, ends, resets and holes. Bounded: so
// many streams at once, so many bytes held behind holes in all, so many
// finished streams remembered (their late retransmissions are ignored).
// Made only for a connection whose packets could be decrypted: a connection
// read without keys carries none of this.

import type { ConnectionContext, Direction } from '../api.js';
import { StreamAssembler } from './stream-assembler.js';

/** Stream bytes held ahead of a hole, per stream direction. */
const MAX_STREAM_HELD = 256 * 1024;
/** Stream bytes held ahead of holes in one connection, all streams together: past it the largest waits give up their holes. */
const MAX_HELD_ALL = 4 * 1024 * 1024;
/** Stream directions followed at once per connection; more are counted, not read. */
const MAX_STREAMS = 1024;
/** Finished stream directions remembered, so a late retransmission does not start one again. */
const MAX_FINISHED = 4096;

/** What a connection's streams carry (HTTP/3 in http3.ts). */
export interface StreamSink {
  data(id: number, dir: Direction, data: Buffer): void;
  /** The direction reached its FIN. */
  end(id: number, dir: Direction): void;
  reset(id: number, dir: Direction, code: number): void;
  /** Bytes of the direction were never captured: its framing is lost. */
  hole(id: number, dir: Direction): void;
  /** The client's 0-RTT data was refused: these streams come again from their start. */
  forgetClientStreams(ids: Set<number>): void;
}

export class StreamTable {
  private streams = new Map<string, StreamAssembler>();
  /** Stream directions read to their end, most recent last. */
  private finished = new Set<string>();
  /** Bytes all streams hold ahead of holes. */
  private heldAll = 0;
  /** Streams the client began in 0-RTT packets. */
  private earlyStreams = new Set<number>();

  constructor(
    private readonly ctx: ConnectionContext,
    private readonly sink: StreamSink,
  ) {}

  data(id: number, dir: Direction, offset: number, data: Buffer, fin: boolean, early: boolean): void {
    const key = `${id}:${dir}`;
    if (this.finished.has(key)) return; // a retransmission of a stream already read to its end
    const s = this.stream(id, dir, key);
    if (!s) return;
    if (early) this.earlyStreams.add(id);
    const before = s.held;
    s.add(offset, data, fin);
    this.heldAll += s.held - before;
    if (this.heldAll > MAX_HELD_ALL) this.releaseHeld();
    if (s.complete) {
      this.forget(key);
      this.sink.end(id, dir);
    }
  }

  reset(id: number, dir: Direction, code: number): void {
    this.forget(`${id}:${dir}`);
    this.sink.reset(id, dir, code);
  }

  /**
   * The server refused 0-RTT (RFC 9001 §4.6.2): what the client sent in it was
   * discarded, and the client sends it again in 1-RTT packets from offset 0,
   * so the early streams start over.
   */
  rejectEarlyData(): void {
    if (this.earlyStreams.size === 0) return;
    this.ctx.count('quic.early_data_rejected');
    for (const id of this.earlyStreams) {
      const key = `${id}:c2s`;
      this.heldAll -= this.streams.get(key)?.held ?? 0;
      this.streams.delete(key);
      this.finished.delete(key);
    }
    this.sink.forgetClientStreams(this.earlyStreams);
    this.earlyStreams.clear();
  }

  /** The connection ended: what waits behind holes is handed on, the holes said. */
  giveUpHoles(): void {
    for (const s of this.streams.values()) if (s.held > 0) s.skipHole();
  }

  /** A stream direction read to its end (or reset): its assembler goes, and later copies of its frames are ignored. */
  private forget(key: string): void {
    const s = this.streams.get(key);
    if (s) this.heldAll -= s.held;
    this.streams.delete(key);
    this.finished.add(key);
    if (this.finished.size > MAX_FINISHED) this.finished.delete(this.finished.values().next().value as string);
  }

  /** Too much waits behind holes: the streams holding most give their holes up until it fits. */
  private releaseHeld(): void {
    while (this.heldAll > MAX_HELD_ALL) {
      let largest: StreamAssembler | undefined;
      for (const s of this.streams.values()) if (!largest || s.held > largest.held) largest = s;
      if (!largest || largest.held === 0) return;
      const before = largest.held;
      largest.skipHole();
      this.heldAll += largest.held - before;
    }
  }

  private stream(id: number, dir: Direction, key: string): StreamAssembler | undefined {
    let s = this.streams.get(key);
    if (!s) {
      if (this.streams.size >= MAX_STREAMS) {
        this.ctx.count('quic.streams_dropped');
        return undefined;
      }
      s = new StreamAssembler(
        (data) => this.sink.data(id, dir, data),
        (lost) => {
          this.ctx.count('quic.stream_gap', lost);
          this.sink.hole(id, dir);
        },
        MAX_STREAM_HELD,
      );
      this.streams.set(key, s);
    }
    return s;
  }
}
