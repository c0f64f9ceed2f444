// What a protocol parser sees of its flow (api.ts ConnectionContext): its two
// ends, the time and frame of the bytes being parsed, the ACK they came with,
// and where its calls and counters go. The engine makes one per flow and keeps
// its clock current as packets (and ticks) arrive.

import type { Endpoint, Transport } from '../model/entry.js';
import type { CallRecord, ConnectionContext, Direction, DissectOptions, InnerParser, TcpStreamParser } from './api.js';

/** Where a context's calls and counters go: the engine. */
export interface ContextOwner {
  emitCall(call: CallRecord, ctx: ConnectionContext): void;
  count(name: string, n?: number): void;
  tunnelParser(ctx: ConnectionContext, data: Buffer, port: number | undefined, inside?: InnerParser): TcpStreamParser | 'need-more' | undefined;
}

export class MutableContext implements ConnectionContext {
  now = 0;
  frame = 0;
  /**
   * The frame of the flow's last packet: its place in the flow table's order
   * of activity, which ticks and the end of input walk. Not `frame`, which
   * is the frame of the bytes being parsed (an earlier one, for bytes that
   * waited behind a hole); parallel workers key their entries by this.
   */
  touched = 0;
  ack: { from: Direction; ahead: number } | undefined = undefined;
  /** Bytes a snap length cut off the datagram being delivered (UDP; api.ts). */
  cut = 0;
  /** The connection's start was not seen: its ends are a guess (api.ts). */
  clientGuessed = false;
  /** The flow is being evicted: what it emits now is marked so. */
  evicting = false;
  constructor(
    readonly transport: Transport,
    public client: Endpoint,
    public server: Endpoint,
    readonly options: DissectOptions,
    // The engine itself, not closures over it: one context per flow, a flood of flows.
    private readonly engine: ContextOwner,
  ) {}
  emit(call: CallRecord): void {
    this.engine.emitCall(call, this);
  }
  count(name: string, n = 1): void {
    this.engine.count(name, n);
  }
  tunnelParser(data: Buffer, port: number | undefined, inside?: InnerParser): TcpStreamParser | 'need-more' | undefined {
    return this.engine.tunnelParser(this, data, port, inside);
  }
}
