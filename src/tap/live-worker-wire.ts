// Messages between the live capture's thread and its dissection workers
// (live-workers.ts ↔ live-worker.ts), structured-cloned.

import type { Entry } from '../model/entry.js';
import type { Packet } from '../model/packet.js';
import type { EngineOptions } from '../dissect/engine.js';
import type { IpPacket } from '../dissect/decode/ip.js';

/** A captured frame, or a datagram the router reassembled from fragments. */
export type WirePacket = { packet: Packet } | { ip: IpPacket; now: number; frame: number };

export type LiveWorkerInput = { kind: 'packets'; packets: WirePacket[] } | { kind: 'finish' };

export type LiveWorkerOutput =
  /**
   * Entries the engine emitted, how many posted packets it has taken since
   * the last message, and its low watermark: no later entry of this worker
   * has an earlier request time (save calls older than the reorder window,
   * which one thread lets out late too).
   */
  | { kind: 'entries'; entries: Entry[]; packets: number; low: number }
  | { kind: 'summary'; counters: Record<string, number> };

export interface LiveWorkerSpec {
  engine: Partial<Omit<EngineOptions, 'protoSchema' | 'tlsKeys'>>;
  proto?: string;
  tlsKeylog?: string;
}
