// A batch of packets as the engine walks it: its length, each packet's time
// and link type, and the packet itself, made when asked for.
//
// Why not just Packet[]: a capture file is read 64 KB at a time, and the
// engine reads one batch ahead (to place a packet stamped earlier than those
// before it). As an array, every Packet object and its Buffer view lived from
// the moment its batch was parsed until the engine was done with the whole
// batch, across several scavenges of a 1 MB young generation, so they were
// promoted: 50 of the 111 MB promoted while dissecting the bench capture,
// each then freed by a full collection. A ColumnBatch keeps the records'
// fields in one Float64Array; the engine takes each packet's fields from
// the columns (no Packet object at all), other readers make a Packet when
// they ask for it, so it dies young.

import { packetTimeMs, timeMs, type Packet } from './packet.js';

export interface PacketBatch {
  readonly length: number;
  /** Packet i's time, ms since the epoch (packetTimeMs), without making the packet. */
  timeMs(i: number): number;
  /** Packet i's LINKTYPE_*, without making the packet. */
  linkType(i: number): number;
  /** Packet i's captured bytes, without making the packet. */
  data(i: number): Buffer;
  /** Packet i's frame number, without making the packet. */
  frameNumber(i: number): number;
  /** Whether packet i was captured shorter than it was on the wire (a snap length cut it). */
  cut(i: number): boolean;
  /** Packet i as a Packet (a new object each call for a ColumnBatch: take it once). */
  packet(i: number): Packet;
}

/** A Packet[] (live captures, tests) as a batch. */
export class ArrayBatch implements PacketBatch {
  constructor(private readonly packets: Packet[]) {}

  get length(): number {
    return this.packets.length;
  }

  timeMs(i: number): number {
    return packetTimeMs(this.packets[i]);
  }

  linkType(i: number): number {
    return this.packets[i].linkType;
  }

  data(i: number): Buffer {
    return this.packets[i].data;
  }

  frameNumber(i: number): number {
    return this.packets[i].frame;
  }

  cut(i: number): boolean {
    const p = this.packets[i];
    return p.data.length < p.origLen;
  }

  packet(i: number): Packet {
    return this.packets[i];
  }
}

// The columns of one record, in its row of the Float64Array.
const TS_SEC = 0;
const TS_NSEC = 1;
const LINK_TYPE = 2;
const DATA_OFF = 3;
const CAPLEN = 4;
const ORIG_LEN = 5;
const INTERFACE_ID = 6;
const FRAME = 7;
const STRIDE = 8;

const INITIAL_ROWS = 64;

/**
 * Records parsed in place: their fields in columns, their bytes still in the
 * buffers they were read into (a record that straddled two reads sits in a
 * buffer of its own, so a batch spans a few buffers, each from some row on).
 */
export class ColumnBatch implements PacketBatch {
  length = 0;
  private rows = new Float64Array(INITIAL_ROWS * STRIDE);
  /** The buffers the records are in; `bufferFrom[k]` is the first row in `buffers[k]`. */
  private readonly buffers: Buffer[] = [];
  private readonly bufferFrom: number[] = [];

  /** Record the next packet, whose captured bytes are `buf[dataOff, dataOff + caplen)`. */
  add(buf: Buffer, tsSec: number, tsNsec: number, linkType: number, dataOff: number, caplen: number, origLen: number, interfaceId: number, frame: number): void {
    const i = this.length;
    if (this.buffers.length === 0 || this.buffers[this.buffers.length - 1] !== buf) {
      this.buffers.push(buf);
      this.bufferFrom.push(i);
    }
    if ((i + 1) * STRIDE > this.rows.length) {
      const grown = new Float64Array(this.rows.length * 2);
      grown.set(this.rows);
      this.rows = grown;
    }
    const r = this.rows;
    const o = i * STRIDE;
    r[o + TS_SEC] = tsSec;
    r[o + TS_NSEC] = tsNsec;
    r[o + LINK_TYPE] = linkType;
    r[o + DATA_OFF] = dataOff;
    r[o + CAPLEN] = caplen;
    r[o + ORIG_LEN] = origLen;
    r[o + INTERFACE_ID] = interfaceId;
    r[o + FRAME] = frame;
    this.length = i + 1;
  }

  timeMs(i: number): number {
    const o = i * STRIDE;
    return timeMs(this.rows[o + TS_SEC], this.rows[o + TS_NSEC]);
  }

  linkType(i: number): number {
    return this.rows[i * STRIDE + LINK_TYPE];
  }

  data(i: number): Buffer {
    const o = i * STRIDE;
    const off = this.rows[o + DATA_OFF];
    return this.bufferOf(i).subarray(off, off + this.rows[o + CAPLEN]);
  }

  frameNumber(i: number): number {
    return this.rows[i * STRIDE + FRAME];
  }

  cut(i: number): boolean {
    const o = i * STRIDE;
    return this.rows[o + CAPLEN] < this.rows[o + ORIG_LEN];
  }

  packet(i: number): Packet {
    const r = this.rows;
    const o = i * STRIDE;
    // The same fields in the same order as every other Packet, so the engine's property reads stay monomorphic.
    return {
      tsSec: r[o + TS_SEC],
      tsNsec: r[o + TS_NSEC],
      linkType: r[o + LINK_TYPE],
      data: this.data(i),
      origLen: r[o + ORIG_LEN],
      interfaceId: r[o + INTERFACE_ID],
      frame: r[o + FRAME],
    };
  }

  /** Every packet made at once (for consumers that keep them: recording, merging). */
  toArray(): Packet[] {
    const out: Packet[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.packet(i);
    return out;
  }

  private bufferOf(i: number): Buffer {
    let k = this.buffers.length - 1;
    while (k > 0 && this.bufferFrom[k] > i) k--;
    return this.buffers[k];
  }
}

/** Either kind as a batch. */
export function asBatch(batch: Packet[] | PacketBatch): PacketBatch {
  return Array.isArray(batch) ? new ArrayBatch(batch) : batch;
}
