// pcap and pcapng writers. Both copy each packet into large output buffers
// (ByteSink) so a capture of small frames costs one stream write per 256 KiB,
// and both honour backpressure: `write` returns a promise only when the caller
// must wait. Files are little-endian, as every current tool writes them.

import type { Writable } from 'node:stream';
import type { CaptureInterface, Packet } from '../model/packet.js';
import { ByteSink, type Staging } from './byte-sink.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US } from './pcap-parser.js';
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_SHB,
  BYTE_ORDER_MAGIC,
  OPT_END,
  OPT_IF_NAME,
  OPT_IF_TSRESOL,
} from './pcapng-parser.js';
import { MAX_PACKET_BYTES } from './record-parser.js';
import { timeToUnits, type HighLow } from './timestamp.js';

export interface PacketWriter {
  /** Queue one packet; a returned promise means "wait before writing more". */
  write(p: Packet): Promise<void> | void;
  /** Write what is buffered (the file header even when no packet came) and wait for the stream. */
  end(): Promise<void>;
  /** True once the reader of the output went away (EPIPE). */
  readonly closed: boolean;
}

export interface PcapWriterOptions {
  linkType: number;
  snaplen?: number;
  /** Nanosecond timestamps (magic a1b23c4d) instead of microseconds. */
  nanosecond?: boolean;
  onClosed?: () => void;
  /** Size of each output buffer (one stream write each). */
  bufferBytes?: number;
  /** Caller-owned output buffers, filled over and over (ByteSink's staging). */
  staging?: Staging;
}

const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;

export class PcapWriter implements PacketWriter {
  private readonly sink: ByteSink;
  private headerWritten = false;
  private readonly nanosecond: boolean;

  constructor(
    out: Writable,
    private readonly opts: PcapWriterOptions,
  ) {
    this.sink = new ByteSink(out, opts.bufferBytes, opts.onClosed, opts.staging);
    this.nanosecond = opts.nanosecond ?? false;
  }

  get closed(): boolean {
    return this.sink.closed;
  }

  write(p: Packet): Promise<void> | void {
    return this.writeRecord(p.data, 0, p.data.length, p.origLen, p.tsSec, p.tsNsec);
  }

  /** One record whose captured bytes are `src[dataOff … dataOff + caplen)` (no Packet object needed). */
  writeRecord(src: Buffer, dataOff: number, caplen: number, origLen: number, tsSec: number, tsNsec: number): Promise<void> | undefined {
    if (!this.headerWritten) this.writeHeader();
    const sink = this.sink;
    const flushed = sink.room(PCAP_RECORD_HEADER + caplen);
    const view = sink.view;
    const at = sink.at;
    view.setUint32(at, tsSec >>> 0, true);
    view.setUint32(at + 4, this.nanosecond ? tsNsec >>> 0 : Math.floor(tsNsec / 1000), true);
    view.setUint32(at + 8, caplen, true);
    view.setUint32(at + 12, origLen >>> 0, true);
    sink.copyIn(src, dataOff, caplen, at + PCAP_RECORD_HEADER);
    return flushed;
  }

  async end(): Promise<void> {
    if (!this.headerWritten) this.writeHeader();
    await this.sink.finish();
  }

  /** Send what is buffered now (live captures: packets should not wait for a full buffer). */
  flush(): Promise<void> | undefined {
    if (!this.headerWritten) this.writeHeader();
    return this.sink.flush();
  }

  private writeHeader(): void {
    this.headerWritten = true;
    const { buf, at } = this.sink.reserve(PCAP_FILE_HEADER);
    buf.writeUInt32LE(this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, at);
    buf.writeUInt16LE(2, at + 4);
    buf.writeUInt16LE(4, at + 6);
    buf.writeInt32LE(0, at + 8); // thiszone
    buf.writeUInt32LE(0, at + 12); // sigfigs
    buf.writeUInt32LE(this.opts.snaplen ?? MAX_PACKET_BYTES, at + 16);
    buf.writeUInt32LE(this.opts.linkType, at + 20);
  }
}

export interface PcapngWriterOptions {
  /** Resolution of interfaces registered on the fly (from packets alone): ns unless false. */
  nanosecond?: boolean;
  onClosed?: () => void;
  /** Size of each output buffer (one stream write each). */
  bufferBytes?: number;
  /** Caller-owned output buffers, filled over and over (ByteSink's staging). */
  staging?: Staging;
}

const SHB_BYTES = 28;
const EPB_OVERHEAD = 32;

interface OutInterface {
  unitsPerSec: number;
}

