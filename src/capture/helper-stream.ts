// The capture helper's stdout (native/capture/shark-capture.c) cut into
// packets: "SHKCAP01", then records of five u32 (caplen, len, ts_sec,
// ts_nsec, interface; the host's byte order, little-endian on every platform
// shark ships for) and caplen bytes padded to 4. Packets are slices of the
// pipe's chunks, not copies; only a record split across two chunks is joined.
// What is held between chunks is bounded by the largest record.

import type { Packet } from '../model/packet.js';

export const STREAM_MAGIC = 'SHKCAP01';
export const RECORD_HEADER = 20;
/** The helper's own snaplen limit. */
export const HELPER_MAX_SNAPLEN = 262144;

export class HelperStreamError extends Error {}

export class HelperStreamDecoder {
  private held: Buffer | undefined;
  private sawMagic = false;
  private frame = 0;
  /** Bytes taken in so far (for error messages: where the stream went wrong). */
  private offset = 0;

  constructor(private readonly linkTypes: readonly number[]) {}

  /** Packets completed by this chunk, in order. Throws HelperStreamError on a record no helper writes. */
  push(chunk: Buffer): Packet[] {
    const buf = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    let pos = 0;
    if (!this.sawMagic) {
      if (buf.length < STREAM_MAGIC.length) {
        this.held = buf;
        return [];
      }
      if (buf.toString('latin1', 0, STREAM_MAGIC.length) !== STREAM_MAGIC) {
        throw new HelperStreamError('capture helper: its output does not start with SHKCAP01 (not shark-capture?)');
      }
      this.sawMagic = true;
      pos = STREAM_MAGIC.length;
    }
    const out: Packet[] = [];
    while (buf.length - pos >= RECORD_HEADER) {
      const caplen = buf.readUInt32LE(pos);
      // Checked before any arithmetic: a u32 near 2^32 would wrap in JavaScript's 32-bit bitwise operators.
      if (caplen > HELPER_MAX_SNAPLEN) {
        throw new HelperStreamError(`capture helper: record of ${caplen} bytes at stream byte ${this.offset + pos} exceeds the snaplen limit`);
      }
      const size = RECORD_HEADER + caplen + ((4 - (caplen % 4)) % 4);
      if (buf.length - pos < size) break;
      const iface = buf.readUInt32LE(pos + 16);
      const linkType = this.linkTypes[iface];
      if (linkType === undefined) {
        throw new HelperStreamError(`capture helper: record at stream byte ${this.offset + pos} names interface ${iface} of ${this.linkTypes.length}`);
      }
      out.push({
        tsSec: buf.readUInt32LE(pos + 8),
        tsNsec: buf.readUInt32LE(pos + 12),
        linkType,
        data: buf.subarray(pos + RECORD_HEADER, pos + RECORD_HEADER + caplen),
        origLen: buf.readUInt32LE(pos + 4),
        interfaceId: iface,
        frame: ++this.frame,
      });
      pos += size;
    }
    if (pos < buf.length) {
      // A partial record: copied, so the packets above do not pin a growing concat.
      this.held = Buffer.from(buf.subarray(pos));
    }
    this.offset += pos;
    return out;
  }

  /** Bytes of an unfinished record at the stream's end (0 when it ended cleanly). */
  get pending(): number {
    return this.held?.length ?? 0;
  }
}

/** What the helper reports on stderr every second ("shark-capture stats {…}"). */
export interface HelperStats {
  received: number;
  delivered: number;
  kernelDropped: number;
  ifDropped: number;
  dropped: number;
  shedFlows: number;
  shedPackets: number;
  shedByPort: Record<string, number>;
  flowTableFull: number;
  ringBytes: number;
  ringSize: number;
  spoolBytes: number;
  spoolSize: number;
  lagMs: number;
  shedding: boolean;
  final: boolean;
}

export const STATS_PREFIX = 'shark-capture stats ';

/** The counters of one stats line, or undefined when the line is something else or damaged. */
export function parseHelperStats(line: string): HelperStats | undefined {
  if (!line.startsWith(STATS_PREFIX)) return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line.slice(STATS_PREFIX.length)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const n = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : 0);
  const ports: Record<string, number> = {};
  if (v.shedByPort && typeof v.shedByPort === 'object') {
    for (const [k, c] of Object.entries(v.shedByPort as Record<string, unknown>)) ports[k] = n(c);
  }
  return {
    received: n(v.received),
    delivered: n(v.delivered),
    kernelDropped: n(v.kernelDropped),
    ifDropped: n(v.ifDropped),
    dropped: n(v.dropped),
    shedFlows: n(v.shedFlows),
    shedPackets: n(v.shedPackets),
    shedByPort: ports,
    flowTableFull: n(v.flowTableFull),
    ringBytes: n(v.ringBytes),
    ringSize: n(v.ringSize),
    spoolBytes: n(v.spoolBytes),
    spoolSize: n(v.spoolSize),
    lagMs: n(v.lagMs),
    shedding: v.shedding === true,
    final: v.final === true,
  };
}

/** libpcap's DLT as the LINKTYPE pcap files and the decoder use (they differ only below 104). */
export function linkTypeOfDlt(dlt: number): number {
  if (dlt === 12 || dlt === 14) return 101;
  return dlt;
}
