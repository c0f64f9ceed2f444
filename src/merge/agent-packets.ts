// `tap --pcap` across a cluster: every agent session sends a pcap/pcapng
// stream; each is parsed as it arrives, its interfaces become pcapng
// interfaces named "<node>:<iface>", and packets of all streams are written
// as one pcapng in time order (the same held-window merge as entries). IDBs
// may follow packet blocks in a pcapng section, so streams can join late.

import type { Writable } from 'node:stream';
import type { Packet } from '../model/packet.js';
import { isEpipe } from '../cli/errors.js';
import { openCapture } from '../capture/reader.js';
import { pcapngEncoding } from '../record/pcap-encoding.js';
import { TimeOrderMerger } from './time-order.js';

const SHB_BYTES = 28;

/** Chunks pushed from callbacks, read as an async iterable. */
class ChunkQueue implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(c: Buffer): void {
    this.chunks.push(c);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.chunks.length > 0) {
        yield this.chunks.shift()!;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

export interface PacketStream {
  push(chunk: Buffer): void;
  end(): void;
}

export class ClusterPcapWriter {
  private readonly encoding = pcapngEncoding([]);
  private readonly merger: TimeOrderMerger<Packet>;
  private nextInterface = 0;
  private serial = 0;
  private readonly pending = new Set<Promise<void>>();
  closed = false;
  packets = 0;

  constructor(
    private readonly out: Writable,
    private readonly onClosed: () => void,
    private readonly warn: (m: string) => void,
    windowMs = 500,
  ) {
    this.merger = new TimeOrderMerger<Packet>((p) => this.write(this.encoding.record(p)), windowMs, 200_000, Date.now, (p) => this.orderKey(p));
    out.on('error', (err) => {
      if (isEpipe(err)) this.markClosed();
      else this.warn(`output: ${(err as Error).message}`);
    });
    this.write(this.encoding.header().subarray(0, SHB_BYTES));
  }

  /** The first packet's second: times are ordered from it (see orderKey). */
  private timeBase: number | undefined;

  /**
   * A packet's place in time, in ms from the first packet's second. Counted
   * from the epoch, a time in ms near 1.8e12 is a double 244 ns apart from
   * the next one, so two agents' packets 150 ns apart could compare equal and
   * be written out of order (tshark saw it); from the first packet's second
   * the step is well under a nanosecond for years of capture.
   */
  private orderKey(p: Packet): number {
    this.timeBase ??= p.tsSec;
    return (p.tsSec - this.timeBase) * 1000 + p.tsNsec / 1e6;
  }

  /** A new agent stream (a restarted agent is a new stream with new interfaces). */
  openStream(label: string): PacketStream {
    const queue = new ChunkQueue();
    const reader = openCapture(Buffer.alloc(0), queue, `agent ${label}`);
    const ids = new Map<number, number>();
    const stream = ++this.serial;
    const task = (async () => {
      try {
        for await (const batch of reader.batches()) {
          for (const p of batch) {
            let id = ids.get(p.interfaceId);
            if (id === undefined) {
              id = this.nextInterface++;
              ids.set(p.interfaceId, id);
              const iface = reader.interfaces[p.interfaceId];
              const named = { ...iface, name: `${label}:${iface?.name ?? `if${p.interfaceId}`}` };
              this.write(pcapngEncoding([named]).header().subarray(SHB_BYTES));
            }
            this.packets++;
            this.merger.push({ ...p, data: Buffer.from(p.data), interfaceId: id });
          }
        }
      } catch (err) {
        this.warn(`agent ${label} stream ${stream}: ${(err as Error).message}`);
      }
    })();
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
    return { push: (c) => queue.push(c), end: () => queue.end() };
  }

  /** Write what is held; call after every stream ended. */
  async finish(): Promise<void> {
    await Promise.all([...this.pending]);
    this.merger.flush();
  }

  private write(buf: Buffer): void {
    if (this.closed) return;
    try {
      this.out.write(buf);
    } catch (err) {
      if (isEpipe(err)) this.markClosed();
      else throw err;
    }
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}