export class PcapngWriter implements PacketWriter {
  private readonly sink: ByteSink;
  private sectionWritten = false;
  private readonly outInterfaces: OutInterface[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly units: HighLow = { high: 0, low: 0 };

  constructor(
    out: Writable,
    private readonly opts: PcapngWriterOptions = {},
  ) {
    this.sink = new ByteSink(out, opts.bufferBytes, opts.onClosed, opts.staging);
  }

  get closed(): boolean {
    return this.sink.closed;
  }

  get interfaceCount(): number {
    return this.outInterfaces.length;
  }

  /**
   * Describe an output interface (writes its IDB now) and return its id.
   * With a `key`, a second call with the same key returns the first id.
   * Timestamps are written in µs when the source had µs or coarser, else ns.
   */
  addInterface(iface: CaptureInterface, key?: string): number {
    if (key !== undefined) {
      const known = this.byKey.get(key);
      if (known !== undefined) return known;
    }
    if (!this.sectionWritten) this.writeSection();
    const unitsPerSec = iface.tsUnitsPerSec <= 1e6 ? 1e6 : 1e9;
    const name = iface.name ? Buffer.from(iface.name, 'utf8') : undefined;
    const nameBytes = name ? 4 + pad4(name.length) : 0;
    const tsresolBytes = unitsPerSec === 1e6 ? 0 : 8;
    const optionBytes = nameBytes + tsresolBytes > 0 ? nameBytes + tsresolBytes + 4 : 0;
    const len = 20 + optionBytes;
    const { buf, at } = this.sink.reserve(len);
    buf.fill(0, at, at + len);
    buf.writeUInt32LE(BLOCK_IDB, at);
    buf.writeUInt32LE(len, at + 4);
    buf.writeUInt16LE(iface.linkType, at + 8);
    buf.writeUInt32LE(iface.snaplen, at + 12);
    let p = at + 16;
    if (name) {
      buf.writeUInt16LE(OPT_IF_NAME, p);
      buf.writeUInt16LE(name.length, p + 2);
      name.copy(buf, p + 4);
      p += nameBytes;
    }
    if (tsresolBytes > 0) {
      buf.writeUInt16LE(OPT_IF_TSRESOL, p);
      buf.writeUInt16LE(1, p + 2);
      buf[p + 4] = 9;
      p += tsresolBytes;
    }
    if (optionBytes > 0) buf.writeUInt16LE(OPT_END, p); // length 0 follows (already zero)
    buf.writeUInt32LE(len, at + len - 4);
    const id = this.outInterfaces.length;
    this.outInterfaces.push({ unitsPerSec });
    if (key !== undefined) this.byKey.set(key, id);
    return id;
  }

  /** Write a packet on output interface `interfaceId`, or (without it) on one registered for its link type and interface. */
  write(p: Packet, interfaceId?: number): Promise<void> | void {
    const id =
      interfaceId ??
      this.addInterface(
        { linkType: p.linkType, snaplen: MAX_PACKET_BYTES, tsUnitsPerSec: this.opts.nanosecond === false ? 1e6 : 1e9 },
        `${p.linkType}:${p.interfaceId}`,
      );
    return this.writeRecord(p.data, 0, p.data.length, p.origLen, p.tsSec, p.tsNsec, id);
  }

  /** One EPB on output interface `id` around `src[dataOff … dataOff + caplen)` (no Packet object needed). */
  writeRecord(src: Buffer, dataOff: number, caplen: number, origLen: number, tsSec: number, tsNsec: number, id: number): Promise<void> | undefined {
    const iface = this.outInterfaces[id];
    if (!iface) throw new Error(`pcapng writer: interface ${id} was not added`);
    const len = EPB_OVERHEAD + pad4(caplen);
    const sink = this.sink;
    const flushed = sink.room(len);
    const view = sink.view;
    const at = sink.at;
    const ts = timeToUnits(tsSec, tsNsec, iface.unitsPerSec, this.units);
    view.setUint32(at, BLOCK_EPB, true);
    view.setUint32(at + 4, len, true);
    view.setUint32(at + 8, id, true);
    view.setUint32(at + 12, ts.high, true);
    view.setUint32(at + 16, ts.low, true);
    view.setUint32(at + 20, caplen, true);
    view.setUint32(at + 24, origLen >>> 0, true);
    // Padding: zero the last data word first, then the copy overwrites all but the pad bytes.
    if (caplen & 3) view.setUint32(at + len - 8, 0, true);
    sink.copyIn(src, dataOff, caplen, at + 28);
    view.setUint32(at + len - 4, len, true);
    return flushed;
  }

  async end(): Promise<void> {
    if (!this.sectionWritten) this.writeSection();
    await this.sink.finish();
  }

  /** Send what is buffered now (live captures: packets should not wait for a full buffer). */
  flush(): Promise<void> | undefined {
    if (!this.sectionWritten) this.writeSection();
    return this.sink.flush();
  }

  private writeSection(): void {
    this.sectionWritten = true;
    const { buf, at } = this.sink.reserve(SHB_BYTES);
    buf.writeUInt32LE(BLOCK_SHB, at);
    buf.writeUInt32LE(SHB_BYTES, at + 4);
    buf.writeUInt32LE(BYTE_ORDER_MAGIC, at + 8);
    buf.writeUInt16LE(1, at + 12);
    buf.writeUInt16LE(0, at + 14);
    buf.writeInt32LE(-1, at + 16); // section length unknown (-1 as 64 bits)
    buf.writeInt32LE(-1, at + 20);
    buf.writeUInt32LE(SHB_BYTES, at + 24);
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}
